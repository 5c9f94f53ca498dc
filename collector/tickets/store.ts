// The built-in ticket store: always present, in the caller's SQLite database, so that a ticket
// change commits atomically with the incident change that caused it. It is also the source of
// truth the HTTP API lists from and the record of which occurrence of a dedup key is current.
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { rowToTicket, planTicketWrite, type TicketRow } from '../../state/ticket-rows.js';
import type { SinkOperation, Ticket, TicketCommand, TicketStatus } from './model.js';
import type { ExternalTicket, TicketSink } from './sink.js';

export const TICKET_STORE_DDL = `
CREATE TABLE IF NOT EXISTS tickets (
  ref TEXT PRIMARY KEY,
  dedup_key TEXT NOT NULL,
  occurrence INTEGER NOT NULL,
  version INTEGER NOT NULL,
  status TEXT NOT NULL,
  priority TEXT NOT NULL,
  issue_type TEXT NOT NULL,
  customer TEXT NOT NULL,
  site TEXT,
  device TEXT NOT NULL,
  peripheral TEXT,
  opened_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  closed_at INTEGER,
  resolution TEXT,
  fields TEXT NOT NULL,
  UNIQUE (dedup_key, occurrence)
);
CREATE INDEX IF NOT EXISTS tickets_status ON tickets (status, customer);
CREATE INDEX IF NOT EXISTS tickets_device ON tickets (device);
CREATE TABLE IF NOT EXISTS ticket_comments (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ref TEXT NOT NULL REFERENCES tickets (ref),
  at INTEGER NOT NULL,
  version INTEGER NOT NULL,
  event_id TEXT,
  body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ticket_comments_ref ON ticket_comments (ref, id);
-- The change feed readers follow (state/tickets.ts changesSince): one row per version a ticket
-- reached, in commit order (SQLite has one writer at a time, so ids never commit out of order).
CREATE TABLE IF NOT EXISTS ticket_changes (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ref TEXT NOT NULL,
  dedup_key TEXT NOT NULL,
  version INTEGER NOT NULL,
  status TEXT NOT NULL,
  priority TEXT NOT NULL,
  device TEXT NOT NULL,
  at INTEGER NOT NULL
);
`;

export type TicketComment = { id: number; ref: string; at: number; version: number; eventId: string | null; body: string };

export type ApplyResult =
  | { applied: true; ref: string; key: string; occurrence: number; version: number; created: boolean }
  | { applied: false; ref: string | null; key: string; reason: 'already-open' | 'no-ticket' | 'already-closed' };

export type TicketQuery = { status?: TicketStatus | TicketStatus[]; open?: boolean; customer?: string; site?: string; device?: string; limit?: number };

export class TicketStore {
  private readonly stmts: Record<'latest' | 'get' | 'insert' | 'update' | 'comment' | 'comments' | 'change', Database.Statement>;

