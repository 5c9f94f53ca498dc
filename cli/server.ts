// `fleetcare server`: the broker and the collector, in one process by default. In role `all`
// the collector logs in to the in-process broker as service account `collector-internal`,
// whose token is rotated at every start and never leaves memory.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { startBroker, type BrokerHandle } from '../broker/index.js';
import { startCollector, type CollectorHandle } from '../collector/index.js';
import {
  openIncidentView,
  startIncidentService,
  type ClusterIncidentServiceHandle,
  type IncidentServiceHandle,
  type IncidentView,
} from '../collector/incidents/service.js';
import type { CollectorClusterOptions } from '../cluster/collector-partitions.js';
import { sharedIncidentsView } from '../noc/cluster.js';
import { startNoc, type NocDeps, type NocHandle } from '../noc/server.js';
import { PgCommandState } from '../state/postgres/commands.js';
import { PgNocAccounts } from '../state/postgres/noc-accounts.js';
import { PgReportUnits } from '../state/postgres/report-units.js';
import { PgRegistryState } from '../state/postgres/registry.js';
import { migrateServerState } from '../state/startup.js';
import type { ServerConfig } from './server-config.js';
import { writeServerLock } from './server-lock.js';

export const INTERNAL_COLLECTOR = 'collector-internal';

export type RunningServer = {
  broker: BrokerHandle | null;
  collector: CollectorHandle | null;
  /** Detectors, incidents and tickets; null when the collector does not run or `collector.incidents.enabled` is false. */
  incidents: IncidentServiceHandle | null;
  /** In cluster mode on a collector node: the incident service on this node's partitions (PostgreSQL). */
  clusterIncidents: ClusterIncidentServiceHandle | null;
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
  return (noc) => ({
    users: new PgNocAccounts(state.url, { sessionTtlMs: noc.sessionTtlHours * 3_600_000, scryptCost }),
    commands: new PgCommandState(state.url),
    reportUnits: new PgReportUnits(state.url),
  });
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
    collector: {
      pgUrl,
      nodeId,
      mode: cluster.roles.includes('collector') ? 'owner' : 'observer',
      // The broker nodes of a cluster route by partition (runServer sets broker.cluster.partitions).
      routed: true,
      leases: { node: nodeId, partitions, leaseMs, ...(renewEveryMs ? { renewEveryMs } : {}) },
    },
    incidents: { pgUrl },
  };
}

