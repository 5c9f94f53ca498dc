// The incident service: feeds the detectors from the collector (each durably stored telemetry or
// event record once, fleet changes, and the inventory), evaluates them on a tick, applies the
// findings to the incident store and — in the same SQLite transaction — enqueues the ticket
// command in the ticket outbox (incidents.db holds both). A crash anywhere loses and doubles
// nothing: the incident change and its ticket commit together, and the detector state is saved
// with them (collector/incidents/pipeline.ts). In cluster mode (`cluster` option) the same service
// runs on PostgreSQL for the partitions the collector owns: collector/incidents/cluster-service.ts.
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { CollectorHandle } from '../collector.js';
import { DetectorEngine, type PartWearEta } from '../detectors/index.js';
import { IncidentStore, detectAndApply, restoreEngine, type Incident, type IncidentChange } from './index.js';
import { incidentsConfigSchema, type IncidentsConfig, type IncidentsConfigInput } from './config.js';
import { markSlaBreaches, recordTicketStatus, refreshTicketSla } from '../tickets/actions.js';
import { incidentParty, ticketCommandsFor, warrantyClaimDraftFor, type IncidentFacts } from './ticket-commands.js';
import { logSuppressedChange, logTicketBuildFailed, logTicketCommand, logTicketRefused } from './ticket-log.js';
import { startDetectorFeed } from './feed.js';
import { newIncidentServiceStats, type IncidentServiceStats } from './stats.js';
import { startTicketing, type TicketCommandInput, type TicketingHandle, type TicketStore } from '../tickets/index.js';
import { WarrantyRegistry } from '../warranty/index.js';
import { defaultFirmwareProfilesDir, loadFirmwareProfiles, type FirmwareProfile } from '../../firmware-profiles/index.js';
import type { TicketStateStore } from '../../state/tickets.js';
import type { DispatchStateStore } from '../../state/dispatch.js';
import { SqliteDispatchState } from '../../state/sqlite/dispatch.js';
import { SqliteTicketState } from '../../state/sqlite/tickets.js';
import { SqliteIncidentState } from '../../state/sqlite/incidents.js';
import type { IncidentStateStore } from '../../state/incidents.js';
import { startClusterIncidentService, type ClusterIncidentServiceHandle, type IncidentClusterOptions, type IncidentPartitions } from './cluster-service.js';
import type { ServiceRecordStore } from '../service-records/index.js';
import { SqliteServiceRecordStore } from '../../state/sqlite/service-records.js';
import type { LifeModel } from '../reliability/index.js';
import { serviceRecordApplier } from '../service-records/apply.js';

export {
  openIncidentView,
  type ClusterIncidentServiceHandle,
  type IncidentClusterOptions,
  type IncidentPartitions,
  type IncidentView,
} from './cluster-service.js';

export type { IncidentServiceStats };

export type IncidentServiceHandle = {
  incidents: IncidentStore;
  /** The incident store seen through its interface (state/incidents.ts): what readers such as the NOC use. */
  incidentState: IncidentStateStore;
  tickets: TicketStore;
  ticketing: TicketingHandle;
  /** The ticket store seen through its interface (state/tickets.ts): what readers such as the NOC use. */
  ticketState: TicketStateStore;
  /** Teams, technicians and known-fix edits (state/dispatch.ts), in incidents.db beside the tickets. */
  dispatchState: DispatchStateStore;
  warranty: WarrantyRegistry;
  /** Parts replaced and units swapped: re-base the detectors, feed the life fit. */
  serviceRecords: ServiceRecordStore;
  /** Applies service records added since the last call to the detectors (the timer does this every tick). */
  syncServiceRecords(): Promise<number>;
  /** The fleet life models in use (fitted when service records arrive). */
  lifeModels(): LifeModel[];
  config: IncidentsConfig;
  /** Every followed part's wear and ETA as the detectors see it now (the parts forecast). */
  partWear(now?: number): PartWearEta[];
  /** Evaluates now (the timer does this every tickMs); returns the incident changes. */
  tick(now?: number): IncidentChange[];
  stats(): IncidentServiceStats & { sinks: ReturnType<TicketingHandle['stats']> };
  close(): Promise<void>;
};

