// The virtual clock itself: punches fill the store and are lost when it is full, the fingerprint
// sensor wears out (more failed scans near end of life) and its failure is recorded as ground truth.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualZkClock } from '../../sim/zk-clock.js';
import { GroundTruthRecorder } from '../../sim/wear.js';

test('punches fill the record store; a full store loses punches', async () => {
  const c = await VirtualZkClock.start({ capacity: { records: 50 } });
  try {
    c.punch(60);
    assert.is(c.store.records, 50);
    assert.is(c.stats.punchesLostStoreFull, 10);
    assert.is(c.freeSizes().recordsAvailable, 0);
  } finally {
    await c.close();
  }
});

test('sensor wear: failed scans rise near end of life, the failure is recorded once, same seed same failure', async () => {
  const run = async () => {
    const recorder = new GroundTruthRecorder();
    const c = await VirtualZkClock.start({ capacity: { records: 1_000_000 }, sensorWear: { seed: 42, ratedScans: 20_000, recorder, peripheral: 'clock0' } });
    try {
      c.punch(4000);
      const early = c.stats.scanFailures / 4000;
      c.punch(30_000);
      const before = c.stats.scanFailures;
      c.punch(4000);
      const late = (c.stats.scanFailures - before) / 4000;
      return { early, late, records: recorder.records(), failed: c.sensor!.failed };
    } finally {
      await c.close();
    }
  };
  const a = await run();
  assert.ok(a.early < 0.05, `young sensor failure rate ${a.early}`);
  assert.ok(a.late > 0.9, `worn-out sensor failure rate ${a.late}`);
  assert.ok(a.failed);
  assert.is(a.records.length, 1);
  assert.is(a.records[0].part, 'sensor-window');
  assert.is(a.records[0].peripheral, 'clock0');
  const b = await run();
  assert.is(b.records[0].atUsage, a.records[0].atUsage);
});

test('the same port is served again after refusing', async () => {
  const c = await VirtualZkClock.start();
  try {
    const port = c.port;
    await c.setRefusing(true);
    await c.setRefusing(false);
    assert.is(c.port, port);
  } finally {
    await c.close();
  }
});

test.run();
