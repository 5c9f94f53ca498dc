// The fleet life fit: a Weibull MLE with right-censoring recovers the parameters of simulated
// lives (with parts still alive), and the conditional failure risk over a lead window.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { conditionalFailure, fitLifeModels, fitWeibull, lifeGroups } from '../../collector/reliability/index.js';
import { seededRandom } from './fixtures.js';

test('Weibull fit with censoring recovers shape and scale of simulated lives', () => {
  const rnd = seededRandom(3);
  const shape = 2.5;
  const scale = 800_000;
  const obs = [];
  for (let i = 0; i < 400; i++) {
    const life = scale * (-Math.log(1 - rnd())) ** (1 / shape);
    const censorAt = rnd() * 1_200_000; // observed until a random time: still alive if its life is longer
    obs.push(life <= censorAt ? { usage: life, failed: true } : { usage: censorAt, failed: false });
  }
  const f = fitWeibull(obs)!;
  assert.ok(f.failures > 100 && f.censored > 100, `${f.failures} failures, ${f.censored} censored`);
  assert.ok(Math.abs(f.shape - shape) / shape < 0.15, `shape ${f.shape}`);
  assert.ok(Math.abs(f.scale - scale) / scale < 0.1, `scale ${f.scale}`);
  // Ignoring the censored parts (failures only) would underestimate the life.
  const naive = fitWeibull(obs.filter((o) => o.failed))!;
  assert.ok(naive.scale < 0.9 * f.scale, 'censoring matters');
});

test('fewer than two failures: no fit; models are grouped per profile and part', () => {
  assert.is(
    fitWeibull([
      { usage: 10, failed: true },
      { usage: 20, failed: false },
    ]),
    null,
  );
  const groups = lifeGroups(
    [
      { profile: 'grow-r503', part: 'sensor-window', usage: 900_000, failed: true },
      { profile: 'grow-r503', part: 'sensor-window', usage: 1_100_000, failed: true },
      { part: 'x', failed: true },
    ],
    [{ profile: 'grow-r503', part: 'sensor-window', usage: 500_000 }],
  );
  const models = fitLifeModels(groups);
  assert.is(models.length, 1);
  assert.equal([models[0].profile, models[0].part, models[0].failures, models[0].censored], ['grow-r503', 'sensor-window', 2, 1]);
});

test('conditional failure risk over a lead window rises with age for a wear-out shape', () => {
  const young = conditionalFailure(4, 1_000_000, 200_000, 50_000);
  const old = conditionalFailure(4, 1_000_000, 1_000_000, 50_000);
  assert.ok(young < 0.01 && old > 0.15, `young ${young}, old ${old}`);
  assert.is(conditionalFailure(4, 1_000_000, 500_000, 0), 0);
});

test.run();
