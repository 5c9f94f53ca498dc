// The ticket store seam: tickets, their comments, status history, change feed, outbox rows and
// links to external systems. Two implementations: SQLite (state/sqlite/tickets.ts, embedded, the
// default; it wraps collector/tickets/{store,outbox}.ts) and PostgreSQL (state/postgres/tickets.ts,
// cluster). Readers (the NOC, reports) and writers go through this interface only; nothing outside
// an implementation knows the table layout. Every method is async because PostgreSQL is; the
// SQLite implementation answers from synchronous statements.
import type { EnqueueResult, OutboxFailure, OutboxRow, TicketLink } from '../collector/tickets/outbox.js';
import type { TicketComment } from '../collector/tickets/store.js';
import type { Ticket, TicketCommandInput, TicketStatus } from '../collector/tickets/model.js';

export type { EnqueueResult, OutboxFailure, OutboxRow, TicketComment, TicketLink };

/** Filters of a ticket list; every given field must match. */
export type TicketFilter = {
  /** true: not Resolved/Closed; false: Resolved or Closed. */
  open?: boolean;
  status?: string[];
  priority?: string[];
  /** The issue type. */
  type?: string;
  customer?: string;
  site?: string;
  device?: string;
};

/** One entry of the change feed: a ticket reached `version` (1 = created). */
export type TicketChange = { cursor: number; ref: string; key: string; version: number; status: string; priority: string; device: string; at: number };

/** Open tickets grouped by device, site and priority. */
export type OpenTicketCount = { device: string; site: string | null; priority: string; count: number };

export type LinkInput = { system: string; ref: string; key: string; externalId: string; state: string; adopted?: boolean };

export type EnqueueOptions = {
  /** The status the ticket entered, recorded in its status history in the same transaction. */
  recordStatus?: TicketStatus;
  /**
   * Called in the same transaction once the command applied, with the ticket as it is now and its
   * status history; a command it returns is applied there too (e.g. the SLA fields the new status
   * changes). Pure: it must not do I/O.
   */
  followUp?: (ticket: Ticket, statusLog: ReadonlyArray<{ status: TicketStatus; at: number }>) => TicketCommandInput | null;
};

export interface TicketStateStore {
  // ---- writes ----
  /**
   * Validates and applies a ticket command, writes one outbox row per sink and one change-feed
   * entry, in one transaction; with `recordStatus`, the status the ticket entered goes to its
   * status history in the same transaction, and `followUp`'s command after it. A command that
   * does not apply answers `applied: false` (and runs no follow-up).
   */
  enqueue(command: TicketCommandInput, opts?: EnqueueOptions): Promise<EnqueueResult & { followUp?: EnqueueResult }>;
  /** Records a status the ticket entered (when the change itself was enqueued without it). */
  recordStatus(ref: string, status: TicketStatus, at: number): Promise<void>;

  // ---- reads ----
  get(ref: string): Promise<Ticket | null>;
  /** The current (latest) occurrence of a dedup key. */
  byKey(key: string): Promise<Ticket | null>;
  /** Newest opened first (then ref). */
  list(filter: TicketFilter, page: { offset: number; limit: number }): Promise<{ total: number; items: Ticket[] }>;
  /** A device's tickets: open ones first, then the most recently opened others. */
  ofDevice(device: string, limit: number): Promise<Ticket[]>;
  openCounts(): Promise<OpenTicketCount[]>;
  comments(ref: string): Promise<TicketComment[]>;
  /** Statuses the ticket entered after opening, oldest first. */
  statusLog(ref: string): Promise<Array<{ status: TicketStatus; at: number }>>;
  /** First Replied, Resolved or Closed of each ticket that has one. */
  firstResponses(refs: string[]): Promise<Map<string, number>>;
  /** Tickets opened in [from, to] (optionally of one customer), oldest first: the rows reports count. */
  openedBetween(from: number, to: number, customer?: string): Promise<Ticket[]>;

  // ---- change feed ----
  /** Changes after `cursor` in commit order (at most `limit`), and the cursor to ask with next. */
  changesSince(cursor: number, limit?: number): Promise<{ changes: TicketChange[]; cursor: number }>;
  /** The cursor of the newest change (0 when none): start here to see only later changes. */
  head(): Promise<number>;
  /**
   * Called after a commit that changed tickets (in PostgreSQL from any node, through
   * LISTEN/NOTIFY; in SQLite from this process). A hint to read changesSince(), not the data.
   */
  subscribe(listener: () => void): () => void;

  // ---- outbox (the senders' side) and links ----
  sinkNames(): string[];
  addSink(name: string): void;
  /** The next ticket of `sink` whose oldest row is due and not failed, plus the earliest due time. */
  nextDue(sink: string, now: number): Promise<{ head: OutboxRow | null; nextAt: number | null }>;
  rowsOf(sink: string, ref: string, limit?: number): Promise<OutboxRow[]>;
  markAttempt(id: number, maybeCreated: boolean, at: number): Promise<void>;
  reschedule(ids: number[], nextAt: number, error: string, maybeCreated: boolean | null, at: number): Promise<void>;
  fail(ids: number[], error: string, at: number): Promise<void>;
  /** Deletes sent rows and records the link, in one transaction. */
  complete(ids: number[], link: LinkInput | null, at: number): Promise<void>;
  link(system: string, ref: string): Promise<TicketLink | null>;
  links(filter?: { system?: string; ref?: string }): Promise<TicketLink[]>;
  pending(sink?: string): Promise<number>;
  failures(sink?: string): Promise<OutboxFailure[]>;
  retry(sink: string, ref: string): Promise<number>;
  discard(sink: string, ref: string): Promise<number>;

  close(): Promise<void>;
}
