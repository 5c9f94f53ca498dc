// Issue 10, second pass, on crafted series: a months-long rise past the warning level is ticketed
// when its failure is near (not months ahead); a steep rise on a quiet device is ticketed within
// days (a burst's hold is in time, not in a busy till's uses); one burst, and two bursts a day
// apart, still do not ticket; the fleet life fit separates early deaths (competing risks) and a
// young part gets a planned replacement when the fleet's early-life risk is high.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultFirmwareProfilesDir, loadFirmwareProfiles } from '../../firmware-profiles/index.js';
import { fitLifeModels, fitWeibull, modelRisk, type LifeModel, type LifeObservation } from '../../collector/reliability/index.js';
import { DetectorEngine, msrSample, seededRandom, type Finding } from './fixtures.js';
import { median } from '../../collector/detectors/stats.js';

const profiles = loadFirmwareProfiles(defaultFirmwareProfilesDir());
const DAY = 86_400_000;
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 5);
const KEY = 'pos-m/msr/read-head-wear-out';
const find = (fs: Finding[], key: string) => fs.find((f) => f.key === key);

/**
 * A card reader's counters in hourly samples, `perDay` swipes a day in the store's 12 open hours,
 * failed reads at rate(day); evaluated every 6 hours from day `from`. Returns the first firing
 * finding and its day (or null).
 */
function run(o: {
  days: number;
  perDay: number;
  rate: (day: number) => number;
  seed: number;
  from?: number;
  start?: number;
}): { day: number; finding: Finding } | null {
  const e = new DetectorEngine(profiles);
  const rnd = seededRandom(o.seed);
  let swipes = o.start ?? 200_000;
  let failed = Math.round(swipes * 0.01);
  for (let h = 0; h < o.days * 24; h++) {
    const day = h / 24;
    if (h % 24 >= 8 && h % 24 < 20) {
      const n = o.perDay / 12;
      for (let i = 0; i < n; i++) if (rnd() < o.rate(day)) failed++;
      swipes += n;
    }
    const at = T0 + h * HOUR;
    e.observeSample(msrSample(at, swipes, failed));
    if (h % 6 === 0 && day >= (o.from ?? 20)) {
      const f = find(e.evaluate(at), KEY);
      if (f?.status === 'firing') return { day, finding: f };
    }
  }
  return null;
}

/** The sim's precursor shape (sim/wear.ts): base → end over `days`, slow then fast (x²), failing at `end`. */
const precursor = (onset: number, days: number, base: number, end: number) => (d: number) =>
  d < onset ? base : base + (end - base) * Math.min(1, (d - onset) / days) ** 2;

test('a months-long rise past the warning level is ticketed when its failure is near, not when it reaches the warning level', () => {
  // 1 % → 25 % over 200 days from day 30 (the `today` model: error rate rising from 60 % of life);
  // the part fails on day 230. The trend reaches the 15 % warning level on day ~186.
  const rate = precursor(30, 200, 0.01, 0.25);
  const warnDay = 30 + 200 * Math.sqrt((0.15 - 0.01) / 0.24);
  const fired = run({ days: 230, perDay: 1500, rate, seed: 4 });
  assert.ok(fired, 'ticketed before the failure');
  const lead = 230 - fired!.day;
  assert.ok(
    lead >= 7 && lead <= 45,
    `ticketed ${lead.toFixed(1)} days before the failure (the warning level was ${(230 - warnDay).toFixed(0)} days before it)`,
  );
  assert.ok(fired!.day > warnDay, 'not at the warning level');
  assert.is(fired!.finding.detector, 'degradation');
  assert.ok((fired!.finding.figures.failureEtaDays as number) <= 35, `failure ETA ${fired!.finding.figures.failureEtaDays} days`);
});

