// What every ticket store (SQLite: collector/tickets/store.ts + state/sqlite/tickets.ts;
// PostgreSQL: state/postgres/tickets.ts) shares above its SQL: the tickets row and its mapping,
// the rules of a ticket command, and the WHERE clause of a ticket filter. The stores only run
// the statements, so the two cannot drift apart in what a command does.
import { ticketFieldsSchema, ticketRef, type Ticket, type TicketCommand, type TicketFields, type TicketStatus } from '../collector/tickets/model.js';
import type { ApplyResult } from '../collector/tickets/store.js';
import type { TicketFilter } from './tickets.js';

/** A tickets row; `fields` is JSON text in SQLite and parsed JSONB in PostgreSQL. */
export type TicketRow = {
  ref: string;
  dedup_key: string;
  occurrence: number;
  version: number;
  status: TicketStatus;
  device: string;
  opened_at: number;
  updated_at: number;
  closed_at: number | null;
  resolution: string | null;
  fields: string | TicketFields;
};

function fieldsOf(r: TicketRow): TicketFields {
  return typeof r.fields === 'string' ? (JSON.parse(r.fields) as TicketFields) : { ...r.fields };
}

export function rowToTicket(r: TicketRow): Ticket {
  return {
    ...fieldsOf(r),
    ref: r.ref,
    key: r.dedup_key,
    occurrence: r.occurrence,
    status: r.status,
    version: r.version,
    openedAt: r.opened_at,
    updatedAt: r.updated_at,
    closedAt: r.closed_at,
    resolution: r.resolution,
  };
}

/** The change-feed entry a write adds (ticket_changes). */
export type TicketChangeRow = { ref: string; key: string; version: number; status: TicketStatus; priority: string; device: string; at: number };

/** What applying a command writes; `result` is what the store answers. */
export type TicketWrite =
  | { write: 'none'; result: ApplyResult }
  | { write: 'insert'; result: ApplyResult & { applied: true }; ticket: TicketFields; change: TicketChangeRow }
  | {
      write: 'update';
      result: ApplyResult & { applied: true };
      status: TicketStatus;
      closedAt: number | null;
      resolution: string | null;
      fields: TicketFields;
      comment: string | undefined;
      change: TicketChangeRow;
    };

/** The rules of a ticket command against the key's latest row (null: none yet). */
export function planTicketWrite(latest: TicketRow | null, cmd: TicketCommand): TicketWrite {
  if (cmd.kind === 'create') {
    // Creating while a ticket for the key is still alive is a repeat of the same problem.
    if (latest && latest.status !== 'Closed') return { write: 'none', result: { applied: false, ref: latest.ref, key: cmd.key, reason: 'already-open' } };
    const occurrence = (latest?.occurrence ?? 0) + 1;
    const ref = ticketRef(cmd.key, occurrence);
    const t = cmd.ticket;
    return {
      write: 'insert',
      result: { applied: true, ref, key: cmd.key, occurrence, version: 1, created: true },
      ticket: t,
      change: { ref, key: cmd.key, version: 1, status: 'Open', priority: t.priority, device: t.device, at: cmd.at },
    };
  }
  if (!latest) return { write: 'none', result: { applied: false, ref: null, key: cmd.key, reason: 'no-ticket' } };
  if (cmd.kind === 'close' && latest.status === 'Closed')
    return { write: 'none', result: { applied: false, ref: latest.ref, key: cmd.key, reason: 'already-closed' } };
  const fields = fieldsOf(latest);
  let status = latest.status;
  let closedAt = latest.closed_at;
  let resolution = latest.resolution;
  let comment: string | undefined;
  if (cmd.kind === 'update') {
    if (cmd.patch) Object.assign(fields, cmd.patch);
    comment = cmd.comment;
  } else if (cmd.kind === 'set-status') {
    status = cmd.status;
    closedAt = null;
    comment = cmd.comment;
  } else {
    status = 'Closed';
    closedAt = cmd.at;
    resolution = cmd.resolution ?? null;
  }
  const version = latest.version + 1;
  const checked = ticketFieldsSchema.parse(fields);
  return {
    write: 'update',
    result: { applied: true, ref: latest.ref, key: cmd.key, occurrence: latest.occurrence, version, created: false },
    status,
    closedAt,
    resolution,
    fields: checked,
    comment,
    change: { ref: latest.ref, key: cmd.key, version, status, priority: checked.priority, device: latest.device, at: cmd.at },
  };
}

/**
 * The WHERE clause of a ticket filter (empty when it has none) and its arguments, with SQLite's
 * `?` or PostgreSQL's `$n` placeholders.
 */
export function ticketFilterWhere(f: TicketFilter, dialect: 'sqlite' | 'postgres'): { where: string; args: unknown[] } {
  const where: string[] = [];
  const args: unknown[] = [];
  const param = (v: unknown): string => {
    args.push(v);
    return dialect === 'sqlite' ? '?' : `$${args.length}`;
  };
  if (f.open === true) where.push(`status NOT IN ('Resolved', 'Closed')`);
  if (f.open === false) where.push(`status IN ('Resolved', 'Closed')`);
  for (const [col, list] of [
    ['status', f.status],
    ['priority', f.priority],
  ] as const) {
    if (!list?.length) continue;
    where.push(dialect === 'sqlite' ? `${col} IN (${list.map(param).join(', ')})` : `${col} = ANY(${param(list)})`);
  }
  for (const [col, v] of [
    ['issue_type', f.type],
    ['customer', f.customer],
    ['site', f.site],
    ['device', f.device],
  ] as const) {
    if (v !== undefined) where.push(`${col} = ${param(v)}`);
  }
  return { where: where.length ? `WHERE ${where.join(' AND ')}` : '', args };
}
