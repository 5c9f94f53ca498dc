// Detectors on crafted series: wear-out (steady, daily rhythm, counter reset, gaps, noisy
// rates, threshold), degradation (EWMA/CUSUM on error rates, own and population baselines,
// failed cuts from fault edges), recurring faults, reactive faults, offline/stale/clock drift,
// and the site outage. Everything is driven with an explicit clock: no timers.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultFirmwareProfilesDir, loadFirmwareProfiles } from '../../firmware-profiles/index.js';
import { DetectorEngine, mergePartFindings, printerSample, seededRandom, theilSen, type DetectorConfigInput, type Finding } from './fixtures.js';

const profiles = loadFirmwareProfiles(defaultFirmwareProfilesDir());
const DAY = 86_400_000;
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 5); // a Monday

const engine = (cfg: DetectorConfigInput = {}) => new DetectorEngine(profiles, cfg);
const find = (fs: Finding[], key: string) => fs.find((f) => f.key === key);
/** The receipt printer most of these tests follow: pos-1's Epson TM-T88VI at site s1. */
const tmT88vi = { device: 'pos-1', site: 's1', peripheral: 'printer', kind: 'printer', profile: 'epson-tm-t88vi' };

/** Feeds an hourly cutter counter of an Epson TM-T88VI (cutter life 2,000,000 cuts); the store trades 08–20 only. */
function feedCutter(
  e: DetectorEngine,
  o: {
    from: number;
    days: number;
    start: number;
    perDay: (day: number) => number;
    skip?: (t: number) => boolean;
    counterAt?: (t: number, c: number) => number;
  },
): number {
  let c = o.start;
  for (let h = 0; h < o.days * 24; h++) {
    const t = o.from + h * HOUR;
    const hourOfDay = h % 24;
    if (hourOfDay >= 8 && hourOfDay < 20) c += o.perDay(Math.floor(h / 24)) / 12;
    if (o.skip?.(t)) continue;
    const value = o.counterAt ? o.counterAt(t, Math.round(c)) : Math.round(c);
    e.observeSample({ ...tmT88vi, at: t, health: 'ok', counters: { autocutterCuts: value, linesFed: 1000 } });
  }
  return c;
}

const CUTTER = 'pos-1/printer/cutter-wear-out';
/** The cutter judged by its rating alone (by default its failed-cuts rate, healthy here, defers it). */
const ratedOnly: DetectorConfigInput = { wear: { deferToErrorRate: false } };

test('theilSen ignores outliers and short pairs', () => {
  const pts = Array.from({ length: 20 }, (_, i) => ({ t: i * DAY, y: i * 100 + (i === 7 ? 5000 : 0) }));
  assert.ok(Math.abs(theilSen(pts, DAY) * DAY - 100) < 1e-6);
});

test('wear-out: steady use gives the rate and an ETA; a planned replacement inside the 21-day lead time', () => {
  const e = engine(ratedOnly);
  // 1.8 M of 2 M cuts used, 5,000 cuts a day: 40 days left — outside the lead time, above 80 %: undecided.
  feedCutter(e, { from: T0, days: 5, start: 1_800_000, perDay: () => 5000 });
  let now = T0 + 5 * DAY;
  assert.is(find(e.evaluate(now), CUTTER), undefined, 'no finding between the firing and recovery conditions');
  // 20 more days: 75,000 cuts left = 15 days: firing.
  feedCutter(e, { from: now, days: 20, start: 1_825_000, perDay: () => 5000 });
  now += 20 * DAY;
  const f = find(e.evaluate(now), CUTTER)!;
  assert.ok(f, 'wear-out finding');
  assert.is(f.status, 'firing');
  assert.is(f.kind, 'predicted-failure');
  assert.is(f.detector, 'wear-out');
  assert.is(f.priority, 'Low');
  assert.is(f.figures.counter, 'autocutterCuts');
  assert.ok(Math.abs((f.figures.ratePerDay as number) - 5000) < 250, `rate ${f.figures.ratePerDay}`);
  const etaDays = (f.eta! - now) / DAY;
  assert.ok(etaDays > 13 && etaDays < 17, `eta in ${etaDays} days`);
  assert.equal(f.runbook, { profile: 'epson-tm-t88vi', code: 'general' });
  // The mechanism's mcbf figure is not an end of life: no finding for it.
  assert.not.ok(e.evaluate(now).some((x) => x.key.endsWith('mechanism-wear-out')));
});

