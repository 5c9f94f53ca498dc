// Team performance (seed 002: "team performance and SLA compliance reports"): per team and per
// technician, the tickets they were assigned among those opened in a period — how many, first
// response and resolution against the SLA, reopen rate and first-time-fix rate. Pure over the
// tickets and their status histories; the NOC and the CLI read the same function.
import type { Ticket, TicketStatus } from '../collector/tickets/model.js';

export type PerformanceRow = {
  /** `team` rows aggregate their technicians; `technician` rows name their team. */
  scope: 'team' | 'technician';
  team: string | null;
  technician: string | null;
  name: string | null;
  handled: number;
  /** Tickets with a first response / of those, with a response deadline / of those, met. */
  responded: number;
  responseWithSla: number;
  responseMet: number;
  avgFirstResponseMinutes: number | null;
  resolved: number;
  resolutionWithSla: number;
  resolutionMet: number;
  avgResolutionMinutes: number | null;
  /** Resolved tickets that were reopened (or whose fault was ticketed again within the window). */
  reopened: number;
  reopenRate: number | null;
  /** Resolved once and stayed resolved: no reopen, no new ticket of the same fault within the window. */
  firstTimeFixes: number;
  firstTimeFixRate: number | null;
};

export type TeamPerformanceReport = { from: number; to: number; generatedAt: number; unassigned: number; rows: PerformanceRow[] };

export type ReportTicket = { ticket: Ticket; statusLog: ReadonlyArray<{ status: TicketStatus; at: number }>; firstResponseAt: number | null };

const DONE = new Set<string>(['Resolved', 'Closed']);

type Acc = Omit<PerformanceRow, 'avgFirstResponseMinutes' | 'avgResolutionMinutes' | 'reopenRate' | 'firstTimeFixRate'> & {
  responseMs: number;
  resolutionMs: number;
};

function facts(x: ReportTicket, allOfKey: readonly Ticket[], windowMs: number) {
  const t = x.ticket;
  let resolvedAt: number | null = null;
  let everResolved = false;
  let reopened = false;
  for (const s of x.statusLog) {
    if (DONE.has(s.status)) {
      everResolved = true;
      resolvedAt ??= s.at;
    } else if (everResolved && s.status === 'Open') reopened = true;
  }
  if (!everResolved && DONE.has(t.status)) {
    everResolved = true;
    resolvedAt = t.closedAt ?? t.updatedAt;
  }
  const lastDone = DONE.has(t.status) ? (t.closedAt ?? [...x.statusLog].reverse().find((s) => DONE.has(s.status))?.at ?? t.updatedAt) : null;
  const repeated = lastDone !== null && allOfKey.some((o) => o.occurrence > t.occurrence && o.openedAt > lastDone && o.openedAt <= lastDone + windowMs);
  return { resolvedAt, everResolved, reopened: reopened || repeated, finalDone: DONE.has(t.status) };
}

export function teamPerformance(
  tickets: readonly ReportTicket[],
  allOfKeys: ReadonlyMap<string, readonly Ticket[]>,
  names: ReadonlyMap<string, string>,
  opts: { from: number; to: number; now: number; windowMs: number },
): TeamPerformanceReport {
  const rows = new Map<string, Acc>();
  const acc = (scope: 'team' | 'technician', team: string | null, technician: string | null): Acc => {
    const k = `${scope}|${team}|${technician}`;
    let a = rows.get(k);
    if (!a) {
      a = {
        scope,
        team,
        technician,
        name: technician ? (names.get(technician) ?? null) : null,
        handled: 0,
        responded: 0,
        responseWithSla: 0,
        responseMet: 0,
        resolved: 0,
        resolutionWithSla: 0,
        resolutionMet: 0,
        reopened: 0,
        firstTimeFixes: 0,
        responseMs: 0,
        resolutionMs: 0,
      };
      rows.set(k, a);
    }
    return a;
  };
  let unassigned = 0;
  for (const x of tickets) {
    const t = x.ticket;
    const who = t.assignment;
    if (!who?.technician) {
      unassigned++;
      continue;
    }
    const f = facts(x, allOfKeys.get(t.key) ?? [], opts.windowMs);
    for (const a of [acc('team', who.team, null), acc('technician', who.team, who.technician)]) {
      a.handled++;
      if (x.firstResponseAt !== null) {
        a.responded++;
        a.responseMs += x.firstResponseAt - t.openedAt;
        if (t.sla?.responseBy != null) {
          a.responseWithSla++;
          if (x.firstResponseAt <= t.sla.responseBy) a.responseMet++;
        }
      }
      if (f.everResolved && f.resolvedAt !== null) {
        a.resolved++;
        a.resolutionMs += f.resolvedAt - t.openedAt;
        if (t.sla?.resolutionBy != null) {
          a.resolutionWithSla++;
          if (f.resolvedAt <= t.sla.resolutionBy) a.resolutionMet++;
        }
        if (f.reopened) a.reopened++;
        else if (f.finalDone) a.firstTimeFixes++;
      }
    }
  }
  const ratio = (n: number, d: number) => (d > 0 ? Math.round((n / d) * 1000) / 1000 : null);
  const out: PerformanceRow[] = [...rows.values()].map(({ responseMs, resolutionMs, ...a }) => ({
    ...a,
    avgFirstResponseMinutes: a.responded ? Math.round(responseMs / a.responded / 60_000) : null,
    avgResolutionMinutes: a.resolved ? Math.round(resolutionMs / a.resolved / 60_000) : null,
    reopenRate: ratio(a.reopened, a.resolved),
    firstTimeFixRate: ratio(a.firstTimeFixes, a.resolved),
  }));
  out.sort(
    (a, b) =>
      (a.team ?? '').localeCompare(b.team ?? '') ||
      (a.scope === b.scope ? (a.technician ?? '').localeCompare(b.technician ?? '') : a.scope === 'team' ? -1 : 1),
  );
  return { from: opts.from, to: opts.to, generatedAt: opts.now, unassigned, rows: out };
}

export const PERFORMANCE_CSV_HEAD = [
  'scope',
  'team',
  'technician',
  'name',
  'handled',
  'responded',
  'response_with_sla',
  'response_met',
  'avg_first_response_min',
  'resolved',
  'resolution_with_sla',
  'resolution_met',
  'avg_resolution_min',
  'reopened',
  'reopen_rate',
  'first_time_fixes',
  'first_time_fix_rate',
];

export const performanceCsvRow = (r: PerformanceRow) => [
  r.scope,
  r.team,
  r.technician,
  r.name,
  r.handled,
  r.responded,
  r.responseWithSla,
  r.responseMet,
  r.avgFirstResponseMinutes,
  r.resolved,
  r.resolutionWithSla,
  r.resolutionMet,
  r.avgResolutionMinutes,
  r.reopened,
  r.reopenRate,
  r.firstTimeFixes,
  r.firstTimeFixRate,
];
