// The ingest pipeline for outboxed messages (telemetry, event):
//   dedup by (device, seq) → batch → store write → commit dedup rows → ack.
// If the store is unreachable or failing, the batch goes into the spool in the same SQLite
// transaction as its dedup rows, is acked, and a drainer writes the spool to the store later,
// oldest first, with exponential backoff. A store that *rejects* points (4xx) would reject them
// forever: those messages are dead-lettered instead. When the spool is full nothing is acked, so
// agents keep the data in their outboxes and re-send it later: nothing is lost.
import type { Logger } from 'pino';
import type { CollectorDb } from './collector-db.js';
import { placeByArrival, type ClockGuardOptions } from './clock-guard.js';
import { BatchingIngest, pendingKey, settledWithin, type RecordBatch } from './batching.js';
import { StoreWriteError, pointsOf, type IngestRecord, type StoreFailure, type TelemetryStore } from './store.js';

export type IngestOptions = {
  maxPoints: number;
  maxDelayMs: number;
  spoolMaxBytes: number;
  retryInitialMs: number;
  retryMaxMs: number;
  /** When a device time is implausible (see clock-guard.ts); the defaults when left out. */
  clock?: Partial<ClockGuardOptions>;
};

/** Sends an ack covering `seqs` to the device. */
export type AckSender = (device: string, seqs: number[]) => void;
/** Keeps a message the store refused for good. */
export type StoreRejectSink = (record: IngestRecord, detail: string) => void;

/** A batch, plus the re-acks of records stored before (sent with its acks). */
type Batch = RecordBatch & { reacks: Map<string, number[]> };

export type IngestStats = {
  accepted: number;
  duplicates: number;
  batches: number;
  written: { messages: number; points: number };
  spooled: number;
  drained: number;
  spool: { rows: number; bytes: number; full: boolean };
  /** Messages not acked because the spool was full (agents re-send them). */
  refusedSpoolFull: number;
  storeRejected: number;
  storeErrors: Record<StoreFailure, number>;
  /** Messages whose device time was implausible, stored at arrival time (by verdict). */
  clockPlaced: { 'before-floor': number; future: number; 'too-old': number };
  /** Points agents reported lost in `outbox-dropped` events (outbox full, disk full, corrupt, kill). */
  agentReportedDrops: number;
};

/** What the collector feeds telemetry/event records to: this file's Ingest, or cluster-ingest.ts's. */
export interface IngestPipeline {
  readonly stats: IngestStats;
  /** Points waiting in the current and the in-flight batch (for backpressure). */
  readonly backlog: number;
  accept(record: IngestRecord): void;
  /** Resolves when the backlog is below `limit` (the MQTT reader waits on this). */
  belowBacklog(limit: number): Promise<void>;
  close(timeoutMs: number): Promise<void>;
}

export function asStoreError(e: unknown): StoreWriteError {
  return e instanceof StoreWriteError ? e : new StoreWriteError('server', (e as Error)?.message ?? String(e));
}

export class Ingest extends BatchingIngest<Batch, IngestOptions> implements IngestPipeline {
  private draining = false;
  private drainRun: Promise<void> = Promise.resolve();
  private drainTimer: NodeJS.Timeout | null = null;
  private drainAttempt = 0;
  private lastDrainLog = 0;

  constructor(
    private readonly store: TelemetryStore,
    private readonly db: CollectorDb,
    opts: IngestOptions,
    private readonly sendAck: AckSender,
    private readonly storeRejected: StoreRejectSink,
    log: Logger,
  ) {
    super(opts, log, 'ingest');
    const totals = db.spoolTotals();
    this.stats.spool.rows = totals.rows;
    this.stats.spool.bytes = totals.bytes;
    if (totals.rows > 0) {
      log.info({ rows: totals.rows, bytes: totals.bytes }, 'spool holds data from before the restart; draining');
      this.kickDrain(0);
    }
  }

  protected newBatch(): Batch {
    return { records: [], points: 0, reacks: new Map() };
  }

  protected override isEmpty(batch: Batch): boolean {
    return batch.records.length === 0 && batch.reacks.size === 0;
  }

  accept(raw: IngestRecord): void {
    const r = placeByArrival(raw, this.clockGuard);
    if (this.pending.has(pendingKey(r))) {
      // Already on its way; the ack of that copy covers this one.
      this.stats.duplicates++;
      return;
    }
    if (this.db.isReceived(r.device, r.seq)) {
      // Stored before: re-ack (the agent may have missed the first ack), never re-write.
      this.stats.duplicates++;
      const list = this.current.reacks.get(r.device);
      if (list) list.push(r.seq);
      else this.current.reacks.set(r.device, [r.seq]);
      this.arm();
      return;
    }
    this.stats.accepted++;
    if (r.clock) this.noteClockFault(r);
    if (r.channel === 'event' && r.message.type === 'outbox-dropped') {
      const dropped = r.message.data?.dropped;
      if (typeof dropped === 'number' && Number.isFinite(dropped) && dropped > 0) this.stats.agentReportedDrops += dropped;
    }
    this.enqueue(r);
  }

