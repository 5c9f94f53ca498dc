// Fleet life learning: the lives the fleet's own parts reached — failures from service records
// (a part replaced because it failed, a unit swap after a failure) and, censored, the parts still
// in service and those replaced preventively — fitted per model and part to a Weibull
// distribution by maximum likelihood with right-censoring. The wear-out detector uses a fitted
// model instead of the profile's rated figure once enough failures are seen
// (DetectorEngine.setLifeModel). Pure functions.
//
// Early deaths (infant mortality: a bad batch, a part fitted wrongly) are a second cause of
// failure with its own physics — a hazard that falls with age (Weibull shape < 1) — which one
// Weibull cannot hold next to wear-out (it bends the wear-out fit towards shape 1 and a short
// life). So the fit is one of competing risks: failures before `earlyShare` of the fleet's
// median life are early-life failures, fitted to their own Weibull with every other life
// censored at min(its usage, that split) (it survived the early-life risk that long; beyond the
// split that risk is over); the wear-out fit censors the early deaths at their usage. A part's
// risk over a lead window adds both hazards.

/** One part life: usage reached (counter units) and whether it ended in a failure (false: still alive or replaced before failing). */
export type LifeObservation = { usage: number; failed: boolean };

export type LifeModel = {
  profile: string;
  part: string;
  /** Weibull shape k and scale λ (counter units). */
  shape: number;
  scale: number;
  failures: number;
  censored: number;
  /** Median life λ·(ln 2)^(1/k). */
  medianLife: number;
  /** Early-life failures (competing risk, until `until` counter units), when the fleet has seen enough of them. */
  earlyLife?: { shape: number; scale: number; failures: number; until: number };
};

/** Defaults of the competing-risks split: early deaths before this share of the median life, and how many make a fit. */
export const earlyLifeDefaults = { earlyShare: 0.25, minFailures: 3 };

/**
 * Weibull MLE with right-censoring. The shape solves
 *   Σ tᵢᵏ ln tᵢ / Σ tᵢᵏ − 1/k − (1/r) Σ_failures ln tᵢ = 0
 * (bisection on k in [0.05, 50]); then λ = (Σ tᵢᵏ / r)^(1/k). Null with fewer than 2 failures.
 */
export function fitWeibull(obs: readonly LifeObservation[]): { shape: number; scale: number; failures: number; censored: number } | null {
  const xs = obs.filter((o) => o.usage > 0);
  const failed = xs.filter((o) => o.failed);
  const r = failed.length;
  if (r < 2) return null;
  // Scaled to the largest usage: tᵏ stays finite for large k.
  const m = Math.max(...xs.map((o) => o.usage));
  const t = xs.map((o) => o.usage / m);
  const lnt = t.map(Math.log);
  const meanLnFail = failed.reduce((a, o) => a + Math.log(o.usage / m), 0) / r;
  const g = (k: number) => {
    let a = 0;
    let b = 0;
    for (let i = 0; i < t.length; i++) {
      const tk = t[i] ** k;
      a += tk * lnt[i];
      b += tk;
    }
    return a / b - 1 / k - meanLnFail;
  };
  let lo = 0.05;
  let hi = 50;
  if (g(lo) > 0 || g(hi) < 0) return null; // g rises with k; no root: degenerate data (all equal)
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (g(mid) < 0) lo = mid;
    else hi = mid;
  }
  const k = (lo + hi) / 2;
  const sum = t.reduce((a, x) => a + x ** k, 0);
  return { shape: k, scale: m * (sum / r) ** (1 / k), failures: r, censored: xs.length - r };
}

/** P(fails before u + du | alive at u) under Weibull(k, λ), plus an early-life hazard that ends at its `until`. */
export function conditionalFailure(shape: number, scale: number, u: number, du: number, early?: LifeModel['earlyLife']): number {
  const h = (x: number) => (Math.max(0, x) / scale) ** shape;
  const he = (x: number) => (early ? (Math.min(Math.max(0, x), early.until) / early.scale) ** early.shape : 0);
  const end = u + Math.max(0, du);
  return 1 - Math.exp(h(u) - h(end) + he(u) - he(end));
}

/** Risk of a part at usage `u` failing within `du` more under a fleet model (both causes). */
export const modelRisk = (m: LifeModel, u: number, du: number) => conditionalFailure(m.shape, m.scale, u, du, m.earlyLife);

/** Fitted models per `profile|part` from life observations grouped by it. */
export function fitLifeModels(
  groups: ReadonlyMap<string, readonly LifeObservation[]>,
  o: { earlyShare: number; minFailures: number } = earlyLifeDefaults,
): LifeModel[] {
  const out: LifeModel[] = [];
  const median = (f: { shape: number; scale: number }) => f.scale * Math.LN2 ** (1 / f.shape);
  for (const [key, obs] of groups) {
    const all = fitWeibull(obs);
    if (!all) continue;
    const [profile, part] = key.split('|');
    const until = o.earlyShare * median(all);
    const early = obs.filter((x) => x.failed && x.usage > 0 && x.usage < until).length;
    const earlyFit = early >= o.minFailures ? fitWeibull(obs.map((x) => ({ usage: Math.min(x.usage, until), failed: x.failed && x.usage < until }))) : null;
    const wear = earlyFit ? fitWeibull(obs.map((x) => ({ usage: x.usage, failed: x.failed && x.usage >= until }))) : null;
    const f = wear ?? all;
    out.push({
      profile,
      part,
      ...f,
      ...(wear ? { failures: all.failures, censored: all.censored } : {}),
      medianLife: median(f),
      ...(earlyFit && wear ? { earlyLife: { shape: earlyFit.shape, scale: earlyFit.scale, failures: earlyFit.failures, until } } : {}),
    });
  }
  return out.sort((a, b) => a.profile.localeCompare(b.profile) || a.part.localeCompare(b.part));
}

/** Groups lives by `profile|part`: ended ones (service records) and current ones (censored). */
export function lifeGroups(
  ended: ReadonlyArray<{ profile?: string; part: string; usage?: number; failed: boolean }>,
  alive: ReadonlyArray<{ profile: string; part: string; usage: number }>,
): Map<string, LifeObservation[]> {
  const groups = new Map<string, LifeObservation[]>();
  const add = (profile: string, part: string, o: LifeObservation) => {
    const k = `${profile}|${part}`;
    const l = groups.get(k);
    if (l) l.push(o);
    else groups.set(k, [o]);
  };
  for (const r of ended) if (r.profile && r.usage !== undefined && r.usage > 0) add(r.profile, r.part, { usage: r.usage, failed: r.failed });
  for (const a of alive) if (a.usage > 0) add(a.profile, a.part, { usage: a.usage, failed: false });
  return groups;
}
