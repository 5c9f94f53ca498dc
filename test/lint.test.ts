// Biome's formatter check and linter over the whole tree (biome.jsonc says which rules and why), as
// one test line of `npm test`: a finding (error or warning) or a file the formatter would change
// fails the run with biome's own report. `npm run lint` shows the same; `npm run format` fixes layout.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = fileURLToPath(new URL('../..', import.meta.url));
const biome = fileURLToPath(new URL('../../node_modules/@biomejs/biome/bin/biome', import.meta.url));

test('biome check (format and lint) finds nothing', () => {
  const r = spawnSync(process.execPath, [biome, 'check', '--colors=off', '--error-on-warnings', '--max-diagnostics=50', '.'], { cwd: root, encoding: 'utf8' });
  assert.is(r.error, undefined, `biome did not run: ${r.error?.message}`);
  assert.ok(
    r.status === 0,
    `biome check found problems (npm run format fixes layout; fix the rest, or see biome.jsonc for the rules):\n${r.stdout}${r.stderr}`,
  );
});

test.run();
