// The detector engine: every detector, configured from the firmware profiles, fed with
// observations in time order by a driver, evaluated at a `now` the driver gives. No timers and
// no clock inside: the same observations and the same `now` give the same findings.
import type { FirmwareProfile } from '../../firmware-profiles/schema.js';
import { DegradationDetector } from './degradation.js';
import { WearOutDetector } from './wear.js';
import { detectorConfig, findingKey, priorityRank, type DetectorConfig, type DetectorConfigInput, type Finding } from './types.js';

/** One telemetry sample of one peripheral, as the collector received it. */
export type SampleObservation = {
  device: string;
  site?: string;
  peripheral: string;
  kind: string;
  /** Firmware profile id of the peripheral (from the inventory), if matched. */
  profile?: string;
  /** Collector clock when it arrived (ms). */
  at: number;
  health?: string;
  counters?: Record<string, number>;
  metrics?: Record<string, number>;
  faults?: string[];
};

export type EventObservation = {
  device: string;
  site?: string;
  peripheral?: string;
  type: string;
  code?: string;
  at: number;
};

/** The collector's fleet state of a device (FleetState.get()). */
export type DeviceObservation = {
  device: string;
  site?: string;
  online: boolean;
  reason?: string;
  /** Last live message (collector clock, ms), null if never. */
  lastSeen: number | null;
  /** arrival − device ts (ms). */
  clockOffsetMs?: number;
};

type PeripheralState = {
  device: string;
  peripheral: string;
  kind: string;
  profile?: string;
  health?: string;
  /** Active fault code → since (ms). */
  active: Record<string, number>;
  /** Fault code → rising-edge times inside the recurring window. */
  occurrences: Record<string, number[]>;
  /** Codes ever seen active (so their recovery can be reported). */
  known: string[];
  lastAt: number;
};

type DeviceState = { device: string; site?: string; online: boolean; reason?: string; lastSeen: number | null; clockOffsetMs?: number; known: boolean };

export type EngineSnapshot = {
  v: 1;
  peripherals: Array<[string, PeripheralState]>;
  devices: Array<[string, DeviceState]>;
  wear: ReturnType<WearOutDetector['snapshot']>;
  degradation: ReturnType<DegradationDetector['snapshot']>;
};

const DEVICE = 'device';

export class DetectorEngine {
  readonly config: DetectorConfig;
  private readonly profiles = new Map<string, FirmwareProfile>();
  private readonly wear: WearOutDetector;
  private readonly degradation: DegradationDetector;
  private readonly peripherals = new Map<string, PeripheralState>();
  private readonly devices = new Map<string, DeviceState>();

  constructor(profiles: readonly FirmwareProfile[], config: DetectorConfigInput = {}) {
    this.config = detectorConfig.parse(config);
    for (const p of profiles) this.profiles.set(p.id, p);
    this.wear = new WearOutDetector(this.config.wear);
    this.degradation = new DegradationDetector(this.config.degradation);
  }

  private pid(device: string, peripheral: string) {
    return `${device}/${peripheral}`;
  }

  private device(device: string, site?: string): DeviceState {
    let d = this.devices.get(device);
    if (!d) this.devices.set(device, (d = { device, site, online: true, lastSeen: null, known: false }));
    if (site) d.site = site;
    return d;
  }

  private peripheral(device: string, peripheral: string, kind: string, profile?: string): PeripheralState {
    const id = this.pid(device, peripheral);
    let p = this.peripherals.get(id);
    if (!p) this.peripherals.set(id, (p = { device, peripheral, kind, profile, active: {}, occurrences: {}, known: [], lastAt: 0 }));
    if (profile) p.profile = profile;
    return p;
  }

  private raise(p: PeripheralState, code: string, at: number): void {
    if (p.active[code] !== undefined) return;
    p.active[code] = at;
    if (!p.known.includes(code)) p.known.push(code);
    const list = (p.occurrences[code] ??= []);
    list.push(at);
    const from = at - this.config.recurring.windowMs;
    while (list.length && list[0] < from) list.shift();
    for (const spec of this.degradation.specs) {
      if (spec.errorsFromFault === code) this.degradation.faultEdge(`${this.pid(p.device, p.peripheral)}/${spec.name}`);
    }
  }

