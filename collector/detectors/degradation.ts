// Degradation: error rates (failed reads per swipe, image failures per capture, failed cuts per
// cut, comm errors per poll) judged by a sequential test — a binomial CUSUM on errors per use
// (sequential.ts) — against the device's own baseline (the first batches of operations it did),
// or the model's population median while the device has none yet. Operations are grouped into
// batches of a fixed size; evidence accumulates per use, so a quiet week neither looks healthy
// nor broken, and the threshold follows from the configured false-alarm rate and the device's
// own usage. Evidence must hold over its threshold for `holdOperations` uses; when it came as a
// step (a one-day burst: a bad batch of cards), until the uses measured `burstMs` after it are
// still raised — a hold in time, so a quiet device is not held for weeks.
//
// A significant rise alone is not worth a ticket: a worn part's error rate can creep up for
// months before it fails. When the profile (or the rate spec) gives an errorRateWarning, the
// rise must also be heading there: the smoothed rate's trend over a trailing window (Theil–Sen on
// bucketed EWMA points since the excursion began: a short precursor is steep, a long one
// shallow) reaches the warning level within `leadTimeMs`. The warning level reached fires by
// itself once it has held for `warningHoldOperations` uses. Times are measurement times (device
// clock, guarded).
//
// The warning level is not the failure: a part goes on working past it, for weeks when its rate
// creeps up over months. Both rules therefore also wait for the trend to reach the failure level
// (`failureLevel` × the warning level) within `failureLeadTimeMs`; otherwise a months-long rise is
// ticketed when it reaches the warning level, months before its failure (issue 10: `today`'s
// false tickets at the 60-day horizon).
import { median, theilSen, type Point } from './stats.js';
import { alternativeRate, arl0Uses, binomialLlr, cusumThreshold } from './sequential.js';
import type { DetectorConfig, ErrorRateSpec } from './types.js';

export type RateState = {
  lastErrors: number | null;
  lastOps: number | null;
  /** Errors counted from fault rising edges since the last sample (errorsFromFault specs). */
  edgeErrors: number;
  accErrors: number;
  accOps: number;
  baseErrors: number;
  baseOps: number;
  baseBatches: number;
  baseline: number | null;
  ewma: number | null;
  /** Sequential-test evidence (binomial CUSUM statistic, nats). */
  cusum: number;
  /** Uses the evidence has stayed over its threshold; uses the smoothed rate has stayed at the warning level. */
  overOps?: number;
  warnOps?: number;
  /** The current excursion (evidence above 0): uses since it began, when it began, uses it took to cross the threshold. */
  excursionOps?: number;
  /** Uses since the evidence was last under half its threshold (how fast it climbed). */
  climbOps?: number;
  /** Errors in those uses, and the error rate of the climb when it crossed the threshold (the step's size). */
  climbErrors?: number;
  crossedAtRate?: number | null;
  excursionFrom?: number | null;
  crossedAfterOps?: number | null;
  /** When the evidence crossed its threshold in this excursion; errors and uses measured from `burstMs` after that (did a step outlast a burst?). */
  crossedAt?: number | null;
  afterBurstErrors?: number;
  afterBurstOps?: number;
  /** Threshold of the last step (for the figures). */
  threshold?: number;
  /** Measurement time of the last sample. */
  lastAt?: number | null;
  /** Uses counted and the measurement time of the first (the device's usage rate). */
  opsTotal?: number;
  opsFrom?: number | null;
  lastBatchRate: number | null;
  batches: number;
  /** Measurement time of the last monitored batch. */
  lastBatchAt?: number | null;
  /** The last batches' errors and uses (the recent rate over `recentOperations` uses). */
  recent?: Array<[number, number]>;
  firing: boolean;
  sigma: number;
  /** Smoothed rate over time (bucketed), for the trend towards the warning level. */
  trend: Point[];
  /** When the trend reaches the profile's errorRateWarning (ms), null when not rising or unknown. */
  warningEta: number | null;
  /** Expected failure: when the trend reaches the failure level (ms), null when not rising or unknown. */
  failureEta?: number | null;
  /** Model/rate population this state belongs to (rebuilds the population view on restore). */
  popKey: string;
  /** Last replacement applied (service records are applied once, by time). */
  replacedAt?: number;
};

