// The sequential test behind the degradation detector: a binomial CUSUM (Page's test on the
// log-likelihood ratio of "errors per use = ratio × p0" against "= p0"). Evidence is counted in
// uses, not in time, so a quiet week adds little evidence either way and a busy week a lot: the
// test is usage-normalised by construction. The threshold comes from the false-alarm rate the
// operator configures (expected false alarms per 1,000 device-days), converted to uses with the
// device's own usage rate, through Siegmund's approximation of the in-control run length.
// Pure functions, no state.

/** Kullback–Leibler divergence per use of Bernoulli(a) from Bernoulli(b). */
export function bernoulliKl(a: number, b: number): number {
  const t = (x: number, y: number) => (x <= 0 ? 0 : x * Math.log(x / y));
  return t(a, b) + t(1 - a, 1 - b);
}

/** The alternative error rate a CUSUM tuned to detect `ratio` × p0 looks for (kept below 1). */
export const alternativeRate = (p0: number, ratio: number) => Math.min(0.999, p0 * ratio);

/** Log-likelihood ratio of `errors` in `uses` under p1 against p0 (the CUSUM's step). */
export function binomialLlr(errors: number, uses: number, p0: number, p1: number): number {
  return errors * Math.log(p1 / p0) + (uses - errors) * Math.log((1 - p1) / (1 - p0));
}

/**
 * CUSUM threshold h whose in-control average run length is `arl0Uses` uses: Siegmund's
 * ARL0 ≈ (e^h − h − 1) / KL(p0‖p1), solved for h by fixed-point iteration.
 */
export function cusumThreshold(p0: number, ratio: number, arl0Uses: number): number {
  const k0 = bernoulliKl(p0, alternativeRate(p0, ratio));
  const target = Math.max(1, arl0Uses * k0);
  let h = Math.log(target + 1);
  for (let i = 0; i < 20; i++) h = Math.log(target + h + 1);
  return h;
}

/** Expected uses from the start of a sustained change to `ratio` × p0 until the CUSUM crosses h
 * (Siegmund: (h + e^−h − 1) / KL(p1‖p0)). */
export function detectionDelayUses(p0: number, ratio: number, h: number): number {
  const p1 = alternativeRate(p0, ratio);
  return (h + Math.exp(-h) - 1) / bernoulliKl(p1, p0);
}

/** In-control run length in uses for a false-alarm budget per 1,000 device-days at a usage rate. */
export const arl0Uses = (falseAlarmsPer1000DeviceDays: number, usesPerDay: number) => (1000 / falseAlarmsPer1000DeviceDays) * usesPerDay;
