// Every bench script answers --help with what it measures and its options, and refuses an
// unknown flag with the usage (exit 64) instead of a stack trace.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH = fileURLToPath(new URL('../../bench/', import.meta.url));
const scripts = readdirSync(BENCH).filter((f) => f.endsWith('.js') && f !== 'help.js');

test('every bench script answers --help', () => {
  assert.ok(scripts.length >= 10, `bench scripts found: ${scripts.join(', ')}`);
  for (const s of scripts) {
    const r = spawnSync(process.execPath, [join(BENCH, s), '--help'], { encoding: 'utf8', timeout: 60_000 });
    assert.is(r.status, 0, `${s} --help: exit ${r.status}\n${r.stderr}`);
    assert.match(r.stdout, `usage: node dist/bench/${s}`, s);
    assert.ok(r.stdout.split('\n').length > 4, `${s}: the header comment is shown`);
  }
});

test('a bench option table shows defaults; an unknown flag is a usage error', () => {
  const help = spawnSync(process.execPath, [join(BENCH, 'noc-fleet.js'), '--help'], { encoding: 'utf8' });
  assert.match(help.stdout, '--devices DEVICES  (default 10000)');
  const bad = spawnSync(process.execPath, [join(BENCH, 'noc-fleet.js'), '--no-such-flag'], { encoding: 'utf8' });
  assert.is(bad.status, 64);
  assert.match(bad.stderr, "Unknown option '--no-such-flag'");
  assert.match(bad.stderr, 'usage: node dist/bench/noc-fleet.js');
});

test('a number flag that is not a number is a usage error, not a run of NaN', () => {
  const help = spawnSync(process.execPath, [join(BENCH, 'parts-forecast.js'), '--help'], { encoding: 'utf8' });
  assert.match(help.stdout, '--rounds ROUNDS  (default 20)');
  const bad = spawnSync(process.execPath, [join(BENCH, 'parts-forecast.js'), '--devices', 'ten'], { encoding: 'utf8' });
  assert.is(bad.status, 64);
  assert.match(bad.stderr, '--devices: expected a number, got "ten"');
  assert.match(bad.stderr, 'usage: node dist/bench/parts-forecast.js');
  const run = spawnSync(process.execPath, [join(BENCH, 'parts-forecast.js'), '--devices', '20', '--days', '2', '--rounds', '1'], { encoding: 'utf8' });
  assert.is(run.status, 0, run.stderr);
  assert.match(run.stdout, '20 devices');
});

test.run();
