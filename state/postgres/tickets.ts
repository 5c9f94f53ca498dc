// The ticket store on PostgreSQL (cluster mode): same behaviour as the SQLite one
// (collector/tickets/store.ts + outbox.ts), checked by the same suite (test/state/).
//
// Ticket writes take one cluster-wide advisory lock for their transaction. Tickets change a few
// times per incident, so the cost is small, and it buys two things: a create cannot race another
// node's create of the same key, and change-feed ids commit in id order, so a reader that has
// seen id N never later finds an N-1 committed behind it. Commits NOTIFY `fleetcare_tickets`.
import type pg from 'pg';
import { formatZodError } from '../../protocol/decode.js';
import { ticketCommandSchema, type Ticket, type TicketCommand, type TicketCommandInput, type TicketStatus } from '../../collector/tickets/model.js';
import {
  TicketCommandError,
  type ApplyResult,
  type EnqueueResult,
  type OutboxFailure,
  type OutboxRow,
  type TicketComment,
  type TicketLink,
} from '../../collector/tickets/index.js';
import type { EnqueueOptions, LinkInput, OpenTicketCount, TicketChange, TicketFilter, TicketStateStore } from '../tickets.js';
import { planTicketWrite, rowToTicket, ticketFilterWhere, type TicketRow } from '../ticket-rows.js';
import { createPgClient, createPgPool, inTransaction, type Queryable } from './db.js';

const TICKET_WRITE_LOCK = 0x666c7401;
const CHANNEL = 'fleetcare_tickets';

function parseCommand(command: TicketCommandInput): TicketCommand {
  const parsed = ticketCommandSchema.safeParse(command);
  if (!parsed.success) throw new TicketCommandError(`invalid ticket command: ${formatZodError(parsed.error)}`);
  return parsed.data;
}

const LINK_COLUMNS = 'system, ref, dedup_key AS key, external_id AS "externalId", state, adopted, updated_at AS "updatedAt"';

export type PgTicketStateOptions = { sinks?: string[]; now?: () => number };

export class PgTicketState implements TicketStateStore {
  private readonly pool: pg.Pool;
  private readonly sinks: string[];
  private readonly now: () => number;
  private readonly listeners = new Set<() => void>();
  private listener: pg.Client | null = null;
  private listenRetry: NodeJS.Timeout | null = null;
  private closed = false;

  /** Over the database at `url`, already migrated (state/postgres/migrations.ts). */
  constructor(
    private readonly url: string,
    opts: PgTicketStateOptions = {},
  ) {
    this.pool = createPgPool(url);
    this.sinks = [...new Set(opts.sinks ?? [])];
    this.now = opts.now ?? Date.now;
  }

  // ---- writes ----

  async enqueue(command: TicketCommandInput, opts: EnqueueOptions = {}): Promise<EnqueueResult & { followUp?: EnqueueResult }> {
    const cmd = parseCommand(command);
    return inTransaction(this.pool, (c) => this.enqueueParsed(c, cmd, opts));
  }

  /**
   * The same as enqueue, inside the caller's transaction on `c` (the incident service commits an
   * incident change and its ticket command together). Nothing commits here; the ticket write
   * lock is held until the caller's transaction ends. Throws TicketCommandError for an invalid
   * command before writing anything.
   */
  async enqueueIn(c: Queryable, command: TicketCommandInput, opts: EnqueueOptions = {}): Promise<EnqueueResult & { followUp?: EnqueueResult }> {
    return this.enqueueParsed(c, parseCommand(command), opts);
  }

  private async enqueueParsed(c: Queryable, cmd: TicketCommand, opts: EnqueueOptions): Promise<EnqueueResult & { followUp?: EnqueueResult }> {
    const sinks = [...this.sinks];
    await c.query('SELECT pg_advisory_xact_lock($1)', [TICKET_WRITE_LOCK]);
    const r = await this.applyWithRows(c, cmd, sinks);
    if (!r.applied) return r;
    if (opts.recordStatus) await c.query('INSERT INTO ticket_status_log (ref, at, status) VALUES ($1, $2, $3)', [r.ref, cmd.at, opts.recordStatus]);
    if (opts.followUp) {
      const ticket = rowToTicket((await c.query('SELECT * FROM tickets WHERE ref = $1', [r.ref])).rows[0] as TicketRow);
      const log = (await c.query('SELECT status, at FROM ticket_status_log WHERE ref = $1 ORDER BY at, id', [r.ref])).rows as Array<{
        status: TicketStatus;
        at: number;
      }>;
      const next = opts.followUp(ticket, log);
      if (next) return { ...r, followUp: await this.applyWithRows(c, parseCommand(next), sinks) };
    }
    return r;
  }

