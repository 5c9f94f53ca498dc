// Ticket status changes and their SLA: the one place where an operator action (CLI, HTTP API) or
// the incident service changes a ticket's status, so that the SLA fields {responseBy,
// resolutionBy, agreementStatus} are recomputed by collector/sla from the ticket's status history
// (Replied = first response, On Hold pauses, a reopen counts the time since resolution as hold)
// and sent to every sink as a ticket update in the same transaction. The history lives in
// `ticket_status_log` beside the tickets (the ticket store keeps only the current status).
// `markSlaBreaches` is the periodic pass that turns a passed deadline into `Failed`.
import type Database from 'better-sqlite3';
import { slaDeadlines, type ServiceLevelAgreement } from '../sla/index.js';
import type { EnqueueResult, Ticket, TicketCommandInput, TicketOutbox, TicketSla, TicketStatus } from './index.js';
import { operatorActionSchema, type OperatorAction } from './model.js';
import { FleetcareError } from '../../protocol/errors.js';
import type { TicketStateStore } from '../../state/tickets.js';

export const TICKET_STATUS_LOG_DDL = `
CREATE TABLE IF NOT EXISTS ticket_status_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ref TEXT NOT NULL,
  at INTEGER NOT NULL,
  status TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ticket_status_log_ref ON ticket_status_log (ref, id);
`;

export { operatorActionSchema, type OperatorAction } from './model.js';

/** Which SLA applies to a customer: the incident service's config (`slas`, `defaultSla`) fits. */
export type SlaContext = { slas: Record<string, ServiceLevelAgreement>; defaultSla?: ServiceLevelAgreement | undefined };

export const slaOf = (ctx: SlaContext, customer: string): ServiceLevelAgreement | undefined => ctx.slas[customer] ?? ctx.defaultSla;

/** Why an action was refused; `code` maps to HTTP (not-found 404, superseded/not-changed 409, bad-request 400). */
export class TicketActionError extends FleetcareError<'not-found' | 'superseded' | 'not-changed' | 'bad-request'> {
  override name = 'TicketActionError';
  constructor(code: 'not-found' | 'superseded' | 'not-changed' | 'bad-request', message: string) {
    super(code, message);
  }
}

export type OperatorActionResult = {
  /** The ticket after the action (status and SLA as stored). */
  ticket: Ticket;
  /** The outbox results: the status/comment command, then the SLA update when the SLA changed. */
  commands: EnqueueResult[];
};

const ensured = new WeakSet<Database.Database>();
function ensureLog(db: Database.Database): void {
  if (ensured.has(db)) return;
  db.exec(TICKET_STATUS_LOG_DDL);
  ensured.add(db);
}

/** Records a status the ticket entered (call inside the transaction that enqueued the change). */
export function recordTicketStatus(db: Database.Database, ref: string, status: TicketStatus, at: number): void {
  ensureLog(db);
  db.prepare('INSERT INTO ticket_status_log (ref, at, status) VALUES (?, ?, ?)').run(ref, at, status);
}

/** The SLA of `ticket` as of `now`, replayed from its status history; null fields without an SLA. */
export function ticketSlaAt(db: Database.Database, ticket: Ticket, sla: ServiceLevelAgreement | undefined, now: number): TicketSla {
  if (!sla) return ticketSlaFrom([], ticket, sla, now);
  ensureLog(db);
  const changes = db.prepare('SELECT at, status FROM ticket_status_log WHERE ref = ? ORDER BY at, id').all(ticket.ref) as Array<{
    at: number;
    status: TicketStatus;
  }>;
  return ticketSlaFrom(changes, ticket, sla, now);
}

/** The SLA of `ticket` as of `now` from its status history (oldest first), whatever store holds it. */
export function ticketSlaFrom(
  changes: ReadonlyArray<{ at: number; status: TicketStatus }>,
  ticket: Ticket,
  sla: ServiceLevelAgreement | undefined,
  now: number,
): TicketSla {
  if (!sla) return { serviceLevelAgreement: null, responseBy: null, resolutionBy: null, agreementStatus: null };
  // The SLA statuses are ERPNext's; Closed is a fulfilled status there as well.
  const d = slaDeadlines({ opening: ticket.openedAt, priority: ticket.priority, status_changes: changes.filter((c) => c.at >= ticket.openedAt) }, sla, now);
  // ERPNext shows a paused agreement as Paused (deadlines cleared) unless it already failed.
  const agreementStatus = d.onHoldSince !== null && d.agreementStatus !== 'Failed' && d.agreementStatus !== 'Fulfilled' ? 'Paused' : d.agreementStatus;
  return { serviceLevelAgreement: sla.service_level, responseBy: d.responseBy, resolutionBy: d.resolutionBy, agreementStatus };
}

