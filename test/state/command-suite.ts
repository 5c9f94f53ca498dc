// What the tests of `fleetcare` commands against the state stores share (migrate-command,
// server-start): the built CLI run to its end, one PostgreSQL server for the file and a fresh temp
// dir for each test.
import { spawnSync } from 'node:child_process';
import { suite, type Test } from 'uvu';
import { CLI } from '../helpers/cli.js';
import { TestPostgres } from '../helpers/postgres.js';
import { tempDir, type TempDir } from '../helpers/tmp.js';

/** Runs the CLI and waits for it (spawnSync: nothing in this process has to keep serving meanwhile). */
export function runToEnd(args: string[], timeoutMs: number): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A suite whose `env.pg` is started before its tests and `env.dir` made anew for each test. */
export function stateCommandSuite(title: string, dirPrefix: string): { test: Test; env: { pg: TestPostgres; dir: TempDir } } {
  const test = suite(title);
  const env = {} as { pg: TestPostgres; dir: TempDir };
  test.before(async () => {
    env.pg = await TestPostgres.create();
  });
  test.after(async () => {
    await env.pg?.destroy();
  });
  test.before.each(() => {
    env.dir = tempDir(dirPrefix);
  });
  test.after.each(() => env.dir.remove());
  return { test, env };
}