export type DegradationVerdict = {
  firing: boolean;
  recovered: boolean;
  baseline: number;
  ewma: number;
  cusum: number;
  /** Threshold the evidence (cusum) is judged against. */
  threshold: number;
  lastBatchRate: number | null;
  baselineSource: 'own' | 'population' | 'none';
  /** When the error rate is expected to reach the profile's warning level (ms). */
  warningEta: number | null;
  /** When the part is expected to fail, from the rise's own pace (ms). */
  failureEta: number | null;
};

export class DegradationDetector {
  private readonly states = new Map<string, RateState>();
  /** Established baselines per `${profile}|${rate}` (population view). */
  private readonly population = new Map<string, Map<string, number>>();

  constructor(private readonly cfg: DetectorConfig['degradation']) {}

  get specs(): readonly ErrorRateSpec[] {
    return this.cfg.rates;
  }

  private state(id: string, popKey = ''): RateState {
    let s = this.states.get(id);
    if (!s) {
      s = {
        lastErrors: null,
        lastOps: null,
        edgeErrors: 0,
        accErrors: 0,
        accOps: 0,
        baseErrors: 0,
        baseOps: 0,
        baseBatches: 0,
        baseline: null,
        ewma: null,
        cusum: 0,
        lastBatchRate: null,
        batches: 0,
        firing: false,
        sigma: 0,
        trend: [],
        warningEta: null,
        popKey,
      };
      this.states.set(id, s);
    }
    if (popKey) s.popKey = popKey;
    return s;
  }

  /** A fault rising edge counted as one error of the specs that take errors from that fault. */
  faultEdge(id: string): void {
    this.state(id).edgeErrors += 1;
  }

  /**
   * One sample's counters for one rate. `id` names device/peripheral/rate; `popKey` the
   * model/rate population; `minBatch` the profile's minimum operations for a rate; `at` when
   * the sample arrived (ms).
   */
  observe(id: string, popKey: string, spec: ErrorRateSpec, counters: Record<string, number>, minBatch: number, at: number, errorRateWarning?: number): void {
    const s = this.state(id, popKey);
    const ops = spec.operations === 'polls' ? (s.lastOps ?? 0) + 1 : counters[spec.operations];
    const errs = spec.errors ? counters[spec.errors] : (s.lastErrors ?? 0) + s.edgeErrors;
    s.edgeErrors = 0;
    if (ops === undefined || errs === undefined) return;
    const first = s.lastOps === null || s.lastErrors === null;
    const prevAt = s.lastAt;
    s.lastAt = at;
    const dOps = first ? 0 : ops - s.lastOps!;
    const dErr = first ? 0 : errs - s.lastErrors!;
    s.lastOps = ops;
    s.lastErrors = errs;
    if (first) return;
    if (dOps < 0 || dErr < 0) {
      // A counter went down: the interval across the drop is unknown. A dropped operations
      // counter of a worn part means a new part: its own baseline must be learnt again.
      s.accErrors = s.accOps = 0;
      if (spec.part && dOps < 0) this.resetBaseline(id, popKey, s);
      return;
    }
    // A burst (a bad batch of cards, a dirty-finger day) is over within `burstMs` of its start
    // whatever the device's use: a step counts once the uses measured after that — whole sample
    // intervals, not batches that may carry the burst's last uses — are still raised. In time,
    // not in uses, so a quiet device is not held for weeks.
    if (s.crossedAt !== null && s.crossedAt !== undefined && prevAt !== undefined && prevAt !== null && prevAt >= s.crossedAt + this.cfg.burstMs) {
      s.afterBurstOps = (s.afterBurstOps ?? 0) + dOps;
      s.afterBurstErrors = (s.afterBurstErrors ?? 0) + dErr;
    }
    s.accOps += dOps;
    s.accErrors += dErr;
    if (dOps > 0) {
      s.opsFrom ??= at;
      s.opsTotal = (s.opsTotal ?? 0) + dOps;
    }
    const batch = Math.max(this.cfg.batchOperations, minBatch);
    while (s.accOps >= batch) {
      // Spread the accumulated errors over whole batches in proportion (one long gap = several batches).
      const share = batch / s.accOps;
      const e = s.accErrors * share;
      s.accErrors -= e;
      s.accOps -= batch;
      this.step(id, popKey, s, e, batch, at, errorRateWarning);
    }
  }

