// `fleetcare server`: the broker and the collector, in one process by default. In role `all`
// the collector logs in to the in-process broker as service account `collector-internal`,
// whose token is rotated at every start and never leaves memory.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { startBroker, type BrokerHandle } from '../broker/index.js';
import { startCollector, type CollectorHandle } from '../collector/index.js';
import { startIncidentService, type IncidentServiceHandle } from '../collector/incident-service.js';
import { startNoc, type NocDeps, type NocHandle } from '../noc/server.js';
import { PgCommandState } from '../state/postgres/commands.js';
import { PgNocAccounts } from '../state/postgres/noc-accounts.js';
import { PgReportUnits } from '../state/postgres/report-units.js';
import { migrateServerState } from '../state/startup.js';
import type { LeaseConfigInput } from '../cluster/leases.js';
import type { ServerConfig } from './server-config.js';
import { writeServerLock } from './server-lock.js';

export const INTERNAL_COLLECTOR = 'collector-internal';

export type RunningServer = {
  broker: BrokerHandle | null;
  collector: CollectorHandle | null;
  /** Detectors, incidents and tickets; null when the collector does not run or `collector.incidents.enabled` is false. */
  incidents: IncidentServiceHandle | null;
  /** The NOC web page and HTTP API; null when `noc.enabled` is false or the role is broker. */
  noc: NocHandle | null;
  log: Logger;
  /** The MQTT URL devices should use to reach this server's broker. */
  brokerUrl: string | null;
  close(reason?: string): Promise<void>;
};

/** In cluster mode the NOC's users, sessions and commands live in PostgreSQL, so any NOC node serves any request. */
function nocStores(config: ServerConfig, scryptCost: number | undefined): NocDeps['stores'] {
  const state = config.state;
  if (state.kind !== 'postgres') return undefined;
  return (noc) => ({ users: new PgNocAccounts(state.url, { sessionTtlMs: noc.sessionTtlHours * 3_600_000, scryptCost }), commands: new PgCommandState(state.url), reportUnits: new PgReportUnits(state.url) });
}

/**
 * What a cluster node passes to its collector and incident service (the seams of docs/cluster.md):
 * owner collectors take partition leases; a NOC-only node's collector observes and owns nothing.
 */
export function clusterPartsOf(config: ServerConfig): { collector: CollectorClusterOptions; incidents: { pgUrl: string } } | null {
  const cluster = config.cluster;
  if (!cluster || config.state.kind !== 'postgres') return null;
  const pgUrl = config.state.url;
  const { nodeId, partitions, leaseMs, renewEveryMs } = cluster;
  return {
    collector: { pgUrl, nodeId, mode: cluster.roles.includes('collector') ? 'owner' : 'observer', leases: { node: nodeId, partitions, leaseMs, ...(renewEveryMs ? { renewEveryMs } : {}) } },
    incidents: { pgUrl },
  };
}

/** The shape of cluster/collector-partitions.ts's CollectorClusterOptions (the collector tier's seam). */
export type CollectorClusterOptions = { pgUrl: string; nodeId: string; mode: 'owner' | 'observer'; leases?: LeaseConfigInput };

