// The dispatcher: assigns open tickets by the rules (dispatch/rules.ts), lets an operator assign
// by hand, sends a removed technician's tickets back to the rules, escalates before breach
// (dispatch/escalation.ts) and resolves with a cause code (known fixes). Every change is a ticket
// command through the ticket store's outbox: the assignment, escalation or cause is a ticket field
// and the comment saying so is the ticket history; both commit together and reach every sink
// (ERPNext `_assign`, Zammad owner/group, e-mail to the team lead through collector/notify).
//
// The periodic pass is idempotent: a ticket is written only when its dispatch state changes, so
// running it again (or from the CLI while the server runs) adds nothing.
import type { Logger } from 'pino';
import type { CollectorHandle } from '../collector/index.js';
import { operatorTicketActionOn, slaOf, type SlaContext } from '../collector/tickets/actions.js';
import { ticketRef, type Ticket, type TicketAssignment, type TicketCommandInput, type TicketEscalation } from '../collector/tickets/model.js';
import type { FirmwareProfile } from '../firmware-profiles/schema.js';
import type { DispatchStateStore } from '../state/dispatch.js';
import type { TicketStateStore } from '../state/tickets.js';
import { bumpedPriority, couldBeDue, dueEscalations } from './escalation.js';
import { failureModeOf, knownFixes, knownFixesFor, type KnownFix, type ResolvedTicket } from './known-fixes.js';
import type { DispatchConfig, Team, Technician } from './model.js';
import { teamPerformance, type ReportTicket, type TeamPerformanceReport } from './report.js';
import { chooseTechnician, type DispatchDecision } from './rules.js';
import { FleetcareError } from '../protocol/errors.js';

/** An operator's dispatch request refused (fleetcare's one error model, protocol/errors.ts). */
export class DispatchError extends FleetcareError<'not-found' | 'bad-request' | 'not-changed'> {
  override name = 'DispatchError';
}

export type UnitFacts = { kind: string | null; profile: string | null };

export type DispatcherDeps = {
  tickets: TicketStateStore;
  state: DispatchStateStore;
  config: DispatchConfig;
  slaContext: SlaContext;
  /** Kind and firmware profile of a ticket's peripheral (the fleet's inventory); nulls when unknown. */
  unitOf(device: string, peripheral: string | null): UnitFacts;
  profiles: ReadonlyMap<string, FirmwareProfile>;
  log: Logger;
};

/** Kind and profile of a ticket's unit from the fleet's inventory (peripheral null = the device itself). */
export function unitFromFleet(collector: CollectorHandle | null) {
  return (device: string, peripheral: string | null): UnitFacts => {
    const d = collector?.device(device);
    if (!d) return { kind: null, profile: null };
    if (peripheral === null) return { kind: 'host', profile: null };
    const p = d.peripherals.find((x) => x.id === peripheral);
    return { kind: p?.kind ?? null, profile: p?.profile ?? null };
  };
}

export type PassResult = { assigned: number; unassigned: number; escalated: number };

/** Cause codes every ticket may use, besides its profile's failure modes. */
export const GENERIC_CAUSES = ['no-fault-found', 'operator-error', 'consumable-replaced', 'cable-or-power', 'other'] as const;

/** Cause codes for a ticket on `profile`: the profile's fault codes, its wearing parts' wear-out, the generic ones. */
export function causeCodes(profile: FirmwareProfile | undefined): string[] {
  const own = profile ? [...Object.keys(profile.faults), ...profile.ratedLife.map((r) => `${r.part}-wear-out`)] : [];
  return [...new Set([...own, ...GENERIC_CAUSES])];
}

const PAGE = 500;
const DONE = new Set(['Resolved', 'Closed']);

async function allTickets(store: TicketStateStore, filter: { open?: boolean }): Promise<Ticket[]> {
  const out: Ticket[] = [];
  for (let offset = 0; ; offset += PAGE) {
    const page = await store.list(filter, { offset, limit: PAGE });
    out.push(...page.items);
    if (page.items.length < PAGE) return out;
  }
}

/** The fields an update may change. */
type TicketPatch = NonNullable<Extract<TicketCommandInput, { kind: 'update' }>['patch']>;

function assignmentOf(d: Exclude<DispatchDecision, { technician: null }>, by: TicketAssignment['by'], at: number, reason: string): TicketAssignment {
  return { technician: d.technician.id, technicianName: d.technician.name, technicianEmail: d.technician.email, team: d.team.id, by, at, reason };
}

