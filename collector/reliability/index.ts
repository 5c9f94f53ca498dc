// Fleet life learning: the lives the fleet's own parts reached — failures from service records
// (a part replaced because it failed, a unit swap after a failure) and, censored, the parts still
// in service and those replaced preventively — fitted per model and part to a Weibull
// distribution by maximum likelihood with right-censoring. The wear-out detector uses a fitted
// model instead of the profile's rated figure once enough failures are seen
// (DetectorEngine.setLifeModel). Pure functions.

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
};

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

/** P(fails before u + du | alive at u) under Weibull(k, λ). */
export function conditionalFailure(shape: number, scale: number, u: number, du: number): number {
  const h = (x: number) => (Math.max(0, x) / scale) ** shape;
  return 1 - Math.exp(h(u) - h(u + Math.max(0, du)));
}

/** Fitted models per `profile|part` from life observations grouped by it. */
export function fitLifeModels(groups: ReadonlyMap<string, readonly LifeObservation[]>): LifeModel[] {
  const out: LifeModel[] = [];
  for (const [key, obs] of groups) {
    const f = fitWeibull(obs);
    if (!f) continue;
    const [profile, part] = key.split('|');
    out.push({ profile, part, ...f, medianLife: f.scale * Math.LN2 ** (1 / f.shape) });
  }
  return out.sort((a, b) => a.profile.localeCompare(b.profile) || a.part.localeCompare(b.part));
}

/** Groups lives by `profile|part`: ended ones (service records) and current ones (censored). */
export function lifeGroups(ended: ReadonlyArray<{ profile?: string; part: string; usage?: number; failed: boolean }>, alive: ReadonlyArray<{ profile: string; part: string; usage: number }>): Map<string, LifeObservation[]> {
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
