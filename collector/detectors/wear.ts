// Wear-out: a part's cumulative counter against its rated life (from the firmware profile), a
// robust usage rate over a trailing window (91 days of weekly intervals by default, so that a
// seasonal peak of a few weeks does not shrink the ETA; a coarse counter in whole km takes its
// rate from its first to its last step over half a year), and the ETA to end of rated life.
// Times are measurement times (device clock, guarded), so a flushed backlog keeps its days. A counter that
// goes down is a replaced part or a reset counter: the usage base is re-based and the interval
// across the drop is left out of the rate; the rate itself belongs to the store's trade, so it
// survives the drop. The rate is the median of per-interval rates over intervals of at least a
// day (a store's night and a one-off burst do not move a median; a gap is one interval).
import type { FirmwareProfile, RatedLifeEntry } from '../../firmware-profiles/schema.js';
import { intervalRate, type Point } from './stats.js';
import { findingKey, partFailureMode, type DetectorConfig, type Finding } from './types.js';
import { modelRisk, type LifeModel } from '../reliability/index.js';

type Series = {
  /** Last raw counter value. */
  last: number;
  lastAt: number;
  /** Usage of the current part = offset + counter − base. */
  offset: number;
  base: number;
  /** Continuous usage for the rate (never goes down), bucketed points over the trailing window. */
  cont: number;
  points: Point[];
  /** First observation of the current part's counter. */
  since: number;
};

export type WearSnapshot = Array<[string, Series]>;

/** One part's wear at `now`. */
export type WearStatus = {
  part: string;
  metric: string;
  usage: number;
  lifeCounts: number;
  fractionUsed: number;
  /** Counts per day, or null before enough history. */
  ratePerDay: number | null;
  eta: number | null;
};

const DAY = 86_400_000;

export class WearOutDetector {
  private readonly series = new Map<string, Series>();
  /** `${device}\u0000${peripheral}` → its series ids (per-device snapshots without a fleet scan). */
  private readonly byPeripheral = new Map<string, Set<string>>();
  /** Fleet life models per `profile|part` (replace the rated figure once they have enough failures). */
  private readonly lifeModels = new Map<string, LifeModel>();

  constructor(private readonly cfg: DetectorConfig['wear']) {}

  setLifeModels(models: readonly LifeModel[]): void {
    this.lifeModels.clear();
    for (const m of models) if (m.failures >= this.cfg.fleetLife.minFailures) this.lifeModels.set(`${m.profile}|${m.part}`, m);
  }

  lifeModel(profile: string, part: string): LifeModel | undefined {
    return this.lifeModels.get(`${profile}|${part}`);
  }

  private sid(device: string, peripheral: string, metric: string) {
    return `${device}\u0000${peripheral}\u0000${metric}`;
  }

  /** A cumulative counter value read at `at`. */
  observe(device: string, peripheral: string, metric: string, value: number, at: number): void {
    const id = this.sid(device, peripheral, metric);
    let s = this.series.get(id);
    if (!s) {
      s = { last: value, lastAt: at, offset: 0, base: 0, cont: 0, points: [{ t: at, y: 0 }], since: at };
      this.add(id, s);
      return;
    }
    if (at <= s.lastAt) return; // late or duplicate reading: time order only
    if (value >= s.last) {
      s.cont += value - s.last;
    } else {
      // Counter went down: re-base. The usage since the reset is `value` (the counter restarted at 0).
      s.cont += value;
      if (this.cfg.counterDrop === 'replacement') {
        s.offset = 0;
        s.base = 0;
        s.since = at;
      } else {
        s.offset += s.last - s.base;
        s.base = 0;
      }
    }
    s.last = value;
    s.lastAt = at;
    const bucket = Math.floor(at / this.cfg.bucketMs);
    const tail = s.points[s.points.length - 1];
    if (tail && Math.floor(tail.t / this.cfg.bucketMs) === bucket && s.points.length > 1) s.points[s.points.length - 1] = { t: at, y: s.cont };
    else s.points.push({ t: at, y: s.cont });
    const from = at - Math.max(this.cfg.rateWindowMs, this.cfg.coarseWindowMs);
    while (s.points.length > 2 && s.points[0].t < from) s.points.shift();
  }