test('a part whose own baseline was learnt while it already degraded still tickets from its warning level, when its failure nears', () => {
  // Monitoring begins at 8 % (its own baseline: 2.5 × that is 20 %, past the 15 % warning level);
  // the rate creeps to 22 % by day 60, when the part fails. 15 % is reached on day 30.
  const fired = run({ days: 60, perDay: 2400, rate: (d) => 0.08 + (0.14 * d) / 60, seed: 12, from: 5 });
  assert.ok(fired, 'ticketed');
  assert.ok(fired!.day > 30 && 60 - fired!.day >= 7, `ticketed on day ${fired!.day}`);
  assert.is(fired!.finding.figures.baselineSource, 'own');
});

test("a steep rise on a quiet device (300 swipes a day) is ticketed a week before the failure, not held for a busy till's uses", () => {
  // 1 % → 25 % over 20 days from day 40: a short precursor. The former 8,000-use burst hold was
  // 27 days of this device's use, and its smoothed rate (in batches of 200 uses) a week behind.
  for (const seed of [6, 7, 8]) {
    const fired = run({ days: 60, perDay: 300, rate: precursor(40, 20, 0.01, 0.25), seed });
    assert.ok(fired, 'ticketed');
    assert.ok(60 - fired!.day >= 7, `ticketed ${(60 - fired!.day).toFixed(1)} days before the failure`);
  }
});

test('an accelerating 16-day precursor on a busy till is ticketed a week ahead (8 of 10), with its failure ETA near the truth', () => {
  // 1 % → 25 % over 16 days from day 40 (x², the sim's shape); the part fails on day 56 and its
  // rate reaches the failure level (1.5 × the 15 % warning) on day ~55. A straight line through
  // the smoothed rate put that failure three weeks away when it was a week away.
  // (The figures are the last evaluation's: a firing rise whose trend is re-estimated may carry none.)
  const failureLevelDay = 40 + 16 * Math.sqrt((0.225 - 0.01) / 0.24);
  const ratios: number[] = [];
  const leads: number[] = [];
  for (const seed of [6, 7, 8, 9, 10, 11, 12, 13, 14, 15]) {
    const fired = run({ days: 56, perDay: 1500, rate: precursor(40, 16, 0.01, 0.25), seed });
    assert.ok(fired, `seed ${seed}: ticketed`);
    leads.push(56 - fired!.day);
    const eta = fired!.finding.figures.failureEtaDays as number | undefined;
    if (eta !== undefined) ratios.push(eta / (failureLevelDay - fired!.day));
  }
  // The sequential test's delay varies with the noise: most are ticketed a week ahead, every one days ahead.
  assert.ok(leads.filter((l) => l >= 7).length >= 8 && Math.min(...leads) >= 3, `leads ${leads.map((l) => l.toFixed(1)).join(', ')} days`);
  // The ETA of one ticket is noisy (the smoothed rate lags); its median is near the truth.
  assert.ok(ratios.length >= 5, `${ratios.length} tickets carried a failure ETA`);
  const mid = median(ratios);
  assert.ok(mid >= 0.5 && mid <= 1.6, `failure ETA / truth: median ${mid.toFixed(2)} (${ratios.map((r) => r.toFixed(2)).join(', ')})`);
});

test('one burst, and two bursts a day apart, do not ticket (busy and quiet devices); a rise that goes on after a burst does', () => {
  for (const perDay of [2400, 300]) {
    // A bad batch of cards: one day at 12 × the rate.
    assert.is(run({ days: 50, perDay, rate: (d) => (d >= 30 && d < 31 ? 0.12 : 0.01), seed: 7 }), null, `one burst, ${perDay}/day`);
    // Two 1-day bursts with a day between them: the evidence stays up across the gap.
    assert.is(run({ days: 50, perDay, rate: (d) => ((d >= 30 && d < 31) || (d >= 32 && d < 33) ? 0.1 : 0.01), seed: 8 }), null, `two bursts, ${perDay}/day`);
  }
  // A step that stays (a worn head: 8 % and rising from day 30) fires once it has outlasted a burst.
  const fired = run({ days: 50, perDay: 2400, rate: (d) => (d < 30 ? 0.01 : 0.08 + 0.005 * (d - 30)), seed: 9 });
  assert.ok(fired && fired.day >= 32 && fired.day < 36, `fired on day ${fired?.day}`);
});