const sameSla = (a: TicketSla, b: TicketSla) =>
  a.serviceLevelAgreement === b.serviceLevelAgreement &&
  a.responseBy === b.responseBy &&
  a.resolutionBy === b.resolutionBy &&
  a.agreementStatus === b.agreementStatus;

/**
 * Recomputes the SLA of the ticket `ref` at `now` and, when it differs from what the ticket
 * carries, enqueues one `update` with the SLA patch (every sink gets it). Returns the result, or
 * null when nothing changed. Call inside the transaction of the status change.
 */
export function refreshTicketSla(
  outbox: TicketOutbox,
  ref: string,
  sla: ServiceLevelAgreement | undefined,
  now: number,
  eventId: string,
): EnqueueResult | null {
  const ticket = outbox.store.get(ref);
  if (!ticket || !sla) return null;
  const next = ticketSlaAt(outbox.db, ticket, sla, now);
  if (sameSla(next, ticket.sla)) return null;
  return outbox.enqueue({ kind: 'update', key: ticket.key, at: now, eventId: `${eventId}-sla`, patch: { sla: next } });
}

/**
 * An operator's action on ticket `ref` (ack = Replied, the first response; comment; hold = On
 * Hold, pauses the SLA; reopen = Open again; resolve; close), with the SLA recomputed and sent as
 * a ticket update — all in one transaction through the outbox, so the built-in store and every
 * sink get both. Throws TicketActionError (not-found, superseded by a newer ticket of the same
 * key, not-changed, bad-request: comment without text or an unknown action).
 */
/** What an operator action becomes: the ticket command and the status it enters (null: none). Throws TicketActionError. */
function planOperatorAction(
  ticket: Ticket | null,
  latest: Ticket | null,
  ref: string,
  action: OperatorAction,
  text: string | undefined,
  now: number,
): { cmd: TicketCommandInput; status: TicketStatus | null; eventId: string; ticket: Ticket } {
  if (!operatorActionSchema.safeParse(action).success)
    throw new TicketActionError('bad-request', `unknown action "${String(action)}" (${operatorActionSchema.options.join(', ')})`);
  if (!ticket) throw new TicketActionError('not-found', `no ticket ${ref}`);
  if (latest && latest.ref !== ticket.ref) throw new TicketActionError('superseded', `${ref} was superseded by ${latest.ref}`);
  const body = text?.trim() ? text : undefined;
  const eventId = `operator-${action}-${now}`;
  const base = { key: ticket.key, at: now, eventId };
  let cmd: TicketCommandInput;
  let status: TicketStatus | null = null;
  switch (action) {
    case 'ack':
      cmd = { ...base, kind: 'set-status', status: (status = 'Replied'), ...(body ? { comment: body } : {}) };
      break;
    case 'comment':
      if (!body) throw new TicketActionError('bad-request', 'a comment needs its text');
      cmd = { ...base, kind: 'update', comment: body };
      break;
    case 'hold':
      cmd = { ...base, kind: 'set-status', status: (status = 'On Hold'), ...(body ? { comment: body } : {}) };
      break;
    case 'reopen':
      cmd = { ...base, kind: 'set-status', status: (status = 'Open'), ...(body ? { comment: body } : {}) };
      break;
    case 'resolve':
      cmd = { ...base, kind: 'set-status', status: (status = 'Resolved'), ...(body ? { comment: body } : {}) };
      break;
    case 'close':
      cmd = { ...base, kind: 'close', ...(body ? { resolution: body } : {}) };
      status = 'Closed';
      break;
  }
  if (status !== null && status === ticket.status) throw new TicketActionError('not-changed', `${ref} is already ${status}`);
  if (ticket.status === 'Closed') throw new TicketActionError('not-changed', `${ref} is closed`);
  return { cmd, status, eventId, ticket };
}

/** The SLA update command for `ticket` after its status history `changes`, or null when its SLA fields are right. */
export function slaUpdate(
  ticket: Ticket,
  changes: ReadonlyArray<{ at: number; status: TicketStatus }>,
  sla: ServiceLevelAgreement | undefined,
  now: number,
  eventId: string,
): TicketCommandInput | null {
  if (!sla) return null;
  const next = ticketSlaFrom(changes, ticket, sla, now);
  if (sameSla(next, ticket.sla)) return null;
  return { kind: 'update', key: ticket.key, at: now, eventId: `${eventId}-sla`, patch: { sla: next } };
}