export async function runServer(config: ServerConfig, opts: { log?: Logger; noc?: { uiDir?: string; scryptCost?: number } } = {}): Promise<RunningServer> {
  const log = opts.log ?? pino({ name: 'fleetcare', level: config.logLevel });
  const cluster = clusterPartsOf(config);
  const roles = config.cluster?.roles;
  let broker: BrokerHandle | null = null;
  let collector: CollectorHandle | null = null;
  let incidents: IncidentServiceHandle | null = null;
  let clusterIncidents: ClusterIncidentServiceHandle | null = null;
  /** A NOC-only node's read-only view of the shared tickets and incidents. */
  let incidentView: IncidentView | null = null;
  /** What the NOC reads in a cluster (it owns a dispatch-state pool on NOC-only nodes). */
  let sharedView: ReturnType<typeof sharedIncidentsView> | null = null;
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
      const brokerCluster =
        config.broker.cluster && config.cluster
          ? {
              ...config.broker.cluster,
              nodeId: config.broker.cluster.nodeId ?? config.cluster.nodeId,
              partitions: config.broker.cluster.partitions ?? config.cluster.partitions,
            }
          : config.broker.cluster;
      const brokerConfig = { ...config.broker, cluster: brokerCluster, dataDir: join(config.dataDir, 'broker') };
      // In a cluster every broker node verifies logins against the shared registry in PostgreSQL.
      const logins =
        config.cluster && config.state.kind === 'postgres'
          ? new PgRegistryState(config.state.url, { tokenHash: config.broker.tokenHash, scryptCost: config.broker.scryptCost })
          : undefined;
      broker = await startBroker(brokerConfig, { log: log.child({ component: 'broker' }), logins });
      const host = brokerConfig.host === '0.0.0.0' || brokerConfig.host === '::' ? '127.0.0.1' : brokerConfig.host;
      brokerUrl = `mqtt://${host.includes(':') ? `[${host}]` : host}:${broker.port}`;
    }
    if (config.role !== 'broker') {
      // Each node's in-process collector has its own account: a node rotating its token at start
      // must not log out another node's collector (the registry is shared in a cluster).
      const internalCollector = config.cluster ? `${INTERNAL_COLLECTOR}-${config.cluster.nodeId}` : INTERNAL_COLLECTOR;
      const mqtt =
        config.role === 'all' && broker && brokerUrl
          ? {
              ...config.collector.mqtt,
              url: brokerUrl,
              username: internalCollector,
              password: await broker.logins.rotateServiceToken(internalCollector, 'collector'),
            }
          : config.collector.mqtt;
      const collectorConfig = { ...config.collector, mqtt, dataDir: join(config.dataDir, 'collector') };
      // Role `all`: the collector reaches the broker in memory (broker/local-link.ts), not over loopback TCP.
      const local = config.role === 'all' && broker ? broker : null;
      // In a cluster the collector names its MQTT session `<clientId>-<nodeId>` (every node has its own).
      collector = await startCollector(collectorConfig, {
        log: log.child({ component: 'collector' }),
        connectStream: local ? () => local.connectLocal() : undefined,
        ...(cluster ? { cluster: cluster.collector } : {}),
      });
      const incidentLog = log.child({ component: 'collector' });
      if (collectorConfig.incidents?.enabled !== false) {
        if (!cluster) incidents = startIncidentService(collector, collectorConfig.incidents, { log: incidentLog });
        // Owners run detectors on their partitions; the ticket senders and SLA pass on partition 0's owner.
        else if (cluster.collector.mode === 'owner')
          clusterIncidents = await startIncidentService(collector, collectorConfig.incidents, { log: incidentLog, cluster: cluster.incidents });
        // A NOC-only node owns no partitions: it reads what the owners wrote.
        else incidentView = openIncidentView(cluster.incidents.pgUrl, collectorConfig.incidents, { log: incidentLog });
      }
    }
    // In a cluster the NOC runs only on nodes with role noc.
    if (nocConfig.enabled && config.role !== 'broker' && (!roles || roles.includes('noc'))) {
      sharedView = clusterIncidents
        ? sharedIncidentsView({
            tickets: clusterIncidents.ticketState,
            config: clusterIncidents.config,
            incidents: clusterIncidents.incidentState,
            serviceRecords: clusterIncidents.serviceRecords,
            dispatchState: clusterIncidents.dispatchState,
          })
        : incidentView && cluster
          ? sharedIncidentsView({
              tickets: incidentView.ticketState,
              config: incidentView.config,
              incidents: incidentView.incidents,
              serviceRecords: { url: cluster.incidents.pgUrl },
              dispatchState: { url: cluster.incidents.pgUrl },
            })
          : null;
      noc = await startNoc(nocConfig, {
        broker,
        collector,
        incidents: sharedView ?? incidents,
        dataDir: config.dataDir,
        log: log.child({ component: 'noc' }),
        ...opts.noc,
        stores: nocStores(config, opts.noc?.scryptCost),
        ...(config.cluster ? { state: config.state, nodeId: config.cluster.nodeId } : {}),
      });
    }
  } catch (e) {
    await noc?.close().catch(() => {});
    await sharedView?.close().catch(() => {});
    await incidents?.close().catch(() => {});
    await clusterIncidents?.close().catch(() => {});
    await incidentView?.close().catch(() => {});
    await collector?.close().catch(() => {});
    await broker?.close().catch(() => {});
    throw e;
  }
  // Marks the data dir as in use (restore refuses to write under a running server).
  const releaseLock = writeServerLock(config.dataDir, { brokerUrl, nocUrl: noc?.url ?? null });
  log.info(
    {
      role: config.role,
      ...(config.cluster ? { node: config.cluster.nodeId, roles: config.cluster.roles } : {}),
      dataDir: config.dataDir,
      brokerUrl,
      noc: noc?.url ?? null,
      store: config.collector.influx ? 'influxdb' : 'embedded',
    },
    'fleetcare server started',
  );
  return {
    broker,
    collector,
    incidents,
    clusterIncidents,
    noc,
    log,
    brokerUrl,
    async close(reason = 'stop') {
      log.info({ reason }, 'fleetcare server stopping');
      await noc?.close();
      await sharedView?.close();
      // Collector first: its last records reach the detectors, whose state the final tick saves.
      await collector?.close();
      await incidents?.close();
      await clusterIncidents?.close();
      await incidentView?.close();
      await broker?.close();
      releaseLock();
    },
  };
}
