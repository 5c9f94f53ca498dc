// `fleetcare server` checks its state stores before it binds anything: a store written by a newer
// fleetcare, a bad `state` config and an unreachable PostgreSQL each stop it with one clear line,
// exit code ≠ 0, no port bound and the store unchanged. A good PostgreSQL is migrated at start.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createPgClient } from '../../state/postgres/db.js';
import { freePort, tempDir, waitFor, type TempDir } from '../helpers/net.js';
import { TestPostgres } from '../helpers/postgres.js';

const CLI = fileURLToPath(new URL('../../cli/fleetcare.js', import.meta.url));

function run(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });

const test = suite('server start: state stores');
let dir: TempDir;
let pg: TestPostgres;
test.before(async () => {
  pg = await TestPostgres.create();
});
test.after(async () => {
  await pg?.destroy();
});
test.before.each(() => {
  dir = tempDir('fleetcare-start-');
});
test.after.each(() => dir.remove());

test('a SQLite store from a newer fleetcare: refused, exit 1, nothing bound, file unchanged', async () => {
  mkdirSync(join(dir.path, 'collector'));
  const file = join(dir.path, 'collector', 'incidents.db');
  const db = new Database(file);
  db.exec(`CREATE TABLE fleetcare_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL);
    INSERT INTO fleetcare_migrations VALUES ('0001-incidents-and-tickets', 1), ('0002-from-a-newer-build', 2);`);
  db.close();
  const before = readFileSync(file);
  const port = await freePort();
  const r = run(['server', '--data-dir', dir.path, '--port', String(port), '--http-port', '0']);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /fleetcare: .*incidents\.db.*newer fleetcare.*0002-from-a-newer-build/);
  assert.not.ok(await listening(port), 'the broker port was not bound');
  assert.ok(readFileSync(file).equals(before), 'the file is unchanged');
});

test('bad state config names the field; an unreachable PostgreSQL is named without its password', async () => {
  const cfg = join(dir.path, 'server.json');
  writeFileSync(cfg, JSON.stringify({ state: { kind: 'postgres' } }));
  const bad = run(['server', '--config', cfg, '--data-dir', dir.path, '--port', '0', '--http-port', '0']);
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /state\.url/);
  writeFileSync(cfg, JSON.stringify({ state: { kind: 'mysql' } }));
  assert.match(run(['server', '--config', cfg, '--data-dir', dir.path]).stderr, /state\.kind/);
  const port = await freePort();
  const deadPort = await freePort();
  writeFileSync(cfg, JSON.stringify({ state: { kind: 'postgres', url: `postgres://fleetcare:hunter2@127.0.0.1:${deadPort}/fleet` } }));
  const down = run(['server', '--config', cfg, '--data-dir', dir.path, '--port', String(port), '--http-port', '0']);
  assert.is(down.code, 1);
  assert.match(down.stderr, new RegExp(`PostgreSQL at postgres://fleetcare:\\*\\*\\*@127\\.0\\.0\\.1:${deadPort}/fleet: cannot connect`));
  assert.not.match(down.stderr, 'hunter2');
  assert.not.ok(await listening(port));
});

test('a reachable PostgreSQL is migrated at start, then the server runs', async () => {
  const url = await pg.createDatabase('start');
  const cfg = join(dir.path, 'server.json');
  writeFileSync(cfg, JSON.stringify({ state: { kind: 'postgres', url } }));
  const server = spawn(process.execPath, [CLI, 'server', '--config', cfg, '--data-dir', dir.path, '--port', '0', '--http-port', '0', '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  server.stdout.on('data', (b: Buffer) => (out += b.toString()));
  server.stderr.on('data', (b: Buffer) => (out += b.toString()));
  try {
    await waitFor('the server to start', () => out.includes('fleetcare server started'), 30_000);
    assert.match(out, 'PostgreSQL state schema ready');
    const c = createPgClient(url);
    await c.connect();
    const names = (await c.query('SELECT name FROM fleetcare_migrations')).rows.map((r: { name: string }) => r.name);
    await c.end();
    assert.ok(names.includes('0001-tickets'));
    assert.ok(statSync(join(dir.path, 'collector', 'incidents.db')).size > 0);
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
});

test.run();
