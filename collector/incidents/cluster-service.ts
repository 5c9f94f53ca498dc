// The incident service in cluster mode (docs/cluster.md; the embedded one is
// collector/incidents/service.ts). Every collector node runs one; each works on the partitions its
// collector holds leases for:
// - detectors are fed only from the collector's onIngested (already owner-only); every node also
//   follows the whole fleet's online state, so a site outage is judged on the whole site, but a
//   finding is applied only by the owner of its device's (or site's) partition;
// - when the collector acquires partitions, their devices' detector state is loaded from
//   PostgreSQL first; when it gives them up, their state is saved (fenced) and forgotten;
// - each tick applies the findings, enqueues the ticket commands and saves the detector state in
//   ONE PostgreSQL transaction fenced by the leases (cluster-pipeline.ts): a node that lost a
//   lease writes nothing, and its devices are evaluated again;
// - the ticket senders, the SLA breach pass and the dispatch pass are cluster-wide jobs: they run only on the owner
//   of partition 0, and stop before that partition is handed back. The senders send only while the lease is
//   valid, and a node that takes partition 0 over from an expired lease waits out the sinks' timeout first (the
//   previous leader may still be running, a request in flight).
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { CollectorHandle } from '../collector.js';
import type { CollectorPartitions } from '../../cluster/collector-partitions.js';
import type { LeaseStats } from '../../cluster/leases.js';
import { DetectorEngine, type DeviceSnapshot, type PartWearEta } from '../detectors/index.js';
import { incidentsConfigSchema, type IncidentsConfig, type IncidentsConfigInput } from './config.js';
import { markSlaBreachesOn, slaUpdate } from '../tickets/actions.js';
import { longestSinkTimeoutMs, startTicketSenders, ticketSinks, type TicketCommandInput, type TicketSendersHandle, type TicketSink } from '../tickets/index.js';
import type { ServiceRecordStore } from '../service-records/index.js';
import { serviceRecordApplier } from '../service-records/apply.js';
import { PgServiceRecordStore } from '../../state/postgres/service-records.js';
import type { LifeModel } from '../reliability/index.js';
import { defaultFirmwareProfilesDir, loadFirmwareProfiles, type FirmwareProfile } from '../../firmware-profiles/index.js';
import { PgIncidentState } from '../../state/postgres/incidents.js';
import { PgTicketState } from '../../state/postgres/tickets.js';
import { PgWarrantyState } from '../../state/postgres/warranty.js';
import { PgDispatchState } from '../../state/postgres/dispatch.js';
import { Dispatcher, unitFromFleet } from '../../dispatch/service.js';
import type { Queryable } from '../../state/postgres/db.js';
import type { IncidentStateStore } from '../../state/incidents.js';
import type { WarrantyStateStore } from '../../state/warranty.js';
import { detectAndApplyFenced, fencedPool, LeaseLostError, saveFenced, type LeaseFence } from './cluster-pipeline.js';
import { startDetectorFeed } from './feed.js';
import { newIncidentServiceStats, type IncidentServiceStats } from './stats.js';
import type { Incident, IncidentChange } from './store.js';
import { incidentParty, ticketCommandsFor, warrantyClaimDraftFor, type IncidentFacts } from './ticket-commands.js';
import { logSuppressedChange, logTicketBuildFailed, logTicketCommand, logTicketRefused } from './ticket-log.js';

/**
 * What the incident service needs of the collector's partition ownership (cluster/
 * collector-partitions.ts, CLUSTER-DESIGN.md): all but the mode and the node's pool.
 */
export type IncidentPartitions = Omit<CollectorPartitions, 'mode' | 'pool'>;

export type IncidentClusterOptions = {
  /** The state tier (the ticket store LISTENs for changes on its own connection). */
  pgUrl: string;
  /** Default: the collector's `partitions` (the collector must run in cluster owner mode). */
  partitions?: IncidentPartitions;
};

/** The embedded service's counters, and the cluster's own. */
export type ClusterIncidentStats = IncidentServiceStats & {
  /** Ticks that wrote nothing because a partition lease was lost meanwhile (their devices were evaluated again). */
  leaseLost: number;
  /** Device detector states loaded on acquiring partitions / saved on giving them up. */
  statesLoaded: number;
  statesSaved: number;
  slaPasses: number;
};

