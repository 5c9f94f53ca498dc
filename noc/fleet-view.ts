// The fleet as the NOC shows it: each device's status (offline, else its worst peripheral health),
// wear of its parts (counter against the firmware profile's rated life), open tickets, and the
// filtered, sorted, paged device list and fleet summary built from that.
// Built for 10k devices per request: one read-only pass over the collector's live state
// (forEachDevice, no copy of the fleet), the page is the only thing copied out. Counters come
// from live telemetry (collector.onIngested), so the wear column fills within one telemetry
// interval of a NOC start; the device page reads the store instead (store.latest).
import type { CollectorHandle, DeviceState, IngestRecord } from '../collector/index.js';
import { defaultFirmwareProfilesDir, loadFirmwareProfiles, type FirmwareProfile, type RatedLifeEntry } from '../firmware-profiles/index.js';
import type { DeviceStatus, DeviceSummary, FleetSummary, PartWear } from './api.js';
import { deviceStatuses } from './api.js';

type Health = DeviceSummary['health'];

/** Worse is higher. `absent` (configured, not answering) is worse than a warning: the peripheral is unusable. */
const HEALTH_RANK: Record<Health, number> = { ok: 0, unknown: 1, warning: 2, absent: 3, critical: 4 };
/** Order of concern for the attention list and `sort=status`. */
const STATUS_RANK: Record<DeviceStatus, number> = { ok: 0, unknown: 1, warning: 2, absent: 3, offline: 4, critical: 5 };

export function worstHealth(d: Readonly<DeviceState>): Health {
  let worst: Health = 'ok';
  let any = false;
  for (const p in d.health) {
    any = true;
    const h = d.health[p].health;
    const v = (h in HEALTH_RANK ? h : 'unknown') as Health;
    if (HEALTH_RANK[v] > HEALTH_RANK[worst]) worst = v;
  }
  return any ? worst : 'unknown';
}

export function deviceStatusOf(d: Readonly<DeviceState>): DeviceStatus {
  return d.online ? worstHealth(d) : 'offline';
}

const measured = new WeakMap<FirmwareProfile, RatedLifeEntry[]>();
/** Rated-life entries a counter can be compared with: `not-read` ones are reference data only (firmware-profiles/schema.ts). */
export function measuredEntries(profile: FirmwareProfile | undefined): RatedLifeEntry[] {
  if (!profile) return [];
  let m = measured.get(profile);
  if (!m) measured.set(profile, (m = profile.ratedLife.filter((e) => e.measuredBy !== 'not-read')));
  return m;
}

/** Life used of one part from one counter reading (no ETA). */
export function partWearOf(entry: RatedLifeEntry, counter: number, profile: FirmwareProfile): Omit<PartWear, 'eta' | 'etaSource' | 'ratePerDay'> {
  const ratedCounts = entry.value / (entry.unitsPerCount ?? 1);
  return {
    part: entry.part,
    metric: entry.metric,
    basis: entry.basis,
    counter,
    ratedCounts,
    ratedValue: entry.value,
    unit: entry.unit,
    lifeUsed: counter / ratedCounts,
    warningFraction: profile.thresholds.wearWarningFraction,
    criticalFraction: profile.thresholds.wearCriticalFraction,
    sourceVerified: !('unverified' in entry.source),
  };
}

type Counters = Record<string, number>;
/** A device row while filtering: only the page is turned into DeviceSummary objects. */
type Row = { d: Readonly<DeviceState>; status: DeviceStatus; wearMax: number | null; worn: string | null };

export type DeviceFilter = {
  q?: string;
  tenant?: string;
  site?: string;
  model?: string;
  health?: DeviceStatus[];
  online?: boolean;
  wearAbove?: number;
};
export type DeviceSort = 'device' | 'status' | 'wear' | 'lastSeen' | 'site';

const byId = (a: Row, b: Row) => (a.d.device < b.d.device ? -1 : a.d.device > b.d.device ? 1 : 0);

export class FleetView {
  readonly profiles: Map<string, FirmwareProfile>;
  /** device → peripheral → latest counters seen in live telemetry; `stamp` moves with every change. */
  private readonly counters = new Map<string, { stamp: number; byPeripheral: Map<string, { ts: number; counters: Counters }> }>();
  /** Wear per device, valid while its counters' stamp and its inventory (the peripherals array) are the same. */
  private readonly wearCache = new Map<string, { stamp: number; peripherals: Readonly<DeviceState['peripherals']>; max: number | null; worn: string | null }>();
  private readonly off: () => void;

