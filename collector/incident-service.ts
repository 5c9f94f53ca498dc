// The incident service: feeds the detectors from the collector (each durably stored telemetry or
// event record once, fleet changes, and the inventory), evaluates them on a tick, applies the
// findings to the incident store and — in the same SQLite transaction — enqueues the ticket
// command in the ticket outbox (incidents.db holds both). A crash anywhere loses and doubles
// nothing: the incident change and its ticket commit together, and the detector state is saved
// with them (collector/incidents/pipeline.ts).
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { CollectorHandle } from './collector.js';
import type { DeviceState } from './fleet.js';
import type { IngestRecord } from './store.js';
import { DetectorEngine, measurementTime, type PartWearEta } from './detectors/index.js';
import { IncidentStore, detectAndApply, restoreEngine, type Incident, type IncidentChange } from './incidents/index.js';
import { incidentsConfigSchema, type IncidentsConfig, type IncidentsConfigInput } from './incidents-config.js';
import { markSlaBreaches, recordTicketStatus, refreshTicketSla } from './ticket-actions.js';
import { changeComment, runbookText, sparePartFor, ticketDescription, ticketIssueType, ticketPriority, ticketSla, ticketSubject } from './incident-ticket.js';
import { startTicketing, type TicketCommandInput, type TicketingHandle, type TicketLanguage, type TicketStore } from './tickets/index.js';
import { WarrantyRegistry, warrantyClaimFor } from './warranty/index.js';
import { defaultFirmwareProfilesDir, loadFirmwareProfiles, type FirmwareProfile } from '../firmware-profiles/index.js';
import type { ServiceLevelAgreement } from './sla/index.js';
import type { TicketStateStore } from '../state/tickets.js';
import { SqliteTicketState } from '../state/sqlite/tickets.js';
import { SqliteServiceRecordStore, type ServiceRecordStore } from './service-records/index.js';
import { fitLifeModels, lifeGroups, type LifeModel } from './reliability/index.js';

export type IncidentServiceStats = {
  ticks: number;
  tickErrors: number;
  samples: number;
  events: number;
  changes: number;
  ticketCommands: number;
  ticketErrors: number;
  warrantyClaims: number;
  /** Samples/events whose device time was implausible: placed at arrival (measurementTime). */
  untrustedTimes: number;
};