  observeSample(o: SampleObservation): void {
    const d = this.device(o.device, o.site);
    if (d.lastSeen === null || o.at > d.lastSeen) d.lastSeen = o.at;
    if (!d.known) d.online = true;
    const p = this.peripheral(o.device, o.peripheral, o.kind, o.profile);
    if (o.at < p.lastAt) return; // time order only: a late sample would rewind counters
    p.lastAt = o.at;
    p.health = o.health;
    const faults = new Set(o.faults ?? []);
    for (const code of faults) this.raise(p, code, o.at);
    for (const code of Object.keys(p.active)) if (!faults.has(code)) delete p.active[code];
    const profile = p.profile ? this.profiles.get(p.profile) : undefined;
    const counters = o.counters ?? {};
    if (profile) {
      const metrics = new Set(profile.ratedLife.filter((r) => r.basis === 'life').map((r) => r.metric));
      for (const m of metrics) if (counters[m] !== undefined) this.wear.observe(o.device, o.peripheral, m, counters[m], o.at);
    }
    for (const spec of this.degradation.specs) {
      if (spec.operations !== 'polls' && counters[spec.operations] === undefined) continue;
      if (spec.errors && counters[spec.errors] === undefined) continue;
      const id = `${this.pid(o.device, o.peripheral)}/${spec.name}`;
      this.degradation.observe(id, `${p.profile ?? p.kind}|${spec.name}`, spec, counters, profile?.thresholds.errorRateMinSamples ?? 0, profile?.thresholds.errorRateWarning);
    }
  }

  observeEvent(e: EventObservation): void {
    const d = this.device(e.device, e.site);
    if (d.lastSeen === null || e.at > d.lastSeen) d.lastSeen = e.at;
    if (!e.peripheral) return;
    const p = this.peripheral(e.device, e.peripheral, this.peripherals.get(this.pid(e.device, e.peripheral))?.kind ?? 'unknown');
    if (e.type === 'fault-raised' && e.code) this.raise(p, e.code, e.at);
    else if (e.type === 'fault-cleared' && e.code) delete p.active[e.code];
    else if (e.type === 'peripheral-detached') p.health = 'absent';
    else if (e.type === 'peripheral-attached' && p.health === 'absent') p.health = 'unknown';
  }

  observeDevice(o: DeviceObservation): void {
    const d = this.device(o.device, o.site);
    d.known = true;
    d.online = o.online;
    d.reason = o.reason;
    if (o.lastSeen !== null && (d.lastSeen === null || o.lastSeen > d.lastSeen)) d.lastSeen = o.lastSeen;
    if (o.clockOffsetMs !== undefined) d.clockOffsetMs = o.clockOffsetMs;
  }

  /** A part was replaced (service visit) without its counter going down: re-base its wear. */
  partReplaced(device: string, peripheral: string, part: string, at: number): void {
    const p = this.peripherals.get(this.pid(device, peripheral));
    const profile = p?.profile ? this.profiles.get(p.profile) : undefined;
    if (!p || !profile) return;
    for (const r of profile.ratedLife) if (r.part === part) this.wear.replaced(device, peripheral, r.metric, at);
    for (const spec of this.degradation.specs) if (spec.part === part) this.degradation.replaced(`${this.pid(device, peripheral)}/${spec.name}`, `${p.profile}|${spec.name}`);
  }

  private isOffline(d: DeviceState, now: number): boolean {
    if (!d.online) return true;
    return d.lastSeen !== null && now - d.lastSeen >= this.config.reactive.staleAfterMs;
  }