  private resetBaseline(id: string, popKey: string, s: RateState): void {
    Object.assign(s, {
      baseErrors: 0,
      baseOps: 0,
      baseBatches: 0,
      batches: 0,
      baseline: null,
      ewma: null,
      cusum: 0,
      overOps: 0,
      warnOps: 0,
      excursionOps: 0,
      climbOps: 0,
      climbErrors: 0,
      crossedAtRate: null,
      excursionFrom: null,
      crossedAfterOps: null,
      crossedAt: null,
      afterBurstErrors: 0,
      afterBurstOps: 0,
      firing: false,
      lastBatchRate: null,
      recent: [],
      trend: [],
      warningEta: null,
      failureEta: null,
    });
    this.population.get(popKey)?.delete(id);
  }

  /** The baseline a rate is judged against: its own, or the population's when it has none or its own is already high. */
  private effectiveBaseline(s: RateState, popKey: string): { p0: number; source: 'own' | 'population' } | null {
    const pop = this.cfg.usePopulation ? this.populationBaseline(popKey) : null;
    if (s.baseline !== null && (pop === null || s.baseline <= this.cfg.minRatio * Math.max(pop, this.cfg.minBaseline)))
      return { p0: s.baseline, source: 'own' };
    if (pop !== null) return { p0: pop, source: 'population' };
    return null;
  }

  private populationBaseline(popKey: string): number | null {
    const m = this.population.get(popKey);
    if (!m || m.size < 3) return null;
    return median([...m.values()]);
  }

  /** Uses per day of this rate's device (measured over a day or more; the configured typical use before). */
  usesPerDay(s: RateState, at: number): number {
    const span = s.opsFrom === undefined || s.opsFrom === null ? 0 : at - s.opsFrom;
    return span >= 86_400_000 && s.opsTotal ? (s.opsTotal / span) * 86_400_000 : this.cfg.typicalUsesPerDay;
  }

