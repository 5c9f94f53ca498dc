// The ticket store on SQLite: the collector's built-in store and outbox (collector/tickets/) and
// the status log (collector/tickets/actions.ts) in incidents.db, seen through TicketStateStore.
// The statements are synchronous; the incident service keeps calling the outbox directly inside
// its own transactions (an incident change and its ticket commit together), and everyone else —
// the NOC, reports, the behaviour suite — reads and writes through this class.
import type Database from 'better-sqlite3';
import { TICKET_STATUS_LOG_DDL, recordTicketStatus } from '../../collector/tickets/actions.js';
import type { Ticket, TicketCommandInput, TicketStatus } from '../../collector/tickets/model.js';
import { TicketOutbox, type EnqueueResult, type OutboxFailure, type OutboxRow, type TicketLink } from '../../collector/tickets/outbox.js';
import type { TicketComment } from '../../collector/tickets/store.js';
import { rowToTicket, ticketFilterWhere, type TicketRow } from '../ticket-rows.js';
import type { EnqueueOptions, LinkInput, OpenTicketCount, TicketChange, TicketFilter, TicketStateStore } from '../tickets.js';

export class SqliteTicketState implements TicketStateStore {
  readonly outbox: TicketOutbox;
  private readonly db: Database.Database;
  private readonly stmts: {
    changes: Database.Statement;
    head: Database.Statement;
    statusLog: Database.Statement;
    firstResponse: Database.Statement;
    ofDevice: Database.Statement;
    openCounts: Database.Statement;
    between: Database.Statement;
    betweenOf: Database.Statement;
  };

  /**
   * Over an existing outbox (the incident service's), or a new one on `db` with `sinks`. The
   * tables are created when missing (state/sqlite/migrations.ts runs the same DDL at start).
   */
  constructor(source: TicketOutbox | { db: Database.Database; sinks?: string[] }) {
    this.outbox = source instanceof TicketOutbox ? source : new TicketOutbox(source.db, { sinks: source.sinks ?? [] });
    this.db = this.outbox.db;
    this.db.exec(TICKET_STATUS_LOG_DDL);
    const db = this.db;
    this.stmts = {
      changes: db.prepare(
        'SELECT id AS cursor, ref, dedup_key AS key, version, status, priority, device, at FROM ticket_changes WHERE id > ? ORDER BY id LIMIT ?',
      ),
      head: db.prepare('SELECT coalesce(max(id), 0) FROM ticket_changes').pluck(),
      statusLog: db.prepare('SELECT status, at FROM ticket_status_log WHERE ref = ? ORDER BY at, id'),
      firstResponse: db.prepare(`SELECT min(at) FROM ticket_status_log WHERE ref = ? AND status IN ('Replied', 'Resolved', 'Closed')`).pluck(),
      ofDevice: db.prepare(`SELECT * FROM tickets WHERE device = ? ORDER BY status IN ('Resolved', 'Closed'), opened_at DESC, ref LIMIT ?`),
      openCounts: db.prepare(
        `SELECT device, site, priority, count(*) AS count FROM tickets WHERE status NOT IN ('Resolved', 'Closed') GROUP BY device, site, priority`,
      ),
      between: db.prepare('SELECT * FROM tickets WHERE opened_at >= ? AND opened_at <= ? ORDER BY opened_at, ref'),
      betweenOf: db.prepare('SELECT * FROM tickets WHERE opened_at >= ? AND opened_at <= ? AND customer = ? ORDER BY opened_at, ref'),
    };
  }

  async enqueue(command: TicketCommandInput, opts: EnqueueOptions = {}): Promise<EnqueueResult & { followUp?: EnqueueResult }> {
    return this.db
      .transaction((): EnqueueResult & { followUp?: EnqueueResult } => {
        const r = this.outbox.enqueue(command);
        if (!r.applied) return r;
        if (opts.recordStatus) recordTicketStatus(this.db, r.ref, opts.recordStatus, command.at);
        const next = opts.followUp?.(this.outbox.store.get(r.ref)!, this.stmts.statusLog.all(r.ref) as Array<{ status: TicketStatus; at: number }>);
        return next ? { ...r, followUp: this.outbox.enqueue(next) } : r;
      })
      .immediate();
  }

  async recordStatus(ref: string, status: TicketStatus, at: number): Promise<void> {
    recordTicketStatus(this.db, ref, status, at);
  }

  async get(ref: string): Promise<Ticket | null> {
    return this.outbox.store.get(ref);
  }