  /** Every finding at `now`: firing and recovered observations of every condition tracked. */
  evaluate(now: number): Finding[] {
    const out: Finding[] = [];
    const r = this.config.reactive;
    for (const p of this.peripherals.values()) {
      const site = this.devices.get(p.device)?.site;
      const profile = p.profile ? this.profiles.get(p.profile) : undefined;
      if (profile) out.push(...this.wear.evaluate(p.device, p.peripheral, site, profile, now));
      out.push(...this.degradationFindings(p, profile, site));
      out.push(...this.faultFindings(p, profile, site, now));
      // Peripheral absent: configured but not answering.
      const absentMap = profile?.faults.offline ?? r.absent;
      out.push(this.finding(p.device, p.peripheral, 'absent', site, p.health === 'absent' ? 'firing' : 'recovered', {
        detector: 'reactive', kind: 'peripheral-absent', priority: absentMap.priority, issueType: absentMap.issueType, figures: { health: p.health ?? 'unknown' },
        runbook: { profile: profile?.id, code: profile?.runbook.offline ? 'offline' : 'general' }, holdMs: r.absentHoldMs, recoverMs: r.recoverMs, inhibitableBySite: true,
      }));
    }
    // Device offline (LWT, graceful stop, or silent beyond the staleness timer) and clock drift.
    const sites = new Map<string, { total: number; offline: string[] }>();
    for (const d of this.devices.values()) {
      const offline = this.isOffline(d, now);
      if (d.site) {
        const s = sites.get(d.site) ?? { total: 0, offline: [] };
        s.total += 1;
        if (offline) s.offline.push(d.device);
        sites.set(d.site, s);
      }
      out.push(this.finding(d.device, DEVICE, 'offline', d.site, offline ? 'firing' : 'recovered', {
        detector: 'reactive', kind: 'device-offline', priority: r.offline.priority, issueType: r.offline.issueType,
        figures: { reason: offline ? (d.online ? 'stale' : (d.reason ?? 'offline')) : 'online', ...(d.lastSeen !== null ? { silentMin: Math.round((now - d.lastSeen) / 60_000) } : {}) },
        runbook: { code: 'device-offline' }, holdMs: r.offlineHoldMs, recoverMs: r.recoverMs, inhibitableBySite: true,
      }));
      if (d.clockOffsetMs !== undefined && !offline) {
        const drift = Math.abs(d.clockOffsetMs);
        const status = drift >= r.clockDriftMs ? 'firing' : drift < r.clockDriftMs / 2 ? 'recovered' : null;
        if (status) out.push(this.finding(d.device, DEVICE, 'clock-drift', d.site, status, {
          detector: 'reactive', kind: 'clock-drift', priority: r.clockDrift.priority, issueType: r.clockDrift.issueType,
          figures: { clockOffsetS: Math.round(d.clockOffsetMs / 1000) }, runbook: { code: 'clock-drift' }, holdMs: r.clockDriftHoldMs, recoverMs: r.recoverMs, inhibitableBySite: false,
        }));
      }
    }
    // Site: most devices of a site offline at once is one power or network outage.
    const sc = this.config.site;
    for (const [site, s] of sites) {
      const fraction = s.offline.length / s.total;
      const firing = s.offline.length >= sc.minDevices && fraction >= sc.offlineFraction;
      const recovered = !firing && fraction < sc.offlineFraction / 2;
      if (!firing && !recovered) continue;
      out.push({
        key: findingKey(`site:${site}`, 'site', 'offline'), device: `site:${site}`, peripheral: 'site', failureMode: 'offline', site, scope: 'site',
        status: firing ? 'firing' : 'recovered', detector: 'site', kind: 'site-offline', priority: sc.mapping.priority, issueType: sc.mapping.issueType,
        figures: { devices: s.total, offline: s.offline.length, offlinePct: Math.round(fraction * 1000) / 10 },
        runbook: { code: 'site-offline' }, holdMs: sc.holdMs, recoverMs: r.recoverMs, inhibitableBySite: false,
      });
    }
    return out;
  }

  private finding(device: string, peripheral: string, failureMode: string, site: string | undefined, status: Finding['status'], rest: Omit<Finding, 'key' | 'device' | 'peripheral' | 'failureMode' | 'site' | 'scope' | 'status'>): Finding {
    return { key: findingKey(device, peripheral, failureMode), device, peripheral, failureMode, ...(site ? { site } : {}), scope: 'device', status, ...rest };
  }

