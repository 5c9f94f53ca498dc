// The virtual Star printer's cutter wears out: failed cuts jam it near end of life, and the
// failure is recorded once as ground truth; the same seed fails at the same cut.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualStarPrinter } from '../../sim/star-printer.js';
import { GroundTruthRecorder } from '../../sim/wear.js';

async function wearOut(seed: number) {
  const recorder = new GroundTruthRecorder();
  const p = await VirtualStarPrinter.start({ cutterWear: { seed, ratedCuts: 2000, recorder, peripheral: 'star0' } });
  try {
    let jams = 0;
    for (let i = 0; i < 6000; i++) {
      p.cut(1);
      if (p.status().cutterError) {
        jams++;
        p.setCutterJam(false); // the store clears the jam and carries on
      }
    }
    return { jams, records: recorder.records(), failed: p.cutter!.failed, cuts: p.stats.cuts };
  } finally {
    await p.close();
  }
}

test('cutter wear: jams rise to failure, recorded once; same seed, same failure', async () => {
  const a = await wearOut(7);
  assert.ok(a.failed);
  assert.is(a.records.length, 1);
  assert.is(a.records[0].part, 'cutter');
  assert.ok(a.jams > 100, `jams ${a.jams}`);
  const b = await wearOut(7);
  assert.is(b.records[0].atUsage, a.records[0].atUsage);
});

test.run();
