// Partition ownership by leases in PostgreSQL (docs/cluster.md): every collector node heartbeats,
// counts the live nodes, keeps its fair share of the fleet's partitions and takes over the
// partitions whose owner stopped renewing. PostgreSQL's clock (`now()`) is the only clock that
// decides expiry, so nodes with skewed clocks still agree; each node additionally stops treating a
// partition as its own `safetyMs` before its lease could expire by its own monotonic clock, so two
// nodes never both think they own a partition (even when this node cannot reach PostgreSQL).
//
// A takeover bumps the partition's `epoch`: a fencing token that writes to shared state can check
// (`leaseHeldSql`), so a node that was paused past its lease cannot write over its successor.
import { performance } from 'node:perf_hooks';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { z } from 'zod';
import { LogLimiter } from '../logging/log-limiter.js';
import { fairShare, partitionCount } from './partitions.js';

export const leaseConfigSchema = z
  .object({
    /** This node's id: unique in the cluster, stable across restarts of the same node. */
    node: z.string().min(1).max(200),
    partitions: partitionCount,
    /** How long a lease lasts without renewal; a dead node's partitions move after this. */
    leaseMs: z.number().int().min(1000).max(600_000).default(10_000),
    /** Renewal period; default a third of the lease, so two missed rounds still keep it. */
    renewEveryMs: z.number().int().min(100).optional(),
    /** Stop using a lease this long before it could expire (clock rate differences, GC pauses). */
    safetyMs: z.number().int().min(0).optional(),
  })
  .strict()
  .refine((c) => (c.renewEveryMs ?? c.leaseMs / 3) < c.leaseMs / 2, {
    message: 'renewEveryMs must be under half of leaseMs, or one late round loses the lease',
    path: ['renewEveryMs'],
  });
export type LeaseConfigInput = z.input<typeof leaseConfigSchema>;
export type LeaseConfig = z.output<typeof leaseConfigSchema>;

/** What the owner of partitions must do when it gains or gives them up (e.g. load or flush detector state). */
export type LeaseHooks = {
  /** Called before the node starts processing these partitions. */
  /** `takenOver`: those of `partitions` whose owner's lease had expired — that node may still be running (paused, cut off). */
  acquired?(partitions: number[], takenOver: number[]): Promise<void> | void;
  /** Called when the node must stop processing these partitions; for a release, before others can take them. */
  released?(partitions: number[], why: 'rebalance' | 'expired' | 'stopping'): Promise<void> | void;
};

export type LeaseStats = {
  node: string;
  owned: number[];
  rounds: number;
  roundErrors: number;
  renewals: number;
  acquisitions: number;
  /** Partitions taken over from an owner whose lease had expired (it died or was cut off). */
  failovers: number;
  releases: number;
  lastRoundAt: number | null;
};

/** SQL condition that is true while `$node` holds `$partition` at `$epoch` (for fenced writes). */
export const leaseHeldSql = (partition: string, node: string, epoch: string) =>
  `EXISTS (SELECT 1 FROM partition_leases WHERE partition = ${partition} AND owner = ${node} AND epoch = ${epoch} AND expires_at > now())`;

/** Thrown when the cluster's stored partition count differs from this node's configuration. */
export class PartitionCountMismatch extends Error {
  constructor(stored: number, configured: number) {
    super(`the cluster was created with ${stored} partitions but this node is configured with ${configured}; every node must use ${stored}`);
  }
}

export class PartitionLeases {
  readonly config: LeaseConfig;
  private readonly renewEveryMs: number;
  private readonly safetyMs: number;
  /** Owned partitions and their epochs. */
  private readonly epochs = new Map<number, number>();
  /** performance.now() until which the owned leases may be used. */
  private validUntil = 0;
  private timer: NodeJS.Timeout | null = null;
  private expiryTimer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private readonly failureLog = new LogLimiter(30_000);
  private readonly counters = { rounds: 0, roundErrors: 0, renewals: 0, acquisitions: 0, failovers: 0, releases: 0, lastRoundAt: null as number | null };

  constructor(
    private readonly pool: Pool,
    input: LeaseConfigInput,
    private readonly hooks: LeaseHooks,
    private readonly log: Logger,
  ) {
    this.config = leaseConfigSchema.parse(input);
    this.renewEveryMs = this.config.renewEveryMs ?? Math.floor(this.config.leaseMs / 3);
    this.safetyMs = this.config.safetyMs ?? Math.min(2000, Math.floor(this.config.leaseMs / 5));
  }

  /** Creates the lease rows if needed, checks the partition count, and runs the first round. */
  async start(): Promise<void> {
    await ensureLeaseTables(this.pool, this.config.partitions);
    await this.round();
    this.timer = setInterval(() => void this.round(), this.renewEveryMs);
    this.timer.unref();
  }

  /** True while this node may process the partition's devices. */
  owns(partition: number): boolean {
    return this.epochs.has(partition) && performance.now() < this.validUntil;
  }

