// One sender loop per external sink: takes the oldest due ticket from the outbox, coalesces its
// pending rows into one operation, sends it, and deletes the rows only after the sink confirmed.
// Tickets are independent (one in backoff does not hold up the others); within a ticket the
// order is kept. After a create whose outcome is unknown, the next attempt searches first.
// It works on any ticket store (state/tickets.ts): the SQLite outbox or PostgreSQL.
import type { Logger } from 'pino';
import type { TicketStateStore } from '../../state/tickets.js';
import { SqliteTicketState } from '../../state/sqlite/tickets.js';
import { coalesce, TicketOutbox, type OutboxRow } from './outbox.js';
import { SinkError, clip, type TicketSink } from './sink.js';

export type BackoffOptions = { baseMs: number; maxMs: number };

export type TicketSenderOptions = {
  log: Logger;
  backoff?: Partial<BackoffOptions>;
  /** Longest idle sleep between checks (rows from another process, clock jumps). */
  pollMs?: number;
  now?: () => number;
  random?: () => number;
  /** Sends only while this holds (cluster mode: this node is the leader); checked before every request to the sink. */
  active?: () => boolean;
};

export type TicketSenderStats = {
  sent: number;
  created: number;
  adopted: number;
  updates: number;
  coalescedRows: number;
  retries: number;
  unknownOutcomes: number;
  failed: number;
  searches: number;
};