test('wear-out: a counter drop re-bases life used (new part) but keeps the usage rate', () => {
  const e = engine(ratedOnly);
  let now = T0;
  feedCutter(e, { from: now, days: 14, start: 1_900_000, perDay: () => 6000 });
  now += 14 * DAY;
  assert.is(find(e.evaluate(now), CUTTER)!.status, 'firing');
  // Replaced: the counter restarts near 0.
  feedCutter(e, { from: now, days: 3, start: 0, perDay: () => 6000 });
  now += 3 * DAY;
  const f = find(e.evaluate(now), CUTTER)!;
  assert.is(f.status, 'recovered');
  assert.ok((f.figures.usage as number) < 20_000, `usage ${f.figures.usage}`);
  assert.ok(Math.abs((f.figures.ratePerDay as number) - 6000) < 400, `rate across the reset ${f.figures.ratePerDay}`);
});

test('wear-out: counterDrop "continue" keeps counting life when only the counter was reset', () => {
  const e = engine({ wear: { counterDrop: 'continue', deferToErrorRate: false } });
  feedCutter(e, { from: T0, days: 10, start: 1_850_000, perDay: () => 5000 });
  feedCutter(e, { from: T0 + 10 * DAY, days: 2, start: 0, perDay: () => 5000 });
  const f = find(e.evaluate(T0 + 12 * DAY), CUTTER)!;
  assert.is(f.status, 'firing');
  assert.ok((f.figures.usage as number) > 1_900_000, `usage ${f.figures.usage}`);
});

test('wear-out: gaps (offline for days) do not bend the rate', () => {
  const e = engine();
  const gapFrom = T0 + 4 * DAY;
  const gapTo = T0 + 9 * DAY;
  feedCutter(e, { from: T0, days: 14, start: 1_000_000, perDay: () => 4000, skip: (t) => t >= gapFrom && t < gapTo });
  const st = find(e.evaluate(T0 + 14 * DAY), CUTTER);
  // Half-life: undecided, no finding; read the status directly.
  assert.is(st?.status, 'recovered');
  assert.ok(Math.abs((st!.figures.ratePerDay as number) - 4000) < 200, `rate ${st!.figures.ratePerDay}`);
});

test('wear-out: noisy daily use and a one-off burst still give a robust rate', () => {
  const rnd = seededRandom(7);
  const e = engine();
  feedCutter(e, { from: T0, days: 14, start: 500_000, perDay: (d) => (d === 6 ? 60_000 : 3000 * (0.5 + rnd())) });
  const f = find(e.evaluate(T0 + 14 * DAY), CUTTER)!;
  assert.ok(Math.abs((f.figures.ratePerDay as number) - 3000) < 600, `rate ${f.figures.ratePerDay}`);
});

test('wear-out: life used past the profile critical fraction fires even without usage', () => {
  const e = engine(ratedOnly);
  feedCutter(e, { from: T0, days: 5, start: 1_960_000, perDay: () => 0 });
  const f = find(e.evaluate(T0 + 5 * DAY), CUTTER)!;
  assert.is(f.status, 'firing');
  assert.is(f.figures.lifeUsedPct, 98);
  assert.is(f.eta, undefined, 'no ETA without usage');
});