export async function runServer(config: ServerConfig, opts: { log?: Logger; noc?: { uiDir?: string; scryptCost?: number } } = {}): Promise<RunningServer> {
  const log = opts.log ?? pino({ name: 'fleetcare', level: config.logLevel });
  const cluster = clusterPartsOf(config);
  const roles = config.cluster?.roles;
  let broker: BrokerHandle | null = null;
  let collector: CollectorHandle | null = null;
  let incidents: IncidentServiceHandle | null = null;
  let brokerUrl: string | null = null;
  let noc: NocHandle | null = null;
  // The config was validated whole at load (server-config.ts): nothing here can refuse a part
  // after something has bound a port.
  const nocConfig = config.noc;
  // Schemas first: a store newer than this build, or an unreachable PostgreSQL, stops the start
  // before any port is bound or file written.
  await migrateServerState(config, log);
  mkdirSync(config.dataDir, { recursive: true });
  try {
    if (config.role !== 'collector') {
      // A cluster's broker node is named by the node id unless its broker part names it.
      const brokerCluster = config.broker.cluster && config.cluster ? { ...config.broker.cluster, nodeId: config.broker.cluster.nodeId ?? config.cluster.nodeId } : config.broker.cluster;
      const brokerConfig = { ...config.broker, cluster: brokerCluster, dataDir: join(config.dataDir, 'broker') };
      broker = await startBroker(brokerConfig, { log: log.child({ component: 'broker' }) });
      const host = brokerConfig.host === '0.0.0.0' || brokerConfig.host === '::' ? '127.0.0.1' : brokerConfig.host;
      brokerUrl = `mqtt://${host.includes(':') ? `[${host}]` : host}:${broker.port}`;
    }
    if (config.role !== 'broker') {
      let mqtt =
        config.role === 'all' && broker && brokerUrl
          ? { ...config.collector.mqtt, url: brokerUrl, username: INTERNAL_COLLECTOR, password: broker.registry.rotateServiceToken(INTERNAL_COLLECTOR, 'collector') }
          : config.collector.mqtt;
      // Every collector of a cluster keeps its own MQTT session (each subscribes to the whole
      // fleet): one shared client id would make the nodes take each other's session over.
      if (cluster && mqtt.clientId === 'fleetcare-collector') mqtt = { ...mqtt, clientId: `fleetcare-collector-${cluster.collector.nodeId}` };
      const collectorConfig = { ...config.collector, mqtt, dataDir: join(config.dataDir, 'collector') };
      // TODO(merge ccollector): startCollector's options gain `cluster` (cluster/collector-partitions.ts);
      // passed as a variable so this compiles before and after that lands.
      const collectorOpts = { log: log.child({ component: 'collector' }), ...(cluster ? { cluster: cluster.collector } : {}) };
      collector = await startCollector(collectorConfig, collectorOpts);
      if (cluster && (collector as { partitions?: unknown }).partitions === undefined) {
        log.warn({ node: cluster.collector.nodeId }, 'this build\'s collector has no cluster mode yet: every collector node stores and acks every device (docs/cluster.md)');
      }
      // A NOC-only node owns no partitions, so it runs no detectors or ticket senders: the owners do.
      if (collectorConfig.incidents?.enabled !== false && !(cluster && cluster.collector.mode === 'observer')) {
        // TODO(merge cincidents): startIncidentService's options gain `cluster: { pgUrl }` (state/incidents.ts on PostgreSQL).
        const incidentOpts = { log: log.child({ component: 'collector' }), ...(cluster ? { cluster: cluster.incidents } : {}) };
        incidents = startIncidentService(collector, collectorConfig.incidents, incidentOpts);
      }
    }
    // In a cluster the NOC runs only on nodes with role noc.
    if (nocConfig.enabled && config.role !== 'broker' && (!roles || roles.includes('noc'))) {
      // TODO(merge cnoc): on a NOC-only node `incidents` is null until the NOC's read-only cluster view
      // (tickets and incidents from PostgreSQL) lands in noc/.
      noc = await startNoc(nocConfig, { broker, collector, incidents, dataDir: config.dataDir, log: log.child({ component: 'noc' }), ...opts.noc, stores: nocStores(config, opts.noc?.scryptCost) });
    }
  } catch (e) {
    await noc?.close().catch(() => {});
    await incidents?.close().catch(() => {});
    await collector?.close().catch(() => {});
    await broker?.close().catch(() => {});
    throw e;
  }
  // Marks the data dir as in use (restore refuses to write under a running server).
  const releaseLock = writeServerLock(config.dataDir, { brokerUrl, nocUrl: noc?.url ?? null });
  log.info({ role: config.role, ...(config.cluster ? { node: config.cluster.nodeId, roles: config.cluster.roles } : {}), dataDir: config.dataDir, brokerUrl, noc: noc?.url ?? null, store: config.collector.influx ? 'influxdb' : 'embedded' }, 'fleetcare server started');
  return {
    broker,
    collector,
    incidents,
    noc,
    log,
    brokerUrl,
    async close(reason = 'stop') {
      log.info({ reason }, 'fleetcare server stopping');
      await noc?.close();
      // Collector first: its last records reach the detectors, whose state the final tick saves.
      await collector?.close();
      await incidents?.close();
      await broker?.close();
      releaseLock();
    },
  };
}
