// The driver step of cluster mode (pipeline.ts is the embedded one): evaluate the detectors, then
// in ONE PostgreSQL transaction apply the findings of the devices this node owns, let the hook
// enqueue their ticket commands, and save the detector state of those devices — fenced by the
// partition leases, so that a node that lost a lease (paused, cut off) writes nothing.
//
// The fence locks the lease rows of the owned partitions (FOR SHARE) and checks that this node
// still holds each one at the epoch it knows (cluster/leases.ts leaseHeldSql). While the rows are
// locked a takeover cannot happen (it skips locked rows) and a hand-back waits, so what this
// transaction writes commits before the next owner loads the partition's state.
import type pg from 'pg';
import { leaseHeldSql } from '../../cluster/leases.js';
import type { DetectorEngine, DeviceSnapshot, Finding } from '../detectors/index.js';
import type { PgApplyHooks, PgIncidentState } from '../../state/postgres/incidents.js';
import { createPgPool, inTransaction, type Queryable } from '../../state/postgres/db.js';
import type { IncidentChange } from './store.js';

/**
 * How long PostgreSQL lets a fenced transaction sit idle before ending it. A node paused or cut
 * off in the middle of one would otherwise keep its lease rows locked — and its partitions from
 * moving — until its connection died (TCP keepalive: hours).
 */
export const FENCED_IDLE_TIMEOUT_MS = 10_000;

/** A pool for fenced transactions (the incident service's in cluster mode). */
export function fencedPool(url: string, { max = 4, idleTimeoutMs = FENCED_IDLE_TIMEOUT_MS }: { max?: number; idleTimeoutMs?: number } = {}): pg.Pool {
  return createPgPool(url, { max, idleInTransactionTimeoutMs: idleTimeoutMs });
}

/** Which partitions this node writes now, at which lease epoch. */
export type LeaseFence = { node: string; epochs: ReadonlyMap<number, number> };

/** The node no longer holds some of the partitions it was about to write: nothing was written. */
export class LeaseLostError extends Error {
  constructor(readonly partitions: number[]) {
    super(`partition lease lost (${partitions.join(', ')}): nothing written`);
    this.name = 'LeaseLostError';
  }
}

/** Locks the fence's lease rows until the transaction ends and checks they are still held; throws LeaseLostError. */
export async function fenceLeases(c: Queryable, fence: LeaseFence): Promise<void> {
  const partitions = [...fence.epochs.keys()];
  if (!partitions.length) return;
  const epochs = partitions.map((p) => fence.epochs.get(p)!);
  await c.query('SELECT partition FROM partition_leases WHERE partition = ANY($1::int[]) FOR SHARE', [partitions]);
  // A statement after the lock sees the latest committed lease rows.
  const r = await c.query<{ p: number }>(`SELECT t.p FROM unnest($1::int[], $2::bigint[]) AS t(p, e) WHERE NOT ${leaseHeldSql('t.p', '$3', 't.e')}`, [
    partitions,
    epochs,
    fence.node,
  ]);
  if (r.rows.length) throw new LeaseLostError(r.rows.map((x) => x.p));
}

/** What one step did and what it cost (ms): the evaluation, the fenced transaction (apply + ticket commands + save) and its save part. */
export type FencedStepStats = {
  evaluated: number;
  findings: number;
  applied: number;
  savedDevices: number;
  savedBytes: number;
  evaluateMs: number;
  writeMs: number;
  saveMs: number;
};

/**
 * One step. `hooks.onChange` runs inside the transaction with its client (enqueue the ticket
 * commands through it). On any failure — the fence included — the evaluated devices are queued
 * again and the error is thrown; nothing was written.
 */
export async function detectAndApplyFenced(
  engine: DetectorEngine,
  store: PgIncidentState,
  pool: pg.Pool,
  now: number,
  fence: LeaseFence,
  onChange: (change: IncidentChange, c: Queryable) => Promise<void>,
  saveState = true,
): Promise<{ changes: IncidentChange[]; stats: FencedStepStats }> {
  const partitions = [...fence.epochs.keys()];
  const mine = (device: string) => fence.epochs.has(store.partitionOf(device));
  const live = partitions.length ? await store.liveDevices({ partitions }) : [];
  let t = performance.now();
  const { findings, devices } = engine.evaluateChanged(now, live);
  const evaluateMs = performance.now() - t;
  // Every node knows the whole fleet's online state, so each evaluates all; only the owner of a
  // device's (or a site's) partition applies its findings.
  const owned: Finding[] = findings.filter((f) => mine(f.device));
  const unsaved = saveState ? engine.unsavedDevices() : [];
  const toSave = unsaved.filter(mine);
  const stats: FencedStepStats = {
    evaluated: devices.length,
    findings: owned.length,
    applied: 0,
    savedDevices: 0,
    savedBytes: 0,
    evaluateMs,
    writeMs: 0,
    saveMs: 0,
  };
  if (!partitions.length) {
    // Nothing owned: the state of other nodes' devices is theirs to save.
    engine.markSaved(unsaved);
    return { changes: [], stats };
  }
  let changes: IncidentChange[];
  t = performance.now();
  try {
    changes = await inTransaction(pool, async (c) => {
      await fenceLeases(c, fence);
      const hooks: PgApplyHooks = { onChange: (change) => onChange(change, c) };
      const cs = await store.applyIn(c, owned, now, hooks, { partitions });
      if (toSave.length) {
        const s = performance.now();
        stats.savedBytes = await store.saveDeviceStatesIn(c, snapshots(engine, toSave), now);
        stats.saveMs = performance.now() - s;
        stats.savedDevices = toSave.length;
      }
      return cs;
    });
  } catch (e) {
    engine.requeue(devices);
    throw e;
  }
  stats.writeMs = performance.now() - t;
  engine.markSaved(unsaved);
  stats.applied = changes.length;
  return { changes, stats };
}

export function* snapshots(engine: DetectorEngine, devices: readonly string[]): Generator<[string, DeviceSnapshot]> {
  for (const d of devices) {
    const s = engine.snapshotDevice(d);
    if (s) yield [d, s];
  }
}

/** Saves the detector state of `devices` under the fence (a partition being handed back); throws LeaseLostError. */
export async function saveFenced(
  engine: DetectorEngine,
  store: PgIncidentState,
  pool: pg.Pool,
  fence: LeaseFence,
  devices: readonly string[],
  now: number,
): Promise<number> {
  if (!devices.length || !fence.epochs.size) return 0;
  return inTransaction(pool, async (c) => {
    await fenceLeases(c, fence);
    return store.saveDeviceStatesIn(c, snapshots(engine, devices), now);
  });
}
