// The shared wear model: seeded and reproducible, error rate flat when young and rising near the
// end of life (statistical, fixed seed), failure recorded once as ground truth, JSONL output.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp.js';
import { GroundTruthRecorder, WearPart, deriveSeed, seededRandom } from '../../sim/wear.js';

const part = (seed: number, usage: number, recorder?: GroundTruthRecorder, clock?: () => number) =>
  new WearPart({
    device: 'pos-001',
    peripheral: 'fp0',
    part: 'sensor-window',
    ratedLife: 10_000,
    usage,
    baseErrorRate: 0.02,
    endErrorRate: 0.6,
    random: seededRandom(seed),
    recorder,
    clock,
  });

test('same seed, same life and same outcomes; different labels give independent streams', () => {
  const a = part(42, 0);
  const b = part(42, 0);
  assert.is(a.actualLife, b.actualLife);
  assert.equal(
    Array.from({ length: 200 }, () => a.use()),
    Array.from({ length: 200 }, () => b.use()),
  );
  assert.is.not(deriveSeed(1, 'a'), deriveSeed(1, 'b'));
  assert.is(deriveSeed(1, 'a'), deriveSeed(1, 'a'));
});

test('error rate rises near the end of life (statistical, fixed seed)', () => {
  const young = part(7, 0);
  const ratio = (p: WearPart, n: number) => Array.from({ length: n }, () => p.use()).filter(Boolean).length / n;
  const youngRate = ratio(young, 2000);
  const old = part(7, 0);
  old.advance(old.actualLife * 0.95);
  const oldRate = ratio(old, 300);
  assert.ok(youngRate < 0.05, `young ${youngRate}`);
  assert.ok(oldRate > 0.3, `near end ${oldRate}`);
  assert.ok(old.errorRate() > young.errorRate());
  // Across 200 parts, actual lives spread around the rated life (Weibull shape 4).
  const lives = Array.from({ length: 200 }, (_, i) => part(1000 + i, 0).actualLife / 10_000).sort((x, y) => x - y);
  const median = lives[100];
  assert.ok(median > 0.8 && median < 1.1, `median ${median}`);
  assert.ok(lives[0] < 0.7 && lives[199] > 1.1);
});

test('an aged part survives its age: its actual life is beyond the usage it starts with', () => {
  for (let i = 0; i < 100; i++) assert.ok(part(i, 12_000).actualLife > 12_000);
});

test('failure is recorded once as ground truth with sim time and usage; JSONL on disk', () => {
  const dir = tempDir('fleetcare-wear-');
  try {
    const file = join(dir.path, 'truth.jsonl');
    const rec = new GroundTruthRecorder(file);
    let now = 1_700_000_000_000;
    const p = part(3, 9_000, rec, () => now);
    while (!p.failed) {
      p.use();
      now += 1000;
    }
    for (let i = 0; i < 10; i++) p.use();
    assert.is(p.errorRate(), 1);
    const list = rec.records();
    assert.is(list.length, 1);
    assert.equal(Object.keys(list[0]), ['device', 'peripheral', 'part', 'failedAt', 'atUsage']);
    assert.is(list[0].part, 'sensor-window');
    assert.is(list[0].atUsage, Math.round(p.actualLife));
    assert.ok(list[0].failedAt > 1_700_000_000_000 && list[0].failedAt <= now);
    assert.equal(
      readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
      list,
    );
    rec.writeJsonl(join(dir.path, 'copy.jsonl'));
    assert.is(readFileSync(join(dir.path, 'copy.jsonl'), 'utf8'), rec.toJsonl());
  } finally {
    dir.remove();
  }
});

test.run();