  private step(id: string, popKey: string, s: RateState, errors: number, n: number, at: number, errorRateWarning?: number): void {
    const p = errors / n;
    s.batches += 1;
    s.lastBatchRate = p;
    (s.recent ??= []).push([errors, n]);
    while (s.recent.length > 1 && s.recent.reduce((a, r) => a + r[1], 0) - s.recent[0][1] >= this.cfg.recentOperations) s.recent.shift();
    if (s.baseline === null) {
      s.baseErrors += errors;
      s.baseOps += n;
      s.baseBatches += 1;
      if (s.baseBatches >= this.cfg.baselineBatches) {
        s.baseline = s.baseErrors / s.baseOps;
        // Monitoring starts afresh against the device's own normal.
        s.ewma = s.baseline;
        s.cusum = 0;
        let m = this.population.get(popKey);
        if (!m) this.population.set(popKey, (m = new Map()));
        m.set(id, s.baseline);
      }
    }
    const eff = this.effectiveBaseline(s, popKey);
    if (eff === null) return;
    const p0 = eff.p0;
    const pf = Math.max(p0, this.cfg.minBaseline);
    const sigma = Math.sqrt((pf * (1 - Math.min(pf, 0.99))) / n);
    s.sigma = sigma;
    const lambda = this.cfg.ewmaLambda;
    // The batches that define the device's own normal are not monitored against it.
    if (eff.source === 'own' && s.batches <= this.cfg.baselineBatches) return;
    // Smoothing in uses, for precision, but with a time constant of at most `ewmaMaxAgeMs`: on a
    // quiet device (a few hundred uses a day) batches are days apart and the smoothed rate would be a week old.
    const gap = s.lastBatchAt === undefined || s.lastBatchAt === null ? 0 : Math.max(0, at - s.lastBatchAt);
    s.lastBatchAt = at;
    const weight = Math.max(lambda, 1 - Math.exp(-gap / this.cfg.ewmaMaxAgeMs));
    s.ewma = s.ewma === null ? p0 : weight * p + (1 - weight) * s.ewma;
    // Sequential test: evidence for "ratio × baseline" against "baseline", per use.
    const h = cusumThreshold(pf, this.cfg.ratio, arl0Uses(this.cfg.falseAlarmsPer1000DeviceDays, this.usesPerDay(s, at)));
    s.threshold = h;
    s.cusum = Math.min(this.cfg.evidenceCap * h, Math.max(0, s.cusum + binomialLlr(errors, n, pf, alternativeRate(pf, this.cfg.ratio))));
    // The excursion: how the evidence got here. A step straight up (from half its threshold to
    // over it within `abruptOperations` uses: a healthy part's evidence wanders above 0 for long
    // stretches, so "since it left 0" would call a burst on top of that a creep) is what a burst
    // looks like, and must outlast one; a creep is a precursor.
    if (s.cusum > 0) {
      if (!s.excursionOps) s.excursionFrom = at;
      s.excursionOps = (s.excursionOps ?? 0) + n;
    } else
      Object.assign(s, {
        excursionOps: 0,
        excursionFrom: null,
        crossedAfterOps: null,
        crossedAtRate: null,
        crossedAt: null,
        afterBurstErrors: 0,
        afterBurstOps: 0,
      });
    s.climbOps = s.cusum < h / 2 ? 0 : (s.climbOps ?? 0) + n;
    s.climbErrors = s.cusum < h / 2 ? 0 : (s.climbErrors ?? 0) + errors;
    if (s.cusum >= h) {
      s.crossedAfterOps ??= s.climbOps ?? 0;
      s.crossedAtRate ??= (s.climbErrors ?? 0) / Math.max(1, s.climbOps ?? 0);
      s.crossedAt ??= at;
      s.overOps = (s.overOps ?? 0) + n;
    } else {
      // Fell back under the threshold: a step did not hold. Crossing again (a second burst close
      // behind the first) is a new step, timed afresh; a step stays a step.
      Object.assign(s, { overOps: 0, crossedAt: null, afterBurstErrors: 0, afterBurstOps: 0 });
    }
    // A step: the evidence climbed from half its threshold to over it within `abruptOperations`
    // uses, or at `stepRise` × the baseline or more. A precursor's rate rises continuously, so the
    // test sees it while it is still small (2–3.5 × at a busy till); a burst is at its full size
    // (5–15 ×) from its first uses.
    const abrupt =
      s.crossedAfterOps !== null &&
      s.crossedAfterOps !== undefined &&
      (s.crossedAfterOps <= this.cfg.abruptOperations || (s.crossedAtRate ?? 0) >= this.cfg.stepRise * pf);
    // Still raised: at the minimum rise, or at the warning level when that is lower (a high own baseline).
    const raised = Math.min(this.cfg.minRise * pf, errorRateWarning ?? 1);
    const outlastedBurst = (s.afterBurstOps ?? 0) >= this.cfg.burstConfirmOperations && (s.afterBurstErrors ?? 0) >= raised * (s.afterBurstOps ?? 0);
    s.warnOps = errorRateWarning !== undefined && s.ewma >= errorRateWarning ? (s.warnOps ?? 0) + n : 0;
    this.recordTrend(s, at);
    const over = s.overOps ?? 0;
    // The size of the rise: the rate of the last `recentOperations` uses (the EWMA runs in batches
    // of uses, so on a quiet device it lags by a week or more). A step, once it has outlasted a
    // burst, may also be sized by the smoothed rate; a creep must be raised now, not a day ago.
    const recentOps = s.recent!.reduce((a, r) => a + r[1], 0);
    const recentRate = recentOps >= this.cfg.recentOperations ? s.recent!.reduce((a, r) => a + r[0], 0) / recentOps : 0;
    const risen =
      over > 0 && (abrupt ? outlastedBurst : over >= this.cfg.holdOperations) && (abrupt ? Math.max(s.ewma, recentRate) : recentRate) >= this.cfg.minRise * pf;
    // Without a warning level there is nothing to extrapolate to: a sustained significant rise tickets.
    // With one, the rise's trend is extrapolated to the warning level (a figure) and to the
    // failure level beyond it, and the expected failure decides.
    // At the warning level the failure ETA is wanted whether or not the rise counts (an own
    // baseline learnt on a part already degrading is high: 2.5 × it may never be reached).
    const rising = errorRateWarning !== undefined && risen;
    // A step (a burst, or a part that broke at once) is not a rise that accelerates: its trend stays a line.
    const curve = abrupt ? 1 : this.cfg.riseExponent;
    s.warningEta = rising && s.warnOps === 0 ? this.etaTo(s, errorRateWarning, at, pf, curve) : null;
    s.failureEta = errorRateWarning !== undefined && (risen || s.warnOps > 0) ? this.etaTo(s, this.cfg.failureLevel * errorRateWarning, at, pf, curve) : null;
    const failureSoon = s.failureEta !== null && s.failureEta - at <= this.cfg.failureLeadTimeMs;
    // The warning level alone: held for its uses, beyond what a burst lasts when it came as a step,
    // and its failure due within the lead time — or no longer rising (nothing left to wait for).
    const absolute =
      errorRateWarning !== undefined &&
      s.warnOps > 0 &&
      s.warnOps >= this.cfg.warningHoldOperations &&
      (!abrupt || outlastedBurst) &&
      (failureSoon || s.failureEta === null);
    // Heading for the warning level soon (or there already), and for the failure level within its lead time.
    const soon = errorRateWarning === undefined || ((s.warnOps > 0 || (s.warningEta !== null && s.warningEta - at <= this.cfg.leadTimeMs)) && failureSoon);
    if (!s.firing && ((risen && soon) || absolute)) s.firing = true;
    else if (s.firing && s.ewma <= p0 + sigma * Math.sqrt(lambda / (2 - lambda)) && s.cusum < h && !absolute) {
      // Separate recovery condition: the smoothed rate back within one standard error of normal.
      s.firing = false;
      s.cusum = 0;
      s.overOps = 0;
    }
  }

