// Runs every compiled test file (dist/test/**/*.test.js) in its own Node process, so that one
// file that crashes or hangs is counted as failed instead of taking the rest down, then prints
// the closing line `N passed, N failed[, N skipped]`. Usage: node dist/test/run.js [filter...]
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const FILE_TIMEOUT_MS = Number(process.env.TEST_FILE_TIMEOUT_MS ?? 10 * 60_000);

function findTests(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

type FileResult = { file: string; passed: number; failed: number; skipped: number; ms: number; note?: string };

// uvu's summary: "Total: N", "Passed: N", "Skipped: N" (colours stripped).
function parseSummary(out: string): { total: number; passed: number; skipped: number } | null {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips the ANSI colour codes (ESC [ ... m)
  const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
  const num = (label: string) => {
    const all = [...plain.matchAll(new RegExp(`${label}:\\s+(\\d+)`, 'g'))];
    return all.length ? Number(all[all.length - 1][1]) : null;
  };
  const total = num('Total');
  const passed = num('Passed');
  if (total === null || passed === null) return null;
  return { total, passed, skipped: num('Skipped') ?? 0 };
}

/** Makes a failed before/after hook print why (uvu 0.5 drops the error). */
const HOOK_ERRORS = new URL('./helpers/hook-errors.js', import.meta.url).href;

function runFile(file: string): Promise<FileResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--enable-source-maps', '--import', HOOK_ERRORS, file], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
    });
    let out = '';
    const onData = (b: Buffer) => {
      out += b.toString();
      process.stdout.write(b);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => child.kill('SIGKILL'), FILE_TIMEOUT_MS);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const s = parseSummary(out);
      const ms = Date.now() - started;
      if (!s) return resolve({ file, passed: 0, failed: 1, skipped: 0, ms, note: `no uvu summary (exit ${code ?? signal})` });
      // uvu's Total counts the tests that ran; skipped ones are only in Skipped.
      const failed = s.total - s.passed;
      // A file whose tests all passed but whose process then failed (e.g. an unhandled error
      // after the run) is still a failure: count it once.
      const late = failed === 0 && code !== 0 ? 1 : 0;
      resolve({ file, passed: s.passed, failed: failed + late, skipped: s.skipped, ms, note: late ? `exit ${code ?? signal} after tests` : undefined });
    });
  });
}

const filters = process.argv.slice(2);
const files = findTests(here).filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
const results: FileResult[] = [];
for (const f of files) {
  console.log(`\n▶ ${relative(here, f)}`);
  results.push(await runFile(f));
}
console.log('\nper file:');
for (const r of results) {
  console.log(
    `  ${r.failed ? 'FAIL' : 'ok  '} ${relative(here, r.file).padEnd(40)} ${r.passed} passed, ${r.failed} failed${r.skipped ? `, ${r.skipped} skipped` : ''}  ${(r.ms / 1000).toFixed(1)} s${r.note ? `  (${r.note})` : ''}`,
  );
}
const sum = (k: 'passed' | 'failed' | 'skipped') => results.reduce((a, r) => a + r[k], 0);
const skipped = sum('skipped');
console.log(`${sum('passed')} passed, ${sum('failed')} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exitCode = sum('failed') > 0 || files.length === 0 ? 1 : 0;
