// Architecture rule: the agent shares only protocol/ with the server side; it never imports
// broker/ or collector/ code (it ships alone to POS terminals).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : n.endsWith('.ts') ? [p] : [];
  });
}

test('agent/ imports nothing from broker/, collector/, cli/ or sim/', () => {
  const files = sources(join(root, 'agent'));
  assert.ok(files.length >= 6, `found ${files.length} agent sources`);
  const bad: string[] = [];
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
      const spec = m[1] ?? m[2];
      if (!spec.startsWith('.')) continue;
      const target = relative(root, resolve(dirname(f), spec));
      const top = target.split('/')[0];
      if (['broker', 'collector', 'cli', 'sim'].includes(top)) bad.push(`${relative(root, f)} → ${spec}`);
    }
  }
  assert.equal(bad, []);
});

test.run();