/**
 * An operator's action on ticket `ref` (ack = Replied, the first response; comment; hold = On
 * Hold, pauses the SLA; reopen = Open again; resolve; close), with the SLA recomputed and sent as
 * a ticket update — all in one transaction through the outbox, so the built-in store and every
 * sink get both. Throws TicketActionError (not-found, superseded by a newer ticket of the same
 * key, not-changed, bad-request: comment without text or an unknown action).
 */
export function operatorTicketAction(
  outbox: TicketOutbox,
  ref: string,
  action: OperatorAction,
  text: string | undefined,
  now: number,
  slaContext: SlaContext,
): OperatorActionResult {
  const store = outbox.store;
  const found = store.get(ref);
  const { cmd, status, eventId, ticket } = planOperatorAction(found, found ? store.byKey(found.key) : null, ref, action, text, now);
  return outbox.db
    .transaction((): OperatorActionResult => {
      const r = outbox.enqueue(cmd);
      if (!r.applied) throw new TicketActionError('not-changed', `${ref}: not changed (${r.reason})`);
      const commands: EnqueueResult[] = [r];
      if (status !== null) {
        recordTicketStatus(outbox.db, ticket.ref, status, now);
        const s = refreshTicketSla(outbox, ticket.ref, slaOf(slaContext, ticket.customer), now, eventId);
        if (s) commands.push(s);
      }
      return { ticket: store.get(ticket.ref)!, commands };
    })
    .immediate();
}

/**
 * The same operator action on any ticket store (state/tickets.ts; PostgreSQL in cluster mode):
 * the command, the status history entry and the SLA update commit in one transaction of the store.
 */
export async function operatorTicketActionOn(
  store: TicketStateStore,
  ref: string,
  action: OperatorAction,
  text: string | undefined,
  now: number,
  slaContext: SlaContext,
): Promise<OperatorActionResult> {
  const found = await store.get(ref);
  const { cmd, status, eventId, ticket } = planOperatorAction(found, found ? await store.byKey(found.key) : null, ref, action, text, now);
  const sla = slaOf(slaContext, ticket.customer);
  const r = await store.enqueue(cmd, status === null ? {} : { recordStatus: status, followUp: (t, changes) => slaUpdate(t, changes, sla, now, eventId) });
  if (!r.applied) throw new TicketActionError('not-changed', `${ref}: not changed (${r.reason})`);
  const { followUp, ...first } = r;
  return { ticket: (await store.get(ticket.ref))!, commands: followUp ? [first, followUp] : [first] };
}

/**
 * The periodic pass: every live ticket whose SLA deadline has passed without being met gets its
 * agreement status recomputed (→ Failed) and sent as an update, so the NOC and the sinks see the
 * breach when it happens, not at the next status change. Returns how many tickets changed.
 */
export function markSlaBreaches(outbox: TicketOutbox, now: number, slaContext: SlaContext): number {
  let changed = 0;
  outbox.db
    .transaction(() => {
      for (const t of outbox.store.list({ status: ['Open', 'Replied'] })) {
        const s = t.sla;
        const due =
          (s.agreementStatus === 'First Response Due' && s.responseBy !== null && now > s.responseBy) ||
          (s.agreementStatus === 'Resolution Due' && s.resolutionBy !== null && now > s.resolutionBy);
        if (!due) continue;
        if (refreshTicketSla(outbox, t.ref, slaOf(slaContext, t.customer), now, `sla-check-${now}`)) changed++;
      }
    })
    .immediate();
  return changed;
}

/**
 * The periodic pass on any ticket store. Each breached ticket's SLA is recomputed from its status
 * history and sent as one update; a status change racing the pass is corrected by the next pass
 * (the SLA is a function of the history). In a cluster it runs once, under a lease.
 */
export async function markSlaBreachesOn(store: TicketStateStore, now: number, slaContext: SlaContext): Promise<number> {
  let changed = 0;
  const PAGE = 500;
  for (let offset = 0; ; offset += PAGE) {
    const page = await store.list({ status: ['Open', 'Replied'] }, { offset, limit: PAGE });
    for (const t of page.items) {
      const s = t.sla;
      const due =
        (s.agreementStatus === 'First Response Due' && s.responseBy !== null && now > s.responseBy) ||
        (s.agreementStatus === 'Resolution Due' && s.resolutionBy !== null && now > s.resolutionBy);
      if (!due) continue;
      const cmd = slaUpdate(t, await store.statusLog(t.ref), slaOf(slaContext, t.customer), now, `sla-check-${now}`);
      if (cmd && (await store.enqueue(cmd)).applied) changed++;
    }
    if (page.items.length < PAGE) return changed;
  }
}