  /** Applies the command, writes its outbox rows and announces the change (delivered at commit). */
  private async applyWithRows(c: Queryable, cmd: TicketCommand, sinks: string[]): Promise<EnqueueResult> {
    const r = await this.apply(c, cmd);
    if (!r.applied) return { ...r, rows: 0 };
    const json = JSON.stringify(cmd);
    const at = this.now();
    for (const sink of sinks) {
      await c.query(
        'INSERT INTO ticket_outbox (sink, ref, dedup_key, version, kind, command, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)',
        [sink, r.ref, r.key, r.version, cmd.kind, json, at],
      );
    }
    await c.query('SELECT pg_notify($1, $2)', [CHANNEL, r.ref]);
    return { ...r, rows: sinks.length };
  }

  /** The same rules as TicketStore.apply (collector/tickets/store.ts). */
  private async apply(c: Queryable, cmd: TicketCommand): Promise<ApplyResult> {
    const latest = (await c.query('SELECT * FROM tickets WHERE dedup_key = $1 ORDER BY occurrence DESC LIMIT 1', [cmd.key])).rows[0] as TicketRow | undefined;
    const plan = planTicketWrite(latest ?? null, cmd);
    if (plan.write === 'insert') {
      const t = plan.ticket;
      await c.query(
        `INSERT INTO tickets (ref, dedup_key, occurrence, version, status, priority, issue_type, customer, site, device, peripheral, opened_at, updated_at, closed_at, resolution, fields)
         VALUES ($1, $2, $3, 1, 'Open', $4, $5, $6, $7, $8, $9, $10, $10, NULL, NULL, $11)`,
        [plan.result.ref, cmd.key, plan.result.occurrence, t.priority, t.issueType, t.customer, t.site, t.device, t.peripheral, cmd.at, JSON.stringify(t)],
      );
    } else if (plan.write === 'update') {
      const { ref, version } = plan.result;
      await c.query(
        'UPDATE tickets SET version = $2, status = $3, priority = $4, updated_at = $5, closed_at = $6, resolution = $7, fields = $8 WHERE ref = $1',
        [ref, version, plan.status, plan.fields.priority, cmd.at, plan.closedAt, plan.resolution, JSON.stringify(plan.fields)],
      );
      if (plan.comment)
        await c.query('INSERT INTO ticket_comments (ref, at, version, event_id, body) VALUES ($1, $2, $3, $4, $5)', [
          ref,
          cmd.at,
          version,
          cmd.eventId ?? null,
          plan.comment,
        ]);
    }
    if (plan.write !== 'none') {
      const ch = plan.change;
      await c.query('INSERT INTO ticket_changes (ref, dedup_key, version, status, priority, device, at) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
        ch.ref,
        ch.key,
        ch.version,
        ch.status,
        ch.priority,
        ch.device,
        ch.at,
      ]);
    }
    return plan.result;
  }

  async recordStatus(ref: string, status: TicketStatus, at: number): Promise<void> {
    await this.pool.query('INSERT INTO ticket_status_log (ref, at, status) VALUES ($1, $2, $3)', [ref, at, status]);
  }

  // ---- reads ----

  async get(ref: string): Promise<Ticket | null> {
    const r = (await this.pool.query('SELECT * FROM tickets WHERE ref = $1', [ref])).rows[0] as TicketRow | undefined;
    return r ? rowToTicket(r) : null;
  }

  /** `c`: a caller's transaction, to read what it has written. */
  async byKey(key: string, c: Queryable = this.pool): Promise<Ticket | null> {
    const r = (await c.query('SELECT * FROM tickets WHERE dedup_key = $1 ORDER BY occurrence DESC LIMIT 1', [key])).rows[0] as TicketRow | undefined;
    return r ? rowToTicket(r) : null;
  }

  async list(filter: TicketFilter, page: { offset: number; limit: number }): Promise<{ total: number; items: Ticket[] }> {
    const { where, args } = ticketFilterWhere(filter, 'postgres');
    const total = (await this.pool.query(`SELECT count(*) AS n FROM tickets ${where}`, args)).rows[0].n as number;
    const n = args.length;
    const rows = (
      await this.pool.query(`SELECT * FROM tickets ${where} ORDER BY opened_at DESC, ref LIMIT $${n + 1} OFFSET $${n + 2}`, [...args, page.limit, page.offset])
    ).rows as TicketRow[];
    return { total, items: rows.map(rowToTicket) };
  }

  async ofDevice(device: string, limit: number): Promise<Ticket[]> {
    const rows = (
      await this.pool.query(`SELECT * FROM tickets WHERE device = $1 ORDER BY status IN ('Resolved', 'Closed'), opened_at DESC, ref LIMIT $2`, [device, limit])
    ).rows as TicketRow[];
    return rows.map(rowToTicket);
  }

  async openCounts(): Promise<OpenTicketCount[]> {
    return (
      await this.pool.query(
        `SELECT device, site, priority, count(*) AS count FROM tickets WHERE status NOT IN ('Resolved', 'Closed') GROUP BY device, site, priority`,
      )
    ).rows as OpenTicketCount[];
  }

  async comments(ref: string): Promise<TicketComment[]> {
    return (await this.pool.query('SELECT id, ref, at, version, event_id AS "eventId", body FROM ticket_comments WHERE ref = $1 ORDER BY id', [ref]))
      .rows as TicketComment[];
  }

  async statusLog(ref: string): Promise<Array<{ status: TicketStatus; at: number }>> {
    return (await this.pool.query('SELECT status, at FROM ticket_status_log WHERE ref = $1 ORDER BY at, id', [ref])).rows as Array<{
      status: TicketStatus;
      at: number;
    }>;
  }

  async firstResponses(refs: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (!refs.length) return out;
    const rows = (
      await this.pool.query(
        `SELECT ref, min(at) AS at FROM ticket_status_log WHERE ref = ANY($1) AND status IN ('Replied', 'Resolved', 'Closed') GROUP BY ref`,
        [refs],
      )
    ).rows as Array<{ ref: string; at: number }>;
    for (const r of rows) out.set(r.ref, r.at);
    return out;
  }

  async openedBetween(from: number, to: number, customer?: string): Promise<Ticket[]> {
    const rows = (
      customer === undefined
        ? await this.pool.query('SELECT * FROM tickets WHERE opened_at >= $1 AND opened_at <= $2 ORDER BY opened_at, ref', [from, to])
        : await this.pool.query('SELECT * FROM tickets WHERE opened_at >= $1 AND opened_at <= $2 AND customer = $3 ORDER BY opened_at, ref', [
            from,
            to,
            customer,
          ])
    ).rows as TicketRow[];
    return rows.map(rowToTicket);
  }

  // ---- change feed ----

  async changesSince(cursor: number, limit = 1000): Promise<{ changes: TicketChange[]; cursor: number }> {
    const changes = (
      await this.pool.query(
        'SELECT id AS cursor, ref, dedup_key AS key, version, status, priority, device, at FROM ticket_changes WHERE id > $1 ORDER BY id LIMIT $2',
        [cursor, limit],
      )
    ).rows as TicketChange[];
    return { changes, cursor: changes.length ? changes[changes.length - 1].cursor : cursor };
  }

  async head(): Promise<number> {
    return (await this.pool.query('SELECT coalesce(max(id), 0) AS head FROM ticket_changes')).rows[0].head as number;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    if (!this.listener && !this.listenRetry) void this.listen();
    return () => this.listeners.delete(listener);
  }

  /** One LISTEN connection per store; reconnected after a loss (readers also poll, so a gap only delays). */
  private async listen(): Promise<void> {
    if (this.closed) return;
    const client = createPgClient(this.url);
    const retry = () => {
      if (this.listener === client) this.listener = null;
      client.end().catch(() => undefined);
      if (this.closed || this.listenRetry) return;
      this.listenRetry = setTimeout(() => {
        this.listenRetry = null;
        void this.listen();
      }, 1000);
      this.listenRetry.unref();
    };
    client.on('error', retry);
    client.on('notification', () => {
      for (const l of this.listeners) l();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      if (this.closed) {
        await client.end();
        return;
      }
      this.listener = client;
      client.on('end', retry);
      // Notifications sent while we were not listening are lost: readers catch up now.
      for (const l of this.listeners) l();
    } catch {
      retry();
    }
  }

  // ---- outbox ----

  sinkNames(): string[] {
    return [...this.sinks];
  }

  addSink(name: string): void {
    if (!this.sinks.includes(name)) this.sinks.push(name);
  }

  async nextDue(sink: string, now: number): Promise<{ head: OutboxRow | null; nextAt: number | null }> {
    const head = (
      await this.pool.query(
        `SELECT o.* FROM ticket_outbox o
       WHERE o.sink = $1 AND o.id = (SELECT min(id) FROM ticket_outbox p WHERE p.sink = o.sink AND p.ref = o.ref) AND o.state = 'pending'
       ORDER BY o.next_at, o.id LIMIT 1`,
        [sink],
      )
    ).rows[0] as OutboxRow | undefined;
    if (!head) return { head: null, nextAt: null };
    if (head.next_at > now) return { head: null, nextAt: head.next_at };
    return { head, nextAt: head.next_at };
  }

  async rowsOf(sink: string, ref: string, limit = 200): Promise<OutboxRow[]> {
    return (await this.pool.query(`SELECT * FROM ticket_outbox WHERE sink = $1 AND ref = $2 AND state = 'pending' ORDER BY id LIMIT $3`, [sink, ref, limit]))
      .rows as OutboxRow[];
  }

  async markAttempt(id: number, maybeCreated: boolean, at: number): Promise<void> {
    await this.pool.query('UPDATE ticket_outbox SET attempts = attempts + 1, maybe_created = $2, updated_at = $3 WHERE id = $1', [
      id,
      maybeCreated ? 1 : 0,
      at,
    ]);
  }

  async reschedule(ids: number[], nextAt: number, error: string, maybeCreated: boolean | null, at: number): Promise<void> {
    await this.pool.query(
      'UPDATE ticket_outbox SET next_at = $2, last_error = $3, maybe_created = coalesce($4, maybe_created), updated_at = $5 WHERE id = ANY($1)',
      [ids, nextAt, error, maybeCreated === null ? null : maybeCreated ? 1 : 0, at],
    );
  }

  async fail(ids: number[], error: string, at: number): Promise<void> {
    await this.pool.query(`UPDATE ticket_outbox SET state = 'failed', last_error = $2, updated_at = $3 WHERE id = ANY($1)`, [ids, error, at]);
  }

  async complete(ids: number[], link: LinkInput | null, at: number): Promise<void> {
    await inTransaction(this.pool, async (c) => {
      await c.query('DELETE FROM ticket_outbox WHERE id = ANY($1)', [ids]);
      if (link) {
        await c.query(
          `INSERT INTO ticket_link (system, ref, dedup_key, external_id, state, adopted, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (system, ref) DO UPDATE SET external_id = excluded.external_id, state = excluded.state, updated_at = excluded.updated_at,
           adopted = greatest(ticket_link.adopted, excluded.adopted)`,
          [link.system, link.ref, link.key, link.externalId, link.state, link.adopted ? 1 : 0, at],
        );
      }
    });
  }

  async link(system: string, ref: string): Promise<TicketLink | null> {
    const r = (await this.pool.query(`SELECT ${LINK_COLUMNS} FROM ticket_link WHERE system = $1 AND ref = $2`, [system, ref])).rows[0] as
      | (Omit<TicketLink, 'adopted'> & { adopted: number })
      | undefined;
    return r ? { ...r, adopted: r.adopted === 1 } : null;
  }

  async links(filter: { system?: string; ref?: string } = {}): Promise<TicketLink[]> {
    const rows = (
      await this.pool.query(
        `SELECT ${LINK_COLUMNS} FROM ticket_link WHERE ($1::text IS NULL OR system = $1) AND ($2::text IS NULL OR ref = $2) ORDER BY system, ref`,
        [filter.system ?? null, filter.ref ?? null],
      )
    ).rows as Array<Omit<TicketLink, 'adopted'> & { adopted: number }>;
    return rows.map((r) => ({ ...r, adopted: r.adopted === 1 }));
  }

  async pending(sink?: string): Promise<number> {
    return (await this.pool.query(`SELECT count(*) AS n FROM ticket_outbox WHERE state = 'pending' AND ($1::text IS NULL OR sink = $1)`, [sink ?? null]))
      .rows[0].n as number;
  }

  async failures(sink?: string): Promise<OutboxFailure[]> {
    return (
      await this.pool.query(
        `SELECT id, sink, ref, kind, attempts, last_error AS error, updated_at AS at FROM ticket_outbox WHERE state = 'failed' AND ($1::text IS NULL OR sink = $1) ORDER BY id`,
        [sink ?? null],
      )
    ).rows as OutboxFailure[];
  }

  async retry(sink: string, ref: string): Promise<number> {
    const n =
      (
        await this.pool.query(`UPDATE ticket_outbox SET state = 'pending', next_at = 0, updated_at = $3 WHERE sink = $1 AND ref = $2 AND state = 'failed'`, [
          sink,
          ref,
          this.now(),
        ])
      ).rowCount ?? 0;
    if (n) await this.pool.query('SELECT pg_notify($1, $2)', [CHANNEL, ref]);
    return n;
  }

  async discard(sink: string, ref: string): Promise<number> {
    return (await this.pool.query('DELETE FROM ticket_outbox WHERE sink = $1 AND ref = $2', [sink, ref])).rowCount ?? 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.listenRetry) clearTimeout(this.listenRetry);
    const l = this.listener;
    this.listener = null;
    await l?.end().catch(() => undefined);
    await this.pool.end();
  }
}