  async byKey(key: string): Promise<Ticket | null> {
    return this.outbox.store.byKey(key);
  }

  async list(filter: TicketFilter, page: { offset: number; limit: number }): Promise<{ total: number; items: Ticket[] }> {
    const { where, args } = ticketFilterWhere(filter, 'sqlite');
    const total = this.db
      .prepare(`SELECT count(*) FROM tickets ${where}`)
      .pluck()
      .get(...args) as number;
    const rows = this.db
      .prepare(`SELECT * FROM tickets ${where} ORDER BY opened_at DESC, ref LIMIT ? OFFSET ?`)
      .all(...args, page.limit, page.offset) as TicketRow[];
    return { total, items: rows.map(rowToTicket) };
  }

  async ofDevice(device: string, limit: number): Promise<Ticket[]> {
    return (this.stmts.ofDevice.all(device, limit) as TicketRow[]).map(rowToTicket);
  }

  async openCounts(): Promise<OpenTicketCount[]> {
    return this.stmts.openCounts.all() as OpenTicketCount[];
  }

  async comments(ref: string): Promise<TicketComment[]> {
    return this.outbox.store.comments(ref);
  }

  async statusLog(ref: string): Promise<Array<{ status: TicketStatus; at: number }>> {
    return this.stmts.statusLog.all(ref) as Array<{ status: TicketStatus; at: number }>;
  }

  async firstResponses(refs: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const ref of refs) {
      const at = this.stmts.firstResponse.get(ref) as number | null;
      if (at !== null) out.set(ref, at);
    }
    return out;
  }

  async openedBetween(from: number, to: number, customer?: string): Promise<Ticket[]> {
    const rows = (customer === undefined ? this.stmts.between.all(from, to) : this.stmts.betweenOf.all(from, to, customer)) as TicketRow[];
    return rows.map(rowToTicket);
  }

  async changesSince(cursor: number, limit = 1000): Promise<{ changes: TicketChange[]; cursor: number }> {
    const changes = this.stmts.changes.all(cursor, limit) as TicketChange[];
    return { changes, cursor: changes.length ? changes[changes.length - 1].cursor : cursor };
  }

  async head(): Promise<number> {
    return this.stmts.head.get() as number;
  }

  /** Ticket changes, and rows put back in the queue (retry), which change no ticket. */
  subscribe(listener: () => void): () => void {
    const offChange = this.outbox.onTicketChange(listener);
    const offRows = this.outbox.subscribe(listener);
    return () => {
      offChange();
      offRows();
    };
  }

  sinkNames(): string[] {
    return this.outbox.sinkNames();
  }

  addSink(name: string): void {
    this.outbox.addSink(name);
  }

  async nextDue(sink: string, now: number): Promise<{ head: OutboxRow | null; nextAt: number | null }> {
    return this.outbox.nextDue(sink, now);
  }

  async rowsOf(sink: string, ref: string, limit?: number): Promise<OutboxRow[]> {
    return this.outbox.rowsOf(sink, ref, limit);
  }

  async markAttempt(id: number, maybeCreated: boolean, at: number): Promise<void> {
    this.outbox.markAttempt(id, maybeCreated, at);
  }

  async reschedule(ids: number[], nextAt: number, error: string, maybeCreated: boolean | null, at: number): Promise<void> {
    this.outbox.reschedule(ids, nextAt, error, maybeCreated, at);
  }

  async fail(ids: number[], error: string, at: number): Promise<void> {
    this.outbox.fail(ids, error, at);
  }

  async complete(ids: number[], link: LinkInput | null, at: number): Promise<void> {
    this.outbox.complete(ids, link, at);
  }

  async link(system: string, ref: string): Promise<TicketLink | null> {
    return this.outbox.link(system, ref);
  }

  async links(filter: { system?: string; ref?: string } = {}): Promise<TicketLink[]> {
    return this.outbox.links(filter.system).filter((l) => filter.ref === undefined || l.ref === filter.ref);
  }

  async pending(sink?: string): Promise<number> {
    return this.outbox.pending(sink);
  }

  async failures(sink?: string): Promise<OutboxFailure[]> {
    return this.outbox.failures(sink);
  }

  async retry(sink: string, ref: string): Promise<number> {
    return this.outbox.retry(sink, ref);
  }

  async discard(sink: string, ref: string): Promise<number> {
    return this.outbox.discard(sink, ref);
  }

  /** The database belongs to whoever opened it: nothing to release here. */
  async close(): Promise<void> {}
}
