// `fleetcare server` bounds its old generation's growth between full GCs (cli/server-heap.ts), set
// at run time: this checks that V8 really applies it then (a fresh node process with a live set and
// a churn of medium-lived objects, the pattern of messages in flight), and that a value given on
// node's command line is left alone.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { SERVER_HEAP_GROWING_PERCENT, SERVER_NODE_FLAGS, tuneServerHeap } from '../../cli/server-heap.js';

const MODULE = fileURLToPath(new URL('../../cli/server-heap.js', import.meta.url));

// Peak old-space use against the live size after a full GC. Without the setting V8 let this
// workload's old space reach ~6× its live size (5.8–6.0 in 4 runs); with it ~2× (2.0–2.2: the
// medium-lived set and V8's minimum growth step come on top of live × 1.2).
const WORKLOAD = `
import { getHeapSpaceStatistics } from 'node:v8';
import { tuneServerHeap } from ${JSON.stringify(MODULE)};
const applied = tuneServerHeap([]);
const oldSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'old_space');
const live = [];
for (let i = 0; i < 4e5; i++) live.push({ i, s: 'd' + i });
let mid = [];
let peak = 0;
for (let i = 0; i < 8e6; i++) {
  mid.push({ i });
  if (mid.length > 3e5) mid = [];
  if (i % 2e4 === 0) peak = Math.max(peak, oldSpace().space_used_size);
}
mid = [];
globalThis.gc();
console.log(JSON.stringify({ applied, ratio: peak / oldSpace().space_used_size, live: live.length }));
`;

test('the old generation grows to a bounded multiple of its live size, set at run time', () => {
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', WORKLOAD], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  assert.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { applied: string; ratio: number };
  assert.is(out.applied, `--heap-growing-percent=${SERVER_HEAP_GROWING_PERCENT}`);
  assert.ok(out.ratio < 3.5, `old space peaked at ${out.ratio.toFixed(2)}× its live size`);
});

test("node's own --heap-growing-percent on its command line wins", () => {
  assert.is(tuneServerHeap(['--max-old-space-size=512', '--heap-growing-percent=50']), '--heap-growing-percent=50');
  assert.is(tuneServerHeap(['--heap_growing_percent=30']), '--heap_growing_percent=30');
});

test('the launch flags give the young generation 2 × 32 MB (V8 default here: 2 × 16)', () => {
  // A churn of short-lived objects makes V8 grow the new space to its maximum.
  const churn = `const v8 = require('node:v8'); let keep = []; let max = 0;
    for (let i = 0; i < 4e6; i++) { keep.push({ i }); if (keep.length > 5e5) keep = [];
      if (i % 1e5 === 0) max = Math.max(max, v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size); }
    console.log(max / 1048576);`;
  const r = spawnSync(process.execPath, [...SERVER_NODE_FLAGS, '-e', churn], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, NODE_OPTIONS: '' } });
  assert.is(r.status, 0, r.stderr);
  assert.is(Number(r.stdout.trim()), 64);
  // `npm run server` passes the same flags (package.json has no way to import them).
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { scripts: Record<string, string> };
  assert.is(pkg.scripts.server, `node ${SERVER_NODE_FLAGS.join(' ')} dist/cli/fleetcare.js server`);
});

test.run();