test('wear-out: unitsPerCount converts lines to km for a head rated in km', () => {
  const e = engine();
  // TM-T20III head: 150 km at 3.75e-6 km per line = 40 M lines.
  for (let d = 0; d <= 10; d++)
    e.observeSample(printerSample('pos-2', 'epson-tm-t20iii', T0 + d * DAY, { linesFed: 39_000_000 + d * 100_000, autocutterCuts: 10 }));
  const f = find(e.evaluate(T0 + 10 * DAY), 'pos-2/printer/head-wear-out')!;
  assert.is(f.status, 'firing');
  assert.is(f.figures.ratedLife, 40_000_000);
  assert.ok(Math.abs((f.eta! - (T0 + 10 * DAY)) / DAY - 0) < 1, 'at end of life already');
});

/** Card reader swipes with failed reads drawn at `rate(batch)`; one sample every 50 swipes. */
function feedSwipes(
  e: DetectorEngine,
  device: string,
  o: { from: number; samples: number; rate: (i: number) => number; seed: number; start?: { swipes: number; failed: number } },
) {
  const rnd = seededRandom(o.seed);
  let swipes = o.start?.swipes ?? 0;
  let failed = o.start?.failed ?? 0;
  for (let i = 0; i < o.samples; i++) {
    for (let k = 0; k < 50; k++) {
      swipes++;
      if (rnd() < o.rate(i)) failed++;
    }
    e.observeSample({
      device,
      site: 's1',
      peripheral: 'msr',
      kind: 'card-reader',
      profile: 'generic-serial-msr',
      at: o.from + i * 600_000,
      counters: { swipes, failedReadCount: failed },
    });
  }
  return { swipes, failed, at: o.from + o.samples * 600_000 };
}

const smallBatches = { degradation: { batchOperations: 200, baselineBatches: 8, ewmaLambda: 0.2 } };

test('degradation: a stable noisy error rate raises nothing; a rise heading for the warning level fires; a return recovers', () => {
  const e = engine(smallBatches);
  // The read rate shares the read head's wear-out key: one incident per worn part.
  const key = 'pos-1/msr/read-head-wear-out';
  // 8 baseline batches of 200 + 40 more, all at 2 %.
  let s = feedSwipes(e, 'pos-1', { from: T0, samples: 192, rate: () => 0.02, seed: 1 });
  let f = find(e.evaluate(s.at), key)!;
  assert.is(f.status, 'recovered', 'no alarm on a stable rate');
  assert.is(f.figures.baselineSource, 'own');
  assert.ok(Math.abs((f.figures.baseline as number) - 0.02) < 0.01);
  // The head wears: 2 % → 12 % over 8 days (144 samples a day), heading for the profile's 15 %
  // warning within days — inside the 21-day lead time, below the absolute level.
  const ramp = 8 * 144;
  s = feedSwipes(e, 'pos-1', { from: s.at, samples: ramp, rate: (i) => 0.02 + (0.1 * i) / ramp, seed: 2, start: s });
  f = find(e.evaluate(s.at), key)!;
  assert.is(f.status, 'firing');
  assert.is(f.detector, 'degradation');
  assert.ok((f.figures.ewma as number) < 0.15, `below the absolute warning: ${f.figures.ewma}`);
  assert.ok((f.figures.warningEtaDays as number) > 0 && (f.figures.warningEtaDays as number) <= 21, `ETA to the warning level ${f.figures.warningEtaDays}`);
  assert.is(f.priority, 'Medium', 'priority from the profile fault read-errors-high');
  assert.is(f.issueType, 'card-reader-hardware');
  assert.equal(f.runbook, { profile: 'generic-serial-msr', code: 'read-errors-high' });
  assert.is(f.figures.lifeUsedPct, Math.round((s.swipes / 1_000_000) * 10_000) / 100, 'the wear-out figures of the same part ride along');
  // Cleaned: back to 2 % (the head is young by its counter, so the wear-out agrees it recovered).
  s = feedSwipes(e, 'pos-1', { from: s.at, samples: 200, rate: () => 0.02, seed: 3, start: s });
  assert.is(find(e.evaluate(s.at), key)!.status, 'recovered');
});