  /** The fencing epoch of an owned partition, or undefined. */
  epochOf(partition: number): number | undefined {
    return this.owns(partition) ? this.epochs.get(partition) : undefined;
  }

  owned(): number[] {
    return performance.now() < this.validUntil ? [...this.epochs.keys()].sort((a, b) => a - b) : [];
  }

  stats(): LeaseStats {
    return { node: this.config.node, owned: this.owned(), ...this.counters };
  }

  /** One heartbeat + renew + rebalance + acquire round (the timer calls it; tests may too). */
  round(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    // Rounds never overlap: a slow PostgreSQL makes them later, not concurrent. A round that
    // hangs (a connection that never answers) is given up after a lease, so the next one can run;
    // the pool should also have connection and query timeouts.
    if (!this.running) {
      let timer: NodeJS.Timeout | undefined;
      const givenUp = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.counters.roundErrors++;
          this.log.warn({ node: this.config.node, afterMs: this.config.leaseMs }, 'lease round did not finish; giving it up');
          resolve();
        }, this.config.leaseMs);
        timer.unref();
      });
      this.running = Promise.race([this.doRound(), givenUp]).finally(() => {
        clearTimeout(timer);
        this.running = null;
      });
    }
    return this.running;
  }

  private async doRound(): Promise<void> {
    const { node, leaseMs, partitions } = this.config;
    // Measured before the first statement: the lease PostgreSQL grants starts no earlier.
    const startedAt = performance.now();
    this.counters.rounds++;
    try {
      await this.pool.query(
        `INSERT INTO cluster_nodes (node, started_at, heartbeat_at) VALUES ($1, now(), now())
         ON CONFLICT (node) DO UPDATE SET heartbeat_at = now()`,
        [node],
      );
      const renewed = await this.pool.query<{ partition: number; epoch: string }>(
        // Only the leases this node still uses: one it gave up by its own clock (PostgreSQL was
        // out of reach) is taken again below, with a new epoch and the acquired hook.
        `UPDATE partition_leases SET expires_at = now() + make_interval(secs => $2::float8 / 1000)
         WHERE owner = $1 AND expires_at > now() AND partition = ANY($3::int[]) RETURNING partition, epoch`,
        [node, leaseMs, [...this.epochs.keys()]],
      );
      const still = new Map(renewed.rows.map((r) => [r.partition, Number(r.epoch)]));
      const lost = [...this.epochs.keys()].filter((p) => still.get(p) !== this.epochs.get(p));
      if (lost.length) await this.drop(lost, 'expired');
      this.counters.renewals += renewed.rowCount ?? 0;
      this.validUntil = startedAt + leaseMs - this.safetyMs;
      // Armed now, not at the end of the round: a round that fails after this renewal must still
      // stop the leases in time.
      this.armExpiry();

      const live = await this.pool.query<{ node: string }>(
        `SELECT node FROM cluster_nodes WHERE heartbeat_at > now() - make_interval(secs => $1::float8 / 1000)`,
        [leaseMs],
      );
      const target = fairShare(partitions, live.rows.map((r) => r.node).concat(node), node);
      if (this.epochs.size > target) {
        // Give the highest-numbered extras back, after their owner-side work has stopped.
        const extra = [...this.epochs.keys()].sort((a, b) => b - a).slice(0, this.epochs.size - target);
        await this.drop(extra, 'rebalance');
        await this.pool.query(`UPDATE partition_leases SET owner = NULL, expires_at = now() WHERE owner = $1 AND partition = ANY($2::int[])`, [node, extra]);
        this.counters.releases += extra.length;
        this.log.info({ node, released: extra, target }, 'partitions released to rebalance');
      } else if (this.epochs.size < target) {
        const taken = await this.pool.query<{ partition: number; epoch: string; prev: string | null }>(
          `WITH free AS (
             SELECT partition, owner AS prev FROM partition_leases
             WHERE owner IS NULL OR expires_at <= now() OR (owner = $1 AND NOT partition = ANY($4::int[]))
             ORDER BY partition LIMIT $2 FOR UPDATE SKIP LOCKED)
           UPDATE partition_leases p SET owner = $1, epoch = p.epoch + 1, acquired_at = now(),
             expires_at = now() + make_interval(secs => $3::float8 / 1000)
           FROM free WHERE p.partition = free.partition
           RETURNING p.partition, p.epoch, free.prev`,
          [node, target - this.epochs.size, leaseMs, [...this.epochs.keys()]],
        );
        if (taken.rows.length) {
          const got = taken.rows.map((r) => r.partition).sort((a, b) => a - b);
          const fromDead = taken.rows.filter((r) => r.prev !== null && r.prev !== node);
          this.counters.acquisitions += got.length;
          this.counters.failovers += fromDead.length;
          try {
            await this.hooks.acquired?.(
              got,
              fromDead.map((r) => r.partition).sort((a, b) => a - b),
            );
          } catch (e) {
            // Not taken after all: give them back so another node can.
            await this.pool.query(`UPDATE partition_leases SET owner = NULL, expires_at = now() WHERE owner = $1 AND partition = ANY($2::int[])`, [node, got]);
            throw e;
          }
          for (const r of taken.rows) this.epochs.set(r.partition, Number(r.epoch));
          this.log.info({ node, acquired: got, takenOverFrom: [...new Set(fromDead.map((r) => r.prev))], target }, 'partitions acquired');
        }
      }
      this.armExpiry();
      this.counters.lastRoundAt = Date.now();
      if (this.counters.roundErrors) this.failureLog.reset('round');
    } catch (e) {
      this.counters.roundErrors++;
      this.failureLog.maybe('round', Date.now(), (suppressed) =>
        this.log.warn(
          { node, error: (e as Error).message, suppressed, validForMs: Math.max(0, Math.round(this.validUntil - performance.now())) },
          'lease round failed; keeping leases until they could expire',
        ),
      );
    }
  }

  /** When no round renews in time, stop using every lease before anyone else may take it. */
  private armExpiry(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    if (!this.epochs.size) return;
    this.expiryTimer = setTimeout(
      () => {
        if (!this.epochs.size) return;
        if (performance.now() < this.validUntil) return this.armExpiry(); // renewed meanwhile
        this.log.error({ node: this.config.node, partitions: [...this.epochs.keys()] }, 'leases not renewed in time; stopped processing their partitions');
        void this.drop([...this.epochs.keys()], 'expired');
      },
      Math.max(0, this.validUntil - performance.now()) + 1,
    );
    this.expiryTimer.unref();
  }

  private async drop(partitions: number[], why: 'rebalance' | 'expired' | 'stopping'): Promise<void> {
    for (const p of partitions) this.epochs.delete(p);
    try {
      await this.hooks.released?.(partitions, why);
    } catch (e) {
      this.log.error({ node: this.config.node, partitions, error: (e as Error).message }, 'release hook failed');
    }
  }

  /** Stops renewing; with `release` (a graceful stop) hands the partitions back at once. */
  async stop({ release = true }: { release?: boolean } = {}): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    await this.running;
    const mine = [...this.epochs.keys()];
    await this.drop(mine, 'stopping');
    if (!release) return;
    try {
      await this.pool.query(`UPDATE partition_leases SET owner = NULL, expires_at = now() WHERE owner = $1`, [this.config.node]);
      await this.pool.query(`DELETE FROM cluster_nodes WHERE node = $1`, [this.config.node]);
    } catch (e) {
      this.log.warn({ node: this.config.node, error: (e as Error).message }, 'could not hand partitions back; they move when the leases expire');
    }
  }
}