export type ClusterIncidentServiceHandle = {
  mode: 'cluster';
  /** Incidents (the NOC's lookup: `incidentState.get(key)`). */
  incidentState: IncidentStateStore;
  ticketState: PgTicketState;
  warranty: WarrantyStateStore;
  /** Shared (PostgreSQL): applied to the detectors by the owner of each device's partition. */
  serviceRecords: ServiceRecordStore;
  /** Applies the service records added since the last tick (each tick does it first). */
  syncServiceRecords(): Promise<number>;
  /** The fleet's fitted part lives (failures from every record; parts in service on this node). */
  lifeModels(): LifeModel[];
  /** Teams and technicians (the dispatch pass runs on the leader, the NOC's dispatch API reads them). */
  dispatchState: PgDispatchState;
  config: IncidentsConfig;
  /** Partitions whose detector state is loaded here (owned, or being acquired). */
  loadedPartitions(): number[];
  /** True while this node runs the cluster-wide jobs (ticket senders, SLA pass, dispatch pass): it owns partition 0. */
  leader(): boolean;
  partWear(now?: number): PartWearEta[];
  /** Evaluates now (the timer does this every tickMs). Throws LeaseLostError when a lease was lost meanwhile. */
  tick(now?: number): Promise<IncidentChange[]>;
  stats(): ClusterIncidentStats & { sinks: ReturnType<TicketSendersHandle['stats']>; leases: LeaseStats };
  close(): Promise<void>;
};