test('degradation: a mild rise (significant, but nowhere near the warning level) does not ticket', () => {
  const e = engine(smallBatches);
  const key = 'pos-1/msr/read-head-wear-out';
  let s = feedSwipes(e, 'pos-1', { from: T0, samples: 192, rate: () => 0.02, seed: 1 });
  // 2 % → 4 % and flat for 8 days: far above the baseline (the sequential test says "risen") but
  // below the minimum rise (2.5×) and not heading for 15 %.
  s = feedSwipes(e, 'pos-1', { from: s.at, samples: 8 * 144, rate: () => 0.04, seed: 4, start: s });
  // Not recovered either (the rate is well above normal): undecided, so no finding at all.
  assert.is(find(e.evaluate(s.at), key), undefined, 'flat mild rise: noticed, not ticketed');
  // A slow creep 5 % → 7 % over 14 days: the trend reaches 15 % only in months.
  const creep = 14 * 144;
  s = feedSwipes(e, 'pos-1', { from: s.at, samples: creep, rate: (i) => 0.05 + (0.02 * i) / creep, seed: 5, start: s });
  const f = find(e.evaluate(s.at), key);
  assert.not.ok(f?.status === 'firing', `slow creep: warning ETA ${f?.figures.warningEtaDays}`);
});

test('degradation: a device whose own baseline is already high is judged against its model population', () => {
  const e = engine(smallBatches);
  for (const [i, d] of ['a', 'b', 'c'].entries()) feedSwipes(e, d, { from: T0, samples: 40, rate: () => 0.01, seed: 10 + i });
  // Monitoring began on a worn head: 6 % from its first swipe, rising to 12 % over 6 days.
  const n = 6 * 144;
  const s = feedSwipes(e, 'worn', { from: T0, samples: n, rate: (i) => 0.06 + (0.06 * i) / n, seed: 21 });
  const g = find(e.evaluate(s.at), 'worn/msr/read-head-wear-out')!;
  assert.equal([g.status, g.figures.baselineSource], ['firing', 'population']);
  assert.ok(Math.abs((g.figures.baseline as number) - 0.01) < 0.006, `population baseline ${g.figures.baseline}`);
});

test('one incident per worn part: wear-out and degradation of the same part are one finding; the stricter recovery wins', () => {
  // Rated life alone decides here (deferToErrorRate off; the default is tested below).
  const e = engine({ ...smallBatches, wear: { deferToErrorRate: false } });
  const key = 'pos-1/msr/read-head-wear-out';
  // A read head at 97 % of its 1 M rated swipes (wear-out fires) whose read errors are normal.
  let s = feedSwipes(e, 'pos-1', { from: T0, samples: 300, rate: () => 0.02, seed: 1, start: { swipes: 970_000, failed: 19_400 } });
  let fs = e.evaluate(s.at).filter((f) => f.key.startsWith('pos-1/msr/') && f.key !== 'pos-1/msr/absent');
  assert.equal(
    fs.map((f) => [f.key, f.status, f.detector]),
    [[key, 'firing', 'wear-out']],
    'one finding, the wear-out firing',
  );
  assert.is(fs[0].figures.lifeUsedPct, Math.round((s.swipes / 1_000_000) * 10_000) / 100);
  assert.ok(typeof fs[0].figures.ewma === 'number', 'degradation figures merged in');
  // Now the read errors climb fast as well: still one finding, at the higher priority of the two.
  const n = 4 * 144;
  s = feedSwipes(e, 'pos-1', { from: s.at, samples: n, rate: (i) => 0.02 + (0.12 * i) / n, seed: 2, start: s });
  fs = e.evaluate(s.at).filter((f) => f.key === key);
  assert.is(fs.length, 1);
  assert.equal([fs[0].status, fs[0].priority], ['firing', 'Medium']);
  // The rate alone recovering does not resolve a part the wear-out still calls worn.
  const wear = { ...fs[0], detector: 'wear-out' as const, status: 'firing' as const, priority: 'Low' as const };
  const rate = { ...fs[0], detector: 'degradation' as const, status: 'recovered' as const };
  assert.equal(
    mergePartFindings([wear, rate], new Set()).map((f) => [f.status, f.detector]),
    [['firing', 'wear-out']],
  );
  // One detector undecided (it tracks the part, between its thresholds) + the other recovered: no finding, the incident stays as it is.
  assert.equal(mergePartFindings([rate], new Set([key])), []);
  assert.equal(mergePartFindings([{ ...wear, status: 'recovered' }], new Set([key])), []);
  // Both recovered (a new part with a normal rate): recovered.
  assert.equal(
    mergePartFindings([{ ...wear, status: 'recovered' }, rate], new Set()).map((f) => f.status),
    ['recovered'],
  );
});

