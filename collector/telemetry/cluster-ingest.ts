// The ingest pipeline of a collector in cluster mode (docs/cluster.md), in place of ingest.ts's:
//   owned partitions only → batch → dedup.seen() (PostgreSQL) → store write of the unseen →
//   markReceived → ack all (seen ones again) and announce the new ones.
// So "acked" always means "in the store and marked in PostgreSQL": nothing acked lives on one
// node's disk. There is no spool: while the store (or PostgreSQL) fails, the batch stays in memory
// and is retried with backoff, nothing is acked, and the backlog holds the MQTT reader back
// (backpressure); the agents keep the data in their outboxes. Records of a partition this node does
// not own are dropped unacked: the owner acks them, or after a failover the agent re-sends them to it.
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { NodePartitions, type CollectorClusterOptions, type CollectorPartitions, type ReleaseReason } from '../../cluster/collector-partitions.js';
import type { DedupStore } from '../../state/dedup.js';
import { PgDedup } from '../../state/postgres/dedup.js';
import { placeByArrival, type ClockGuardOptions } from './clock-guard.js';
import { BatchingIngest, pendingKey, settledWithin, type RecordBatch } from './batching.js';
import { asStoreError, type AckSender, type IngestPipeline, type StoreRejectSink } from './ingest.js';
import { pointsOf, type IngestRecord, type StoreWriteError, type TelemetryStore } from './store.js';

export type ClusterIngestOptions = {
  maxPoints: number;
  maxDelayMs: number;
  /** Store/PostgreSQL failure: retry the batch after this, doubling up to retryMaxMs. */
  retryInitialMs: number;
  retryMaxMs: number;
  clock?: Partial<ClockGuardOptions>;
};

export type ClusterIngestStats = {
  /** Telemetry/event messages of partitions this node does not own: dropped unacked. */
  notOwned: number;
  /** Accepted records whose partition was released before they were acked: dropped unacked. */
  releasedUnacked: number;
  /** Batch attempts that failed (store or PostgreSQL) and were retried. */
  storeRetries: number;
};

const sumPoints = (records: readonly IngestRecord[]) => records.reduce((a, r) => a + pointsOf(r), 0);

export class ClusterIngest extends BatchingIngest<RecordBatch, ClusterIngestOptions> implements IngestPipeline {
  /** The store/dedup round trip running now; a graceful release waits for it. */
  private attempt: Promise<IngestRecord[]> | null = null;
  /** Partitions being released gracefully: an attempt under way may still ack them. */
  private readonly releasing = new Set<number>();
  private retrySleep: { timer: NodeJS.Timeout; wake: () => void } | null = null;
  readonly cluster: ClusterIngestStats = { notOwned: 0, releasedUnacked: 0, storeRetries: 0 };

  constructor(
    private readonly store: TelemetryStore,
    private readonly dedup: DedupStore,
    private readonly partitions: CollectorPartitions,
    opts: ClusterIngestOptions,
    private readonly sendAck: AckSender,
    private readonly storeRejected: StoreRejectSink,
    /** New records, stored and marked (each once per node). */
    private readonly announce: (records: readonly IngestRecord[]) => void,
    log: Logger,
  ) {
    super(opts, log, 'cluster ingest');
    partitions.onReleased((ps, why) => this.release(ps, why));
  }

  protected newBatch(): RecordBatch {
    return { records: [], points: 0 };
  }

  accept(raw: IngestRecord): void {
    if (!this.partitions.ownsDevice(raw.device)) {
      this.cluster.notOwned++;
      return;
    }
    const r = placeByArrival(raw, this.clockGuard);
    if (this.pending.has(pendingKey(r))) {
      // Already on its way; the ack of that copy covers this one.
      this.stats.duplicates++;
      return;
    }
    this.stats.accepted++;
    if (r.clock) this.noteClockFault(r);
    this.enqueue(r);
  }

  /** Attempts until every record is acked or its partition is gone; backoff between attempts. */
  protected async process(batch: RecordBatch): Promise<void> {
    let records = batch.records;
    let failures = 0;
    while (!this.closed) {
      const owned = records.filter((r) => this.partitions.ownsDevice(r.device));
      this.cluster.releasedUnacked += records.length - owned.length;
      records = owned;
      this.setInflightPoints(sumPoints(records));
      if (!records.length) return;
      this.attempt = this.attemptOnce(records);
      try {
        records = await this.attempt;
      } finally {
        this.attempt = null;
      }
      if (!records.length && failures > 0) {
        this.log.info({ afterAttempts: failures + 1 }, 'cluster ingest: store and PostgreSQL accept the batch again; acking resumes');
        this.limiter.reset('retry');
      }
      if (!records.length || this.closed) return;
      failures++;
      this.cluster.storeRetries++;
      const delay = Math.min(this.opts.retryMaxMs, this.opts.retryInitialMs * 2 ** (failures - 1));
      this.limiter.maybe('retry', Date.now(), (suppressed) =>
        this.log.warn(
          { attempt: failures, retryInMs: delay, records: records.length, suppressed },
          'cluster ingest: batch not stored; nothing acked, retrying with backoff',
        ),
      );
      await this.sleep(delay);
    }
  }

