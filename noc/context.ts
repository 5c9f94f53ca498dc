// What every NOC route can reach. The broker, collector and incident service are null when this
// process does not run them (server roles), and routes that need them answer 503.
import type { Logger } from 'pino';
import type { BrokerHandle } from '../broker/index.js';
import type { CollectorHandle } from '../collector/index.js';
import type { IncidentsConfig } from '../collector/incidents/config.js';
import type { PartWearEta } from '../collector/detectors/engine.js';
import type { Incident } from '../collector/incidents/store.js';
import type { LifeModel } from '../collector/reliability/index.js';
import type { ServiceRecordStore } from '../collector/service-records/index.js';
import type { LeaseStats } from '../cluster/leases.js';
import type { ReportUnitStore } from '../state/report-units.js';
import type { CommandStateStore } from '../state/commands.js';
import type { NocAccountStore } from '../state/noc-accounts.js';
import type { DispatchStateStore } from '../state/dispatch.js';
import type { TicketStateStore } from '../state/tickets.js';
import type { NocConfig } from './config.js';
import { HttpError } from './http.js';
import type { LiveHub } from './live.js';

/** The fields of an incident the NOC shows (ticket detail, wear ETA on the device page). */
export type NocIncident = Pick<Incident, 'state' | 'detector' | 'kind' | 'eta' | 'figures' | 'firstSeen' | 'openedAt'>;

/**
 * What the NOC reads of incidents and tickets. Two things satisfy it: the in-process incident
 * service (collector/incidents/service.ts, single node or a collector node), and on a NOC-only
 * cluster node a read-only view over the shared stores (noc/cluster.ts `sharedIncidentsView`).
 * Everything here must be answerable from shared state, except the members marked "detectors
 * only": those live in the memory of the detector engine of the node that owns a device's
 * partition, so a node without one answers 503 for the routes that need them.
 */
export interface NocIncidents {
  /** Tickets, their history, outbox rows and the change feed (state/tickets.ts). */
  readonly ticketState: TicketStateStore;
  /** The incidents config: SLA calendars for ticket actions, profilesDir, detector settings. */
  readonly config: IncidentsConfig;
  /**
   * The live (pending/open/recovering) incident of a finding key. Sync from the embedded SQLite
   * store, a Promise from the shared incident store (state/incidents.ts); callers await either.
   * null: this node cannot look incidents up (the NOC then shows none).
   */
  readonly incidents: { get(key: string): NocIncident | null | Promise<NocIncident | null> } | null;
  /** Parts replaced and units swapped; null where no shared service-record store is reachable (503). */
  readonly serviceRecords: ServiceRecordStore | null;
  /** Teams, technicians and known-fix edits (state/dispatch.ts); absent: the dispatch API answers 503. */
  readonly dispatchState?: DispatchStateStore;
  /** True in a cluster: the dispatch pass runs on the owner of partition 0, not in this NOC. */
  readonly dispatchPassElsewhere?: boolean;
  /** Detectors only: every followed part's wear and ETA (the parts forecast). */
  partWear?(now?: number): PartWearEta[];
  /** Detectors only: the fleet life models the detectors use (fitted from service records and the parts in service). */
  lifeModels?(): LifeModel[];
  /** Detectors only: tick counts and this node's ticket senders (outbox depth per sink). */
  stats?(): { ticks: number; tickErrors: number; sinks: Record<string, { pending: number; failedRows: number }> };
}

/** The collector's partition ownership in cluster mode (cluster/collector-partitions.ts `CollectorPartitions`): what /metrics and /readyz read. */
export type NocPartitionView = {
  readonly nodeId: string;
  readonly count: number;
  /** 'observer': a NOC-only node's collector, which takes no leases. */
  readonly mode?: 'owner' | 'observer';
  owned(): number[];
  stats(): LeaseStats;
};

/** The collector's partitions when it runs in cluster mode, else null (typed structurally until every collector has the field). */
export function partitionsOf(collector: CollectorHandle | null): NocPartitionView | null {
  return (collector as (CollectorHandle & { partitions?: NocPartitionView | null }) | null)?.partitions ?? null;
}

/** The shared state tier this node depends on, checked by /readyz. */
export type NocStateTier = {
  /** `postgres` in cluster mode. */
  kind: string;
  /** Answers when the tier is reachable and throws (with the driver's message) when not. */
  check(): Promise<void>;
};

export type NocContext = {
  broker: BrokerHandle | null;
  collector: CollectorHandle | null;
  incidents: NocIncidents | null;
  /** Users, sessions, API tokens (state/noc-accounts.ts): noc.db, or PostgreSQL in cluster mode. */
  users: NocAccountStore;
  /** Remote commands (state/commands.ts): noc.db, or PostgreSQL in cluster mode. */
  commands: CommandStateStore;
  /** When each unit was first seen (MTBF exposure; state/report-units.ts): noc.db, or PostgreSQL. */
  reportUnits: ReportUnitStore;
  /** The shared state tier (PostgreSQL) in cluster mode; null when everything is embedded. */
  state: NocStateTier | null;
  /** This node's id in the cluster (shown by /readyz and /metrics); null on a single node. */
  nodeId: string | null;
  live: LiveHub;
  config: NocConfig;
  log: Logger;
  startedAt: number;
};

/** The collector, or 503 when this process does not run one. */
export function needCollector(ctx: NocContext): CollectorHandle {
  if (!ctx.collector) throw new HttpError(503, 'this server process runs no collector (role broker)');
  return ctx.collector;
}

/**
 * A route module's service, which exists only where its tier runs: the accessor answers the tier's
 * 503 (`need`, e.g. needCollector) before it hands out the service.
 */
export function servedWith<T>(need: (ctx: NocContext) => unknown, ctx: NocContext, service: T | null | undefined): () => T {
  return () => {
    need(ctx);
    return service!;
  };
}

/** Tickets and incidents, or 503 when they are not served here. */
export function needIncidents(ctx: NocContext): NocIncidents {
  if (!ctx.incidents) throw new HttpError(503, 'the incident service is not running in this process (collector.incidents.enabled false, or role broker)');
  return ctx.incidents;
}

/**
 * The detector engine's figures, or 503 where this node's detectors do not see the whole fleet: a
 * node that runs none (a NOC-only cluster node), or a cluster collector that owns only some
 * partitions (its detectors hold only those devices' state, so a forecast or life fit from them
 * would silently leave the rest of the fleet out).
 */
export function needDetectors(ctx: NocContext): Required<Pick<NocIncidents, 'partWear' | 'lifeModels'>> & NocIncidents {
  const inc = needIncidents(ctx);
  if (!inc.partWear || !inc.lifeModels)
    throw new HttpError(503, 'no detectors run on this node (a NOC-only cluster node): part wear and life models live on the collector nodes');
  const partitions = partitionsOf(ctx.collector);
  const owned = partitions?.owned().length;
  if (partitions && owned !== partitions.count) {
    throw new HttpError(
      503,
      `this node's detectors cover ${owned} of ${partitions.count} partitions of the fleet: part wear and life models need them all (ask again on a node that owns every partition)`,
    );
  }
  return inc as Required<Pick<NocIncidents, 'partWear' | 'lifeModels'>> & NocIncidents;
}

/** The service-record store, or 503 where none is shared with this node. */
export function needServiceRecords(ctx: NocContext): ServiceRecordStore {
  const inc = needIncidents(ctx);
  if (!inc.serviceRecords) throw new HttpError(503, 'service records are not reachable from this node (they are not in the shared state tier yet)');
  return inc.serviceRecords;
}
