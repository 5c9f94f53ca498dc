// One collector node of incidents-failover.test.ts, in its own process so that the test can
// kill -9 it: partition leases on the real PostgreSQL (cluster/leases.ts) behind a small stand-in
// of the collector's CollectorPartitions, and the real incident service in cluster mode with an
// ERPNext sink. The parent plays the broker: it sends every device message to every node (IPC);
// like the real collector, only the owner of the device's partition takes it (feeds the detectors,
// answers `ack`), the others drop it.
//   node incidents-node.js <json config>
import pino from 'pino';
import { PartitionLeases } from '../../cluster/leases.js';
import { partitionOf } from '../../cluster/partitions.js';
import { createPgPool } from '../../state/postgres/db.js';
import { startIncidentService, type IncidentPartitions } from '../../collector/incidents/service.js';
import type { CollectorHandle } from '../../collector/collector.js';
import type { DeviceState } from '../../collector/fleet.js';
import type { IngestRecord } from '../../collector/telemetry/store.js';
import type { IncidentsConfigInput } from '../../collector/incidents/config.js';
import type { TelemetryMessage } from '../../protocol/messages.js';

export type NodeConfig = {
  node: string;
  pgUrl: string;
  partitions: number;
  leaseMs: number;
  dataDir: string;
  devices: Array<Pick<DeviceState, 'device' | 'site' | 'tenant' | 'serial' | 'peripherals'>>;
  incidents: IncidentsConfigInput;
};
/** Parent → node. */
export type ToNode = { type: 'telemetry'; message: TelemetryMessage } | { type: 'stats' } | { type: 'stop' };
/** Node → parent. */
export type FromNode =
  | { type: 'ready'; owned: number[] }
  | { type: 'acquired' | 'released'; partitions: number[]; why?: string; at: number }
  | { type: 'ack'; device: string; seq: number }
  | { type: 'stats'; stats: { statesLoaded: number; statesSaved: number; leaseLost: number; tickErrors: number; changes: number } }
  | { type: 'stopped' };

const cfg = JSON.parse(process.argv[2]) as NodeConfig;
const send = (m: FromNode) => process.send!(m);
const log = pino({ level: process.env.NODE_LOG ?? 'silent' });
const pool = createPgPool(cfg.pgUrl, { max: 6, connectionTimeoutMillis: 3000 });

// ---- CollectorPartitions stand-in (cluster/collector-partitions.ts implements the real one) ----
const acquiredHooks = new Set<(ps: number[]) => Promise<void> | void>();
const releasedHooks = new Set<(ps: number[], why: 'rebalance' | 'expired' | 'stopping') => Promise<void> | void>();
const leases = new PartitionLeases(
  pool,
  { node: cfg.node, partitions: cfg.partitions, leaseMs: cfg.leaseMs, renewEveryMs: Math.floor(cfg.leaseMs / 4) },
  {
    acquired: async (ps) => {
      for (const fn of acquiredHooks) await fn(ps);
      send({ type: 'acquired', partitions: ps, at: Date.now() });
    },
    released: async (ps, why) => {
      for (const fn of releasedHooks) await fn(ps, why);
      send({ type: 'released', partitions: ps, why, at: Date.now() });
    },
  },
  log,
);
const partitions: IncidentPartitions = {
  nodeId: cfg.node,
  count: cfg.partitions,
  partitionOf: (d) => partitionOf(d, cfg.partitions),
  ownsDevice: (d) => leases.owns(partitionOf(d, cfg.partitions)),
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

// ---- the collector stand-in: the whole fleet's inventory, records of owned devices only ----
const now = Date.now();
const fleet = new Map<string, DeviceState>(
  cfg.devices.map((d) => [d.device, { ...d, online: true, reason: 'birth', since: now, lastSeen: now, lastSeq: 0, health: {} }]),
);
const ingested = new Set<(records: readonly IngestRecord[]) => void>();
const collector = {
  config: { dataDir: cfg.dataDir },
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

await leases.start();
const service = await startIncidentService(collector, cfg.incidents, { log, cluster: { pgUrl: cfg.pgUrl } });

process.on('message', (m: ToNode) => {
  if (m.type === 'stop') {
    void (async () => {
      await service.close();
      await leases.stop();
      await pool.end();
      send({ type: 'stopped' });
      process.exit(0);
    })();
    return;
  }
  if (m.type === 'stats') {
    const s = service.stats();
    send({
      type: 'stats',
      stats: { statesLoaded: s.statesLoaded, statesSaved: s.statesSaved, leaseLost: s.leaseLost, tickErrors: s.tickErrors, changes: s.changes },
    });
    return;
  }
  const msg = m.message;
  if (!partitions.ownsDevice(msg.device)) return; // not ours: dropped unacked
  const d = fleet.get(msg.device);
  if (d) {
    d.lastSeen = Date.now();
    d.lastSeq = msg.seq;
  }
  const record: IngestRecord = { device: msg.device, seq: msg.seq, arrivedAt: Date.now(), tags: { site: d?.site }, channel: 'telemetry', message: msg };
  for (const fn of ingested) fn([record]);
  send({ type: 'ack', device: msg.device, seq: msg.seq });
});
send({ type: 'ready', owned: leases.owned() });