export class Dispatcher {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<PassResult> | null = null;

  constructor(readonly deps: DispatcherDeps) {}

  start(): void {
    if (!this.deps.config.enabled || this.timer) return;
    const run = () => void this.pass(Date.now()).catch((e: Error) => this.deps.log.error({ err: e.message }, 'dispatch pass failed; retried at the next one'));
    run();
    this.timer = setInterval(run, this.deps.config.passMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }

  /** Open tickets per technician. */
  static loads(open: readonly Ticket[]): Map<string, number> {
    const load = new Map<string, number>();
    for (const t of open) if (t.assignment?.technician) load.set(t.assignment.technician, (load.get(t.assignment.technician) ?? 0) + 1);
    return load;
  }

  /** One pass: dispatch what needs it, escalate what is due. One pass at a time. */
  pass(now: number): Promise<PassResult> {
    this.running ??= this.runPass(now).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async runPass(now: number): Promise<PassResult> {
    const [teams, technicians] = await Promise.all([this.deps.state.teams(), this.deps.state.technicians()]);
    const open = await allTickets(this.deps.tickets, { open: true });
    const load = Dispatcher.loads(open);
    const known = new Set(technicians.map((t) => t.id));
    const result: PassResult = { assigned: 0, unassigned: 0, escalated: 0 };
    for (const t of open) {
      const a = t.assignment ?? null;
      // Assigned to someone who still exists: the rules leave it alone (a hand assignment stays).
      if (a?.technician && known.has(a.technician)) continue;
      const why = a?.technician ? `technician ${a.technician} no longer exists` : null;
      let r: Awaited<ReturnType<Dispatcher['dispatchOne']>>;
      try {
        r = await this.dispatchOne(t, teams, technicians, load, now, why);
      } catch (e) {
        // One ticket the store refuses (e.g. written by a broken older version) must not stop the others.
        this.deps.log.warn({ ref: t.ref, err: (e as Error).message }, 'ticket not dispatched; tried again at the next pass');
        continue;
      }
      if (r === 'assigned') result.assigned++;
      if (r === 'unassigned' || (r === 'unchanged' && !t.assignment?.technician)) result.unassigned++;
    }
    result.escalated = await this.escalate(open, technicians, now);
    if (result.assigned || result.escalated) this.deps.log.info({ ...result }, 'dispatch pass');
    return result;
  }

  /** Runs the rules for one ticket and records the outcome when it changed. */
  private async dispatchOne(
    listed: Ticket,
    teams: Team[],
    technicians: Technician[],
    load: Map<string, number>,
    now: number,
    why: string | null,
  ): Promise<'assigned' | 'unassigned' | 'unchanged'> {
    // The pass works from a list read at its start: an operator may have assigned the ticket since.
    const t = await this.deps.tickets.get(listed.ref);
    if (!t || t.version !== listed.version) return 'unchanged';
    const unit = this.deps.unitOf(t.device, t.peripheral);
    const d = chooseTechnician({ ref: t.ref, customer: t.customer, site: t.site, kind: unit.kind }, teams, technicians, load, now);
    const prefix = why ? `${why}; ` : '';
    if (d.technician === null) {
      const reason = prefix + d.reason;
      if (t.assignment && t.assignment.technician === null && t.assignment.reason === reason) return 'unchanged';
      const assignment: TicketAssignment = { technician: null, technicianName: null, technicianEmail: null, team: null, by: 'rules', at: now, reason };
      const r = await this.update(t, { assignment }, `Unassigned: ${reason}`, 'dispatch', now);
      return r.applied ? 'unassigned' : 'unchanged';
    }
    const assignment = assignmentOf(d, 'rules', now, prefix + d.reason);
    const r = await this.update(
      t,
      { assignment },
      `Assigned to ${d.technician.name} (${d.technician.id}, team ${d.team.id}) — ${assignment.reason}`,
      'dispatch',
      now,
    );
    if (!r.applied) return 'unchanged';
    load.set(d.technician.id, (load.get(d.technician.id) ?? 0) + 1);
    return 'assigned';
  }

  /** Updates fields of `t` with a comment, as event `<source>-<now>`. */
  private update(t: Ticket, patch: TicketPatch, comment: string, source: string, now: number) {
    return this.deps.tickets.enqueue({ kind: 'update', key: t.key, at: now, eventId: `${source}-${now}`, patch, comment });
  }

  /** An operator assigns `ref` to `technicianId` (or, with null, hands it back to the rules). */
  async assign(ref: string, technicianId: string | null, by: string, now: number): Promise<Ticket> {
    const t = await this.liveTicket(ref);
    const [teams, technicians] = await Promise.all([this.deps.state.teams(), this.deps.state.technicians()]);
    if (technicianId === null) {
      const open = await allTickets(this.deps.tickets, { open: true });
      await this.dispatchOne(t, teams, technicians, Dispatcher.loads(open.filter((x) => x.ref !== ref)), now, `handed back to the rules by ${by}`);
      return (await this.deps.tickets.get(ref))!;
    }
    const tech = technicians.find((x) => x.id === technicianId);
    if (!tech) throw new DispatchError('not-found', `no technician ${technicianId} (fleetcare technician list)`);
    const team = teams.find((x) => x.id === tech.team)!;
    if (t.assignment?.technician === tech.id) throw new DispatchError('not-changed', `${ref} is already assigned to ${tech.id}`);
    const assignment = assignmentOf({ technician: tech, team, reason: '' }, 'operator', now, `assigned by ${by}`);
    const r = await this.update(t, { assignment }, `Assigned to ${tech.name} (${tech.id}, team ${team.id}) by ${by}`, 'assign', now);
    if (!r.applied) throw new DispatchError('not-changed', `${ref}: not changed (${r.reason})`);
    return (await this.deps.tickets.get(ref))!;
  }

  /** Removes a technician; their open tickets go back to the rules at once. Returns those tickets' refs. */
  async removeTechnician(id: string, now: number): Promise<string[]> {
    if (!(await this.deps.state.removeTechnician(id))) throw new DispatchError('not-found', `no technician ${id}`);
    const open = await allTickets(this.deps.tickets, { open: true });
    const theirs = open.filter((t) => t.assignment?.technician === id);
    const [teams, technicians] = await Promise.all([this.deps.state.teams(), this.deps.state.technicians()]);
    const load = Dispatcher.loads(open.filter((t) => t.assignment?.technician !== id));
    for (const t of theirs) await this.dispatchOne(t, teams, technicians, load, now, `technician ${id} was removed`);
    return theirs.map((t) => t.ref);
  }

  /** Escalates the due stages of the open tickets; returns how many escalations were recorded. */
  private async escalate(open: readonly Ticket[], technicians: Technician[], now: number): Promise<number> {
    let n = 0;
    for (const t of open) {
      try {
        n += await this.escalateOne(t, technicians, now);
      } catch (e) {
        this.deps.log.warn({ ref: t.ref, err: (e as Error).message }, 'escalation check failed for this ticket; tried again at the next pass');
      }
    }
    return n;
  }

  /** Escalates the due stages of one ticket; returns how many were recorded. */
  private async escalateOne(t: Ticket, technicians: Technician[], now: number): Promise<number> {
    const cfg = this.deps.config.escalation;
    const sla = slaOf(this.deps.slaContext, t.customer);
    if (!sla || !couldBeDue(t, sla, cfg.share, now)) return 0;
    const due = dueEscalations(t, await this.deps.tickets.statusLog(t.ref), sla, cfg.share, now);
    if (!due.length) return 0;
    // Re-read: the dispatch step may have changed the ticket in this pass.
    const current = (await this.deps.tickets.get(t.ref)) ?? t;
    const teamId = current.assignment?.team ?? null;
    const leads = technicians.filter((x) => x.lead && x.email && (teamId === null || x.team === teamId)).map((x) => x.email!);
    let priority = current.priority;
    const added: TicketEscalation[] = [];
    const lines: string[] = [];
    for (const d of due) {
      const to = cfg.actions.includes('bump-priority') ? bumpedPriority(priority, current.issueType) : null;
      const notified = cfg.actions.includes('notify-lead') ? leads : [];
      added.push({ stage: d.stage, at: now, share: d.share, priorityFrom: to ? priority : null, priorityTo: to, notified });
      lines.push(
        `Escalated (${d.stage}): ${Math.round(d.share * 100)} % of the ${d.stage} time used without ${d.stage === 'response' ? 'a first response' : 'a resolution'}` +
          (to ? `; priority ${priority} → ${to}` : '') +
          (notified.length
            ? `; team lead told (${notified.join(', ')})`
            : cfg.actions.includes('notify-lead')
              ? `; no team lead with an e-mail${teamId ? ` in team ${teamId}` : ''}`
              : ''),
      );
      if (to) priority = to;
    }
    const patch = { escalations: [...(current.escalations ?? []), ...added], ...(priority !== current.priority ? { priority } : {}) };
    const r = await this.update(current, patch, lines.join('\n'), 'escalation', now);
    return r.applied ? added.length : 0;
  }

  private async liveTicket(ref: string): Promise<Ticket> {
    const t = await this.deps.tickets.get(ref);
    if (!t) throw new DispatchError('not-found', `no ticket ${ref}`);
    const latest = await this.deps.tickets.byKey(t.key);
    if (latest && latest.ref !== t.ref) throw new DispatchError('bad-request', `${ref} was superseded by ${latest.ref}`);
    if (DONE.has(t.status)) throw new DispatchError('not-changed', `${ref} is ${t.status}`);
    return t;
  }

  /** The cause codes a ticket may be resolved with. */
  causeCodesOf(t: Ticket): string[] {
    const { profile } = this.deps.unitOf(t.device, t.peripheral);
    return causeCodes(profile ? this.deps.profiles.get(profile) : undefined);
  }

  /**
   * Resolves `ref` with a cause code and the resolution text: the cause is recorded on the ticket
   * (known fixes are built from it), then the ticket is Resolved with its SLA recomputed.
   */
  async resolve(ref: string, cause: { code: string; text: string }, by: string, now: number): Promise<Ticket> {
    const t = await this.liveTicket(ref);
    const codes = this.causeCodesOf(t);
    if (!codes.includes(cause.code)) throw new DispatchError('bad-request', `cause "${cause.code}" is not one of ${codes.join(', ')}`);
    const text = cause.text.trim();
    if (!text) throw new DispatchError('bad-request', 'a resolution needs its text');
    const { profile } = this.deps.unitOf(t.device, t.peripheral);
    const r = await this.update(t, { cause: { code: cause.code, text, profile, by, at: now } }, `Cause: ${cause.code}\n${text}\n— ${by}`, 'cause', now);
    if (!r.applied) throw new DispatchError('not-changed', `${ref}: not changed (${r.reason})`);
    return (await operatorTicketActionOn(this.deps.tickets, ref, 'resolve', undefined, now, this.deps.slaContext)).ticket;
  }

  /** Every known fix, best first. */
  async knownFixes(now: number): Promise<KnownFix[]> {
    const all = await allTickets(this.deps.tickets, {});
    const byKey = new Map<string, Ticket[]>();
    for (const t of all) byKey.set(t.key, [...(byKey.get(t.key) ?? []), t]);
    const resolved: ResolvedTicket[] = [];
    for (const t of all) if (t.cause) resolved.push({ ticket: t, statusLog: await this.deps.tickets.statusLog(t.ref) });
    return knownFixes(resolved, byKey, await this.deps.state.knownFixEdits(), this.deps.config.knownFixWindowDays * 86_400_000, now);
  }

  /** The top known fixes for a ticket (same failure mode, same model). */
  async knownFixesForTicket(t: Ticket, now: number, limit = 3): Promise<KnownFix[]> {
    const { profile } = this.deps.unitOf(t.device, t.peripheral);
    return knownFixesFor(await this.knownFixes(now), profile, failureModeOf(t.key), limit);
  }

  /** Team performance over the tickets opened in [from, to]. */
  async teamPerformance(from: number, to: number, now: number): Promise<TeamPerformanceReport> {
    const opened = await this.deps.tickets.openedBetween(from, to);
    const first = await this.deps.tickets.firstResponses(opened.map((t) => t.ref));
    const rows: ReportTicket[] = [];
    for (const t of opened) rows.push({ ticket: t, statusLog: await this.deps.tickets.statusLog(t.ref), firstResponseAt: first.get(t.ref) ?? null });
    // Later occurrences of the same faults (a repeat within the window is not a first-time fix).
    const byKey = new Map<string, Ticket[]>();
    for (const t of opened) {
      if (byKey.has(t.key)) continue;
      const later: Ticket[] = [];
      for (let o = t.occurrence; ; o++) {
        const x = await this.deps.tickets.get(ticketRef(t.key, o));
        if (!x) break;
        later.push(x);
      }
      byKey.set(t.key, later);
    }
    const names = new Map((await this.deps.state.technicians()).map((x) => [x.id, x.name]));
    return teamPerformance(rows, byKey, names, { from, to, now, windowMs: this.deps.config.knownFixWindowDays * 86_400_000 });
  }
}