  constructor(
    private readonly collector: CollectorHandle,
    opts: { profilesDir?: string } = {},
  ) {
    this.profiles = new Map(loadFirmwareProfiles(opts.profilesDir ?? defaultFirmwareProfilesDir()).map((p) => [p.id, p]));
    this.off = collector.onIngested((records) => this.observe(records));
  }

  close(): void {
    this.off();
  }

  private observe(records: readonly IngestRecord[]): void {
    for (const r of records) {
      if (r.channel !== 'telemetry') continue;
      let entry = this.counters.get(r.device);
      for (const s of r.message.samples) {
        if (!Object.keys(s.counters).length) continue;
        if (!entry) this.counters.set(r.device, (entry = { stamp: 0, byPeripheral: new Map() }));
        const prev = entry.byPeripheral.get(s.peripheral);
        if (!prev || prev.ts <= s.ts) {
          entry.byPeripheral.set(s.peripheral, { ts: s.ts, counters: s.counters });
          entry.stamp++;
        }
      }
    }
  }

  /** Highest life used over the device's measured parts, and a short text naming the part when it is past its warning fraction. */
  private wear(d: Readonly<DeviceState>): { max: number | null; worn: string | null } {
    const entry = this.counters.get(d.device);
    if (!entry) return { max: null, worn: null };
    const cached = this.wearCache.get(d.device);
    if (cached && cached.stamp === entry.stamp && cached.peripherals === d.peripherals) return cached;
    const byPeripheral = entry.byPeripheral;
    let max: number | null = null;
    let worn: string | null = null;
    let wornBy = 0;
    for (const p of d.peripherals) {
      const seen = byPeripheral.get(p.id);
      const profile = p.profile ? this.profiles.get(p.profile) : undefined;
      if (!seen || !profile) continue;
      for (const e of measuredEntries(profile)) {
        const c = seen.counters[e.metric];
        if (c === undefined) continue;
        const used = c / (e.value / (e.unitsPerCount ?? 1));
        if (max === null || used > max) max = used;
        if (used >= profile.thresholds.wearWarningFraction && used > wornBy) {
          wornBy = used;
          worn = `${p.id} ${e.part} ${Math.round(used * 100)} %`;
        }
      }
    }
    const result = { stamp: entry.stamp, peripherals: d.peripherals, max, worn };
    this.wearCache.set(d.device, result);
    return result;
  }

  private row(d: Readonly<DeviceState>): Row {
    const w = this.wear(d);
    return { d, status: deviceStatusOf(d), wearMax: w.max, worn: w.worn };
  }

  summary(r: Row, openTickets: number): DeviceSummary {
    const d = r.d;
    const faults: string[] = [];
    for (const [p, h] of Object.entries(d.health)) for (const f of h.faults) faults.push(`${p}:${f}`);
    return {
      device: d.device,
      online: d.online,
      reason: d.reason,
      since: d.since,
      lastSeen: d.lastSeen,
      site: d.site ?? null,
      tenant: d.tenant ?? null,
      model: d.model ?? null,
      serial: d.serial ?? null,
      agentVersion: d.agentVersion ?? null,
      status: r.status,
      health: worstHealth(d),
      faults,
      peripheralCount: d.peripherals.length,
      wearMax: r.wearMax === null ? null : round4(r.wearMax),
      openTickets,
    };
  }

  /** Summary of one device (a copy), or undefined. */
  deviceSummary(id: string, openTickets: number): DeviceSummary | undefined {
    const d = this.collector.device(id);
    return d ? this.summary(this.row(d), openTickets) : undefined;
  }

  list(filter: DeviceFilter, sort: DeviceSort, offset: number, limit: number, openTickets: Map<string, number>): { total: number; items: DeviceSummary[] } {
    const needle = filter.q?.toLowerCase();
    const statuses = filter.health ? new Set(filter.health) : null;
    const rows: Row[] = [];
    this.collector.forEachDevice((d) => {
      if (filter.tenant !== undefined && d.tenant !== filter.tenant) return;
      if (filter.site !== undefined && d.site !== filter.site) return;
      if (filter.model !== undefined && d.model !== filter.model) return;
      if (filter.online !== undefined && d.online !== filter.online) return;
      if (needle && !matches(d, needle)) return;
      const r = this.row(d);
      if (statuses && !statuses.has(r.status)) return;
      if (filter.wearAbove !== undefined && (r.wearMax === null || r.wearMax <= filter.wearAbove)) return;
      rows.push(r);
    });
    rows.sort(comparator(sort));
    return { total: rows.length, items: rows.slice(offset, offset + limit).map((r) => this.summary(r, openTickets.get(r.d.device) ?? 0)) };
  }