/** Exponential backoff with jitter: a random delay in [½, 1] × min(max, base·2^(attempt-1)). */
export function backoffDelay(attempt: number, o: BackoffOptions, random: () => number = Math.random): number {
  const cap = Math.min(o.maxMs, o.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(cap / 2 + (random() * cap) / 2);
}

export class TicketSender {
  private readonly backoff: BackoffOptions;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly pollMs: number;
  private readonly active: () => boolean;
  private closed = false;
  private running: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;
  private pausedUntil = 0;
  private readonly unsubscribe: () => void;
  private readonly outbox: TicketStateStore;
  /** The SQLite outbox answers stats() live; other stores report the counts of the last idle check. */
  private readonly syncOutbox: TicketOutbox | null;
  private lastCounts = { pending: 0, failedRows: 0 };
  private readonly counters: TicketSenderStats = {
    sent: 0,
    created: 0,
    adopted: 0,
    updates: 0,
    coalescedRows: 0,
    retries: 0,
    unknownOutcomes: 0,
    failed: 0,
    searches: 0,
  };

  constructor(
    outbox: TicketOutbox | TicketStateStore,
    readonly sink: TicketSink,
    opts: TicketSenderOptions,
  ) {
    this.syncOutbox = outbox instanceof TicketOutbox ? outbox : null;
    this.outbox = outbox instanceof TicketOutbox ? new SqliteTicketState(outbox) : outbox;
    this.log = opts.log.child({ sink: sink.name });
    this.backoff = { baseMs: opts.backoff?.baseMs ?? 1000, maxMs: opts.backoff?.maxMs ?? 5 * 60_000 };
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.pollMs = opts.pollMs ?? 1000;
    this.active = opts.active ?? (() => true);
    this.outbox.addSink(sink.name);
    this.unsubscribe = this.outbox.subscribe(() => this.wake());
  }

  start(): void {
    if (this.running || this.closed) return;
    this.running = this.loop();
  }

  wake(): void {
    this.wakeUp?.();
  }

  stats(): TicketSenderStats & { pending: number; failedRows: number } {
    const o = this.syncOutbox;
    const counts = o ? { pending: o.pending(this.sink.name), failedRows: o.failures(this.sink.name).length } : this.lastCounts;
    return { ...this.counters, ...counts };
  }

  /** Stops after the request in flight (if any) has finished. Rows stay in the outbox. */
  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe();
    this.wake();
    await this.running;
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      let waitMs = this.pollMs;
      try {
        const r = await this.step();
        if (r === 'worked') continue;
        if (r !== null) waitMs = Math.max(1, Math.min(this.pollMs, r - this.now()));
      } catch (e) {
        // The DB went away or a bug: never let it escape; try again later.
        this.log.error({ err: (e as Error).message }, 'ticket sender step failed');
      }
      if (this.closed) break;
      if (!this.syncOutbox) {
        try {
          this.lastCounts = { pending: await this.outbox.pending(this.sink.name), failedRows: (await this.outbox.failures(this.sink.name)).length };
        } catch {
          // stats stay as they were; the next step logs the store's error
        }
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, waitMs);
        function done() {
          clearTimeout(t);
          resolve();
        }
        this.wakeUp = done;
      });
      this.wakeUp = null;
    }
  }

  /**
   * Sends at most one ticket's operation. Returns 'worked' when something was attempted, else
   * the time the next row is due (or null when the queue is empty). Public for tests.
   */
  async step(): Promise<'worked' | number | null> {
    const now = this.now();
    if (this.pausedUntil > now) return this.pausedUntil;
    if (!this.active()) return null;
    const { head, nextAt } = await this.outbox.nextDue(this.sink.name, now);
    if (!head) return nextAt;
    const rows = head.kind === 'create' ? [head] : await this.outbox.rowsOf(this.sink.name, head.ref);
    await this.send(rows);
    return 'worked';
  }

  private async send(rows: OutboxRow[]): Promise<void> {
    const { op, ids } = coalesce(rows);
    const head = rows[0];
    const name = this.sink.name;
    const log = this.log.child({ ref: op.ref, version: op.version });
    try {
      if (op.kind === 'create') {
        const known = await this.outbox.link(name, op.ref);
        if (known) {
          // Already linked (e.g. a failed create re-queued by hand after it was fixed there).
          await this.outbox.complete(ids, null, this.now());
          return;
        }
        if (head.maybe_created) {
          if (!this.active()) return;
          this.counters.searches++;
          const found = await this.sink.find(op.ref);
          if (found) {
            await this.outbox.complete(
              ids,
              { system: name, ref: op.ref, key: op.key, externalId: found.externalId, state: found.status ?? 'Open', adopted: true },
              this.now(),
            );
            this.counters.adopted++;
            this.counters.sent++;
            log.info({ externalId: found.externalId }, 'ticket found after an unknown outcome: adopted, not created again');
            return;
          }
        }
        // Recorded before sending: if we die or the answer is lost, the next attempt searches first.
        await this.outbox.markAttempt(head.id, true, this.now());
        // No longer the sender (e.g. paused past its lease): the row stays, marked, for the next one.
        if (!this.active()) return;
        const created = await this.sink.create(op);
        await this.outbox.complete(ids, { system: name, ref: op.ref, key: op.key, externalId: created.externalId, state: 'Open' }, this.now());
        this.counters.created++;
        this.counters.sent++;
        log.info({ externalId: created.externalId }, 'ticket created');
        return;
      }
      const link = await this.outbox.link(name, op.ref);
      if (!link) throw new SinkError('fatal', `no ${name} ticket for ${op.ref} (its create failed or was discarded)`);
      for (const id of ids) await this.outbox.markAttempt(id, false, this.now());
      if (!this.active()) return;
      await this.sink.update(link.externalId, op);
      await this.outbox.complete(ids, { ...link, state: op.status ?? link.state }, this.now());
      this.counters.updates++;
      this.counters.sent++;
      this.counters.coalescedRows += ids.length - 1;
      log.info({ rows: ids.length, status: op.status ?? undefined }, 'ticket updated');
    } catch (e) {
      const err = e instanceof SinkError ? e : new SinkError('unknown', `${(e as Error)?.message ?? String(e)}`);
      const now = this.now();
      const message = clip(err.message);
      if (err.kind === 'fatal') {
        await this.outbox.fail(ids, message, now);
        this.counters.failed++;
        log.warn({ status: err.status, error: message }, 'ticket refused by the sink: marked failed, not retried');
        return;
      }
      const attempts = head.attempts + 1;
      let delay = backoffDelay(attempts, this.backoff, this.random);
      if (err.retryAfterMs !== null) {
        delay = Math.max(delay, err.retryAfterMs);
        // Rate limits apply to the whole sink, not just this ticket.
        if (err.status === 429) this.pausedUntil = now + err.retryAfterMs;
      }
      // A create that surely did not arrive (refused, 429) keeps what earlier attempts left;
      // an unknown outcome makes the next attempt search first.
      const maybe = op.kind === 'create' ? (err.kind === 'unknown' ? true : head.maybe_created === 1) : null;
      if (op.kind === 'create' && err.kind === 'unknown') this.counters.unknownOutcomes++;
      await this.outbox.reschedule(ids, now + delay, message, maybe, now);
      this.counters.retries++;
      log.warn({ status: err.status, outcome: err.kind, attempt: attempts, retryInMs: delay, error: message }, 'ticket send failed: will retry');
    }
  }
}