test('wear-out: a part whose error rate is healthy waits past its rating until the backstop (deferToErrorRate)', () => {
  const e = engine(smallBatches);
  const key = 'pos-1/msr/read-head-wear-out';
  // 97 % of rated life, read errors normal: the health signal says fine, so no ticket (undecided).
  let s = feedSwipes(e, 'pos-1', { from: T0, samples: 300, rate: () => 0.02, seed: 1, start: { swipes: 970_000, failed: 19_400 } });
  assert.is(find(e.evaluate(s.at), key), undefined);
  // Past the backstop (1.5 × rated life) the rating tickets whatever the rate says.
  const e2 = engine(smallBatches);
  s = feedSwipes(e2, 'pos-1', { from: T0, samples: 300, rate: () => 0.02, seed: 1, start: { swipes: 1_510_000, failed: 30_200 } });
  const f = find(e2.evaluate(s.at), key)!;
  assert.equal([f.status, f.detector], ['firing', 'wear-out']);
  // A young part with a healthy rate: the recovered findings of both detectors make one recovered finding.
  const e3 = engine(smallBatches);
  s = feedSwipes(e3, 'pos-1', { from: T0, samples: 300, rate: () => 0.02, seed: 1 });
  assert.is(find(e3.evaluate(s.at), key)!.status, 'recovered');
});

test('wear-out ignores rated-life figures the driver does not read (measuredBy not-read)', () => {
  const e = engine();
  // A Star TSP143 (cutter 1 M cuts, not read) that somehow reports a cutter counter at 99 %.
  for (let d = 0; d <= 10; d++) e.observeSample(printerSample('pos-9', 'star-tsp143', T0 + d * DAY, { autocutterCuts: 990_000 + d * 1000, linesFed: 1e9 }));
  const fs = e.evaluate(T0 + 10 * DAY);
  assert.is(fs.filter((f) => f.detector === 'wear-out').length, 0);
  // The same counters on an Epson TM-T88VI (read by its driver) do give a wear-out finding.
  const e2 = engine(ratedOnly);
  for (let d = 0; d <= 10; d++)
    e2.observeSample(printerSample('pos-9', 'epson-tm-t88vi', T0 + d * DAY, { autocutterCuts: 1_990_000 + d * 1000, linesFed: 1000 }));
  assert.is(find(e2.evaluate(T0 + 10 * DAY), 'pos-9/printer/cutter-wear-out')!.status, 'firing');
});