  /** Counts per day over the trailing window, or null before enough history. */
  private rate(all: readonly Point[]): number | null {
    if (all.length < 3) return null;
    const last = all[all.length - 1];
    const from = last.t - this.cfg.rateWindowMs;
    const points = all.filter((p) => p.t >= from);
    if (last.y - points[0].y < this.cfg.coarseCounts) return coarseRate(all);
    if (points.length < 3 || last.t - points[0].t < this.cfg.minHistoryMs) return null;
    const perMs = intervalRate(points, this.cfg.minPairSpanMs);
    return Number.isFinite(perMs) && perMs >= 0 ? perMs * DAY : null;
  }

  /** A part was replaced without its counter going down (Epson counters are never reset). */
  replaced(device: string, peripheral: string, metric: string, at: number): void {
    const s = this.series.get(this.sid(device, peripheral, metric));
    // Idempotent by time: a service record applied again (after a restart) changes nothing.
    if (!s || at <= s.since) return;
    s.offset = 0;
    s.base = s.last;
    s.since = at;
  }

  status(device: string, peripheral: string, entry: RatedLifeEntry, _now: number): WearStatus | null {
    const s = this.series.get(this.sid(device, peripheral, entry.metric));
    if (!s) return null;
    const lifeCounts = entry.value / (entry.unitsPerCount ?? 1);
    const usage = s.offset + s.last - s.base;
    const ratePerDay = this.rate(s.points);
    let eta: number | null = null;
    if (usage >= lifeCounts) eta = s.lastAt;
    else if (ratePerDay && ratePerDay > 0) eta = s.lastAt + ((lifeCounts - usage) / ratePerDay) * DAY;
    return {
      part: entry.part,
      metric: entry.metric,
      usage,
      lifeCounts,
      fractionUsed: usage / lifeCounts,
      ratePerDay,
      eta: eta === null ? null : Math.round(eta),
    };
  }

  /** Each part's wear at `now`, the most urgent of its `life` entries (read only: for forecasts, not findings). */
  partStatuses(device: string, peripheral: string, profile: FirmwareProfile, now: number): WearStatus[] {
    const worst = new Map<string, WearStatus>();
    for (const entry of profile.ratedLife) {
      // mcbf/mtbf are mean figures between failures, not an end of life to count down to; a
      // figure whose counter the driver does not read is reference data only.
      if (entry.basis !== 'life' || entry.measuredBy === 'not-read') continue;
      const st = this.status(device, peripheral, entry, now);
      if (!st) continue;
      const prev = worst.get(entry.part);
      if (!prev || urgency(st, now) > urgency(prev, now)) worst.set(entry.part, st);
    }
    return [...worst.values()];
  }

  /** Dedup keys of the parts this detector has readings for (it speaks for them, even when undecided). */
  trackedKeys(device: string, peripheral: string, profile: FirmwareProfile): string[] {
    const keys: string[] = [];
    for (const entry of profile.ratedLife) {
      if (entry.basis !== 'life' || entry.measuredBy === 'not-read') continue;
      if (this.series.has(this.sid(device, peripheral, entry.metric))) keys.push(findingKey(device, peripheral, partFailureMode(entry.part)));
    }
    return keys;
  }