export async function startClusterIncidentService(
  collector: CollectorHandle & { partitions?: IncidentPartitions | null },
  input: IncidentsConfigInput | undefined,
  { log: parentLog, cluster }: { log: Logger; cluster: IncidentClusterOptions },
): Promise<ClusterIncidentServiceHandle> {
  const config = incidentsConfigSchema.parse(input ?? {});
  const given = cluster.partitions ?? collector.partitions ?? null;
  if (!given) throw new Error('the incident service in cluster mode needs a collector in cluster owner mode (collector.partitions is missing)');
  const parts: IncidentPartitions = given;
  const log = parentLog.child({ component: 'incidents', node: parts.nodeId });
  const tlog = log.child({ component: 'tickets' });
  const profileList = loadFirmwareProfiles(config.profilesDir ?? defaultFirmwareProfilesDir());
  const profiles = new Map<string, FirmwareProfile>(profileList.map((p) => [p.id, p]));

  // Its own pool on the same database as the leases (the fence locks lease rows in the incident
  // transaction), with the state tier's type parsing (BIGINT times as numbers).
  const pool = fencedPool(cluster.pgUrl);
  const incidents = new PgIncidentState(pool, { lifecycle: config.lifecycle, partitions: parts.count });
  // Every node writes outbox rows for every sink; only the leader sends them.
  let ticketState: PgTicketState | null = null;
  const sinks: TicketSink[] = ticketSinks(config.tickets, tlog, (ref) => ticketState?.get(ref) ?? null);
  ticketState = new PgTicketState(cluster.pgUrl, { sinks: sinks.map((s) => s.name) });
  const tickets = ticketState;
  const warranty = new PgWarrantyState(cluster.pgUrl);
  const dispatchState = new PgDispatchState(cluster.pgUrl);
  const serviceRecords = new PgServiceRecordStore(pool);
  const engine = new DetectorEngine(profileList, config.detectors);

  const counters: ClusterIncidentStats = { ...newIncidentServiceStats(), leaseLost: 0, statesLoaded: 0, statesSaved: 0, slaPasses: 0 };
  const feed = startDetectorFeed(collector, engine, serviceRecords, counters, log, (d) => parts.ownsDevice(d));
  feed.refreshFleet();
  const applier = serviceRecordApplier(
    serviceRecords,
    engine,
    (d, p) => feed.inventory.get(d)?.peripherals.get(p)?.profile,
    log,
    (d) => parts.ownsDevice(d),
  );

  // Ticks, loads and saves run one at a time: a partition is never loaded or handed back in the
  // middle of a tick that writes it.
  let chain: Promise<unknown> = Promise.resolve();
  function serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = chain.then(fn, fn);
    chain = p.catch(() => undefined);
    return p;
  }

  /** Loaded partitions and the lease epoch last seen for each (a release hook runs after the lease forgot it). */
  const loaded = new Map<number, number | undefined>();

  async function load(ps: number[], takenOver: number[]): Promise<void> {
    if (takenOver.includes(0)) holdSenders();
    const fresh = ps.filter((p) => !loaded.has(p));
    if (!fresh.length) return;
    const states = await incidents.loadDeviceStates<DeviceSnapshot>({ partitions: fresh });
    for (const s of states) {
      const device = s.device.device;
      engine.forgetDevice(device);
      engine.restoreDevice(s);
      // The saved online state may be older than what this node sees now.
      const live = collector.device(device);
      if (live) feed.observeDevice(live);
    }
    // Nothing restored is unsaved; what is observed from now on is.
    engine.markSaved(states.map((s) => s.device.device));
    // Replacements recorded while another node owned these devices (idempotent for the ones it applied).
    await applier.reapply(new Set(states.map((s) => s.device.device)));
    for (const p of fresh) loaded.set(p, parts.epochOf(p));
    counters.statesLoaded += states.length;
    log.info({ partitions: fresh, devices: states.length }, 'partitions acquired: detector state loaded');
  }

  async function release(ps: number[], why: string): Promise<void> {
    const gone = new Set(ps);
    if (gone.has(0)) await stopLeaderJobs();
    const devices = engine.knownDevices().filter((d) => gone.has(parts.partitionOf(d)));
    const unsaved = new Set(engine.unsavedDevices());
    const epochs = new Map<number, number>();
    for (const p of ps) {
      const e = loaded.get(p);
      if (e !== undefined) epochs.set(p, e);
    }
    try {
      // Only under a known epoch: a partition released before any tick fenced it has nothing new.
      const toSave = devices.filter((d) => unsaved.has(d) && epochs.has(parts.partitionOf(d)));
      await saveFenced(engine, incidents, pool, { node: parts.nodeId, epochs }, toSave, Date.now());
      counters.statesSaved += toSave.length;
    } catch (e) {
      // The successor loads the state of the last committed tick and re-learns from newer samples.
      const lost = e instanceof LeaseLostError;
      if (lost) counters.leaseLost++;
      log.warn(
        { partitions: ps, why, err: (e as Error).message },
        lost ? 'lease already lost: detector state since the last tick not saved' : 'detector state of released partitions not saved',
      );
    }
    for (const d of devices) {
      engine.forgetDevice(d);
      // Keep following its online state (site outages are judged on the whole site).
      const live = collector.device(d);
      if (live) feed.observeDevice(live);
    }
    for (const p of ps) loaded.delete(p);
    log.info({ partitions: ps, why, devices: devices.length }, 'partitions released: detector state saved and forgotten');
  }

  /**
   * Partition 0 taken over from a leader whose lease expired: that node may still be running (a
   * pause, cut off from PostgreSQL) with a request to a sink in flight. Sending the same row now
   * could cross it (Zammad has no unique key: two tickets), so the senders start once the sinks'
   * timeout has passed — its request has ended by then, and the row it marked is searched first.
   */
  let sendersNotBefore = 0;
  function holdSenders(): void {
    const waitMs = longestSinkTimeoutMs(config.tickets);
    sendersNotBefore = performance.now() + waitMs;
    if (sinks.length)
      log.info({ waitMs }, "partition 0 taken over: ticket senders start after the sinks' timeout (the previous leader's requests end by then)");
  }

  // Registered before looking at what is owned already, so that no acquisition falls in between.
  const offAcquired = parts.onAcquired((ps, takenOver) => serial(() => load(ps, takenOver)));
  const offReleased = parts.onReleased((ps, why) => serial(() => release(ps, why)));
  // How the partitions owned already were acquired is not known here: as if taken over.
  await serial(() => load(parts.owned(), parts.owned()));

  // ---- cluster-wide jobs, on the owner of partition 0 ----
  let senders: TicketSendersHandle | null = null;
  let dispatcher: Dispatcher | null = null;
  let lastSlaCheck = 0;
  async function stopLeaderJobs(): Promise<void> {
    const s = senders;
    const d = dispatcher;
    senders = null;
    dispatcher = null;
    if (s) {
      await s.close();
      log.info('ticket senders stopped (partition 0 given up)');
    }
    if (d) {
      await d.close();
      log.info('dispatch pass stopped (partition 0 given up)');
    }
  }
  async function leaderJobs(now: number, force: boolean): Promise<void> {
    if (!parts.ownsPartition(0) || !loaded.has(0)) return stopLeaderJobs();
    if (!senders && sinks.length && performance.now() >= sendersNotBefore) {
      // Sending only while the lease holds: a node paused past it starts no request when it wakes.
      senders = startTicketSenders(tickets, sinks, config.tickets, tlog, () => parts.ownsPartition(0));
      log.info({ sinks: sinks.map((s) => s.name) }, 'ticket senders started (this node owns partition 0)');
    }
    if (!dispatcher && config.dispatch.enabled) {
      // The dispatch pass (assignment by the rules, escalation) once for the cluster; any NOC
      // node answers the dispatch API from the same PostgreSQL state.
      dispatcher = new Dispatcher({
        tickets,
        state: dispatchState,
        config: config.dispatch,
        slaContext: config,
        unitOf: unitFromFleet(collector),
        profiles,
        log: log.child({ component: 'dispatch' }),
      });
      dispatcher.start();
      log.info('dispatch pass started (this node owns partition 0)');
    }
    if (force || now - lastSlaCheck >= config.slaCheckMs) {
      lastSlaCheck = now;
      counters.slaPasses++;
      const failed = await markSlaBreachesOn(tickets, now, config);
      if (failed) log.info({ tickets: failed }, 'SLA deadlines passed: agreement status Failed');
    }
  }

  // ---- ticket commands, in the tick's transaction ----
  async function factsOf(incident: Incident): Promise<IncidentFacts> {
    const party = incidentParty(incident, feed.inventoryOf, config);
    const { serial, timeZone } = party;
    const record = serial ? await warranty.get(serial) : undefined;
    const warrantyStatus = serial ? ((await warranty.statusOf(serial, incident.updatedAt, timeZone)) ?? null) : null;
    return { ...party, record, warrantyStatus };
  }

  type Claim = { incident: Incident; ref: string; at: number; facts: IncidentFacts };

  async function onChange(change: IncidentChange, c: Queryable, claims: Claim[]): Promise<void> {
    counters.changes++;
    let cmds: TicketCommandInput[];
    let f: IncidentFacts;
    try {
      f = await factsOf(change.incident);
      cmds = ticketCommandsFor(change, await tickets.byKey(change.incident.key, c), f, config, profiles);
    } catch (e) {
      logTicketBuildFailed(log, counters, change, e);
      return;
    }
    for (const cmd of cmds) {
      const status = cmd.kind === 'close' ? 'Closed' : cmd.kind === 'set-status' ? cmd.status : null;
      let r: Awaited<ReturnType<PgTicketState['enqueueIn']>>;
      // A savepoint: a refused command leaves the rest of the change intact.
      await c.query('SAVEPOINT ticket_command');
      try {
        r = await tickets.enqueueIn(
          c,
          cmd,
          status === null
            ? {}
            : {
                // Status history → SLA recomputed (a reopen counts the time since resolution as hold).
                recordStatus: status,
                followUp: (t, history) => slaUpdate(t, history, f.sla, cmd.at, cmd.eventId ?? `incident-${change.incident.id}`),
              },
        );
        await c.query('RELEASE SAVEPOINT ticket_command');
      } catch (e) {
        await c.query('ROLLBACK TO SAVEPOINT ticket_command');
        logTicketRefused(log, counters, change, cmd, e);
        continue;
      }
      counters.ticketCommands++;
      logTicketCommand(log, change, cmd, r);
      if (cmd.kind === 'create' && r.applied && r.ref) claims.push({ incident: change.incident, ref: r.ref, at: change.at, facts: f });
    }
    logSuppressedChange(log, change);
  }

  /** After the commit (another store; idempotent by incident key). */
  async function draftClaims(claims: Claim[]): Promise<void> {
    if (!config.warranty.claims) return;
    for (const { incident, ref, at, facts: f } of claims) {
      try {
        const draft = warrantyClaimDraftFor(incident, ref, at, f, config);
        if (!draft) continue;
        const claim = await warranty.createClaim(draft);
        counters.warrantyClaims++;
        log.info({ key: incident.key, ref, claim: claim.name, serial: claim.serial_no }, 'warranty claim drafted');
      } catch (e) {
        log.error({ key: incident.key, err: (e as Error).message }, 'warranty claim not created');
      }
    }
  }

  let lastRefresh = Date.now();
  async function tick(now: number, force: boolean): Promise<IncidentChange[]> {
    counters.ticks++;
    try {
      await applier.sync();
    } catch (e) {
      log.error({ err: (e as Error).message }, 'service records not applied; retried at the next tick');
    }
    if (force || now - lastRefresh >= config.inventoryRefreshMs) {
      lastRefresh = now;
      feed.refreshFleet();
    }
    // Fenced by the partitions owned now and loaded here, at their current epochs.
    const epochs = new Map<number, number>();
    for (const p of parts.owned()) {
      const e = parts.epochOf(p);
      if (e === undefined || !loaded.has(p)) continue;
      epochs.set(p, e);
      loaded.set(p, e);
    }
    const fence: LeaseFence = { node: parts.nodeId, epochs };
    const claims: Claim[] = [];
    let changes: IncidentChange[];
    try {
      // Detector state saved at every tick in a cluster (stateSaveMs is the embedded cadence): the
      // state of the devices observed since the last tick moves with a partition, and each fenced
      // transaction stays short (it holds the lease rows; saving a whole interval at once would
      // hold them for seconds).
      ({ changes } = await detectAndApplyFenced(engine, incidents, pool, now, fence, (change, c) => onChange(change, c, claims), true));
    } catch (e) {
      if (e instanceof LeaseLostError) counters.leaseLost++;
      throw e;
    }
    await draftClaims(claims);
    await leaderJobs(now, force);
    return changes;
  }

  let closed = false;
  let ticking = false;
  const timer = setInterval(() => {
    if (closed || ticking) return;
    ticking = true;
    serial(() => tick(Date.now(), false))
      .catch((e: Error) => {
        if (e instanceof LeaseLostError) log.warn({ err: e.message }, 'incident tick fenced off: devices evaluated again by the new owner');
        else {
          counters.tickErrors++;
          log.error({ err: e.stack ?? String(e) }, 'incident tick failed; retried at the next tick');
        }
      })
      .finally(() => {
        ticking = false;
      });
  }, config.tickMs);
  timer.unref();
  log.info(
    { profiles: profileList.length, tickMs: config.tickMs, sinks: sinks.map((s) => s.name), partitions: parts.count, owned: [...loaded.keys()] },
    'incident service started (cluster mode)',
  );

  return {
    mode: 'cluster',
    incidentState: incidents,
    ticketState: tickets,
    warranty,
    serviceRecords,
    syncServiceRecords: () => serial(() => applier.sync()),
    lifeModels: applier.lifeModels,
    dispatchState,
    config,
    loadedPartitions: () => [...loaded.keys()].sort((a, b) => a - b),
    leader: () => parts.ownsPartition(0) && loaded.has(0),
    partWear: (now?: number) => engine.partWear(now ?? Date.now()),
    tick: (now?: number) => serial(() => tick(now ?? Date.now(), true)),
    stats: () => ({ ...counters, sinks: senders?.stats() ?? {}, leases: parts.stats() }),
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      feed.stop();
      offAcquired();
      offReleased();
      // Saves what was observed since the last tick, while the leases are still held.
      await serial(() => tick(Date.now(), true)).catch((e: Error) => log.warn({ err: e.message }, 'final incident tick not written'));
      await serial(() => stopLeaderJobs());
      await tickets.close();
      await warranty.close();
      await dispatchState.close();
      await incidents.close();
      await applier.settled();
      await pool.end();
      log.info('incident service stopped');
    },
  };
}

export type IncidentView = {
  ticketState: PgTicketState;
  incidents: IncidentStateStore;
  config: IncidentsConfig;
  close(): Promise<void>;
};

/**
 * A read-only view of the cluster's incidents and tickets for a NOC-only node (no detectors, no
 * senders): the ticket store (operator actions write outbox rows for every configured sink, which
 * the leader's senders send), the incident lookup and the incident config (SLAs, languages).
 */
export function openIncidentView(pgUrl: string, input: IncidentsConfigInput | undefined, { log }: { log: Logger }): IncidentView {
  const config = incidentsConfigSchema.parse(input ?? {});
  const sinkNames = ticketSinks(config.tickets, log.child({ component: 'tickets' }), () => null).map((s) => s.name);
  const ticketState = new PgTicketState(pgUrl, { sinks: sinkNames });
  const incidents = new PgIncidentState(pgUrl, { lifecycle: config.lifecycle });
  return {
    ticketState,
    incidents,
    config,
    async close() {
      for (const store of [ticketState, incidents]) await store.close();
    },
  };
}