test('degradation: failed cuts per cut counted from autocutter-error rising edges', () => {
  const e = engine({ degradation: { ...smallBatches.degradation, batchOperations: 100 } });
  let cuts = 0;
  let t = T0;
  const rnd = seededRandom(5);
  // 300 samples (a minute apart) of 10 cuts at 0.5 %, then 4,000 at 8 %: over the failed-cuts warning level (1 %) for
  // longer than its hold (6,000 cuts) and, as it came as a step, for longer than a burst lasts (2 days).
  for (let i = 0; i < 4300; i++) {
    cuts += 10;
    const p = i < 300 ? 0.005 : 0.08; // per sample of 10 cuts
    const faults = rnd() < p * 10 ? ['autocutter-error'] : [];
    t += 60_000;
    e.observeSample({ device: 'pos-1', peripheral: 'printer', kind: 'printer', profile: 'epson-tm-t88vi', at: t, counters: { autocutterCuts: cuts }, faults });
    if (faults.length)
      e.observeSample({
        device: 'pos-1',
        peripheral: 'printer',
        kind: 'printer',
        profile: 'epson-tm-t88vi',
        at: t + 1,
        counters: { autocutterCuts: cuts },
        faults: [],
      });
  }
  const f = find(e.evaluate(t), 'pos-1/printer/cutter-wear-out')!; // failed cuts speak for the cutter
  assert.is(f.status, 'firing');
  assert.is(f.priority, 'High');
  assert.is(f.issueType, 'printer-hardware');
});

test('recurring fault: the same fault 3 times in 7 days; consumables ignored; quiet window recovers', () => {
  const e = engine();
  const p = (at: number, faults: string[]) =>
    e.observeSample({ device: 'pos-1', peripheral: 'printer', kind: 'printer', profile: 'epson-tm-t88vi', at, faults });
  for (const d of [0, 2, 4]) {
    p(T0 + d * DAY, ['mechanical-error', 'paper-end']);
    p(T0 + d * DAY + 60_000, []);
  }
  p(T0 + 3 * DAY, []);
  let fs = e.evaluate(T0 + 4 * DAY + 120_000);
  const f = find(fs, 'pos-1/printer/mechanical-error-recurring')!;
  assert.is(f.status, 'firing');
  assert.is(f.figures.occurrences, 3);
  assert.is(f.kind, 'recurring-fault');
  assert.is(find(fs, 'pos-1/printer/paper-end-recurring'), undefined, 'paper-end recurs by design');
  fs = e.evaluate(T0 + 8 * DAY);
  assert.is(find(fs, 'pos-1/printer/mechanical-error-recurring'), undefined, '1 occurrence left: undecided');
  fs = e.evaluate(T0 + 12 * DAY);
  assert.is(find(fs, 'pos-1/printer/mechanical-error-recurring')!.status, 'recovered');
  // Events count too, once per rising edge.
  const e2 = engine();
  for (const d of [0, 1]) {
    e2.observeEvent({ device: 'x', peripheral: 'printer', type: 'fault-raised', code: 'autocutter-error', at: T0 + d * DAY });
    e2.observeEvent({ device: 'x', peripheral: 'printer', type: 'fault-raised', code: 'autocutter-error', at: T0 + d * DAY + 1 });
    e2.observeEvent({ device: 'x', peripheral: 'printer', type: 'fault-cleared', code: 'autocutter-error', at: T0 + d * DAY + 2 });
  }
  e2.observeSample({ device: 'x', peripheral: 'printer', kind: 'printer', profile: 'epson-tm-t88vi', at: T0 + 2 * DAY });
  assert.is(find(e2.evaluate(T0 + 2 * DAY), 'x/printer/autocutter-error-recurring'), undefined, 'two edges, not four');
});

