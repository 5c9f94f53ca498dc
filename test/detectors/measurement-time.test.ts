// Issue 17 on crafted series: which device times are trusted, a coarse counter (whole km) gets a
// rate, a seasonal peak does not shrink the wear ETA, a burst at the warning level needs its hold
// in uses, and a printer cutter is judged by its failed cuts (from autocutter-error edges).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultFirmwareProfilesDir, loadFirmwareProfiles } from '../../firmware-profiles/index.js';
import { DetectorEngine, detectorConfig, measurementTime, msrSample, seededRandom, type Finding } from './fixtures.js';

const profiles = loadFirmwareProfiles(defaultFirmwareProfilesDir());
const DAY = 86_400_000;
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 5);
const cfg = detectorConfig.parse({}).measurementTime;
const find = (fs: Finding[], key: string) => fs.find((f) => f.key === key);

test('measurementTime: plausible device times are kept; 1970, the far future and beyond the measured offset are placed at arrival and flagged', () => {
  const now = Date.UTC(2026, 5, 1, 12);
  assert.equal(measurementTime(now - 3 * DAY, now, 200, cfg), { at: now - 3 * DAY, trusted: true }, 'a 3-day backlog keeps its time');
  assert.equal(measurementTime(now + 60_000, now, undefined, cfg), { at: now, trusted: true }, 'within the tolerance: never after its arrival');
  assert.equal(measurementTime(5000, now, undefined, cfg), { at: now, trusted: false, reason: 'before-floor' });
  assert.equal(measurementTime(Date.UTC(2000, 0, 1), now, undefined, cfg), { at: now, trusted: false, reason: 'before-floor' }, 'a dead RTC cell');
  assert.equal(measurementTime(now + 365 * DAY, now, undefined, cfg), { at: now, trusted: false, reason: 'ahead-of-arrival' });
  // A device clock measured to run 1 h ahead: its samples 1 h "in the future" are fine, moved back by the offset.
  assert.equal(measurementTime(now + HOUR - 1000, now, -HOUR, cfg), { at: now - 1000, trusted: true });
  assert.equal(measurementTime(now + 3 * HOUR, now, -HOUR, cfg), { at: now, trusted: false, reason: 'ahead-of-arrival' }, 'beyond the measured offset');
  assert.equal(measurementTime(now - 400 * DAY, now, 0, cfg), { at: now, trusted: false, reason: 'older-than-backlog' });
});

test('wear-out: a coarse counter in whole km (Bixolon head, 100 km) gets a rate and an ETA from a longer window', () => {
  const e = new DetectorEngine(profiles);
  // 0.08 km a day: the km counter steps every 12.5 days. Head at 96 km after 150 days.
  let km = 84;
  for (let d = 0; d <= 150; d++) {
    if (d > 0 && d % 12.5 < 1) km = 84 + Math.floor(d * 0.08);
    e.observeSample({
      device: 'pos-b',
      peripheral: 'printer',
      kind: 'printer',
      profile: 'bixolon-srp-350',
      at: T0 + d * DAY,
      counters: { paperFedKm: 84 + Math.floor(d * 0.08), autocutterCuts: 1000 + d * 100 },
    });
  }
  void km;
  const f = find(e.evaluate(T0 + 150 * DAY), 'pos-b/printer/head-wear-out');
  assert.ok(f, 'a finding for the head');
  assert.ok(Math.abs((f!.figures.ratePerDay as number) - 0.08) < 0.01, `rate ${f!.figures.ratePerDay} km/day`);
  const etaDays = (f!.eta! - (T0 + 150 * DAY)) / DAY;
  assert.ok(etaDays > 30 && etaDays < 70, `ETA ${etaDays} days (96 of 100 km at 0.08 km/day ≈ 50 days)`);
});

test('wear-out: a seasonal peak (×3 for four weeks) does not pull the ETA inside the lead time', () => {
  // TM-T88VI cutter (2 M cuts): 3,000 cuts/day for 72 days, then a 28-day peak at 9,000/day: 1.87 M used, 132 k left.
  const feed = (e: DetectorEngine) => {
    let cuts = 1_400_000;
    for (let d = 0; d < 100; d++) {
      cuts += d >= 72 ? 9000 : 3000;
      e.observeSample({
        device: 'pos-s',
        peripheral: 'printer',
        kind: 'printer',
        profile: 'epson-tm-t88vi',
        at: T0 + d * DAY,
        counters: { autocutterCuts: cuts, linesFed: 1000 },
      });
    }
    return find(e.evaluate(T0 + 99 * DAY), 'pos-s/printer/cutter-wear-out');
  };
  const f = feed(new DetectorEngine(profiles, { wear: { deferToErrorRate: false } }));
  assert.not.ok(f?.status === 'firing', `ETA ${f?.figures.etaDays} days at ${f?.figures.ratePerDay}/day`);
  // The former 14-day window saw only the peak: 15 days left, a planned replacement months early.
  const short = feed(new DetectorEngine(profiles, { wear: { deferToErrorRate: false, rateWindowMs: 14 * DAY, minPairSpanMs: DAY } }));
  assert.is(short?.status, 'firing');
});

