// The durable ticket outbox. A ticket command is applied to the built-in store and written as
// one outbox row per external sink in ONE transaction — the caller's, when it calls enqueue()
// inside its own `db.transaction(...)` (better-sqlite3 nests it as a savepoint), so an incident
// change and its ticket change commit or vanish together. Sender loops (sender.ts) drain the
// rows; a row is deleted only after its sink confirmed it.
import type Database from 'better-sqlite3';
import { formatZodError } from '../../protocol/decode.js';
import { ticketCommandSchema, type SinkOperation, type TicketCommand, type TicketCommandInput, type TicketPatch, type TicketStatus } from './model.js';
import { TicketStore, type ApplyResult } from './store.js';
import { FleetcareError } from '../../protocol/errors.js';

export const TICKET_OUTBOX_DDL = `
CREATE TABLE IF NOT EXISTS ticket_outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  sink TEXT NOT NULL,
  ref TEXT NOT NULL,
  dedup_key TEXT NOT NULL,
  version INTEGER NOT NULL,
  kind TEXT NOT NULL,
  command TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'pending',   -- pending | failed
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at INTEGER NOT NULL DEFAULT 0,
  maybe_created INTEGER NOT NULL DEFAULT 0, -- a create was sent and its outcome is unknown
  last_error TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ticket_outbox_ticket ON ticket_outbox (sink, ref, id);
CREATE INDEX IF NOT EXISTS ticket_outbox_due ON ticket_outbox (sink, state, next_at);
-- Which external ticket each of our tickets became, per system: the source of truth (searches
-- in the external systems may lag).
CREATE TABLE IF NOT EXISTS ticket_link (
  system TEXT NOT NULL,
  ref TEXT NOT NULL,
  dedup_key TEXT NOT NULL,
  external_id TEXT NOT NULL,
  state TEXT NOT NULL,
  adopted INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (system, ref)
) WITHOUT ROWID;
`;

export type OutboxRow = {
  id: number;
  sink: string;
  ref: string;
  dedup_key: string;
  version: number;
  kind: TicketCommand['kind'];
  command: string;
  state: 'pending' | 'failed';
  attempts: number;
  next_at: number;
  maybe_created: number;
  last_error: string | null;
  created_at: number;
  updated_at: number;
};

export type OutboxFailure = { id: number; sink: string; ref: string; kind: string; attempts: number; error: string | null; at: number };

export type TicketLink = { system: string; ref: string; key: string; externalId: string; state: string; adopted: boolean; updatedAt: number };

export type EnqueueResult = ApplyResult & { rows: number };

/** An invalid ticket command (code `invalid`), refused before anything is queued. */
export class TicketCommandError extends FleetcareError<'invalid'> {
  override name = 'TicketCommandError';
  constructor(message: string) {
    super('invalid', message);
  }
}

export type TicketOutboxOptions = {
  /** Names of the external sinks; every applied command gets one row per sink. */
  sinks: string[];
  /** Called (after the current synchronous work, i.e. after the caller's commit) when rows were added. */
  onEnqueue?: () => void;
  now?: () => number;
};

export class TicketOutbox {
  readonly store: TicketStore;
  private sinks: string[];
  private readonly insertStmt: Database.Statement;
  private readonly enqueueTx: Database.Transaction<(cmd: TicketCommand) => EnqueueResult>;
  private readonly now: () => number;
  private readonly listeners = new Set<() => void>();
  private readonly changeListeners = new Set<() => void>();
  private wakeScheduled = false;
  private changeScheduled = false;