  /** One round trip: returns the records still to do (all of them when the store or PostgreSQL failed). */
  private async attemptOnce(records: IngestRecord[]): Promise<IngestRecord[]> {
    let fresh: IngestRecord[] = [];
    let seenBefore: IngestRecord[] = [];
    try {
      const seen = await this.dedup.seen(records);
      fresh = records.filter((_, i) => !seen[i]);
      seenBefore = records.filter((_, i) => seen[i]);
    } catch (e) {
      this.limiter.maybe('dedup', Date.now(), (suppressed) =>
        this.log.error({ error: (e as Error).message, suppressed }, 'cluster ingest: PostgreSQL dedup check failed; nothing acked'),
      );
      return records;
    }
    try {
      if (fresh.length) await this.store.write(fresh);
    } catch (e) {
      const err = asStoreError(e);
      this.noteStoreError(err);
      if (err.failure !== 'rejected') return records;
      return this.isolate(fresh, seenBefore);
    }
    const marked = fresh.filter(this.mine);
    if (!(await this.mark(marked))) return records;
    this.cluster.releasedUnacked += fresh.length - marked.length;
    this.stats.written.messages += fresh.length;
    this.stats.written.points += sumPoints(fresh);
    this.finish(marked, [...seenBefore, ...marked]);
    return [];
  }

  /**
   * The store refused the batch: write its records one by one so that only the bad ones are
   * dead-lettered (and then acked, as they would fail forever). Rewrites are idempotent.
   */
  private async isolate(fresh: IngestRecord[], seenBefore: IngestRecord[]): Promise<IngestRecord[]> {
    const done: IngestRecord[] = [];
    const rejected = new Map<IngestRecord, string>();
    for (const r of fresh) {
      try {
        await this.store.write([r]);
      } catch (e) {
        const err = asStoreError(e);
        if (err.failure !== 'rejected') {
          this.noteStoreError(err);
          break;
        }
        rejected.set(r, err.message);
      }
      done.push(r);
    }
    const marked = done.filter(this.mine);
    if (!(await this.mark(marked))) return [...seenBefore, ...fresh];
    this.cluster.releasedUnacked += done.length - marked.length;
    for (const r of done) {
      const refusal = rejected.get(r);
      if (refusal !== undefined) {
        this.stats.storeRejected++;
        this.storeRejected(r, refusal);
      } else {
        this.stats.written.messages++;
        this.stats.written.points += pointsOf(r);
      }
    }
    this.finish(marked, [...seenBefore, ...marked]);
    return fresh.slice(done.length);
  }

  private async mark(records: IngestRecord[]): Promise<boolean> {
    try {
      await this.dedup.markReceived(records, Date.now());
      return true;
    } catch (e) {
      // Written but not marked: not acked; the retry finds them unseen and rewrites them (idempotent).
      this.limiter.maybe('dedup', Date.now(), (suppressed) =>
        this.log.error({ error: (e as Error).message, suppressed }, 'cluster ingest: PostgreSQL dedup mark failed; nothing acked'),
      );
      return false;
    }
  }

  /**
   * Still this node's to finish: owned, or being released gracefully. Checked before marking: a
   * record of a partition lost while it was written is left unmarked, so the successor writes it
   * again (idempotent) and announces it; and again before acking.
   */
  private readonly mine = (r: IngestRecord): boolean => this.partitions.ownsDevice(r.device) || this.releasing.has(this.partitions.partitionOf(r.device));

  /**
   * Acks `done` (seen before, or new and marked now) and announces the new ones — except records of
   * a partition whose lease expired meanwhile: the successor owns them now, and acks them when the
   * agent re-sends.
   */
  private finish(fresh: IngestRecord[], done: IngestRecord[]): void {
    if (this.closed) return;
    const mine = this.mine;
    const announced = fresh.filter(mine);
    for (const r of announced) {
      if (r.channel === 'event' && r.message.type === 'outbox-dropped') {
        const dropped = r.message.data?.dropped;
        if (typeof dropped === 'number' && Number.isFinite(dropped) && dropped > 0) this.stats.agentReportedDrops += dropped;
      }
    }
    const acks = new Map<string, number[]>();
    let kept = 0;
    for (const r of done) {
      if (!mine(r)) continue;
      kept++;
      const list = acks.get(r.device);
      if (list) list.push(r.seq);
      else acks.set(r.device, [r.seq]);
    }
    this.cluster.releasedUnacked += done.length - kept;
    this.stats.duplicates += done.length - fresh.length;
    if (announced.length) this.announce(announced);
    for (const [device, seqs] of acks) this.sendAck(device, seqs);
  }