  private recordTrend(s: RateState, at: number): void {
    const bucket = Math.floor(at / this.cfg.trendBucketMs);
    const tail = s.trend[s.trend.length - 1];
    const point = { t: at, y: s.ewma! };
    if (tail && Math.floor(tail.t / this.cfg.trendBucketMs) === bucket) s.trend[s.trend.length - 1] = point;
    else s.trend.push(point);
    const from = at - this.cfg.trendWindowMs;
    while (s.trend.length > 2 && s.trend[0].t < from) s.trend.shift();
  }

  /** When the smoothed rate reaches `level` at its trailing trend, or null when it is not rising (or too little history). */
  private etaTo(s: RateState, level: number, at: number, p0: number, k: number): number | null {
    // The rise's own trend: the points since its excursion began (a short precursor is steep,
    // a long one shallow), or the trailing window when the excursion is too short to say.
    const own = s.excursionFrom ? s.trend.filter((p) => p.t >= s.excursionFrom!) : [];
    const pts = own.length >= 4 && own[own.length - 1].t - own[0].t >= this.cfg.trendMinHistoryMs / 3 ? own : s.trend;
    if (pts.length < 4 || pts[pts.length - 1].t - pts[0].t < this.cfg.trendMinHistoryMs / (pts === own ? 3 : 1)) return null;
    // A worn part's error rate accelerates: its excess over the baseline grows like a power of the
    // time since the rise began (`riseExponent`; 1 is a straight line). The trend is fitted on
    // the excess's root, where that rise is a straight line: a line through the rate itself puts
    // the failure of a 14-day precursor a month away when it is a week away.
    const root = (y: number) => Math.max(0, y - p0) ** (1 / k);
    const slope = theilSen(
      pts.map((p) => ({ t: p.t, y: root(p.y) })),
      this.cfg.trendBucketMs,
    );
    if (!(slope > 0)) return null;
    return Math.round(at + Math.max(0, root(level) - root(s.ewma!)) / slope);
  }