  protected async process(batch: Batch): Promise<void> {
    const acks = new Map<string, number[]>(batch.reacks);
    const ackAll = (records: IngestRecord[]) => {
      for (const r of records) {
        const list = acks.get(r.device);
        if (list) list.push(r.seq);
        else acks.set(r.device, [r.seq]);
      }
    };
    const records = batch.records;
    if (records.length > 0) {
      if (this.stats.spool.rows > 0) {
        // The store is down or catching up: keep order, add behind what is already spooled.
        if (this.spool(records)) ackAll(records);
      } else {
        try {
          await this.store.write(records);
          // Closed while writing (shutdown timed out): leave it unacked; the re-send is idempotent.
          if (this.closed) return;
          this.db.commit(records, null, Date.now());
          this.stats.written.messages += records.length;
          this.stats.written.points += batch.points;
          ackAll(records);
        } catch (e) {
          if (this.closed) return;
          const err = asStoreError(e);
          this.noteStoreError(err);
          if (err.failure === 'rejected') {
            ackAll(await this.isolate(records));
          } else if (this.spool(records)) ackAll(records);
        }
      }
    }
    if (this.closed) return;
    for (const [device, seqs] of acks) this.sendAck(device, seqs);
  }

  /**
   * A batch was refused: write its messages one by one so that only the bad ones are
   * dead-lettered. Rewriting the good ones is harmless (point identity). Returns what may be acked.
   */
  private async isolate(records: IngestRecord[]): Promise<IngestRecord[]> {
    const done: IngestRecord[] = [];
    for (let i = 0; i < records.length; i++) {
      const r = records[i];
      try {
        await this.store.write([r]);
        this.stats.written.messages++;
        this.stats.written.points += pointsOf(r);
        this.db.commit([r], null, Date.now());
        done.push(r);
      } catch (e) {
        const err = asStoreError(e);
        if (err.failure === 'rejected') {
          this.stats.storeRejected++;
          this.storeRejected(r, err.message);
          this.db.commit([r], null, Date.now());
          done.push(r);
        } else {
          this.noteStoreError(err);
          const rest = records.slice(i);
          if (this.spool(rest)) done.push(...rest);
          break;
        }
      }
    }
    return done;
  }

  /** Spools records with their dedup rows (one transaction). False when the spool is full. */
  private spool(records: IngestRecord[]): boolean {
    const json = records.map((r) => JSON.stringify(r));
    const bytes = json.reduce((a, j) => a + j.length, 0);
    const now = Date.now();
    if (this.stats.spool.bytes + bytes > this.opts.spoolMaxBytes) {
      this.stats.refusedSpoolFull += records.length;
      if (!this.stats.spool.full) this.limiter.reset('spool-full');
      this.stats.spool.full = true;
      this.limiter.maybe('spool-full', now, (suppressed) =>
        this.log.error(
          { spoolBytes: this.stats.spool.bytes, maxBytes: this.opts.spoolMaxBytes, refused: this.stats.refusedSpoolFull, suppressed },
          'spool full: not acking new messages, agents keep them in their outboxes until the store is back',
        ),
      );
      return false;
    }
    this.db.commit(records, json, now);
    this.stats.spooled += records.length;
    this.stats.spool.rows += records.length;
    this.stats.spool.bytes += bytes;
    this.kickDrain(this.drainAttempt === 0 ? this.opts.retryInitialMs : null);
    return true;
  }

  private noteStoreError(err: StoreWriteError): void {
    this.stats.storeErrors[err.failure]++;
    const what =
      err.failure === 'unreachable'
        ? 'telemetry store unreachable; spooling batches'
        : err.failure === 'server'
          ? 'telemetry store failing (server error); spooling batches'
          : 'telemetry store rejected points (client error); isolating and dead-lettering the bad messages';
    this.limiter.maybe('store-' + err.failure, Date.now(), (suppressed) =>
      (err.failure === 'rejected' ? this.log.warn : this.log.error).call(
        this.log,
        { failure: err.failure, status: err.status, error: err.message, suppressed },
        what,
      ),
    );
  }

  /**
   * Schedules a drain in `delayMs` (null: the initial retry delay). An already scheduled drain is
   * kept: re-arming it on every spooled batch would postpone it forever under steady traffic.
   */
  private kickDrain(delayMs: number | null): void {
    if (this.closed || this.draining || this.drainTimer) return;
    this.drainTimer = setTimeout(() => {
      this.drainTimer = null;
      this.drainRun = this.drain();
    }, delayMs ?? this.opts.retryInitialMs);
  }