  /**
   * Lease hook: partitions this node gives up. Their records in the batch being collected are
   * dropped unacked; a graceful release (rebalance, stopping) waits for the store round trip under
   * way so that what it stored is acked while the lease is still held. An expired lease waits for
   * nothing: the round trip's records of it are left unacked (see finish).
   */
  private async release(ps: number[], why: ReleaseReason): Promise<void> {
    const gone = new Set(ps);
    const keep: IngestRecord[] = [];
    for (const r of this.current.records) {
      if (gone.has(this.partitions.partitionOf(r.device))) {
        this.pending.delete(pendingKey(r));
        this.cluster.releasedUnacked++;
      } else keep.push(r);
    }
    this.current = { records: keep, points: sumPoints(keep) };
    const attempt = this.attempt;
    if (why !== 'expired' && attempt) {
      const started = performance.now();
      for (const p of ps) this.releasing.add(p);
      try {
        await attempt.catch(() => undefined);
      } finally {
        for (const p of ps) this.releasing.delete(p);
      }
      this.log.debug({ partitions: ps, why, waitedMs: Math.round(performance.now() - started) }, 'release waited for the batch under way');
    }
    this.wakeWaiters();
  }

  private setInflightPoints(points: number): void {
    const lower = points < this.inflightPoints;
    this.inflightPoints = points;
    if (lower) this.wakeWaiters();
  }

  private noteStoreError(err: StoreWriteError): void {
    this.stats.storeErrors[err.failure]++;
    this.limiter.maybe('store-' + err.failure, Date.now(), (suppressed) =>
      (err.failure === 'rejected' ? this.log.warn : this.log.error).call(
        this.log,
        { failure: err.failure, status: err.status, error: err.message, suppressed },
        err.failure === 'rejected'
          ? 'telemetry store rejected points (client error); isolating and dead-lettering the bad messages'
          : 'telemetry store failing; nothing acked (cluster mode has no spool), retrying',
      ),
    );
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.retrySleep = null;
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.retrySleep = { timer, wake };
    });
  }

  /** Shutdown: the current batch is stored and acked if that works within `timeoutMs`; otherwise it stays unacked. */
  async close(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    await this.writeLastBatches(deadline);
    this.retrySleep?.wake();
    await settledWithin(this.inflight ?? Promise.resolve(), Math.max(1, deadline - Date.now()));
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.wakeWaiters();
  }
}

/** The `cluster` part of the collector's stats (what /metrics shows of the collector tier). */
export type CollectorClusterStats = {
  node: string;
  mode: 'owner' | 'observer';
  /** The cluster's partition count. */
  partitions: number;
  owned: number[];
  renewals: number;
  acquisitions: number;
  /** Partitions taken over from a node whose lease expired. */
  failovers: number;
  releases: number;
  leaseRoundErrors: number;
} & ClusterIngestStats;

/** A collector's cluster side: its partitions (leases, pool) and the ingest that honours them. */
export type ClusterNode = {
  partitions: NodePartitions;
  ingest: ClusterIngest;
  stats(): CollectorClusterStats;
  /** Forgets dedup marks older than `before`; only the owner of partition 0 does, so nodes do not repeat it. */
  pruneReceived(before: number): Promise<number>;
  /** After the ingest closed: hands the partitions back (the release hooks run first). */
  stop(): Promise<void>;
};

/**
 * Starts the cluster side of a collector: the ingest registers its release hook before the first
 * lease round, so it runs before any hook registered later (the incident service's). Throws (with
 * nothing left running) when PostgreSQL cannot be reached or the partition count differs.
 */
export async function startClusterNode(
  options: CollectorClusterOptions,
  store: TelemetryStore,
  deps: { batch: ClusterIngestOptions; sendAck: AckSender; storeRejected: StoreRejectSink; announce: (records: readonly IngestRecord[]) => void; log: Logger },
): Promise<ClusterNode> {
  const partitions = new NodePartitions(options, deps.log.child({ component: 'partitions', node: options.nodeId }));
  const dedup = new PgDedup(partitions.pool);
  const ingest = new ClusterIngest(
    store,
    dedup,
    partitions,
    deps.batch,
    deps.sendAck,
    deps.storeRejected,
    deps.announce,
    deps.log.child({ component: 'ingest' }),
  );
  try {
    await partitions.start();
  } catch (e) {
    await ingest.close(0);
    await partitions.stop({ release: false });
    throw e;
  }
  return {
    partitions,
    ingest,
    stats() {
      const l = partitions.stats();
      return {
        node: partitions.nodeId,
        mode: partitions.mode,
        partitions: partitions.count,
        owned: l.owned,
        renewals: l.renewals,
        acquisitions: l.acquisitions,
        failovers: l.failovers,
        releases: l.releases,
        leaseRoundErrors: l.roundErrors,
        ...ingest.cluster,
      };
    },
    pruneReceived: async (before) => (partitions.ownsPartition(0) ? dedup.pruneReceived(before) : 0),
    stop: () => partitions.stop({ release: true }),
  };
}