/** Files of the incident service inside the collector's data dir (the CLI opens the same ones). */
export const incidentFiles = (dataDir: string) => ({
  incidents: join(dataDir, 'incidents.db'),
  warranty: join(dataDir, 'warranty.db'),
  serviceRecords: join(dataDir, 'service-records.db'),
});

/**
 * Starts the incident service. Embedded (the default): SQLite files in the collector's data dir.
 * With `cluster`: PostgreSQL, on the partitions the collector owns (collector/incidents/cluster-service.ts).
 */
export function startIncidentService(collector: CollectorHandle, input: IncidentsConfigInput | undefined, opts: { log: Logger }): IncidentServiceHandle;
export function startIncidentService(
  collector: CollectorHandle & { partitions?: IncidentPartitions | null },
  input: IncidentsConfigInput | undefined,
  opts: { log: Logger; cluster: IncidentClusterOptions },
): Promise<ClusterIncidentServiceHandle>;
export function startIncidentService(
  collector: CollectorHandle & { partitions?: IncidentPartitions | null },
  input: IncidentsConfigInput | undefined,
  opts: { log: Logger; cluster?: IncidentClusterOptions },
): IncidentServiceHandle | Promise<ClusterIncidentServiceHandle> {
  if (opts.cluster) return startClusterIncidentService(collector, input, { log: opts.log, cluster: opts.cluster });
  return startEmbeddedIncidentService(collector, input, opts);
}

