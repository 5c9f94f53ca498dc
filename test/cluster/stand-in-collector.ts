// A collector node's parts that the cluster incident service uses, without MQTT: partition leases
// on the real PostgreSQL (cluster/leases.ts) behind a small stand-in of CollectorPartitions, and a
// stand-in collector that knows the whole fleet's inventory and feeds the detectors the telemetry
// of the devices it owns (like the real collector, it drops the others unacked).
import type pg from 'pg';
import type { Logger } from 'pino';
import { PartitionLeases } from '../../cluster/leases.js';
import { partitionOf } from '../../cluster/partitions.js';
import type { IncidentPartitions } from '../../collector/incidents/service.js';
import type { CollectorHandle } from '../../collector/collector.js';
import type { DeviceState } from '../../collector/fleet.js';
import type { IngestRecord } from '../../collector/telemetry/store.js';
import type { TelemetryMessage } from '../../protocol/messages.js';

export type StandInDevice = Pick<DeviceState, 'device' | 'site' | 'tenant' | 'serial' | 'peripherals'>;
export type StandInOptions = { node: string; partitions: number; leaseMs: number; dataDir: string; devices: StandInDevice[] };
export type LeaseEvents = {
  acquired?(ps: number[]): void;
  released?(ps: number[], why: 'rebalance' | 'expired' | 'stopping'): void;
};

export function standInCollector(
  opts: StandInOptions,
  pool: pg.Pool,
  log: Logger,
  events: LeaseEvents = {},
): {
  leases: PartitionLeases;
  collector: CollectorHandle & { partitions: IncidentPartitions };
  /** Feeds one message to the detectors if this node owns its device; true when taken (acked). */
  ingest(msg: TelemetryMessage): boolean;
} {
  const acquiredHooks = new Set<(ps: number[], takenOver: number[]) => Promise<void> | void>();
  const releasedHooks = new Set<(ps: number[], why: 'rebalance' | 'expired' | 'stopping') => Promise<void> | void>();
  const leases = new PartitionLeases(
    pool,
    { node: opts.node, partitions: opts.partitions, leaseMs: opts.leaseMs, renewEveryMs: Math.floor(opts.leaseMs / 4) },
    {
      acquired: async (ps, takenOver) => {
        for (const fn of acquiredHooks) await fn(ps, takenOver);
        events.acquired?.(ps);
      },
      released: async (ps, why) => {
        for (const fn of releasedHooks) await fn(ps, why);
        events.released?.(ps, why);
      },
    },
    log,
  );
  const partitions: IncidentPartitions = {
    nodeId: opts.node,
    count: opts.partitions,
    partitionOf: (d) => partitionOf(d, opts.partitions),
    ownsDevice: (d) => leases.owns(partitionOf(d, opts.partitions)),
    ownsPartition: (p) => leases.owns(p),
    epochOf: (p) => leases.epochOf(p),
    owned: () => leases.owned(),
    onAcquired: (fn) => {
      acquiredHooks.add(fn);
      return () => acquiredHooks.delete(fn);
    },
    onReleased: (fn) => {
      releasedHooks.add(fn);
      return () => releasedHooks.delete(fn);
    },
    stats: () => leases.stats(),
  };

  const now = Date.now();
  const fleet = new Map<string, DeviceState>(
    opts.devices.map((d) => [d.device, { ...d, online: true, reason: 'birth', since: now, lastSeen: now, lastSeq: 0, health: {} }]),
  );
  const ingested = new Set<(records: readonly IngestRecord[]) => void>();
  const collector = {
    config: { dataDir: opts.dataDir },
    fleet: () => [...fleet.values()].map((d) => structuredClone(d)),
    device: (id: string) => {
      const d = fleet.get(id);
      return d ? structuredClone(d) : undefined;
    },
    onIngested: (fn: (records: readonly IngestRecord[]) => void) => {
      ingested.add(fn);
      return () => void ingested.delete(fn);
    },
    onFleetChange: () => () => undefined,
    partitions,
  } as unknown as CollectorHandle & { partitions: IncidentPartitions };

  return {
    leases,
    collector,
    ingest(msg) {
      if (!partitions.ownsDevice(msg.device)) return false;
      const d = fleet.get(msg.device);
      if (d) {
        d.lastSeen = Date.now();
        d.lastSeq = msg.seq;
      }
      const record: IngestRecord = { device: msg.device, seq: msg.seq, arrivedAt: Date.now(), tags: { site: d?.site }, channel: 'telemetry', message: msg };
      for (const fn of ingested) fn([record]);
      return true;
    },
  };
}