  fleetSummary(
    openByDevice: Map<string, number>,
    openBySite: Map<string, number>,
    ticketsByPriority: FleetSummary['ticketsByPriority'],
    now: number,
  ): FleetSummary {
    const zero = () => Object.fromEntries(deviceStatuses.map((s) => [s, 0])) as Record<DeviceStatus, number>;
    const byStatus = zero();
    const sites = new Map<string, { site: string; tenant: string | null; devices: number; byStatus: Record<DeviceStatus, number> }>();
    const attention: Array<{ r: Row; why: string[]; rank: number }> = [];
    let total = 0;
    let online = 0;
    this.collector.forEachDevice((d) => {
      total++;
      if (d.online) online++;
      const r = this.row(d);
      byStatus[r.status]++;
      const siteName = d.site ?? '(no site)';
      let s = sites.get(siteName);
      if (!s) sites.set(siteName, (s = { site: siteName, tenant: d.tenant ?? null, devices: 0, byStatus: zero() }));
      s.devices++;
      s.byStatus[r.status]++;
      const why: string[] = [];
      if (r.status === 'offline') why.push(`offline (${d.reason})`);
      else if (r.status !== 'ok' && r.status !== 'unknown') {
        const bad = Object.entries(d.health).filter(([, h]) => h.health === r.status);
        why.push(`${r.status}: ${bad.map(([p, h]) => (h.faults.length ? `${p} ${h.faults.join(', ')}` : p)).join('; ')}`);
      }
      if (r.worn) why.push(`worn: ${r.worn}`);
      const open = openByDevice.get(d.device) ?? 0;
      if (open) why.push(`${open} open ticket${open > 1 ? 's' : ''}`);
      if (why.length) attention.push({ r, why, rank: STATUS_RANK[r.status] * 4 + (r.worn ? 2 : 0) + (open ? 1 : 0) });
    });
    attention.sort((a, b) => b.rank - a.rank || (b.r.wearMax ?? -1) - (a.r.wearMax ?? -1) || byId(a.r, b.r));
    const siteRows = [...sites.values()].map((s) => {
      const openTickets = openBySite.get(s.site) ?? 0;
      const b = s.byStatus;
      const problemScore = 100 * (b.critical + b.offline) + 50 * b.absent + 10 * b.warning + 5 * openTickets;
      return { ...s, openTickets, problemScore };
    });
    siteRows.sort((a, b) => b.problemScore - a.problemScore || (a.site < b.site ? -1 : a.site > b.site ? 1 : 0));
    return {
      at: now,
      devices: { total, online },
      byStatus,
      ticketsByPriority,
      openTickets: Object.values(ticketsByPriority).reduce((n, v) => n + v, 0),
      sites: siteRows,
      attention: attention.slice(0, 50).map((a) => ({ ...this.summary(a.r, openByDevice.get(a.r.d.device) ?? 0), why: a.why })),
    };
  }
}

function matches(d: Readonly<DeviceState>, needle: string): boolean {
  const has = (s: string | undefined) => s?.toLowerCase().includes(needle);
  if (has(d.device) || has(d.site) || has(d.tenant) || has(d.model) || has(d.serial)) return true;
  return d.peripherals.some((p) => has(p.serial) || has(p.model) || has(p.profile));
}

function comparator(sort: DeviceSort): (a: Row, b: Row) => number {
  switch (sort) {
    case 'status':
      return (a, b) => STATUS_RANK[b.status] - STATUS_RANK[a.status] || byId(a, b);
    case 'wear':
      return (a, b) => (b.wearMax ?? -1) - (a.wearMax ?? -1) || byId(a, b);
    case 'lastSeen':
      return (a, b) => (b.d.lastSeen ?? -1) - (a.d.lastSeen ?? -1) || byId(a, b);
    case 'site':
      return (a, b) => ((a.d.site ?? '\uffff') < (b.d.site ?? '\uffff') ? -1 : (a.d.site ?? '\uffff') > (b.d.site ?? '\uffff') ? 1 : byId(a, b));
    default:
      return byId;
  }
}

const round4 = (v: number) => Math.round(v * 10_000) / 10_000;