  constructor(readonly db: Database.Database) {
    db.exec(TICKET_STORE_DDL);
    this.stmts = {
      latest: db.prepare('SELECT * FROM tickets WHERE dedup_key = ? ORDER BY occurrence DESC LIMIT 1'),
      get: db.prepare('SELECT * FROM tickets WHERE ref = ?'),
      insert: db.prepare(`INSERT INTO tickets (ref, dedup_key, occurrence, version, status, priority, issue_type, customer, site, device,
      peripheral, opened_at, updated_at, closed_at, resolution, fields) VALUES (@ref, @key, @occurrence, 1, 'Open', @priority, @issueType,
      @customer, @site, @device, @peripheral, @at, @at, NULL, NULL, @fields)`),
      update: db.prepare(`UPDATE tickets SET version = @version, status = @status, priority = @priority, updated_at = @at,
      closed_at = @closedAt, resolution = @resolution, fields = @fields WHERE ref = @ref`),
      comment: db.prepare('INSERT INTO ticket_comments (ref, at, version, event_id, body) VALUES (?, ?, ?, ?, ?)'),
      comments: db.prepare('SELECT id, ref, at, version, event_id AS eventId, body FROM ticket_comments WHERE ref = ? ORDER BY id'),
      change: db.prepare('INSERT INTO ticket_changes (ref, dedup_key, version, status, priority, device, at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    };
  }

  /** The current (latest) occurrence of a dedup key. */
  byKey(key: string): Ticket | null {
    const r = this.stmts.latest.get(key) as TicketRow | undefined;
    return r ? rowToTicket(r) : null;
  }

  get(ref: string): Ticket | null {
    const r = this.stmts.get.get(ref) as TicketRow | undefined;
    return r ? rowToTicket(r) : null;
  }

  list(q: TicketQuery = {}): Ticket[] {
    const where: string[] = [];
    const args: unknown[] = [];
    const statuses = q.status === undefined ? null : Array.isArray(q.status) ? q.status : [q.status];
    if (statuses) {
      where.push(`status IN (${statuses.map(() => '?').join(',')})`);
      args.push(...statuses);
    }
    if (q.open) where.push(`status NOT IN ('Resolved', 'Closed')`);
    for (const [col, v] of [
      ['customer', q.customer],
      ['site', q.site],
      ['device', q.device],
    ] as const) {
      if (v !== undefined) {
        where.push(`${col} = ?`);
        args.push(v);
      }
    }
    const sql = `SELECT * FROM tickets ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY opened_at, ref LIMIT ?`;
    return (this.db.prepare(sql).all(...args, q.limit ?? 1000) as TicketRow[]).map(rowToTicket);
  }

  comments(ref: string): TicketComment[] {
    return this.stmts.comments.all(ref) as TicketComment[];
  }

  /**
   * Applies a validated command. Synchronous, no transaction of its own: the outbox calls it
   * inside the caller's transaction.
   */
  apply(cmd: TicketCommand): ApplyResult {
    const plan = planTicketWrite((this.stmts.latest.get(cmd.key) as TicketRow | undefined) ?? null, cmd);
    if (plan.write === 'insert') {
      const t = plan.ticket;
      this.stmts.insert.run({
        ref: plan.result.ref,
        key: cmd.key,
        occurrence: plan.result.occurrence,
        priority: t.priority,
        issueType: t.issueType,
        customer: t.customer,
        site: t.site,
        device: t.device,
        peripheral: t.peripheral,
        at: cmd.at,
        fields: JSON.stringify(t),
      });
    } else if (plan.write === 'update') {
      this.stmts.update.run({
        ref: plan.result.ref,
        version: plan.result.version,
        status: plan.status,
        priority: plan.fields.priority,
        at: cmd.at,
        closedAt: plan.closedAt,
        resolution: plan.resolution,
        fields: JSON.stringify(plan.fields),
      });
      if (plan.comment) this.stmts.comment.run(plan.result.ref, cmd.at, plan.result.version, cmd.eventId ?? null, plan.comment);
    }
    if (plan.write !== 'none') {
      const ch = plan.change;
      this.stmts.change.run(ch.ref, ch.key, ch.version, ch.status, ch.priority, ch.device, ch.at);
    }
    return plan.result;
  }
}

/**
 * The built-in store seen through the sink interface (e.g. to mirror tickets into a second
 * store DB). The outbox does not route to it: it applies commands to its own store inline.
 */
export class StoreSink implements TicketSink {
  readonly name: string;
  constructor(
    private readonly store: TicketStore,
    private readonly log: Logger,
    name = 'store',
  ) {
    this.name = name;
  }
  async create(op: Extract<SinkOperation, { kind: 'create' }>): Promise<ExternalTicket> {
    const existing = this.store.get(op.ref);
    if (!existing) {
      const occurrence = Number(/#(\d+)$/.exec(op.ref)?.[1] ?? 1);
      if (occurrence > 1 && !this.store.byKey(op.key)) throw new Error(`store sink: occurrence ${occurrence} of ${op.key} without its predecessors`);
      this.store.apply({ kind: 'create', key: op.key, at: Date.now(), ticket: op.ticket });
    }
    this.log.debug({ sink: this.name, ref: op.ref }, 'ticket stored');
    return { externalId: op.ref };
  }
  async update(externalId: string, op: Extract<SinkOperation, { kind: 'update' }>): Promise<void> {
    const at = Date.now();
    if (op.patch && Object.keys(op.patch).length) this.store.apply({ kind: 'update', key: op.key, at, patch: op.patch });
    if (op.comment) this.store.apply({ kind: 'update', key: op.key, at, comment: op.comment });
    if (op.status === 'Closed') this.store.apply({ kind: 'close', key: op.key, at, resolution: op.resolution ?? undefined });
    else if (op.status) this.store.apply({ kind: 'set-status', key: op.key, at, status: op.status });
    void externalId;
  }
  async find(ref: string): Promise<ExternalTicket | null> {
    const t = this.store.get(ref);
    return t ? { externalId: t.ref, status: t.status } : null;
  }
}