export type IncidentServiceHandle = {
  incidents: IncidentStore;
  tickets: TicketStore;
  ticketing: TicketingHandle;
  /** The ticket store seen through its interface (state/tickets.ts): what readers such as the NOC use. */
  ticketState: TicketStateStore;
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
export const incidentFiles = (dataDir: string) => ({ incidents: join(dataDir, 'incidents.db'), warranty: join(dataDir, 'warranty.db'), serviceRecords: join(dataDir, 'service-records.db') });

type Inventory = { site?: string; tenant?: string; serial?: string; clockOffsetMs?: number; peripherals: Map<string, { profile?: string; serial?: string }> };

export function startIncidentService(collector: CollectorHandle, input: IncidentsConfigInput | undefined, { log: parentLog }: { log: Logger }): IncidentServiceHandle {
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
  // Fleet life models from the service records (failures) and the parts in service (censored).
  let lifeModels: LifeModel[] = [];
  async function refitLives(): Promise<void> {
    const all = await serviceRecords.list();
    lifeModels = fitLifeModels(lifeGroups(all.filter((r) => r.kind !== 'unit-swap'), engine.aliveParts()));
    engine.setLifeModels(lifeModels);
  }
  // Every record is applied at start too: the detectors apply a replacement once (by its time).
  let serviceApplied = 0;
  let serviceSync: Promise<number> | null = null;
  function syncServiceRecords(): Promise<number> {
    serviceSync ??= (async () => {
      try {
        const records = await serviceRecords.list({ afterId: serviceApplied });
        for (const r of records) {
          // The life the part reached, for the fleet's life fit, read before the detectors re-base it.
          const profile = r.profile ?? inventory.get(r.device)?.peripherals.get(r.peripheral)?.profile;
          const usage = r.usage ?? (r.kind === 'unit-swap' ? null : engine.partUsage(r.device, r.peripheral, r.part));
          if ((r.usage === undefined && usage !== null) || (r.profile === undefined && profile)) await serviceRecords.annotate(r.id, { ...(usage !== null ? { usage } : {}), ...(profile ? { profile } : {}) });
          if (r.kind === 'unit-swap') engine.unitReplaced(r.device, r.peripheral, r.at);
          else engine.partReplaced(r.device, r.peripheral, r.part, r.at);
          serviceApplied = r.id;
        }
        if (records.length) await refitLives();
        if (records.length) log.info({ records: records.length, lastId: serviceApplied }, 'service records applied to the detectors');
        return records.length;
      } finally {
        serviceSync = null;
      }
    })();
    return serviceSync;
  }

  const counters: IncidentServiceStats = { ticks: 0, tickErrors: 0, samples: 0, events: 0, changes: 0, ticketCommands: 0, ticketErrors: 0, warrantyClaims: 0, untrustedTimes: 0 };

  // ---- fleet inventory (site, tenant, serials, profiles), refreshed from the collector ----
  const inventory = new Map<string, Inventory>();
  function observeDevice(d: DeviceState): void {
    inventory.set(d.device, {
      site: d.site,
      tenant: d.tenant,
      serial: d.serial,
      clockOffsetMs: d.clockOffsetMs,
      peripherals: new Map(d.peripherals.map((p) => [p.id, { profile: p.profile, serial: p.serial }])),
    });
    engine.observeDevice({ device: d.device, site: d.site, online: d.online, reason: d.reason, lastSeen: d.lastSeen, clockOffsetMs: d.clockOffsetMs });
    // A new serial on a peripheral is a unit swap: the detectors re-base it by themselves, and it is recorded.
    for (const p of d.peripherals) {
      if (!p.serial) continue;
      const at = Date.now();
      if (!engine.peripheralSerial(d.device, p.id, p.serial, at)) continue;
      // Whether the old unit had failed is not known here: recorded as not failed (a ticket resolved as a failure says more).
      serviceRecords
        .add({ device: d.device, peripheral: p.id, part: 'unit', kind: 'unit-swap', at, failed: false, serial: p.serial, ...(p.profile ? { profile: p.profile } : {}), source: 'inventory' })
        .then((r) => log.info({ device: d.device, peripheral: p.id, serial: p.serial, record: r.id }, 'unit swap: new serial, wear re-based'))
        .catch((e: Error) => log.error({ device: d.device, peripheral: p.id, err: e.message }, 'unit swap not recorded'));
    }
  }
  function refreshFleet(): void {
    for (const d of collector.fleet()) observeDevice(d);
  }
  refreshFleet();

  // A device or peripheral the detectors do not know yet (its inventory came after its first
  // samples): look that one device up, at most every 2 s, instead of copying the whole fleet.
  const lookedUp = new Map<string, number>();
  function ensureKnown(device: string, peripheral: string | undefined, now: number): void {
    const inv = inventory.get(device);
    if (inv && (peripheral === undefined || inv.peripherals.has(peripheral))) return;
    if (now - (lookedUp.get(device) ?? 0) < 2000) return;
    lookedUp.set(device, now);
    const d = collector.device(device);
    if (d) observeDevice(d);
  }

  // Detectors judge a sample by when it was measured (a flushed backlog covers its days); a device
  // time that cannot be right is placed at arrival, counted and logged (at most once a minute).
  let untrustedLoggedAt = 0;
  function measuredAt(device: string, ts: number, arrivedAt: number, inv: Inventory | undefined): number {
    const m = measurementTime(ts, arrivedAt, inv?.clockOffsetMs, engine.config.measurementTime);
    if (m.trusted) return m.at;
    counters.untrustedTimes++;
    if (arrivedAt - untrustedLoggedAt >= 60_000) {
      untrustedLoggedAt = arrivedAt;
      log.warn({ device, deviceTs: ts, arrivedAt, reason: m.reason, total: counters.untrustedTimes }, 'implausible device time: sample placed at its arrival');
    }
    return m.at;
  }

  const offIngested = collector.onIngested((records: readonly IngestRecord[]) => {
    const now = Date.now();
    for (const r of records) {
      if (r.channel === 'telemetry') for (const s of r.message.samples) ensureKnown(r.device, s.peripheral, now);
      else ensureKnown(r.device, r.message.peripheral, now);
      const inv = inventory.get(r.device);
      const site = r.tags.site ?? inv?.site;
      if (r.channel === 'telemetry') {
        for (const s of r.message.samples) {
          counters.samples++;
          engine.observeSample({
            device: r.device, site, peripheral: s.peripheral, kind: s.kind, profile: inv?.peripherals.get(s.peripheral)?.profile,
            at: r.arrivedAt, measuredAt: measuredAt(r.device, s.ts, r.arrivedAt, inv), health: s.health, counters: s.counters, metrics: s.metrics, faults: s.faults,
          });
        }
      } else {
        counters.events++;
        engine.observeEvent({ device: r.device, site, peripheral: r.message.peripheral, type: r.message.type, code: r.message.code, at: r.arrivedAt, measuredAt: measuredAt(r.device, r.message.ts, r.arrivedAt, inv) });
      }
    }
  });
  const offFleet = collector.onFleetChange((c) => {
    try {
      const d = collector.device(c.device);
      if (d) observeDevice(d);
    } catch (e) {
      log.error({ device: c.device, err: (e as Error).message }, 'fleet change not applied to the detectors');
    }
  });

  // ---- ticket commands for incident changes, inside the incident transaction ----
  const slaOf = (tenant: string): ServiceLevelAgreement | undefined => config.slas[tenant] ?? config.defaultSla;
  const languageOf = (tenant: string): TicketLanguage => config.languages[tenant] ?? config.defaultLanguage;
  const tickets = ticketing.outbox.store;

  function facts(incident: Incident) {
    const inv = inventory.get(incident.device);
    const customer = inv?.tenant ?? config.defaultCustomer;
    const peripheralSerial = incident.peripheral !== 'device' && incident.scope === 'device' ? inv?.peripherals.get(incident.peripheral)?.serial : undefined;
    const serial = peripheralSerial ?? (incident.scope === 'device' ? inv?.serial : undefined) ?? null;
    const sla = slaOf(customer);
    const timeZone = sla?.calendar.time_zone;
    const record = serial ? warranty.get(serial) : undefined;
    const warrantyStatus = serial ? (warranty.statusOf(serial, incident.updatedAt, timeZone) ?? null) : null;
    return { inv, customer, serial, sla, timeZone, record, warrantyStatus, lang: languageOf(customer) };
  }

  function commandsFor(change: IncidentChange): TicketCommandInput[] {
    const { incident, at } = change;
    const key = incident.key;
    const eventId = `incident-${incident.id}-${change.type}-${at}`;
    const f = facts(incident);
    const current = tickets.byKey(key);
    const create = (): TicketCommandInput => {
      const priority = ticketPriority(incident, f.sla);
      return {
        kind: 'create', key, at, eventId,
        ticket: {
          subject: ticketSubject(incident, f.lang),
          description: ticketDescription(incident, f.lang, { serial: f.serial, warranty: f.warrantyStatus, runbook: runbookText(incident.runbook, profiles, f.lang), now: at, sparePart: sparePartFor(incident, profiles) }),
          language: f.lang,
          priority,
          issueType: ticketIssueType(incident.kind, incident.issueType, config.issueTypes),
          customer: f.customer,
          site: incident.site,
          device: incident.device,
          peripheral: incident.scope === 'device' && incident.peripheral !== 'device' ? incident.peripheral : null,
          serial: f.serial,
          warrantyStatus: f.warrantyStatus,
          sla: ticketSla(f.sla, priority, at),
        },
      };
    };
    switch (change.ticket) {
      case 'none':
        return [];
      case 'create':
        return [create()];
      case 'reopen':
        // A ticket closed meanwhile (by an operator) is not reopened: the problem gets a new one.
        if (!current || current.status === 'Closed') return [create()];
        return [{ kind: 'set-status', key, at, eventId, status: 'Open', comment: changeComment(incident, 'reopened', f.lang) }];
      case 'update': {
        if (!current || current.status === 'Closed') return [];
        return [{ kind: 'update', key, at, eventId, comment: changeComment(incident, 'updated', f.lang), patch: { priority: ticketPriority(incident, f.sla) } }];
      }
      case 'resolve': {
        if (!current || current.status === 'Closed' || current.status === 'Resolved') return [];
        // The SLA update follows from the status history (onChange: refreshTicketSla).
        return [{ kind: 'set-status', key, at, eventId, status: 'Resolved', comment: changeComment(incident, 'recovered', f.lang) }];
      }
      case 'close':
        if (!current || current.status === 'Closed') return [];
        return [{ kind: 'close', key, at, eventId, resolution: changeComment(incident, 'closed', f.lang) }];
    }
  }

  function maybeClaim(incident: Incident, ref: string, at: number): void {
    if (!config.warranty.claims) return;
    const f = facts(incident);
    if (!f.record || ticketIssueType(incident.kind, incident.issueType, config.issueTypes) !== 'Hardware Failure') return;
    const draft = warrantyClaimFor(f.record, { complaint: ticketSubject(incident, 'en'), at, customer: f.customer, incident_key: ref }, { timeZone: f.timeZone });
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
      counters.ticketErrors++;
      log.error({ key: change.incident.key, change: change.type, err: (e as Error).stack ?? String(e) }, 'could not build the ticket command; incident kept without it');
      return;
    }
    for (const cmd of cmds) {
      let r;
      try {
        r = ticketing.outbox.enqueue(cmd); // a savepoint: a refused command leaves the rest of the change intact
      } catch (e) {
        counters.ticketErrors++;
        log.error({ key: change.incident.key, change: change.type, command: cmd.kind, err: (e as Error).message }, 'ticket command refused');
        continue;
      }
      counters.ticketCommands++;
      if (r.applied && r.ref && (cmd.kind === 'set-status' || cmd.kind === 'close')) {
        // Status history → SLA recomputed (a reopen counts the time since resolution as hold).
        recordTicketStatus(ticketing.outbox.db, r.ref, cmd.kind === 'close' ? 'Closed' : cmd.status, cmd.at);
        refreshTicketSla(ticketing.outbox, r.ref, facts(change.incident).sla, cmd.at, cmd.eventId ?? `incident-${change.incident.id}`);
      }
      log.info({ key: change.incident.key, change: change.type, command: cmd.kind, applied: r.applied, ref: r.ref, ...(r.applied ? {} : { reason: r.reason }) }, 'ticket command');
      if (cmd.kind === 'create' && r.applied && r.ref) {
        try {
          maybeClaim(change.incident, r.ref, change.at);
        } catch (e) {
          log.error({ key: change.incident.key, err: (e as Error).message }, 'warranty claim not created');
        }
      }
    }
    if (change.ticket === 'none' && change.suppressed) log.info({ key: change.incident.key, change: change.type, suppressed: change.suppressed }, 'incident change without ticket');
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
  log.info({ restored, profiles: profileList.length, tickMs: config.tickMs, sinks: ticketing.outbox.sinkNames(), db: files.incidents }, 'incident service started');

  return {
    incidents: store,
    tickets,
    ticketing,
    ticketState: new SqliteTicketState(ticketing.outbox),
    warranty,
    serviceRecords,
    syncServiceRecords,
    lifeModels: () => lifeModels,
    config,
    tick: (now?: number) => tick(now ?? Date.now(), true),
    partWear: (now?: number) => engine.partWear(now ?? Date.now()),
    stats: () => ({ ...counters, sinks: ticketing.stats() }),
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      offIngested();
      offFleet();
      // Saves what was observed since the last tick (the detector state is persisted per tick).
      try {
        tick(Date.now(), true);
      } catch (e) {
        log.error({ err: (e as Error).message }, 'final incident tick failed');
      }
      await ticketing.close();
      store.close();
      warranty.close();
      await serviceSync?.catch(() => 0);
      await serviceRecords.close();
      log.info('incident service stopped');
    },
  };
}