  /** Creates the tables (store, outbox, link) in `db` if needed and prepares the statements. */
  constructor(
    readonly db: Database.Database,
    opts: TicketOutboxOptions,
  ) {
    this.store = new TicketStore(db);
    db.exec(TICKET_OUTBOX_DDL);
    this.sinks = [...new Set(opts.sinks)];
    this.now = opts.now ?? Date.now;
    if (opts.onEnqueue) this.listeners.add(opts.onEnqueue);
    this.insertStmt = db.prepare(`INSERT INTO ticket_outbox (sink, ref, dedup_key, version, kind, command, created_at, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    this.enqueueTx = db.transaction((cmd: TicketCommand): EnqueueResult => {
      const r = this.store.apply(cmd);
      if (!r.applied) return { ...r, rows: 0 };
      const json = JSON.stringify(cmd);
      const at = this.now();
      for (const sink of this.sinks) this.insertStmt.run(sink, r.ref, r.key, r.version, cmd.kind, json, at, at);
      return { ...r, rows: this.sinks.length };
    });
  }

  /** Adds a sink name (a sender registers its sink); only commands enqueued afterwards reach it. */
  addSink(name: string): void {
    if (!this.sinks.includes(name)) this.sinks.push(name);
  }

  sinkNames(): string[] {
    return [...this.sinks];
  }

  /** Called after a commit that changed a ticket (whether or not rows were added). Returns the unsubscribe function. */
  onTicketChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Senders subscribe to be woken when rows are added. Returns the unsubscribe function. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Validates `command`, applies it to the built-in store and writes the outbox rows.
   * Call it INSIDE your own `db.transaction(() => { ...incident change...; outbox.enqueue(cmd) })`
   * on the same Database: everything commits together. Called alone it is its own transaction.
   * Throws TicketCommandError on an invalid command (rolling back the caller's transaction, which
   * is what a programming error deserves); a command that does not apply (update of an unknown
   * key, create of an already-open ticket, close of a closed one) returns `applied: false`.
   */
  enqueue(command: TicketCommandInput): EnqueueResult {
    const parsed = ticketCommandSchema.safeParse(command);
    if (!parsed.success) throw new TicketCommandError(`invalid ticket command: ${formatZodError(parsed.error)}`);
    const r = this.enqueueTx.immediate(parsed.data);
    if (r.applied && !this.changeScheduled) {
      // Readers of the change feed (the NOC), after the caller's commit like the senders' wake.
      this.changeScheduled = true;
      setImmediate(() => {
        this.changeScheduled = false;
        for (const l of this.changeListeners) l();
      });
    }
    if (r.rows > 0 && !this.wakeScheduled) {
      // After the current synchronous code, i.e. after the caller's transaction committed (or
      // rolled back, in which case the senders simply find nothing).
      this.wakeScheduled = true;
      setImmediate(() => {
        this.wakeScheduled = false;
        for (const l of this.listeners) l();
      });
    }
    return r;
  }

  // ---- used by the senders ----

  /** The next ticket of `sink` whose oldest row is due and not failed, or null; plus the earliest due time. */
  nextDue(sink: string, now: number): { head: OutboxRow | null; nextAt: number | null } {
    const heads = this.db
      .prepare(
        `SELECT o.* FROM ticket_outbox o
         WHERE o.sink = ? AND o.id = (SELECT min(id) FROM ticket_outbox p WHERE p.sink = o.sink AND p.ref = o.ref)
           AND o.state = 'pending'
         ORDER BY o.next_at, o.id LIMIT 1`,
      )
      .get(sink) as OutboxRow | undefined;
    if (!heads) return { head: null, nextAt: null };
    if (heads.next_at > now) return { head: null, nextAt: heads.next_at };
    return { head: heads, nextAt: heads.next_at };
  }

  /** The pending rows of one ticket for one sink, oldest first. */
  rowsOf(sink: string, ref: string, limit = 200): OutboxRow[] {
    return this.db
      .prepare(`SELECT * FROM ticket_outbox WHERE sink = ? AND ref = ? AND state = 'pending' ORDER BY id LIMIT ?`)
      .all(sink, ref, limit) as OutboxRow[];
  }

  markAttempt(id: number, maybeCreated: boolean, at: number): void {
    this.db.prepare('UPDATE ticket_outbox SET attempts = attempts + 1, maybe_created = ?, updated_at = ? WHERE id = ?').run(maybeCreated ? 1 : 0, at, id);
  }

  reschedule(ids: number[], nextAt: number, error: string, maybeCreated: boolean | null, at: number): void {
    const stmt = this.db.prepare(
      'UPDATE ticket_outbox SET next_at = ?, last_error = ?, maybe_created = coalesce(?, maybe_created), updated_at = ? WHERE id = ?',
    );
    this.db.transaction(() => {
      for (const id of ids) stmt.run(nextAt, error, maybeCreated === null ? null : maybeCreated ? 1 : 0, at, id);
    })();
  }

  fail(ids: number[], error: string, at: number): void {
    const stmt = this.db.prepare(`UPDATE ticket_outbox SET state = 'failed', last_error = ?, updated_at = ? WHERE id = ?`);
    this.db.transaction(() => {
      for (const id of ids) stmt.run(error, at, id);
    })();
  }

  /** Deletes sent rows and records the link — one transaction. */
  complete(ids: number[], link: { system: string; ref: string; key: string; externalId: string; state: string; adopted?: boolean } | null, at: number): void {
    const del = this.db.prepare('DELETE FROM ticket_outbox WHERE id = ?');
    const upsert = this.db.prepare(`INSERT INTO ticket_link (system, ref, dedup_key, external_id, state, adopted, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (system, ref) DO UPDATE SET external_id = excluded.external_id, state = excluded.state, updated_at = excluded.updated_at,
      adopted = max(adopted, excluded.adopted)`);
    this.db.transaction(() => {
      for (const id of ids) del.run(id);
      if (link) upsert.run(link.system, link.ref, link.key, link.externalId, link.state, link.adopted ? 1 : 0, at);
    })();
  }

  link(system: string, ref: string): TicketLink | null {
    const r = this.db
      .prepare(
        'SELECT system, ref, dedup_key AS key, external_id AS externalId, state, adopted, updated_at AS updatedAt FROM ticket_link WHERE system = ? AND ref = ?',
      )
      .get(system, ref) as (Omit<TicketLink, 'adopted'> & { adopted: number }) | undefined;
    return r ? { ...r, adopted: r.adopted === 1 } : null;
  }

  links(system?: string): TicketLink[] {
    const rows = (
      system
        ? this.db
            .prepare(
              'SELECT system, ref, dedup_key AS key, external_id AS externalId, state, adopted, updated_at AS updatedAt FROM ticket_link WHERE system = ? ORDER BY ref',
            )
            .all(system)
        : this.db
            .prepare(
              'SELECT system, ref, dedup_key AS key, external_id AS externalId, state, adopted, updated_at AS updatedAt FROM ticket_link ORDER BY system, ref',
            )
            .all()
    ) as (Omit<TicketLink, 'adopted'> & { adopted: number })[];
    return rows.map((r) => ({ ...r, adopted: r.adopted === 1 }));
  }

  // ---- operator API (failures are visible, never silently dropped) ----

  /** Rows a sink refused for good (4xx other than 429), with the server's message. */
  failures(sink?: string): OutboxFailure[] {
    const sql = `SELECT id, sink, ref, kind, attempts, last_error AS error, updated_at AS at FROM ticket_outbox WHERE state = 'failed' ${sink ? 'AND sink = ?' : ''} ORDER BY id`;
    return (sink ? this.db.prepare(sql).all(sink) : this.db.prepare(sql).all()) as OutboxFailure[];
  }

  /** Counts per sink and state. */
  pending(sink?: string): number {
    return (
      sink
        ? this.db.prepare(`SELECT count(*) FROM ticket_outbox WHERE sink = ? AND state = 'pending'`).pluck().get(sink)
        : this.db.prepare(`SELECT count(*) FROM ticket_outbox WHERE state = 'pending'`).pluck().get()
    ) as number;
  }

  /** Puts the failed rows of a ticket (or one row) back in the queue, due now. */
  retry(sink: string, ref: string): number {
    const n = this.db
      .prepare(`UPDATE ticket_outbox SET state = 'pending', next_at = 0, updated_at = ? WHERE sink = ? AND ref = ? AND state = 'failed'`)
      .run(this.now(), sink, ref).changes;
    if (n) for (const l of this.listeners) l();
    return n;
  }

  /** Gives up on a ticket's rows for one sink (failed and pending), e.g. after fixing it by hand. */
  discard(sink: string, ref: string): number {
    return this.db.prepare('DELETE FROM ticket_outbox WHERE sink = ? AND ref = ?').run(sink, ref).changes;
  }
}

/** Parses a stored row's command. */
export function rowCommand(row: OutboxRow): TicketCommand {
  return JSON.parse(row.command) as TicketCommand;
}

/**
 * Builds the operation for a ticket's pending rows: a create is sent alone; the updates after
 * it are coalesced — comments joined into one (each quoting its event id), patches merged, the
 * last status kept. Returns the op and the row ids it covers.
 */
export function coalesce(rows: OutboxRow[]): { op: SinkOperation; ids: number[] } {
  const first = rows[0];
  const firstCmd = rowCommand(first);
  if (firstCmd.kind === 'create') {
    return {
      op: {
        kind: 'create',
        ref: first.ref,
        key: first.dedup_key,
        version: first.version,
        ticket: firstCmd.ticket,
        eventIds: firstCmd.eventId ? [firstCmd.eventId] : [],
      },
      ids: [first.id],
    };
  }
  const comments: string[] = [];
  const patch: TicketPatch = {};
  let status: TicketStatus | null = null;
  let resolution: string | null = null;
  const eventIds: string[] = [];
  const ids: number[] = [];
  let version = first.version;
  for (const row of rows) {
    const cmd = rowCommand(row);
    if (cmd.kind === 'create') break; // cannot happen within one ref; stop to keep order anyway
    ids.push(row.id);
    version = row.version;
    if (cmd.eventId) eventIds.push(cmd.eventId);
    const text = cmd.kind === 'close' ? null : cmd.comment;
    if (text) comments.push(cmd.eventId ? `${text}\n[event ${cmd.eventId}]` : text);
    if (cmd.kind === 'update' && cmd.patch) Object.assign(patch, cmd.patch);
    if (cmd.kind === 'set-status') {
      status = cmd.status;
      resolution = null;
    }
    if (cmd.kind === 'close') {
      status = 'Closed';
      resolution = cmd.resolution ?? null;
    }
  }
  return {
    op: {
      kind: 'update',
      ref: first.ref,
      key: first.dedup_key,
      version,
      comment: comments.length ? comments.join('\n\n') : null,
      patch,
      status,
      resolution,
      eventIds,
    },
    ids,
  };
}
