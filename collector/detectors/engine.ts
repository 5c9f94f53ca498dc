// The detector engine: every detector, configured from the firmware profiles, fed with
// observations in time order by a driver, evaluated at a `now` the driver gives. No timers and
// no clock inside: the same observations and the same `now` give the same findings.
import type { FirmwareProfile } from '../../firmware-profiles/schema.js';
import { DegradationDetector, type RateState } from './degradation.js';
import type { LifeModel } from '../reliability/index.js';
import { WearOutDetector, type WearSnapshot } from './wear.js';
import { detectorConfig, findingKey, partFailureMode, priorityRank, type DetectorConfig, type DetectorConfigInput, type Finding } from './types.js';

/** One telemetry sample of one peripheral, as the collector received it. */
export type SampleObservation = {
  device: string;
  site?: string;
  peripheral: string;
  kind: string;
  /** Firmware profile id of the peripheral (from the inventory), if matched. */
  profile?: string;
  /** Collector clock when it arrived (ms): holds, recovery windows and "last seen" use it. */
  at: number;
  /** When the device measured it (device clock, guarded by measurementTime; ms): usage rates,
   * error-rate trends, ETAs and recurrence windows use it, so a backlog flushed after an outage
   * reads as the days it covers, not as one instant. Defaults to `at`. */
  measuredAt?: number;
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
  /** Collector clock at arrival (ms). */
  at: number;
  /** Device clock when it happened (guarded; ms); defaults to `at`. */
  measuredAt?: number;
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
  /** Fault code → measurement time of the latest raise/clear event applied (absent in older snapshots). */
  faultEdgeAt?: Record<string, number>;
  /** Codes ever seen active (so their recovery can be reported). */
  known: string[];
  /** Serial of the unit (from the inventory): a new one is a unit swap. */
  serial?: string;
  /** Measurement time of the latest sample (time order of counters). */
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

/** One device's detector state (saved per device: only devices observed since the last save are written). */
export type DeviceSnapshot = {
  v: 2;
  device: DeviceState;
  peripherals: Array<[string, PeripheralState]>;
  wear: WearSnapshot;
  rates: Array<[string, RateState]>;
};

/** One part's wear as the wear-out detector sees it: `eta` = end of rated life, or null before a usage rate is known. */
export type PartWearEta = { device: string; site: string | null; peripheral: string; profile: string; part: string; eta: number | null; lifeUsed: number };

const DEVICE = 'device';

export class DetectorEngine {
  readonly config: DetectorConfig;
  private readonly profiles = new Map<string, FirmwareProfile>();
  private readonly wear: WearOutDetector;
  private readonly degradation: DegradationDetector;
  private readonly peripherals = new Map<string, PeripheralState>();
  private readonly devices = new Map<string, DeviceState>();
  /** Peripheral ids of each device (per-device evaluation and snapshots without scanning the fleet). */
  private readonly peripheralsOf = new Map<string, Set<string>>();
  /** Devices observed since their last evaluation / their last save. */
  private readonly changed = new Set<string>();
  private readonly unsaved = new Set<string>();
  /** Devices with a firing finding at their last evaluation: re-evaluated every time (holds run on them). */
  private readonly hot = new Set<string>();
  /** Offline verdict at each device's last evaluation (the staleness timer turns it without any message). */
  private readonly offlineAt = new Map<string, boolean>();

  constructor(profiles: readonly FirmwareProfile[], config: DetectorConfigInput = {}) {
    this.config = detectorConfig.parse(config);
    for (const p of profiles) this.profiles.set(p.id, p);
    this.wear = new WearOutDetector(this.config.wear);
    this.degradation = new DegradationDetector(this.config.degradation);
  }

  private pid(device: string, peripheral: string) {
    return `${device}/${peripheral}`;
  }

  private touch(device: string): void {
    this.changed.add(device);
    this.unsaved.add(device);
  }

  private device(device: string, site?: string): DeviceState {
    let d = this.devices.get(device);
    if (!d) this.devices.set(device, (d = { device, site, online: true, lastSeen: null, known: false }));
    if (site && d.site !== site) {
      d.site = site;
      this.touch(device);
    }
    return d;
  }

  private peripheral(device: string, peripheral: string, kind: string, profile?: string): PeripheralState {
    profile ??= kind === 'host' && this.profiles.has('host') ? 'host' : undefined; // agents before the host profile
    const id = this.pid(device, peripheral);
    let p = this.peripherals.get(id);
    if (!p) {
      this.peripherals.set(id, (p = { device, peripheral, kind, profile, active: {}, occurrences: {}, known: [], lastAt: 0 }));
      let set = this.peripheralsOf.get(device);
      if (!set) this.peripheralsOf.set(device, (set = new Set()));
      set.add(id);
    }
    if (profile) p.profile = profile;
    return p;
  }

  /** A fault's rising edge: `at` (collector clock) starts its hold; `measuredAt` counts it in the recurrence window. */
  private raise(p: PeripheralState, code: string, at: number, measuredAt = at): void {
    if (p.active[code] !== undefined) return;
    p.active[code] = at;
    if (!p.known.includes(code)) p.known.push(code);
    const list = (p.occurrences[code] ??= []);
    list.push(measuredAt);
    const from = measuredAt - this.config.recurring.windowMs;
    while (list.length && list[0] < from) list.shift();
    for (const spec of this.degradation.specs) {
      if (spec.errorsFromFault === code) this.degradation.faultEdge(`${this.pid(p.device, p.peripheral)}/${spec.name}`);
    }
  }

  observeSample(o: SampleObservation): void {
    this.touch(o.device);
    const d = this.device(o.device, o.site);
    if (d.lastSeen === null || o.at > d.lastSeen) d.lastSeen = o.at;
    if (!d.known) d.online = true;
    const p = this.peripheral(o.device, o.peripheral, o.kind, o.profile);
    const t = o.measuredAt ?? o.at;
    if (t < p.lastAt) return; // time order only: a late sample would rewind counters
    p.lastAt = t;
    p.health = o.health;
    const faults = new Set(o.faults ?? []);
    // Samples are published in batches, fault events at once: a sample measured before a fault's
    // latest event can arrive after it, and its stale view of that fault must not undo the event
    // (a jam sample arriving after "fault cleared" would raise the jam a second time).
    const stale = (code: string) => t < (p.faultEdgeAt?.[code] ?? -Infinity);
    for (const code of faults) if (!stale(code)) this.raise(p, code, o.at, t);
    for (const code of Object.keys(p.active)) if (!faults.has(code) && !stale(code)) delete p.active[code];
    const profile = p.profile ? this.profiles.get(p.profile) : undefined;
    const counters = o.counters ?? {};
    if (profile) {
      const metrics = new Set(profile.ratedLife.filter((r) => r.basis === 'life' && r.measuredBy !== 'not-read').map((r) => r.metric));
      for (const m of metrics) if (counters[m] !== undefined) this.wear.observe(o.device, o.peripheral, m, counters[m], t);
    }
    for (const spec of this.degradation.specs) {
      if (spec.operations !== 'polls' && counters[spec.operations] === undefined) continue;
      if (spec.errors && counters[spec.errors] === undefined) continue;
      const id = `${this.pid(o.device, o.peripheral)}/${spec.name}`;
      this.degradation.observe(
        id,
        `${p.profile ?? p.kind}|${spec.name}`,
        spec,
        counters,
        profile?.thresholds.errorRateMinSamples ?? 0,
        t,
        profile?.thresholds.errorRateWarning ?? spec.warning,
      );
    }
  }

  observeEvent(e: EventObservation): void {
    this.touch(e.device);
    const d = this.device(e.device, e.site);
    if (d.lastSeen === null || e.at > d.lastSeen) d.lastSeen = e.at;
    if (!e.peripheral) return;
    const p = this.peripheral(e.device, e.peripheral, this.peripherals.get(this.pid(e.device, e.peripheral))?.kind ?? 'unknown');
    if ((e.type === 'fault-raised' || e.type === 'fault-cleared') && e.code) {
      const edges = (p.faultEdgeAt ??= {});
      edges[e.code] = Math.max(edges[e.code] ?? -Infinity, e.measuredAt ?? e.at);
    }
    if (e.type === 'fault-raised' && e.code) this.raise(p, e.code, e.at, e.measuredAt ?? e.at);
    else if (e.type === 'fault-cleared' && e.code) delete p.active[e.code];
    else if (e.type === 'peripheral-detached') p.health = 'absent';
    else if (e.type === 'peripheral-attached' && p.health === 'absent') p.health = 'unknown';
  }

  observeDevice(o: DeviceObservation): void {
    const d = this.device(o.device, o.site);
    // The inventory is re-read for the whole fleet periodically: only a real change marks the device.
    const before = `${d.known}|${d.online}|${d.reason}|${d.lastSeen}|${d.clockOffsetMs}`;
    d.known = true;
    d.online = o.online;
    d.reason = o.reason;
    if (o.lastSeen !== null && (d.lastSeen === null || o.lastSeen > d.lastSeen)) d.lastSeen = o.lastSeen;
    if (o.clockOffsetMs !== undefined) d.clockOffsetMs = o.clockOffsetMs;
    if (`${d.known}|${d.online}|${d.reason}|${d.lastSeen}|${d.clockOffsetMs}` !== before) this.touch(o.device);
  }

  /** A part was replaced (service visit) without its counter going down: re-base its wear. */
  partReplaced(device: string, peripheral: string, part: string, at: number): void {
    const p = this.peripherals.get(this.pid(device, peripheral));
    const profile = p?.profile ? this.profiles.get(p.profile) : undefined;
    if (!p || !profile) return;
    this.touch(device);
    for (const r of profile.ratedLife) if (r.part === part) this.wear.replaced(device, peripheral, r.metric, at);
    for (const spec of this.degradation.specs)
      if (spec.part === part) this.degradation.replaced(`${this.pid(device, peripheral)}/${spec.name}`, `${p.profile}|${spec.name}`, at);
  }

  /**
   * The serial the inventory reports for a peripheral. A different serial than before is a unit
   * swap: every part of it is new, so its wear and error-rate baselines re-base by themselves.
   * Returns true when it was a swap (the caller records it as a service record).
   */
  peripheralSerial(device: string, peripheral: string, serial: string, at: number): boolean {
    const p = this.peripherals.get(this.pid(device, peripheral));
    if (!p) return false;
    const before = p.serial;
    if (before === serial) return false;
    p.serial = serial;
    this.touch(device);
    if (before === undefined) return false;
    this.unitReplaced(device, peripheral, at);
    return true;
  }

  /** The whole unit was swapped: every part of it is new. */
  unitReplaced(device: string, peripheral: string, at: number): void {
    const p = this.peripherals.get(this.pid(device, peripheral));
    const profile = p?.profile ? this.profiles.get(p.profile) : undefined;
    for (const part of new Set(profile?.ratedLife.map((r) => r.part) ?? [])) this.partReplaced(device, peripheral, part, at);
  }

  /** Fleet life models (collector/reliability); those with enough failures replace the rated figures. */
  setLifeModels(models: readonly LifeModel[]): void {
    this.wear.setLifeModels(models);
    for (const d of this.devices.keys()) this.changed.add(d); // re-evaluated; their saved state is unchanged
  }

  /** Every tracked part with its current usage (the censored lives of the life fit). */
  aliveParts(): Array<{ device: string; peripheral: string; profile: string; part: string; usage: number }> {
    const out: Array<{ device: string; peripheral: string; profile: string; part: string; usage: number }> = [];
    for (const p of this.peripherals.values()) {
      const profile = p.profile ? this.profiles.get(p.profile) : undefined;
      if (!profile) continue;
      for (const r of profile.ratedLife) {
        if (r.basis !== 'life' || r.measuredBy === 'not-read') continue;
        const st = this.wear.status(p.device, p.peripheral, r, 0);
        if (st) out.push({ device: p.device, peripheral: p.peripheral, profile: profile.id, part: r.part, usage: st.usage });
      }
    }
    return out;
  }

  /** Usage of a part now (counter units), for a service record and the life fit; null when not tracked. */
  partUsage(device: string, peripheral: string, part: string): number | null {
    const p = this.peripherals.get(this.pid(device, peripheral));
    const profile = p?.profile ? this.profiles.get(p.profile) : undefined;
    const entry = profile?.ratedLife.find((r) => r.part === part && r.basis === 'life' && r.measuredBy !== 'not-read');
    if (!entry) return null;
    return this.wear.status(device, peripheral, entry, 0)?.usage ?? null;
  }

  private isOffline(d: DeviceState, now: number): boolean {
    if (!d.online) return true;
    return d.lastSeen !== null && now - d.lastSeen >= this.config.reactive.staleAfterMs;
  }

  /** Every finding at `now`: firing and recovered observations of every condition tracked, for the whole fleet. */
  evaluate(now: number): Finding[] {
    return this.evaluateDevices(this.devices.keys(), now);
  }

  /**
   * The findings that can have changed since the last evaluation: devices observed since then,
   * devices with a firing finding (a hold is running on them), the `also` devices (those with a
   * live incident, whose recovery must be seen), and devices the staleness timer turned offline
   * or back; plus every site. The rest of the fleet would repeat its last findings, and repeated
   * findings change nothing in the incident store. Returns the devices evaluated too, so that a
   * failed apply can hand them back (requeue).
   */
  evaluateChanged(now: number, also: Iterable<string> = []): { findings: Finding[]; devices: string[] } {
    const due = new Set<string>([...this.changed, ...this.hot]);
    for (const d of also) if (this.devices.has(d)) due.add(d);
    for (const d of this.devices.values()) if (!due.has(d.device) && this.isOffline(d, now) !== (this.offlineAt.get(d.device) ?? false)) due.add(d.device);
    const devices = [...due];
    return { findings: this.evaluateDevices(devices, now), devices };
  }

  /** Devices whose evaluation was not applied (the transaction failed): evaluate them again next time. */
  requeue(devices: Iterable<string>): void {
    for (const d of devices) this.changed.add(d);
  }

  private evaluateDevices(devices: Iterable<string>, now: number): Finding[] {
    const out: Finding[] = [];
    for (const device of devices) {
      this.changed.delete(device);
      const from = out.length;
      for (const id of this.peripheralsOf.get(device) ?? []) this.peripheralFindings(this.peripherals.get(id)!, now, out);
      const d = this.devices.get(device);
      if (d) this.deviceFindings(d, now, out);
      let firing = false;
      for (let i = from; i < out.length && !firing; i++) firing = out[i].status === 'firing';
      if (firing) this.hot.add(device);
      else this.hot.delete(device);
    }
    this.siteFindings(now, out);
    return out;
  }

  private peripheralFindings(p: PeripheralState, now: number, out: Finding[]): void {
    const r = this.config.reactive;
    const site = this.devices.get(p.device)?.site;
    const profile = p.profile ? this.profiles.get(p.profile) : undefined;
    // Wear-out and error-rate findings of the same part share a key: merged into one finding.
    const undecided = new Set<string>();
    const part: Finding[] = [];
    const healthy = new Set<string>();
    const rates = this.degradationFindings(p, profile, site, now, undecided, healthy);
    if (profile) {
      const w = this.config.wear;
      for (const f of this.wear.evaluate(p.device, p.peripheral, site, profile, now)) {
        // Rated life says "soon", the part's own error rate says "healthy": the health signal decides until the backstop.
        // A fleet life model's risk is its own evidence: a planned replacement without an error-rate rise.
        if (
          w.deferToErrorRate &&
          f.status === 'firing' &&
          f.figures.lifeSource !== 'fleet' &&
          healthy.has(f.key) &&
          (f.figures.lifeUsedPct as number) < w.backstopFraction * 100
        )
          undecided.add(f.key);
        else part.push(f);
      }
      for (const k of this.wear.trackedKeys(p.device, p.peripheral, profile)) if (!part.some((f) => f.key === k)) undecided.add(k);
    }
    part.push(...rates);
    out.push(...(undecided.size || part.length > 1 ? mergePartFindings(part, undecided) : part));
    out.push(...this.faultFindings(p, profile, site, now));
    // Peripheral absent: configured but not answering.
    const absentMap = profile?.faults.offline ?? r.absent;
    out.push(
      this.finding(p.device, p.peripheral, 'absent', site, p.health === 'absent' ? 'firing' : 'recovered', {
        detector: 'reactive',
        kind: 'peripheral-absent',
        priority: absentMap.priority,
        issueType: absentMap.issueType,
        figures: { health: p.health ?? 'unknown' },
        runbook: { profile: profile?.id, code: profile?.runbook.offline ? 'offline' : 'general' },
        holdMs: r.absentHoldMs,
        recoverMs: r.recoverMs,
        inhibitableBySite: true,
      }),
    );
  }

  private deviceFindings(d: DeviceState, now: number, out: Finding[]): void {
    const r = this.config.reactive;
    const offline = this.isOffline(d, now);
    this.offlineAt.set(d.device, offline);
    out.push(
      this.finding(d.device, DEVICE, 'offline', d.site, offline ? 'firing' : 'recovered', {
        detector: 'reactive',
        kind: 'device-offline',
        priority: r.offline.priority,
        issueType: r.offline.issueType,
        figures: {
          reason: offline ? (d.online ? 'stale' : (d.reason ?? 'offline')) : 'online',
          ...(d.lastSeen !== null ? { silentMin: Math.round((now - d.lastSeen) / 60_000) } : {}),
        },
        runbook: { code: 'device-offline' },
        holdMs: r.offlineHoldMs,
        recoverMs: r.recoverMs,
        inhibitableBySite: true,
      }),
    );
    if (d.clockOffsetMs !== undefined && !offline) {
      const drift = Math.abs(d.clockOffsetMs);
      const status = drift >= r.clockDriftMs ? 'firing' : drift < r.clockDriftMs / 2 ? 'recovered' : null;
      if (status)
        out.push(
          this.finding(d.device, DEVICE, 'clock-drift', d.site, status, {
            detector: 'reactive',
            kind: 'clock-drift',
            priority: r.clockDrift.priority,
            issueType: r.clockDrift.issueType,
            figures: { clockOffsetS: Math.round(d.clockOffsetMs / 1000) },
            runbook: { code: 'clock-drift' },
            holdMs: r.clockDriftHoldMs,
            recoverMs: r.recoverMs,
            inhibitableBySite: false,
          }),
        );
    }
  }

  /** Site: most devices of a site offline at once is one power or network outage (every site, every time: cheap). */
  private siteFindings(now: number, out: Finding[]): void {
    const r = this.config.reactive;
    const sites = new Map<string, { total: number; offline: number }>();
    for (const d of this.devices.values()) {
      if (!d.site) continue;
      let s = sites.get(d.site);
      if (!s) sites.set(d.site, (s = { total: 0, offline: 0 }));
      s.total += 1;
      if (this.isOffline(d, now)) s.offline += 1;
    }
    const sc = this.config.site;
    for (const [site, s] of sites) {
      const fraction = s.offline / s.total;
      const firing = s.offline >= sc.minDevices && fraction >= sc.offlineFraction;
      const recovered = !firing && fraction < sc.offlineFraction / 2;
      if (!firing && !recovered) continue;
      out.push({
        key: findingKey(`site:${site}`, 'site', 'offline'),
        device: `site:${site}`,
        peripheral: 'site',
        failureMode: 'offline',
        site,
        scope: 'site',
        status: firing ? 'firing' : 'recovered',
        detector: 'site',
        kind: 'site-offline',
        priority: sc.mapping.priority,
        issueType: sc.mapping.issueType,
        figures: { devices: s.total, offline: s.offline, offlinePct: Math.round(fraction * 1000) / 10 },
        runbook: { code: 'site-offline' },
        holdMs: sc.holdMs,
        recoverMs: r.recoverMs,
        inhibitableBySite: false,
      });
    }
  }

  private finding(
    device: string,
    peripheral: string,
    failureMode: string,
    site: string | undefined,
    status: Finding['status'],
    rest: Omit<Finding, 'key' | 'device' | 'peripheral' | 'failureMode' | 'site' | 'scope' | 'status'>,
  ): Finding {
    return { key: findingKey(device, peripheral, failureMode), device, peripheral, failureMode, ...(site ? { site } : {}), scope: 'device', status, ...rest };
  }

  private degradationFindings(
    p: PeripheralState,
    profile: FirmwareProfile | undefined,
    site: string | undefined,
    now: number,
    undecided: Set<string>,
    healthy: Set<string>,
  ): Finding[] {
    const out: Finding[] = [];
    const dc = this.config.degradation;
    for (const spec of dc.rates) {
      const v = this.degradation.verdict(`${this.pid(p.device, p.peripheral)}/${spec.name}`, `${p.profile ?? p.kind}|${spec.name}`);
      // A rate that speaks for a worn part shares the part's wear-out key: one incident per worn part.
      const failureMode = spec.part ? partFailureMode(spec.part) : `${spec.name}-degradation`;
      if (!v) continue;
      // A health signal only where the profile gives the level its trend is judged against.
      if (spec.part && (profile?.thresholds.errorRateWarning ?? spec.warning) !== undefined && !v.firing && v.baselineSource !== 'none')
        healthy.add(findingKey(p.device, p.peripheral, failureMode));
      if (!v.firing && !v.recovered) {
        undecided.add(findingKey(p.device, p.peripheral, failureMode));
        continue;
      }
      const mapped = spec.fault ? profile?.faults[spec.fault] : undefined;
      out.push(
        this.finding(p.device, p.peripheral, failureMode, site, v.firing ? 'firing' : 'recovered', {
          detector: 'degradation',
          kind: 'degradation',
          priority: mapped?.priority ?? dc.priority,
          issueType: mapped?.issueType ?? dc.issueType,
          figures: {
            rate: spec.name,
            ...(Number.isFinite(v.baseline)
              ? {
                  baseline: round4(v.baseline),
                  ewma: round4(v.ewma),
                  evidence: Math.round(v.cusum * 100) / 100,
                  ...(Number.isFinite(v.threshold) ? { threshold: Math.round(v.threshold * 100) / 100 } : {}),
                }
              : {}),
            ...(v.lastBatchRate !== null ? { lastBatch: round4(v.lastBatchRate) } : {}),
            baselineSource: v.baselineSource,
            ...(v.warningEta !== null ? { warningEtaDays: Math.round(((v.warningEta - now) / 86_400_000) * 10) / 10 } : {}),
            ...(v.failureEta !== null ? { failureEtaDays: Math.round(((v.failureEta - now) / 86_400_000) * 10) / 10 } : {}),
            ...(spec.part ? { part: spec.part } : {}),
          },
          runbook: { profile: profile?.id, code: spec.fault && profile?.runbook[spec.fault] ? spec.fault : 'general' },
          holdMs: 0,
          recoverMs: dc.recoverMs,
          inhibitableBySite: spec.inhibitableBySite,
        }),
      );
    }
    return out;
  }

  private faultFindings(p: PeripheralState, profile: FirmwareProfile | undefined, site: string | undefined, now: number): Finding[] {
    const out: Finding[] = [];
    const r = this.config.reactive;
    const rc = this.config.recurring;
    for (const code of p.known) {
      const mapped = profile?.faults[code];
      if (!mapped) continue;
      const runbook = { profile: profile?.id, code: profile?.runbook[code] ? code : profile ? 'general' : code };
      const since = p.active[code];
      // Reactive: an active fault that matters (by its profile priority) for longer than its hold.
      if (priorityRank[mapped.priority] >= priorityRank[r.minPriority]) {
        out.push(
          this.finding(p.device, p.peripheral, code, site, since !== undefined ? 'firing' : 'recovered', {
            detector: 'reactive',
            kind: 'fault',
            priority: mapped.priority,
            issueType: mapped.issueType,
            figures: { fault: code, ...(since !== undefined ? { activeMin: Math.round((now - since) / 60_000) } : {}) },
            runbook,
            holdMs: r.holdMs[code] ?? r.defaultHoldMs,
            recoverMs: r.recoverMs,
            inhibitableBySite: false,
            ...(since !== undefined ? { since } : {}),
          }),
        );
      }
      // Recurring: the same fault N times in the window (the temporary fix did not work).
      if (rc.ignore.includes(code)) continue;
      const times = (p.occurrences[code] ?? []).filter((t) => t > now - rc.windowMs);
      const status = times.length >= rc.count ? 'firing' : times.length === 0 ? 'recovered' : null;
      if (!status) continue;
      out.push(
        this.finding(p.device, p.peripheral, `${code}-recurring`, site, status, {
          detector: 'recurring-fault',
          kind: 'recurring-fault',
          priority: mapped.priority,
          issueType: mapped.issueType,
          figures: { fault: code, occurrences: times.length, windowDays: Math.round((rc.windowMs / 86_400_000) * 10) / 10 },
          runbook,
          holdMs: 0,
          recoverMs: 0,
          inhibitableBySite: false,
        }),
      );
    }
    return out;
  }

  /** Detector state as plain JSON (to persist between restarts beside the incidents). */
  snapshot(): EngineSnapshot {
    return {
      v: 1,
      peripherals: [...this.peripherals.entries()].map(([k, v]) => [k, structuredClone(v)]),
      devices: [...this.devices.entries()].map(([k, v]) => [k, { ...v }]),
      wear: this.wear.snapshot(),
      degradation: this.degradation.snapshot(),
    };
  }

  restore(s: EngineSnapshot): void {
    this.peripherals.clear();
    this.devices.clear();
    this.peripheralsOf.clear();
    for (const [, v] of s.peripherals) this.restorePeripheral(v);
    for (const [k, v] of s.devices) this.devices.set(k, { ...v });
    this.wear.restore(s.wear);
    this.degradation.restore(s.degradation);
    // Everything is new to whoever persists it per device.
    for (const d of this.devices.keys()) this.touch(d);
  }

  private restorePeripheral(v: PeripheralState): void {
    const id = this.pid(v.device, v.peripheral);
    this.peripherals.set(id, structuredClone(v));
    let set = this.peripheralsOf.get(v.device);
    if (!set) this.peripheralsOf.set(v.device, (set = new Set()));
    set.add(id);
  }

  /** One device's state as plain JSON, or null for a device never observed. */
  snapshotDevice(device: string): DeviceSnapshot | null {
    const d = this.devices.get(device);
    if (!d) return null;
    const peripherals: Array<[string, PeripheralState]> = [];
    const wear: WearSnapshot = [];
    const rateIds: string[] = [];
    for (const id of this.peripheralsOf.get(device) ?? []) {
      const p = this.peripherals.get(id)!;
      peripherals.push([id, structuredClone(p)]);
      wear.push(...this.wear.snapshotOf(device, p.peripheral));
      for (const spec of this.degradation.specs) rateIds.push(`${id}/${spec.name}`);
    }
    return { v: 2, device: { ...d }, peripherals, wear, rates: this.degradation.snapshotOf(rateIds) };
  }

  /** Adds or replaces one device's state (restoring per-device snapshots at start). */
  /**
   * Wear of every followed part with its ETA to end of rated life (the parts forecast reads it).
   * Read only: nothing is evaluated, changed or marked.
   */
  partWear(now: number): PartWearEta[] {
    const out: PartWearEta[] = [];
    for (const p of this.peripherals.values()) {
      const profile = p.profile ? this.profiles.get(p.profile) : undefined;
      if (!profile) continue;
      const site = this.devices.get(p.device)?.site ?? null;
      for (const st of this.wear.partStatuses(p.device, p.peripheral, profile, now)) {
        out.push({ device: p.device, site, peripheral: p.peripheral, profile: profile.id, part: st.part, eta: st.eta, lifeUsed: st.fractionUsed });
      }
    }
    return out;
  }

  restoreDevice(s: DeviceSnapshot): void {
    this.devices.set(s.device.device, { ...s.device });
    for (const [, v] of s.peripherals) this.restorePeripheral(v);
    this.wear.restoreSome(s.wear);
    this.degradation.restoreSome(s.rates);
    this.changed.add(s.device.device); // evaluated once after a restart
  }

  /**
   * Drops everything known about a device (its partition moved to another node of a cluster,
   * which restores it from the saved snapshot). The device is observed again from scratch if it
   * comes back through observeDevice.
   */
  forgetDevice(device: string): void {
    const rateIds: string[] = [];
    for (const id of this.peripheralsOf.get(device) ?? []) {
      const p = this.peripherals.get(id);
      if (p) this.wear.forget(device, p.peripheral);
      for (const spec of this.degradation.specs) rateIds.push(`${id}/${spec.name}`);
      this.peripherals.delete(id);
    }
    this.degradation.forget(rateIds);
    this.peripheralsOf.delete(device);
    this.devices.delete(device);
    this.changed.delete(device);
    this.unsaved.delete(device);
    this.hot.delete(device);
    this.offlineAt.delete(device);
  }

  /** Every device the engine knows (observed, restored or both). */
  knownDevices(): string[] {
    return [...this.devices.keys()];
  }

  /** Devices observed since their state was last saved (markSaved once it is committed). */
  unsavedDevices(): string[] {
    return [...this.unsaved];
  }

  markSaved(devices: Iterable<string>): void {
    for (const d of devices) this.unsaved.delete(d);
  }
}

const round4 = (x: number) => Math.round(x * 10_000) / 10_000;

/**
 * The wear-out and the degradation findings of the same part (same key) as one finding. Either
 * firing fires it (the higher priority leads; the figures are both). Recovery is the stricter of
 * the two: the key recovers only when every detector that tracks the part says recovered — the
 * wear-out's "a young part again" and the degradation's "error rate back to normal" — so a worn
 * part whose rate merely dipped, or whose ETA merely moved out of the lead time, keeps its one
 * incident until it is replaced. A detector that tracks the part but is between its thresholds
 * (`undecided`) leaves the key without a finding, which keeps the incident as it is.
 */
export function mergePartFindings(findings: readonly Finding[], undecided: ReadonlySet<string>): Finding[] {
  const byKey = new Map<string, Finding[]>();
  for (const f of findings) {
    const l = byKey.get(f.key);
    if (l) l.push(f);
    else byKey.set(f.key, [f]);
  }
  const out: Finding[] = [];
  for (const [key, fs] of byKey) {
    const firing = fs.filter((f) => f.status === 'firing');
    if (!firing.length && undecided.has(key)) continue;
    if (fs.length === 1) {
      out.push(fs[0]);
      continue;
    }
    const lead = firing.length ? firing.reduce((a, b) => (priorityRank[b.priority] > priorityRank[a.priority] ? b : a)) : fs[0];
    const eta = fs.find((f) => f.eta !== undefined)?.eta;
    out.push({
      ...lead,
      status: firing.length ? 'firing' : 'recovered',
      figures: Object.assign({}, ...fs.map((f) => f.figures)) as Finding['figures'],
      ...(eta !== undefined ? { eta } : {}),
      recoverMs: Math.max(...fs.map((f) => f.recoverMs ?? 0)),
      holdMs: Math.min(...fs.map((f) => f.holdMs ?? 0)),
    });
  }
  return out;
}