/** Lives of a fleet: `earlyShare` die young (early-life Weibull shape 0.7, before 15 % of the life), the rest wear out (shape 4, scale 1 M); observed until `censorAt`. */
function fleetLives(n: number, earlyShare: number, seed: number): LifeObservation[] {
  const rnd = seededRandom(seed);
  const out: LifeObservation[] = [];
  for (let i = 0; i < n; i++) {
    const wear = 1_000_000 * (-Math.log(1 - rnd())) ** (1 / 4);
    const early = rnd() < earlyShare ? 150_000 * rnd() ** (1 / 0.7) : Infinity;
    const life = Math.min(wear, early);
    const censorAt = rnd() * 1_400_000;
    out.push(life <= censorAt ? { usage: life, failed: true } : { usage: censorAt, failed: false });
  }
  return out;
}

test('life fit: early deaths are a competing risk with their own fit; the wear-out fit keeps its shape', () => {
  const obs = fleetLives(600, 0.15, 21);
  const [m] = fitLifeModels(new Map([['generic-serial-msr|read-head', obs]]));
  assert.ok(m.earlyLife, 'an early-life component');
  assert.ok(m.earlyLife!.failures >= 20, `${m.earlyLife!.failures} early failures`);
  // One Weibull over both causes bends towards shape 1; the wear-out component stays near 4.
  const single = fitWeibull(obs)!;
  assert.ok(single.shape < 2.5, `single fit shape ${single.shape}`);
  assert.ok(Math.abs(m.shape - 4) < 1, `wear-out shape ${m.shape}`);
  assert.ok(Math.abs(m.scale - 1_000_000) / 1_000_000 < 0.1, `wear-out scale ${m.scale}`);
  // A young part's risk over the next 30,000 uses is the early-life one; past the split only wear-out counts.
  const young = modelRisk(m, 10_000, 30_000);
  const mid = modelRisk(m, 400_000, 30_000);
  assert.ok(young > 0.015 && young > 3 * mid, `young ${young}, mid-life ${mid}`);
  // A fleet without early deaths gets no early-life component.
  assert.is(fitLifeModels(new Map([['x|y', fleetLives(400, 0, 22)]]))[0].earlyLife, undefined);
});

test("a young part gets a planned replacement when the fleet's early-life risk within the lead time is high; a mid-life part does not", () => {
  // A bad batch: the fleet's read heads die young (early-life Weibull shape 0.6, scale 20,000 swipes, until 150,000).
  const model: LifeModel = {
    profile: 'generic-serial-msr',
    part: 'read-head',
    shape: 4,
    scale: 1_000_000,
    failures: 40,
    censored: 100,
    medianLife: 1_000_000 * Math.LN2 ** 0.25,
    earlyLife: { shape: 0.6, scale: 20_000, failures: 25, until: 150_000 },
  };
  const feed = (start: number) => {
    const e = new DetectorEngine(profiles);
    e.setLifeModels([model]);
    const rnd = seededRandom(31);
    let swipes = start;
    let failed = 0;
    for (let h = 0; h < 14 * 24; h++) {
      if (h % 24 >= 8 && h % 24 < 20) {
        for (let i = 0; i < 200; i++) if (rnd() < 0.01) failed++;
        swipes += 200;
      }
      e.observeSample(msrSample(T0 + h * HOUR, swipes, failed));
    }
    return find(e.evaluate(T0 + 14 * DAY), KEY);
  };
  // 2,400 swipes a day: 50,000 over the 21-day lead time. A new head at 5,000 swipes: risk ≈ 75 %.
  const young = feed(5_000)!;
  assert.equal([young.status, young.detector, young.figures.lifeSource], ['firing', 'wear-out', 'fleet']);
  assert.ok((young.figures.failureRiskPct as number) >= 50, `risk ${young.figures.failureRiskPct} %`);
  assert.is(young.figures.earlyLifeShape, 0.6);
  // The same error rate on a head at 400,000 swipes: past the early-life split, wear-out risk tiny.
  assert.not.ok(feed(400_000)?.status === 'firing');
});

test.run();
