// What both ingest pipelines (ingest.ts: embedded, with a spool; cluster-ingest.ts: cluster mode,
// retried with backoff) do alike: collect accepted records into a batch, write one batch at a time
// (the next is due at maxPoints points or maxDelayMs after its first record), count the backlog
// the MQTT reader waits on, and note implausible device clocks. Each pipeline says how a batch
// is written (`process`).
import type { Logger } from 'pino';
import { LogLimiter } from '../../logging/log-limiter.js';
import { defaultClockGuard, type ClockGuardOptions } from './clock-guard.js';
import type { IngestStats } from './ingest.js';
import { pointsOf, type IngestRecord } from './store.js';

export type BatchingOptions = { maxPoints: number; maxDelayMs: number; clock?: Partial<ClockGuardOptions> };

export type RecordBatch = { records: IngestRecord[]; points: number };

export function newIngestStats(): IngestStats {
  return {
    accepted: 0,
    duplicates: 0,
    batches: 0,
    written: { messages: 0, points: 0 },
    spooled: 0,
    drained: 0,
    spool: { rows: 0, bytes: 0, full: false },
    refusedSpoolFull: 0,
    storeRejected: 0,
    storeErrors: { unreachable: 0, server: 0, rejected: 0 },
    clockPlaced: { 'before-floor': 0, future: 0, 'too-old': 0 },
    agentReportedDrops: 0,
  };
}

export const pendingKey = (r: IngestRecord): string => r.device + '\0' + r.seq;

export abstract class BatchingIngest<B extends RecordBatch, O extends BatchingOptions> {
  protected current: B;
  protected inflight: Promise<void> | null = null;
  protected inflightPoints = 0;
  protected timer: NodeJS.Timeout | null = null;
  private flushWanted = false;
  /** device \0 seq of every record in the current or in-flight batch. */
  protected readonly pending = new Set<string>();
  protected readonly waiters: Array<() => void> = [];
  protected readonly limiter = new LogLimiter();
  protected closed = false;
  readonly stats: IngestStats = newIngestStats();
  protected readonly clockGuard: ClockGuardOptions;

  constructor(
    protected readonly opts: O,
    protected readonly log: Logger,
    /** How log lines name this pipeline. */
    private readonly logName: string,
  ) {
    this.current = this.newBatch();
    this.clockGuard = { ...defaultClockGuard, ...opts.clock };
  }

  protected abstract newBatch(): B;
  /** Writes (and acks) a batch; what it cannot write stays unacked. */
  protected abstract process(batch: B): Promise<void>;
  /** Nothing to do in the batch. */
  protected isEmpty(batch: B): boolean {
    return batch.records.length === 0;
  }

  /** Points waiting in the current and the in-flight batch (for backpressure). */
  get backlog(): number {
    return this.current.points + this.inflightPoints;
  }

  /** Resolves when the backlog is below `limit` (the MQTT reader waits on this). */
  async belowBacklog(limit: number): Promise<void> {
    while (this.backlog >= limit && !this.closed) await new Promise<void>((r) => this.waiters.push(r));
  }

  /** Adds an accepted record to the current batch, which is then due or armed. */
  protected enqueue(r: IngestRecord): void {
    this.pending.add(pendingKey(r));
    this.current.records.push(r);
    this.current.points += pointsOf(r);
    if (this.current.points >= this.opts.maxPoints) this.flush();
    else this.arm();
  }

  protected noteClockFault(r: IngestRecord): void {
    const c = r.clock!;
    this.stats.clockPlaced[c.verdict]++;
    this.limiter.maybe(`clock:${r.device}`, r.arrivedAt, (suppressed) =>
      this.log.warn(
        { device: r.device, verdict: c.verdict, deviceTs: c.deviceTs, arrivedAt: r.arrivedAt, suppressed },
        'device clock implausible: samples stored at arrival time, device time kept as device_ts',
      ),
    );
  }

  protected arm(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, this.opts.maxDelayMs);
  }

  /** Starts writing the current batch (or marks it due, if a write is in flight). */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.inflight) {
      this.flushWanted = true;
      return;
    }
    const batch = this.current;
    if (this.isEmpty(batch)) return;
    this.current = this.newBatch();
    this.inflightPoints = batch.points;
    this.stats.batches++;
    this.inflight = this.process(batch)
      .catch((e) => this.log.error({ err: (e as Error).stack ?? String(e) }, `${this.logName}: batch failed unexpectedly; left unacked, agents will re-send`))
      .finally(() => {
        for (const r of batch.records) this.pending.delete(pendingKey(r));
        this.inflight = null;
        this.inflightPoints = 0;
        this.wakeWaiters();
        if (this.closed) return;
        if (this.flushWanted || this.current.points >= this.opts.maxPoints) {
          this.flushWanted = false;
          this.flush();
        } else if (!this.isEmpty(this.current)) this.arm();
      });
  }

  protected wakeWaiters(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /**
   * Shutdown's first part: writes the current batch, and what is left after the one in flight,
   * until `deadline`; then the pipeline is closed (what is not written stays unacked).
   */
  protected async writeLastBatches(deadline: number): Promise<void> {
    this.flush();
    while ((this.inflight || this.current.records.length) && Date.now() < deadline) {
      await settledWithin(this.inflight ?? Promise.resolve(), deadline - Date.now());
      if (!this.inflight && this.current.records.length) this.flush();
    }
    this.closed = true;
  }
}

/** Waits for `p` to settle, but no longer than `ms` (and leaves no timer behind). */
export async function settledWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => {}), new Promise<void>((r) => (timer = setTimeout(r, Math.max(1, ms))))]);
  clearTimeout(timer);
}