  /** One finding per part of the profile (the worst of its `life` entries), or none when undecided. */
  evaluate(device: string, peripheral: string, site: string | undefined, profile: FirmwareProfile, now: number): Finding[] {
    const out: Finding[] = [];
    const { wearWarningFraction, wearCriticalFraction } = profile.thresholds;
    for (const st of this.partStatuses(device, peripheral, profile, now)) {
      const model = this.lifeModel(profile.id, st.part);
      let etaIn = st.eta === null ? null : st.eta - now;
      let firing = st.fractionUsed >= wearCriticalFraction || (etaIn !== null && etaIn <= this.cfg.leadTimeMs);
      // Separate recovery condition: clearly young again (a new part), not merely "ETA moved a bit".
      let recovered = st.fractionUsed < wearWarningFraction && (etaIn === null || etaIn > 2 * this.cfg.leadTimeMs);
      let risk: number | null = null;
      if (model) {
        // The fleet's own lives: the risk of failing within the lead time at the current use.
        // Both causes: wear-out, and early-life deaths while the part is young.
        risk = modelRisk(model, st.usage, ((st.ratePerDay ?? 0) * this.cfg.leadTimeMs) / DAY);
        firing = risk >= this.cfg.fleetLife.planRisk;
        recovered = risk < this.cfg.fleetLife.planRisk / 4;
        etaIn = st.ratePerDay ? Math.max(0, ((model.medianLife - st.usage) / st.ratePerDay) * DAY) : null;
      }
      if (!firing && !recovered) continue;
      const failureMode = partFailureMode(st.part);
      const runbookCode = profile.runbook[`${st.part}-worn`] ? `${st.part}-worn` : 'general';
      out.push({
        key: findingKey(device, peripheral, failureMode),
        device,
        peripheral,
        failureMode,
        site,
        scope: 'device',
        status: firing ? 'firing' : 'recovered',
        detector: 'wear-out',
        kind: 'predicted-failure',
        priority: this.cfg.priority,
        issueType: this.cfg.issueType,
        figures: {
          part: st.part,
          counter: st.metric,
          usage: Math.round(st.usage),
          ratedLife: Math.round(st.lifeCounts),
          lifeUsedPct: Math.round(st.fractionUsed * 10_000) / 100,
          ...(st.ratePerDay !== null ? { ratePerDay: Math.round(st.ratePerDay * 100) / 100 } : {}),
          ...(etaIn !== null ? { etaDays: Math.round((etaIn / DAY) * 10) / 10 } : {}),
          ...(model && risk !== null
            ? {
                lifeSource: 'fleet',
                fleetMedianLife: Math.round(model.medianLife),
                fleetShape: Math.round(model.shape * 100) / 100,
                failureRiskPct: Math.round(risk * 1000) / 10,
                ...(model.earlyLife && st.usage < model.earlyLife.until ? { earlyLifeShape: Math.round(model.earlyLife.shape * 100) / 100 } : {}),
              }
            : {}),
        },
        ...(model ? (etaIn !== null ? { eta: Math.round(now + etaIn) } : {}) : st.eta !== null ? { eta: st.eta } : {}),
        runbook: { profile: profile.id, code: runbookCode },
        holdMs: 0,
        recoverMs: 0,
        inhibitableBySite: false,
      });
    }
    return out;
  }

  private add(id: string, s: Series): void {
    this.series.set(id, s);
    const pk = id.slice(0, id.lastIndexOf('\u0000'));
    let set = this.byPeripheral.get(pk);
    if (!set) this.byPeripheral.set(pk, (set = new Set()));
    set.add(id);
  }

  /** The series of one peripheral (a per-device snapshot). */
  snapshotOf(device: string, peripheral: string): WearSnapshot {
    return [...(this.byPeripheral.get(`${device}\u0000${peripheral}`) ?? [])].map((id) => [id, structuredClone(this.series.get(id)!)]);
  }

  /** Drops one peripheral's series (its device moved to another node of a cluster). */
  forget(device: string, peripheral: string): void {
    const pk = `${device}\u0000${peripheral}`;
    for (const id of this.byPeripheral.get(pk) ?? []) this.series.delete(id);
    this.byPeripheral.delete(pk);
  }

  /** Adds or replaces series (restoring per-device snapshots). */
  restoreSome(s: WearSnapshot): void {
    for (const [k, v] of s) this.add(k, structuredClone(v));
  }

  snapshot(): WearSnapshot {
    return [...this.series.entries()].map(([k, v]) => [k, structuredClone(v)]);
  }

  restore(s: WearSnapshot): void {
    this.series.clear();
    this.byPeripheral.clear();
    this.restoreSome(s);
  }
}

/**
 * Rate of a coarse counter (whole km): from its first step to its last inside the window, so that
 * the days between steps neither read as zero use nor as a burst. Null before two steps.
 */
export function coarseRate(points: readonly Point[]): number | null {
  const y0 = points[0].y;
  const yEnd = points[points.length - 1].y;
  const a = points.findIndex((p) => p.y > y0);
  const b = points.findIndex((p) => p.y === yEnd);
  if (a < 0 || b <= a) return null;
  return ((points[b].y - points[a].y) / (points[b].t - points[a].t)) * DAY;
}

function urgency(s: WearStatus, now: number): number {
  // Earlier ETA is worse; without an ETA, the share of life used decides.
  return s.eta !== null ? 1e15 - (s.eta - now) : s.fractionUsed;
}
