// Degradation: error rates (failed reads per swipe, image failures per capture, failed cuts per
// cut, comm errors per poll) monitored with EWMA and CUSUM against the device's own baseline
// (the first batches of operations it did), or the model's population median while the device
// has none yet. Operations are grouped into batches of a fixed size so that every step has the
// same statistical weight whatever the polling rate; a gap just delays the next batch.
import { median } from './stats.js';
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
  cusum: number;
  lastBatchRate: number | null;
  batches: number;
  firing: boolean;
  sigma: number;
};

export type DegradationVerdict = { firing: boolean; recovered: boolean; baseline: number; ewma: number; cusum: number; lastBatchRate: number | null; baselineSource: 'own' | 'population' | 'none' };

export class DegradationDetector {
  private readonly states = new Map<string, RateState>();
  /** Established baselines per `${profile}|${rate}` (population view). */
  private readonly population = new Map<string, Map<string, number>>();

  constructor(private readonly cfg: DetectorConfig['degradation']) {}

  get specs(): readonly ErrorRateSpec[] {
    return this.cfg.rates;
  }

  private state(id: string): RateState {
    let s = this.states.get(id);
    if (!s) {
      s = { lastErrors: null, lastOps: null, edgeErrors: 0, accErrors: 0, accOps: 0, baseErrors: 0, baseOps: 0, baseBatches: 0, baseline: null, ewma: null, cusum: 0, lastBatchRate: null, batches: 0, firing: false, sigma: 0 };
      this.states.set(id, s);
    }
    return s;
  }

  /** A fault rising edge counted as one error of the specs that take errors from that fault. */
  faultEdge(id: string): void {
    this.state(id).edgeErrors += 1;
  }

  /**
   * One sample's counters for one rate. `id` names device/peripheral/rate; `popKey` the
   * model/rate population; `minBatch` the profile's minimum operations for a rate.
   */
  observe(id: string, popKey: string, spec: ErrorRateSpec, counters: Record<string, number>, minBatch: number, errorRateWarning?: number): void {
    const s = this.state(id);
    const ops = spec.operations === 'polls' ? (s.lastOps ?? 0) + 1 : counters[spec.operations];
    const errs = spec.errors ? counters[spec.errors] : (s.lastErrors ?? 0) + s.edgeErrors;
    s.edgeErrors = 0;
    if (ops === undefined || errs === undefined) return;
    const first = s.lastOps === null || s.lastErrors === null;
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
    s.accOps += dOps;
    s.accErrors += dErr;
    const batch = Math.max(this.cfg.batchOperations, minBatch);
    while (s.accOps >= batch) {
      // Spread the accumulated errors over whole batches in proportion (one long gap = several batches).
      const share = batch / s.accOps;
      const e = s.accErrors * share;
      s.accErrors -= e;
      s.accOps -= batch;
      this.step(id, popKey, s, e, batch, errorRateWarning);
    }
  }

  private resetBaseline(id: string, popKey: string, s: RateState): void {
    Object.assign(s, { baseErrors: 0, baseOps: 0, baseBatches: 0, batches: 0, baseline: null, ewma: null, cusum: 0, firing: false, lastBatchRate: null });
    this.population.get(popKey)?.delete(id);
  }

  /** The baseline a rate is judged against: its own, or the population's when it has none or its own is already high. */
  private effectiveBaseline(s: RateState, popKey: string): { p0: number; source: 'own' | 'population' } | null {
    const pop = this.cfg.usePopulation ? this.populationBaseline(popKey) : null;
    if (s.baseline !== null && (pop === null || s.baseline <= this.cfg.minRatio * Math.max(pop, this.cfg.minBaseline))) return { p0: s.baseline, source: 'own' };
    if (pop !== null) return { p0: pop, source: 'population' };
    return null;
  }

  private populationBaseline(popKey: string): number | null {
    const m = this.population.get(popKey);
    if (!m || m.size < 3) return null;
    return median([...m.values()]);
  }

  private step(id: string, popKey: string, s: RateState, errors: number, n: number, errorRateWarning?: number): void {
    const p = errors / n;
    s.batches += 1;
    s.lastBatchRate = p;
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
    s.ewma = s.ewma === null ? p0 : lambda * p + (1 - lambda) * s.ewma;
    // Capped at 2h: a long bad spell must not take forever to unwind once the part is fixed.
    s.cusum = Math.min(2 * this.cfg.cusumH, Math.max(0, s.cusum + (p - p0) / sigma - this.cfg.cusumK));
    const ucl = p0 + this.cfg.ewmaL * sigma * Math.sqrt(lambda / (2 - lambda));
    const bigEnough = s.ewma >= this.cfg.minRatio * pf;
    const absolute = errorRateWarning !== undefined && s.ewma >= errorRateWarning;
    if (!s.firing && (((s.cusum > this.cfg.cusumH || s.ewma > ucl) && bigEnough) || absolute)) s.firing = true;
    else if (s.firing && s.ewma <= p0 + sigma * Math.sqrt(lambda / (2 - lambda)) && s.cusum < this.cfg.cusumH && !absolute) {
      // Separate recovery condition: the smoothed rate back within one standard error of normal.
      s.firing = false;
      s.cusum = 0;
    }
  }

  verdict(id: string, popKey: string): DegradationVerdict | null {
    const s = this.states.get(id);
    if (!s) return null;
    const eff = this.effectiveBaseline(s, popKey);
    // No baseline (a new part learning its own): nothing can be firing.
    if (s.ewma === null || eff === null) return s.firing ? null : { firing: false, recovered: true, baseline: NaN, ewma: NaN, cusum: 0, lastBatchRate: s.lastBatchRate, baselineSource: 'none' };
    const sigmaE = s.sigma * Math.sqrt(this.cfg.ewmaLambda / (2 - this.cfg.ewmaLambda));
    // Recovered is a separate condition (smoothed rate within one standard error), not merely "not firing".
    const recovered = !s.firing && s.ewma <= eff.p0 + sigmaE;
    return { firing: s.firing, recovered, baseline: eff.p0, ewma: s.ewma, cusum: s.cusum, lastBatchRate: s.lastBatchRate, baselineSource: eff.source };
  }

  /** A part was replaced: learn its baseline again. */
  replaced(id: string, popKey: string): void {
    const s = this.states.get(id);
    if (s) this.resetBaseline(id, popKey, s);
  }

  snapshot(): { states: Array<[string, RateState]>; population: Array<[string, Array<[string, number]>]> } {
    return { states: [...this.states.entries()].map(([k, v]) => [k, { ...v }]), population: [...this.population.entries()].map(([k, m]) => [k, [...m.entries()]]) };
  }

  restore(s: ReturnType<DegradationDetector['snapshot']>): void {
    this.states.clear();
    this.population.clear();
    for (const [k, v] of s.states) this.states.set(k, { ...v });
    for (const [k, m] of s.population) this.population.set(k, new Map(m));
  }
}