  private degradationFindings(p: PeripheralState, profile: FirmwareProfile | undefined, site: string | undefined): Finding[] {
    const out: Finding[] = [];
    const dc = this.config.degradation;
    for (const spec of dc.rates) {
      const v = this.degradation.verdict(`${this.pid(p.device, p.peripheral)}/${spec.name}`, `${p.profile ?? p.kind}|${spec.name}`);
      if (!v || (!v.firing && !v.recovered)) continue;
      const mapped = spec.fault ? profile?.faults[spec.fault] : undefined;
      out.push(this.finding(p.device, p.peripheral, `${spec.name}-degradation`, site, v.firing ? 'firing' : 'recovered', {
        detector: 'degradation', kind: 'degradation', priority: mapped?.priority ?? dc.priority, issueType: mapped?.issueType ?? dc.issueType,
        figures: { rate: spec.name, ...(Number.isFinite(v.baseline) ? { baseline: round4(v.baseline), ewma: round4(v.ewma), cusum: Math.round(v.cusum * 100) / 100 } : {}), ...(v.lastBatchRate !== null ? { lastBatch: round4(v.lastBatchRate) } : {}), baselineSource: v.baselineSource, ...(spec.part ? { part: spec.part } : {}) },
        runbook: { profile: profile?.id, code: spec.fault && profile?.runbook[spec.fault] ? spec.fault : 'general' }, holdMs: 0, recoverMs: dc.recoverMs, inhibitableBySite: spec.inhibitableBySite,
      }));
    }
    return out;
  }

  private faultFindings(p: PeripheralState, profile: FirmwareProfile | undefined, site: string | undefined, now: number): Finding[] {
    const out: Finding[] = [];
    const r = this.config.reactive;
    const rc = this.config.recurring;
    for (const code of p.known) {
      const mapped = profile?.faults[code] ?? (profile ? undefined : r.builtinFaults[code]);
      if (!mapped) continue;
      const runbook = { profile: profile?.id, code: profile?.runbook[code] ? code : profile ? 'general' : code };
      const since = p.active[code];
      // Reactive: an active fault that matters (by its profile priority) for longer than its hold.
      if (priorityRank[mapped.priority] >= priorityRank[r.minPriority]) {
        out.push(this.finding(p.device, p.peripheral, code, site, since !== undefined ? 'firing' : 'recovered', {
          detector: 'reactive', kind: 'fault', priority: mapped.priority, issueType: mapped.issueType,
          figures: { fault: code, ...(since !== undefined ? { activeMin: Math.round((now - since) / 60_000) } : {}) },
          runbook, holdMs: r.holdMs[code] ?? r.defaultHoldMs, recoverMs: r.recoverMs, inhibitableBySite: false,
        }));
      }
      // Recurring: the same fault N times in the window (the temporary fix did not work).
      if (rc.ignore.includes(code)) continue;
      const times = (p.occurrences[code] ?? []).filter((t) => t > now - rc.windowMs);
      const status = times.length >= rc.count ? 'firing' : times.length === 0 ? 'recovered' : null;
      if (!status) continue;
      out.push(this.finding(p.device, p.peripheral, `${code}-recurring`, site, status, {
        detector: 'recurring-fault', kind: 'recurring-fault', priority: mapped.priority, issueType: mapped.issueType,
        figures: { fault: code, occurrences: times.length, windowDays: Math.round((rc.windowMs / 86_400_000) * 10) / 10 },
        runbook, holdMs: 0, recoverMs: 0, inhibitableBySite: false,
      }));
    }
    return out;
  }

  /** Detector state as plain JSON (to persist between restarts beside the incidents). */
  snapshot(): EngineSnapshot {
    return { v: 1, peripherals: [...this.peripherals.entries()].map(([k, v]) => [k, structuredClone(v)]), devices: [...this.devices.entries()].map(([k, v]) => [k, { ...v }]), wear: this.wear.snapshot(), degradation: this.degradation.snapshot() };
  }

  restore(s: EngineSnapshot): void {
    this.peripherals.clear();
    this.devices.clear();
    for (const [k, v] of s.peripherals) this.peripherals.set(k, structuredClone(v));
    for (const [k, v] of s.devices) this.devices.set(k, { ...v });
    this.wear.restore(s.wear);
    this.degradation.restore(s.degradation);
  }
}

const round4 = (x: number) => Math.round(x * 10_000) / 10_000;