/** Any constant (not the migrations' one): nodes creating the lease tables take turns. */
const LEASE_TABLES_LOCK = 0x666c6d02;

/**
 * The lease tables, and the partition count fixed at the cluster's creation. One node at a time:
 * `CREATE TABLE IF NOT EXISTS` is not safe when two nodes start together (both find no table and the
 * second fails on pg_type's unique index — seen in the failover test), so it runs in a transaction
 * under an advisory lock.
 */
export async function ensureLeaseTables(pool: Pool, partitions: number): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [LEASE_TABLES_LOCK]);
    await client.query(`
      CREATE TABLE IF NOT EXISTS cluster_meta (key text PRIMARY KEY, value text NOT NULL);
      CREATE TABLE IF NOT EXISTS cluster_nodes (node text PRIMARY KEY, started_at timestamptz NOT NULL, heartbeat_at timestamptz NOT NULL);
      CREATE TABLE IF NOT EXISTS partition_leases (partition int PRIMARY KEY, owner text, epoch bigint NOT NULL DEFAULT 0,
        expires_at timestamptz NOT NULL DEFAULT 'epoch', acquired_at timestamptz);`);
    await client.query(`INSERT INTO cluster_meta (key, value) VALUES ('partitions', $1) ON CONFLICT (key) DO NOTHING`, [String(partitions)]);
    const stored = Number((await client.query<{ value: string }>(`SELECT value FROM cluster_meta WHERE key = 'partitions'`)).rows[0].value);
    if (stored !== partitions) throw new PartitionCountMismatch(stored, partitions);
    await client.query(`INSERT INTO partition_leases (partition) SELECT generate_series(0, $1::int - 1) ON CONFLICT (partition) DO NOTHING`, [partitions]);
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    client.release();
  }
}

/** Every partition's owner, epoch and remaining lease, for `fleetcare cluster status` and /metrics. */
export async function leaseTable(pool: Pool): Promise<{ partition: number; owner: string | null; epoch: number; remainingMs: number }[]> {
  const r = await pool.query<{ partition: number; owner: string | null; epoch: string; remaining_ms: number }>(
    `SELECT partition, owner, epoch, GREATEST(0, EXTRACT(EPOCH FROM (expires_at - now())) * 1000)::float8 AS remaining_ms FROM partition_leases ORDER BY partition`,
  );
  return r.rows.map((x) => ({
    partition: x.partition,
    owner: x.remaining_ms > 0 ? x.owner : null,
    epoch: Number(x.epoch),
    remainingMs: Math.round(x.remaining_ms),
  }));
}
