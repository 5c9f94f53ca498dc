// The collector's side of cluster mode (docs/cluster.md): one node's partition leases, its pg Pool,
// and the hooks the node's owner-side work (ingest, incidents) runs when partitions come and go.
// An 'owner' node takes its fair share of partitions through PartitionLeases; an 'observer' node
// (NOC only) takes none and never stores or acks, but shares the same pool and answers the same
// questions (it owns nothing).
import type pg from 'pg';
import type { Logger } from 'pino';
import { createPgPool } from '../state/postgres/db.js';
import { migratePostgres } from '../state/postgres/migrations.js';
import { PartitionLeases, leaseConfigSchema, type LeaseConfigInput, type LeaseStats } from './leases.js';
import { DEFAULT_PARTITIONS, partitionOf } from './partitions.js';

export type CollectorClusterOptions = {
  /** The state tier. */
  pgUrl: string;
  /** Unique per node, stable across its restarts. */
  nodeId: string;
  /** 'owner': takes partition leases, stores/dedups/acks/feeds detectors for owned partitions.
   *  'observer': owns nothing; keeps live fleet state (status, inventory, latest health) and can
   *  send commands / see results, for NOC-only nodes. Never stores, never acks. */
  mode: 'owner' | 'observer';
  /** cluster/leases.ts settings; `node` (when given) must be `nodeId`; `partitions` defaults to DEFAULT_PARTITIONS. */
  leases?: Omit<LeaseConfigInput, 'node' | 'partitions'> & { node?: string; partitions?: number };
  /** The broker tier routes device messages by partition (broker.cluster.partitions, the same count):
   *  the collector subscribes to its owned partitions' telemetry and events only (docs/cluster.md). */
  routed?: boolean;
};

export type ReleaseReason = 'rebalance' | 'expired' | 'stopping';

export interface CollectorPartitions {
  readonly nodeId: string;
  readonly mode: 'owner' | 'observer';
  readonly count: number;
  partitionOf(device: string): number;
  /** This node processes the device's durable work now (holds its partition's lease). */
  ownsDevice(device: string): boolean;
  ownsPartition(p: number): boolean;
  epochOf(p: number): number | undefined;
  owned(): number[];
  /** Hooks run inside the lease hooks: acquired before records of those partitions are processed
   *  (`takenOver`: those taken from an owner whose lease expired, which may still be running);
   *  released after processing of them stopped and before the lease is handed back. */
  onAcquired(fn: (partitions: number[], takenOver: number[]) => Promise<void> | void): () => void;
  onReleased(fn: (partitions: number[], why: ReleaseReason) => Promise<void> | void): () => void;
  stats(): LeaseStats;
  /** The node's pg Pool (shared by the state stores of this node). */
  readonly pool: pg.Pool;
}

/** Pool size per node: leases, dedup and the incident store share it. */
const POOL_MAX = 10;
/** A query that hangs (PostgreSQL unreachable mid-query) fails instead of stalling a batch or a lease round. */
const QUERY_TIMEOUT_MS = 10_000;

/** One node's partitions. Hooks run in registration order: the collector's ingest registers first. */
export class NodePartitions implements CollectorPartitions {
  readonly nodeId: string;
  readonly mode: 'owner' | 'observer';
  readonly count: number;
  readonly pool: pg.Pool;
  private readonly leases: PartitionLeases | null;
  private readonly acquiredHooks: Array<(partitions: number[], takenOver: number[]) => Promise<void> | void> = [];
  private readonly releasedHooks: Array<(partitions: number[], why: ReleaseReason) => Promise<void> | void> = [];
  /** partitionOf hashes the id's bytes: cached, as every message asks (bounded by the fleet size). */
  private readonly partitionCache = new Map<string, number>();

  constructor(
    private readonly opts: CollectorClusterOptions,
    private readonly log: Logger,
  ) {
    this.nodeId = opts.nodeId;
    this.mode = opts.mode;
    if (opts.leases?.node !== undefined && opts.leases.node !== opts.nodeId)
      throw new Error(`cluster: leases.node "${opts.leases.node}" differs from nodeId "${opts.nodeId}"; leave it out`);
    const leaseConfig = leaseConfigSchema.parse({ ...opts.leases, node: opts.nodeId, partitions: opts.leases?.partitions ?? DEFAULT_PARTITIONS });
    this.count = leaseConfig.partitions;
    this.pool = createPgPool(opts.pgUrl, { max: POOL_MAX, queryTimeoutMs: QUERY_TIMEOUT_MS });
    this.leases =
      opts.mode === 'owner'
        ? new PartitionLeases(
            this.pool,
            leaseConfig,
            {
              acquired: async (ps, takenOver) => {
                for (const fn of this.acquiredHooks) await fn(ps, takenOver);
              },
              released: async (ps, why) => {
                for (const fn of this.releasedHooks) {
                  try {
                    await fn(ps, why);
                  } catch (e) {
                    // The others still run: a failed hook must not keep the rest owning stale work.
                    this.log.error({ partitions: ps, why, err: (e as Error).stack ?? String(e) }, 'partition release hook failed');
                  }
                }
              },
            },
            log,
          )
        : null;
  }

  /** Owner: brings the schema up to date (dedup table) and takes the first leases. Observer: nothing to take. */
  async start(): Promise<void> {
    if (!this.leases) return;
    await migratePostgres(this.opts.pgUrl);
    await this.leases.start();
  }

  /** `release`: hand the partitions back at once (graceful stop); without it they move when the leases expire. */
  async stop({ release = true }: { release?: boolean } = {}): Promise<void> {
    await this.leases?.stop({ release });
    await this.pool.end().catch(() => undefined);
  }

  partitionOf(device: string): number {
    let p = this.partitionCache.get(device);
    if (p === undefined) {
      p = partitionOf(device, this.count);
      this.partitionCache.set(device, p);
    }
    return p;
  }

  ownsDevice(device: string): boolean {
    return this.leases?.owns(this.partitionOf(device)) ?? false;
  }

  ownsPartition(p: number): boolean {
    return this.leases?.owns(p) ?? false;
  }

  epochOf(p: number): number | undefined {
    return this.leases?.epochOf(p);
  }

  owned(): number[] {
    return this.leases?.owned() ?? [];
  }

  onAcquired(fn: (partitions: number[], takenOver: number[]) => Promise<void> | void): () => void {
    this.acquiredHooks.push(fn);
    return () => remove(this.acquiredHooks, fn);
  }

  onReleased(fn: (partitions: number[], why: ReleaseReason) => Promise<void> | void): () => void {
    this.releasedHooks.push(fn);
    return () => remove(this.releasedHooks, fn);
  }

  stats(): LeaseStats {
    return (
      this.leases?.stats() ?? {
        node: this.nodeId,
        owned: [],
        rounds: 0,
        roundErrors: 0,
        renewals: 0,
        acquisitions: 0,
        failovers: 0,
        releases: 0,
        lastRoundAt: null,
      }
    );
  }
}

function remove<T>(list: T[], x: T): void {
  const i = list.indexOf(x);
  if (i >= 0) list.splice(i, 1);
}
