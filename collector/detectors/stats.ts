// Small robust statistics used by the detectors. Pure functions, no state.

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Quantile q in [0, 1] by linear interpolation between order statistics. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

export type Point = { t: number; y: number };

/**
 * Theil–Sen slope: the median of the slopes of all pairs. Pairs closer in time than `minSpan`
 * are left out when at least `minPairs` wider pairs exist, so that within-day rhythm (a store
 * closed at night) does not pull the median towards 0. Robust to outliers and to gaps: a gap
 * only removes points, it does not bend the slope.
 */
export function theilSen(points: readonly Point[], minSpan = 0, minPairs = 3): number {
  const wide: number[] = [];
  const all: number[] = [];
  for (let i = 0; i < points.length; i++) {
    for (let j = i + 1; j < points.length; j++) {
      const dt = points[j].t - points[i].t;
      if (dt <= 0) continue;
      const s = (points[j].y - points[i].y) / dt;
      all.push(s);
      if (dt >= minSpan) wide.push(s);
    }
  }
  return median(wide.length >= minPairs ? wide : all);
}

/** Rates of consecutive non-overlapping intervals at least `minSpan` long (an interval ends at the first point `minSpan` after its start). */
export function intervalRates(points: readonly Point[], minSpan: number): number[] {
  const rates: number[] = [];
  let i = 0;
  for (let j = 1; j < points.length; j++) {
    const dt = points[j].t - points[i].t;
    if (dt >= minSpan) {
      rates.push((points[j].y - points[i].y) / dt);
      i = j;
    }
  }
  return rates;
}

/**
 * Median of the rates of consecutive non-overlapping intervals at least `minSpan` long. Unlike a
 * slope fitted through a cumulative series, one burst or one reset-free jump moves one interval
 * only; a gap is one interval, not many. Too short a history for three such intervals: daily
 * intervals (`shortSpan`), then Theil–Sen.
 */
export function intervalRate(points: readonly Point[], minSpan: number, shortSpan = 86_400_000): number {
  const rates = intervalRates(points, minSpan);
  if (rates.length >= 3) return median(rates);
  const short = minSpan > shortSpan ? intervalRates(points, shortSpan) : rates;
  if (short.length >= 2) return median(short);
  return theilSen(points, Math.min(minSpan, shortSpan));
}