  private async drain(): Promise<void> {
    if (this.draining || this.closed) return;
    this.draining = true;
    let retryIn: number | null = null;
    try {
      while (!this.closed) {
        const head = this.db.spoolHead(Math.min(1000, this.opts.maxPoints));
        if (head.length === 0) break;
        // At most maxPoints points per write (at least one row).
        let points = 0;
        let n = 0;
        while (n < head.length && (n === 0 || points + pointsOf(head[n].record) <= this.opts.maxPoints)) points += pointsOf(head[n++].record);
        const rows = head.slice(0, n);
        try {
          await this.store.write(rows.map((r) => r.record));
          if (this.closed) break;
          this.stats.written.messages += rows.length;
          this.stats.written.points += points;
          this.removeSpooled(rows);
        } catch (e) {
          const err = asStoreError(e);
          this.noteStoreError(err);
          if (err.failure !== 'rejected') {
            this.drainAttempt++;
            retryIn = Math.min(this.opts.retryMaxMs, this.opts.retryInitialMs * 2 ** (this.drainAttempt - 1));
            this.limiter.maybe('drain-retry', Date.now(), (suppressed) =>
              this.log.warn(
                { attempt: this.drainAttempt, retryInMs: retryIn, spoolRows: this.stats.spool.rows, error: err.message, suppressed },
                'spool drain: store still failing, retrying with backoff',
              ),
            );
            break;
          }
          if (!(await this.drainOneByOne(rows))) {
            this.drainAttempt++;
            retryIn = Math.min(this.opts.retryMaxMs, this.opts.retryInitialMs * 2 ** (this.drainAttempt - 1));
            break;
          }
        }
        if (this.drainAttempt > 0) {
          this.log.info({ afterAttempts: this.drainAttempt, spoolRows: this.stats.spool.rows }, 'spool drain: store accepts writes again');
          this.limiter.reset('drain-retry');
          this.limiter.reset('store-unreachable');
          this.limiter.reset('store-server');
          this.drainAttempt = 0;
        }
        const now = Date.now();
        if (now - this.lastDrainLog >= 1000) {
          this.lastDrainLog = now;
          this.log.info({ drained: this.stats.drained, spoolRows: this.stats.spool.rows, spoolBytes: this.stats.spool.bytes }, 'spool drain progress');
        }
      }
      if (retryIn === null && this.stats.spool.rows === 0 && this.stats.drained > 0) {
        this.log.info({ drained: this.stats.drained }, 'spool drained: writing directly to the store again');
      }
    } catch (e) {
      this.log.error({ err: (e as Error).stack ?? String(e) }, 'spool drain: unexpected error; retrying');
      retryIn = this.opts.retryMaxMs;
    } finally {
      this.draining = false;
    }
    if (retryIn !== null) this.kickDrain(retryIn);
  }

  /** Rows of a refused spool write, one at a time; false if the store went away meanwhile. */
  private async drainOneByOne(rows: Array<{ id: number; bytes: number; record: IngestRecord }>): Promise<boolean> {
    for (const row of rows) {
      try {
        await this.store.write([row.record]);
        this.stats.written.messages++;
        this.stats.written.points += pointsOf(row.record);
      } catch (e) {
        const err = asStoreError(e);
        if (err.failure !== 'rejected') {
          this.noteStoreError(err);
          return false;
        }
        this.stats.storeRejected++;
        this.storeRejected(row.record, err.message);
      }
      this.removeSpooled([row]);
    }
    return true;
  }

  private removeSpooled(rows: Array<{ id: number; bytes: number }>): void {
    this.db.deleteSpooled(rows.map((r) => r.id));
    this.stats.drained += rows.length;
    this.stats.spool.rows -= rows.length;
    this.stats.spool.bytes -= rows.reduce((a, r) => a + r.bytes, 0);
    if (this.stats.spool.full && this.stats.spool.bytes < this.opts.spoolMaxBytes * 0.9) {
      this.stats.spool.full = false;
      this.log.info({ spoolBytes: this.stats.spool.bytes }, 'spool has room again: acking resumes');
    }
  }

  /**
   * Shutdown: write and ack the current batch if the store answers within `timeoutMs`;
   * otherwise it stays unacked and the agents re-send it.
   */
  async close(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    await this.writeLastBatches(deadline);
    // A drain write in flight finishes (or times out) before the database closes.
    await settledWithin(this.drainRun, deadline - Date.now());
    if (this.timer) clearTimeout(this.timer);
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.timer = this.drainTimer = null;
    this.wakeWaiters();
  }
}