test('fault edges win over a sample measured before them that arrives after them (telemetry batches, events at once)', () => {
  // The agent publishes its fault events at once and its samples in batches: a sample measured
  // while the cutter was jammed can reach the collector after the "fault cleared" event.
  const e = engine();
  const dev = { device: 'pos-1', peripheral: 'printer' };
  const sample = (measuredAt: number, arrivedAt: number, faults: string[]) =>
    e.observeSample({ ...dev, kind: 'printer', profile: 'epson-tm-t88vi', at: arrivedAt, measuredAt, faults });
  const edge = (type: 'fault-raised' | 'fault-cleared', measuredAt: number) =>
    e.observeEvent({ ...dev, type, code: 'autocutter-error', at: measuredAt + 10, measuredAt });
  sample(T0, T0 + 10, []);
  for (const jam of [T0 + HOUR, T0 + 2 * HOUR]) {
    edge('fault-raised', jam);
    edge('fault-cleared', jam + 2000);
    // Measured 1 s into the jam, delivered after the clear event.
    sample(jam + 1000, jam + 3000, ['autocutter-error']);
    assert.is(find(e.evaluate(jam + 3000), 'pos-1/printer/autocutter-error')?.status, 'recovered', 'the stale sample does not raise the jam again');
  }
  const fs = e.evaluate(T0 + 2 * HOUR + 4000);
  assert.is(find(fs, 'pos-1/printer/autocutter-error-recurring'), undefined, 'two jams are two occurrences, not four');
  // The other way round: a sample measured before a raise, arriving after it, does not clear it.
  edge('fault-raised', T0 + 3 * HOUR);
  sample(T0 + 3 * HOUR - 500, T0 + 3 * HOUR + 1000, []);
  assert.is(find(e.evaluate(T0 + 3 * HOUR + 1000), 'pos-1/printer/autocutter-error')?.status, 'firing');
  // A sample measured after the latest edge still counts (a jam whose event was lost is seen).
  edge('fault-cleared', T0 + 3 * HOUR + 2000);
  sample(T0 + 4 * HOUR, T0 + 4 * HOUR + 10, ['autocutter-error']);
  const last = e.evaluate(T0 + 4 * HOUR + 10);
  assert.is(find(last, 'pos-1/printer/autocutter-error')?.status, 'firing');
  assert.is(find(last, 'pos-1/printer/autocutter-error-recurring')?.figures.occurrences, 4, 'jams at 1 h, 2 h, 3 h and 4 h');
});

test('reactive: profile priorities and holds; host faults; absent; low-priority warnings ignored', () => {
  const e = engine();
  e.observeSample({ ...tmT88vi, at: T0, faults: ['unrecoverable-error', 'paper-near-end', 'paper-end'] });
  e.observeSample({ device: 'pos-1', site: 's1', peripheral: 'host', kind: 'host', at: T0, faults: ['disk-low'] });
  e.observeSample({ device: 'clk-1', site: 's1', peripheral: 'clock', kind: 'clock', profile: 'zkteco-k40', at: T0, faults: ['log-memory-near-full'] });
  e.observeSample({ device: 'clk-1', site: 's1', peripheral: 'fp', kind: 'fingerprint', profile: 'grow-r503', at: T0, health: 'absent' });
  const fs = e.evaluate(T0 + 1000);
  const u = find(fs, 'pos-1/printer/unrecoverable-error')!;
  assert.equal([u.status, u.priority, u.issueType, u.holdMs, u.kind], ['firing', 'Urgent', 'printer-hardware', 0, 'fault']);
  assert.is(find(fs, 'pos-1/printer/paper-end')!.holdMs, 15 * 60_000, 'paper out beyond a hold time');
  assert.is(find(fs, 'pos-1/printer/paper-near-end'), undefined);
  assert.equal(find(fs, 'pos-1/host/disk-low')!.issueType, 'host-storage');
  assert.equal(find(fs, 'clk-1/clock/log-memory-near-full')!.runbook, { profile: 'zkteco-k40', code: 'log-memory-near-full' });
  const absent = find(fs, 'clk-1/fp/absent')!;
  assert.equal([absent.status, absent.issueType, absent.inhibitableBySite], ['firing', 'peripheral-connectivity', true]);
  assert.is(u.since, T0, 'the fault was first observed at T0: the hold counts from there');
  // Later samples with the same fault (and a raised event) do not move its start.
  e.observeSample({ ...tmT88vi, at: T0 + 2000, faults: ['unrecoverable-error'] });
  e.observeEvent({ device: 'pos-1', site: 's1', peripheral: 'printer', type: 'fault-raised', code: 'unrecoverable-error', at: T0 + 2500 });
  assert.is(find(e.evaluate(T0 + 3000), 'pos-1/printer/unrecoverable-error')!.since, T0);
  // Cleared.
  e.observeSample({ ...tmT88vi, at: T0 + 5000, faults: [] });
  assert.is(find(e.evaluate(T0 + 6000), 'pos-1/printer/unrecoverable-error')!.status, 'recovered');
});

