// One collector node of incidents-failover.test.ts, in its own process so that the test can
// kill -9 it: partition leases on the real PostgreSQL (cluster/leases.ts) behind a small stand-in
// of the collector's CollectorPartitions, and the real incident service in cluster mode with an
// ERPNext sink. The parent plays the broker: it sends every device message to every node (IPC);
// like the real collector, only the owner of the device's partition takes it (feeds the detectors,
// answers `ack`), the others drop it.
//   node incidents-node.js <json config>
import pino from 'pino';
import { createPgPool } from '../../state/postgres/db.js';
import { startIncidentService } from '../../collector/incidents/service.js';
import { standInCollector, type StandInOptions } from './stand-in-collector.js';
import type { IncidentsConfigInput } from '../../collector/incidents/config.js';
import type { TelemetryMessage } from '../../protocol/messages.js';

export type NodeConfig = StandInOptions & { pgUrl: string; incidents: IncidentsConfigInput };
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

const { leases, collector, ingest } = standInCollector(cfg, pool, log, {
  acquired: (ps) => send({ type: 'acquired', partitions: ps, at: Date.now() }),
  released: (ps, why) => send({ type: 'released', partitions: ps, why, at: Date.now() }),
});

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
  // Not ours: dropped unacked.
  if (ingest(m.message)) send({ type: 'ack', device: m.message.device, seq: m.message.seq });
});
send({ type: 'ready', owned: leases.owned() });