  verdict(id: string, popKey: string): DegradationVerdict | null {
    const s = this.states.get(id);
    if (!s) return null;
    const eff = this.effectiveBaseline(s, popKey);
    // No baseline (a new part learning its own): nothing can be firing.
    if (s.ewma === null || eff === null)
      return s.firing
        ? null
        : {
            firing: false,
            recovered: true,
            baseline: NaN,
            ewma: NaN,
            cusum: 0,
            threshold: NaN,
            lastBatchRate: s.lastBatchRate,
            baselineSource: 'none',
            warningEta: null,
            failureEta: null,
          };
    const sigmaE = s.sigma * Math.sqrt(this.cfg.ewmaLambda / (2 - this.cfg.ewmaLambda));
    // Recovered is a separate condition (smoothed rate within one standard error), not merely "not firing".
    const recovered = !s.firing && s.ewma <= eff.p0 + sigmaE;
    return {
      firing: s.firing,
      recovered,
      baseline: eff.p0,
      ewma: s.ewma,
      cusum: s.cusum,
      threshold: s.threshold ?? NaN,
      lastBatchRate: s.lastBatchRate,
      baselineSource: eff.source,
      warningEta: s.warningEta,
      failureEta: s.failureEta ?? null,
    };
  }

  /** A part was replaced at `at`: learn its baseline again (once per replacement). */
  replaced(id: string, popKey: string, at: number): void {
    const s = this.states.get(id);
    if (!s || (s.replacedAt !== undefined && at <= s.replacedAt)) return;
    s.replacedAt = at;
    this.resetBaseline(id, popKey, s);
  }

  snapshot(): { states: Array<[string, RateState]>; population: Array<[string, Array<[string, number]>]> } {
    return {
      states: [...this.states.entries()].map(([k, v]) => [k, structuredClone(v)]),
      population: [...this.population.entries()].map(([k, m]) => [k, [...m.entries()]]),
    };
  }

  /** The states of these rate ids that exist (a per-device snapshot). */
  snapshotOf(ids: readonly string[]): Array<[string, RateState]> {
    const out: Array<[string, RateState]> = [];
    for (const id of ids) {
      const s = this.states.get(id);
      if (s) out.push([id, structuredClone(s)]);
    }
    return out;
  }

  /** Drops these rate states and their baselines (their device moved to another node of a cluster). */
  forget(ids: readonly string[]): void {
    for (const id of ids) {
      this.states.delete(id);
      for (const m of this.population.values()) m.delete(id);
    }
  }

  /** Adds or replaces states; the population view is rebuilt from their baselines. */
  restoreSome(states: ReadonlyArray<[string, RateState]>): void {
    for (const [id, v] of states) {
      const s = structuredClone(v);
      this.states.set(id, s);
      for (const m of this.population.values()) m.delete(id);
      if (s.baseline !== null && s.popKey) {
        let m = this.population.get(s.popKey);
        if (!m) this.population.set(s.popKey, (m = new Map()));
        m.set(id, s.baseline);
      }
    }
  }

  restore(s: ReturnType<DegradationDetector['snapshot']>): void {
    this.states.clear();
    this.population.clear();
    for (const [k, v] of s.states) this.states.set(k, structuredClone(v));
    for (const [k, m] of s.population) this.population.set(k, new Map(m));
  }
}