test('reactive: device offline by LWT or staleness, clock drift of a dead RTC cell', () => {
  const e = engine({ reactive: { staleAfterMs: 10 * 60_000 } });
  e.observeDevice({ device: 'a', site: 's', online: false, reason: 'lwt', lastSeen: T0 });
  e.observeDevice({ device: 'b', site: 's', online: true, lastSeen: T0 });
  e.observeDevice({ device: 'c', site: 's', online: true, lastSeen: T0 + 9 * 60_000, clockOffsetMs: 26 * 365 * DAY });
  let fs = e.evaluate(T0 + 11 * 60_000);
  assert.equal(find(fs, 'a/device/offline')!.figures.reason, 'lwt');
  assert.equal(find(fs, 'b/device/offline')!.figures.reason, 'stale', 'broker lost the will: staleness timer');
  assert.is(find(fs, 'c/device/offline')!.status, 'recovered');
  assert.is(find(fs, 'c/device/clock-drift')!.status, 'firing');
  e.observeDevice({ device: 'c', site: 's', online: true, lastSeen: T0 + 12 * 60_000, clockOffsetMs: 90_000 });
  fs = e.evaluate(T0 + 12 * 60_000);
  assert.is(find(fs, 'c/device/clock-drift'), undefined, 'between thresholds: undecided');
  e.observeDevice({ device: 'c', site: 's', online: true, lastSeen: T0 + 13 * 60_000, clockOffsetMs: 300 });
  assert.is(find(e.evaluate(T0 + 13 * 60_000), 'c/device/clock-drift')!.status, 'recovered');
});

test('site: most devices of a site offline = one site finding; back = recovered', () => {
  const e = engine();
  for (const d of ['a', 'b', 'c', 'd']) e.observeDevice({ device: d, site: 'mall', online: d === 'd', reason: 'lwt', lastSeen: T0 });
  e.observeDevice({ device: 'z', site: 'other', online: false, reason: 'lwt', lastSeen: T0 });
  let fs = e.evaluate(T0 + 1000);
  const s = find(fs, 'site:mall/site/offline')!;
  assert.equal([s.status, s.scope, s.site, s.figures.offline, s.priority], ['firing', 'site', 'mall', 3, 'Urgent']);
  assert.is(find(fs, 'site:other/site/offline'), undefined, 'one device is not a site outage (minDevices 2)');
  e.observeDevice({ device: 'a', site: 'mall', online: true, lastSeen: T0 + 2000 });
  fs = e.evaluate(T0 + 3000);
  assert.is(find(fs, 'site:mall/site/offline'), undefined, '2 of 4 offline: between thresholds');
  e.observeDevice({ device: 'b', site: 'mall', online: true, lastSeen: T0 + 2000 });
  e.observeDevice({ device: 'c', site: 'mall', online: true, lastSeen: T0 + 4000 });
  assert.is(find(e.evaluate(T0 + 5000), 'site:mall/site/offline')!.status, 'recovered');
});

test('snapshot/restore gives the same findings (detector state can survive a restart)', () => {
  const a = engine();
  feedCutter(a, { from: T0, days: 20, start: 1_850_000, perDay: () => 5000 });
  feedSwipes(a, 'pos-1', { from: T0, samples: 60, rate: () => 0.02, seed: 1 });
  const b = engine();
  b.restore(JSON.parse(JSON.stringify(a.snapshot())));
  assert.equal(b.evaluate(T0 + 20 * DAY), a.evaluate(T0 + 20 * DAY));
});

test.run();
