// The detectors' feed: each durably stored telemetry or event record once (the collector's
// onIngested), fleet changes, and the inventory (site, tenant, serials, profiles) the incident
// service needs for tickets. In a cluster, `ownsDevice` limits what only the owner of a device's
// partition may do (unit swaps are recorded once); every node still follows the whole fleet's
// online state, so that site outages are judged on the whole site.
import type { Logger } from 'pino';
import type { CollectorHandle } from '../collector.js';
import type { DeviceState } from '../fleet.js';
import type { IngestRecord } from '../telemetry/store.js';
import { measurementTime, type DetectorEngine } from '../detectors/index.js';
import type { ServiceRecordStore } from '../service-records/index.js';

export type Inventory = {
  site?: string;
  tenant?: string;
  serial?: string;
  clockOffsetMs?: number;
  peripherals: Map<string, { profile?: string; serial?: string }>;
};

/** The counters the feed advances (part of the service's stats). */
export type FeedCounters = { samples: number; events: number; untrustedTimes: number };

export type DetectorFeed = {
  inventory: Map<string, Inventory>;
  /** A device's inventory, read from the collector first when the peripheral's serial is not known yet (for ticket facts). */
  inventoryOf(device: string, peripheral?: string): Inventory | undefined;
  observeDevice(d: DeviceState): void;
  /** Re-reads the whole fleet (the service does it every inventoryRefreshMs). */
  refreshFleet(): void;
  stop(): void;
};

export function startDetectorFeed(
  collector: Pick<CollectorHandle, 'fleet' | 'device' | 'onIngested' | 'onFleetChange'>,
  engine: DetectorEngine,
  serviceRecords: ServiceRecordStore,
  counters: FeedCounters,
  log: Logger,
  ownsDevice: (device: string) => boolean = () => true,
): DetectorFeed {
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
    if (!ownsDevice(d.device)) return;
    for (const p of d.peripherals) {
      if (!p.serial) continue;
      const at = Date.now();
      if (!engine.peripheralSerial(d.device, p.id, p.serial, at)) continue;
      // Whether the old unit had failed is not known here: recorded as not failed (a ticket resolved as a failure says more).
      serviceRecords
        .add({
          device: d.device,
          peripheral: p.id,
          part: 'unit',
          kind: 'unit-swap',
          at,
          failed: false,
          serial: p.serial,
          ...(p.profile ? { profile: p.profile } : {}),
          source: 'inventory',
        })
        .then((r) => log.info({ device: d.device, peripheral: p.id, serial: p.serial, record: r.id }, 'unit swap: new serial, wear re-based'))
        .catch((e: Error) => log.error({ device: d.device, peripheral: p.id, err: e.message }, 'unit swap not recorded'));
    }
  }
  function refreshFleet(): void {
    for (const d of collector.fleet()) observeDevice(d);
  }

  // A device or peripheral the detectors do not know yet (its inventory came after its first
  // samples), or a peripheral not identified yet (an agent lists it before reading its identity
  // and sends the inventory again with the profile, which maps its faults; the collector raises no
  // fleet change for that): look that one device up, at most every 2 s, instead of copying the
  // whole fleet — not at the next inventory refresh, up to inventoryRefreshMs later.
  const lookedUp = new Map<string, number>();
  function ensureKnown(device: string, peripheral: string | undefined, now: number): void {
    const inv = inventory.get(device);
    if (inv && (peripheral === undefined || inv.peripherals.get(peripheral)?.profile !== undefined)) return;
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
            device: r.device,
            site,
            peripheral: s.peripheral,
            kind: s.kind,
            profile: inv?.peripherals.get(s.peripheral)?.profile,
            at: r.arrivedAt,
            measuredAt: measuredAt(r.device, s.ts, r.arrivedAt, inv),
            health: s.health,
            counters: s.counters,
            metrics: s.metrics,
            faults: s.faults,
          });
        }
      } else {
        counters.events++;
        engine.observeEvent({
          device: r.device,
          site,
          peripheral: r.message.peripheral,
          type: r.message.type,
          code: r.message.code,
          at: r.arrivedAt,
          measuredAt: measuredAt(r.device, r.message.ts, r.arrivedAt, inv),
        });
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
  /**
   * The inventory of a device as a ticket must describe it: when the peripheral (or its serial) is
   * not known yet — the inventory message came after the fault, or inside ensureKnown's 2 s
   * throttle — the collector's current state of that one device is read first, so a ticket is not
   * opened without the serial and warranty the collector already knows.
   */
  function inventoryOf(device: string, peripheral?: string): Inventory | undefined {
    const inv = inventory.get(device);
    const known =
      inv && (peripheral === undefined || peripheral === 'device' ? inv.serial !== undefined : inv.peripherals.get(peripheral)?.serial !== undefined);
    if (known) return inv;
    const d = collector.device(device);
    if (d) observeDevice(d);
    return inventory.get(device);
  }
  return {
    inventory,
    inventoryOf,
    observeDevice,
    refreshFleet,
    stop() {
      offIngested();
      offFleet();
    },
  };
}