/** Card-reader counters, 2,400 swipes a day in 24 hourly samples, failed reads at rate(day). */
function swipes(e: DetectorEngine, days: number, rate: (day: number) => number, seed: number): number {
  const rnd = seededRandom(seed);
  let s = 0;
  let f = 0;
  for (let h = 0; h < days * 24; h++) {
    for (let i = 0; i < 100; i++) {
      s++;
      if (rnd() < rate(h / 24)) f++;
    }
    e.observeSample(msrSample(T0 + h * HOUR, s, f));
  }
  return T0 + days * 24 * HOUR;
}

test('degradation: a one-day burst above the warning level (a bad batch of cards) does not fire; a sustained rise does', () => {
  const key = 'pos-m/msr/read-head-wear-out';
  const e = new DetectorEngine(profiles);
  let firing = false;
  const end = swipes(e, 40, (d) => (d >= 25 && d < 26 ? 0.3 : 0.01), 3);
  for (let t = T0 + 20 * DAY; t <= end; t += 6 * HOUR) firing ||= find(e.evaluate(t), key)?.status === 'firing';
  assert.not.ok(firing, 'a 1-day burst at 30 % (2× the 15 % warning level) does not ticket');
  const e2 = new DetectorEngine(profiles);
  const end2 = swipes(e2, 40, (d) => (d < 25 ? 0.01 : Math.min(0.3, 0.01 + 0.03 * (d - 25))), 3);
  assert.is(find(e2.evaluate(end2), key)?.status, 'firing', 'a rise that keeps rising does');
});

test('printer cutter: failed cuts from autocutter-error edges are its health signal; a worn cutter whose cuts fail fires', () => {
  const key = 'pos-c/printer/cutter-wear-out';
  const feed = (e: DetectorEngine, failing: (d: number) => number) => {
    const rnd = seededRandom(9);
    let cuts = 1_950_000; // 97.5 % of the 2 M rated cuts
    for (let h = 0; h < 30 * 24; h++) {
      cuts += 200;
      const at = T0 + h * HOUR;
      // Each failed cut is one autocutter-error raised and cleared (the agent's fault events).
      let jams = 0;
      for (let i = 0; i < 200; i++) if (rnd() < failing(h / 24)) jams++;
      for (let j = 0; j < jams; j++) {
        e.observeEvent({ device: 'pos-c', peripheral: 'printer', type: 'fault-raised', code: 'autocutter-error', at: at - 1000 + j * 10 });
        e.observeEvent({ device: 'pos-c', peripheral: 'printer', type: 'fault-cleared', code: 'autocutter-error', at: at - 1000 + j * 10 + 5 });
      }
      e.observeSample({
        device: 'pos-c',
        peripheral: 'printer',
        kind: 'printer',
        profile: 'epson-tm-t88vi',
        at,
        counters: { autocutterCuts: cuts, linesFed: 1000 },
        faults: [],
      });
    }
    return e.evaluate(T0 + 30 * 24 * HOUR);
  };
  // Healthy cuts: the rating alone no longer tickets (the rate defers it until the backstop).
  assert.not.ok(
    find(
      feed(new DetectorEngine(profiles), () => 0.0002),
      key,
    )?.status === 'firing',
  );
  // Failing cuts from day 10 on (2 % and rising): the failed-cuts rate fires the cutter's finding.
  const f = find(
    feed(new DetectorEngine(profiles), (d) => (d < 10 ? 0.0002 : 0.02 + 0.002 * (d - 10))),
    key,
  );
  assert.is(f?.status, 'firing');
  assert.is(f?.detector, 'degradation');
  assert.is(f?.figures.rate, 'failed-cuts');
});

test('a store closure (10 days without use, samples still coming) does not ticket, nor does the reopening', () => {
  const key = 'pos-m/msr/read-head-wear-out';
  const e = new DetectorEngine(profiles);
  const rnd = seededRandom(11);
  let s = 500_000;
  let f = 5_000;
  let firing = false;
  for (let h = 0; h < 60 * 24; h++) {
    const day = h / 24;
    const open = !(day >= 30 && day < 40) && h % 24 >= 8 && h % 24 < 20;
    if (open) {
      // After the closure the store catches up: twice the trade for a week.
      const n = day >= 40 && day < 47 ? 400 : 200;
      for (let i = 0; i < n; i++) if (rnd() < 0.01) f++;
      s += n;
    }
    e.observeSample(msrSample(T0 + h * HOUR, s, f));
    if (h % 6 === 0 && day > 20) firing ||= find(e.evaluate(T0 + h * HOUR), key)?.status === 'firing';
  }
  assert.not.ok(firing);
});

test.run();