function startEmbeddedIncidentService(
  collector: CollectorHandle,
  input: IncidentsConfigInput | undefined,
  { log: parentLog }: { log: Logger },
): IncidentServiceHandle {
  const config = incidentsConfigSchema.parse(input ?? {});
  const log = parentLog.child({ component: 'incidents' });
  const files = incidentFiles(collector.config.dataDir);
  const profileList = loadFirmwareProfiles(config.profilesDir ?? defaultFirmwareProfilesDir());
  const profiles = new Map<string, FirmwareProfile>(profileList.map((p) => [p.id, p]));

  const store = new IncidentStore(files.incidents, config.lifecycle);
  const warranty = new WarrantyRegistry(files.warranty);
  let ticketing: TicketingHandle;
  try {
    ticketing = startTicketing(store.db, config.tickets, { log });
  } catch (e) {
    store.close();
    warranty.close();
    throw e;
  }
  const engine = new DetectorEngine(profileList, config.detectors);
  const restored = restoreEngine(engine, store);
  const serviceRecords: ServiceRecordStore = new SqliteServiceRecordStore(files.serviceRecords);
  const counters = newIncidentServiceStats();

  // ---- fleet inventory and the detectors' feed (collector/incidents/feed.ts) ----
  const feed = startDetectorFeed(collector, engine, serviceRecords, counters, log);
  const { inventory } = feed;
  // Every record is applied at start too: the detectors apply a replacement once (by its time).
  const applier = serviceRecordApplier(serviceRecords, engine, (d, p) => inventory.get(d)?.peripherals.get(p)?.profile, log);
  const syncServiceRecords = applier.sync;
  const refreshFleet = feed.refreshFleet;
  refreshFleet();

  // ---- ticket commands for incident changes, inside the incident transaction ----
  const tickets = ticketing.outbox.store;

  function facts(incident: Incident): IncidentFacts {
    const party = incidentParty(incident, feed.inventoryOf, config);
    const { serial, timeZone } = party;
    const record = serial ? warranty.get(serial) : undefined;
    const warrantyStatus = serial ? (warranty.statusOf(serial, incident.updatedAt, timeZone) ?? null) : null;
    return { ...party, record, warrantyStatus };
  }

  const commandsFor = (change: IncidentChange): TicketCommandInput[] =>
    ticketCommandsFor(change, tickets.byKey(change.incident.key), facts(change.incident), config, profiles);

  function maybeClaim(incident: Incident, ref: string, at: number): void {
    if (!config.warranty.claims) return;
    const draft = warrantyClaimDraftFor(incident, ref, at, facts(incident), config);
    if (!draft) return;
    // Another database: idempotent by incident_key, so a rolled-back or repeated change cannot double it.
    const claim = warranty.createClaim(draft);
    counters.warrantyClaims++;
    log.info({ key: incident.key, ref, claim: claim.name, serial: claim.serial_no }, 'warranty claim drafted');
  }

  function onChange(change: IncidentChange): void {
    counters.changes++;
    let cmds: TicketCommandInput[];
    try {
      cmds = commandsFor(change);
    } catch (e) {
      // A bug in building one ticket must not block every other incident (the tick would roll back forever).
      logTicketBuildFailed(log, counters, change, e);
      return;
    }
    for (const cmd of cmds) {
      let r;
      try {
        r = ticketing.outbox.enqueue(cmd); // a savepoint: a refused command leaves the rest of the change intact
      } catch (e) {
        logTicketRefused(log, counters, change, cmd, e);
        continue;
      }
      counters.ticketCommands++;
      if (r.applied && r.ref && (cmd.kind === 'set-status' || cmd.kind === 'close')) {
        // Status history → SLA recomputed (a reopen counts the time since resolution as hold).
        recordTicketStatus(ticketing.outbox.db, r.ref, cmd.kind === 'close' ? 'Closed' : cmd.status, cmd.at);
        refreshTicketSla(ticketing.outbox, r.ref, facts(change.incident).sla, cmd.at, cmd.eventId ?? `incident-${change.incident.id}`);
      }
      logTicketCommand(log, change, cmd, r);
      if (cmd.kind === 'create' && r.applied && r.ref) {
        try {
          maybeClaim(change.incident, r.ref, change.at);
        } catch (e) {
          log.error({ key: change.incident.key, err: (e as Error).message }, 'warranty claim not created');
        }
      }
    }
    logSuppressedChange(log, change);
  }

  // Inventory changes reach the detectors by this periodic refresh, and the detectors' state is
  // saved every few ticks: both cost time proportional to the fleet, too much for every tick.
  let lastRefresh = Date.now();
  let lastSave = 0;
  let lastSlaCheck = 0;
  function tick(now = Date.now(), force = false): IncidentChange[] {
    counters.ticks++;
    if (force || now - lastRefresh >= config.inventoryRefreshMs) {
      lastRefresh = now;
      refreshFleet();
    }
    const save = force || now - lastSave >= config.stateSaveMs;
    if (save) lastSave = now;
    const { changes } = detectAndApply(engine, store, now, { onChange }, save);
    if (force || now - lastSlaCheck >= config.slaCheckMs) {
      lastSlaCheck = now;
      const failed = markSlaBreaches(ticketing.outbox, now, config);
      if (failed) log.info({ tickets: failed }, 'SLA deadlines passed: agreement status Failed');
    }
    return changes;
  }

  let closed = false;
  void syncServiceRecords().catch((e: Error) => log.error({ err: e.message }, 'service records not applied'));
  const timer = setInterval(() => {
    if (closed) return;
    void syncServiceRecords().catch((e: Error) => log.error({ err: e.message }, 'service records not applied; retried at the next tick'));
    try {
      tick();
    } catch (e) {
      counters.tickErrors++;
      log.error({ err: (e as Error).stack ?? String(e) }, 'incident tick failed; retried at the next tick');
    }
  }, config.tickMs);
  timer.unref();
  log.info(
    { restored, profiles: profileList.length, tickMs: config.tickMs, sinks: ticketing.outbox.sinkNames(), db: files.incidents },
    'incident service started',
  );

  return {
    incidents: store,
    incidentState: new SqliteIncidentState(store),
    tickets,
    ticketing,
    ticketState: new SqliteTicketState(ticketing.outbox),
    dispatchState: new SqliteDispatchState(store.db),
    warranty,
    serviceRecords,
    syncServiceRecords,
    lifeModels: applier.lifeModels,
    config,
    tick: (now?: number) => tick(now ?? Date.now(), true),
    partWear: (now?: number) => engine.partWear(now ?? Date.now()),
    stats: () => ({ ...counters, sinks: ticketing.stats() }),
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      feed.stop();
      // Saves what was observed since the last tick (the detector state is persisted per tick).
      try {
        tick(Date.now(), true);
      } catch (e) {
        log.error({ err: (e as Error).message }, 'final incident tick failed');
      }
      await ticketing.close();
      store.close();
      warranty.close();
      await applier.settled();
      await serviceRecords.close();
      log.info('incident service stopped');
    },
  };
}
