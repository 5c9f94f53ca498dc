// `fleetcare server` checks its state stores before it binds anything: a store written by a newer
// fleetcare, a bad `state` config and an unreachable PostgreSQL each stop it with one clear line,
// exit code ≠ 0, no port bound and the store unchanged. A good PostgreSQL is migrated at start.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { CLI } from '../helpers/cli.js';
import Database from 'better-sqlite3';
import * as assert from 'uvu/assert';
import { createPgClient } from '../../state/postgres/db.js';
import { freePort, waitFor } from '../helpers/net.js';
import { runToEnd, stateCommandSuite } from './command-suite.js';

const run = (args: string[]) => runToEnd(args, 30_000);

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });

const { test, env } = stateCommandSuite('server start: state stores', 'fleetcare-start-');

test('a SQLite store from a newer fleetcare: refused, exit 1, nothing bound, file unchanged', async () => {
  mkdirSync(join(env.dir.path, 'collector'));
  const file = join(env.dir.path, 'collector', 'incidents.db');
  const db = new Database(file);
  db.exec(`CREATE TABLE fleetcare_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL);
    INSERT INTO fleetcare_migrations VALUES ('0001-incidents-and-tickets', 1), ('0002-from-a-newer-build', 2);`);
  db.close();
  const before = readFileSync(file);
  const port = await freePort();
  const r = run(['server', '--data-dir', env.dir.path, '--port', String(port), '--http-port', '0']);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /fleetcare: .*incidents\.db.*newer fleetcare.*0002-from-a-newer-build/);
  assert.not.ok(await listening(port), 'the broker port was not bound');
  assert.ok(readFileSync(file).equals(before), 'the file is unchanged');
});

test('bad state config names the field; an unreachable PostgreSQL is named without its password', async () => {
  const cfg = join(env.dir.path, 'server.json');
  writeFileSync(cfg, JSON.stringify({ state: { kind: 'postgres' } }));
  const bad = run(['server', '--config', cfg, '--data-dir', env.dir.path, '--port', '0', '--http-port', '0']);
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /state\.url/);
  writeFileSync(cfg, JSON.stringify({ state: { kind: 'mysql' } }));
  assert.match(run(['server', '--config', cfg, '--data-dir', env.dir.path]).stderr, /state\.kind/);
  const port = await freePort();
  const deadPort = await freePort();
  writeFileSync(cfg, JSON.stringify({ state: { kind: 'postgres', url: `postgres://fleetcare:hunter2@127.0.0.1:${deadPort}/fleet` } }));
  const down = run(['server', '--config', cfg, '--data-dir', env.dir.path, '--port', String(port), '--http-port', '0']);
  assert.is(down.code, 1);
  assert.match(down.stderr, new RegExp(`PostgreSQL at postgres://fleetcare:\\*\\*\\*@127\\.0\\.0\\.1:${deadPort}/fleet: cannot connect`));
  assert.not.match(down.stderr, 'hunter2');
  assert.not.ok(await listening(port));
});

/** A `fleetcare server` process; resolves once its NOC listens, with the NOC's URL. */
async function startServer(args: string[]): Promise<{ url: string; out: () => string; stop(): Promise<void> }> {
  const server = spawn(process.execPath, [CLI, 'server', ...args, '--port', '0', '--http-port', '0', '--log-level', 'info'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  server.stdout.on('data', (b: Buffer) => (out += b.toString()));
  server.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const stop = async () => {
    if (server.exitCode !== null) return;
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  };
  try {
    await waitFor(
      'the server to start',
      () => {
        if (server.exitCode !== null) throw new Error(`server exited: ${out.slice(-2000)}`);
        return out.includes('fleetcare server started');
      },
      30_000,
    );
  } catch (e) {
    await stop();
    throw e;
  }
  const url = /"msg":"NOC listening"/.test(out) ? /"url":"(http:\/\/[^"]+)","msg":"NOC listening"/.exec(out)?.[1] : undefined;
  if (!url) throw new Error(`no NOC url in: ${out.slice(-2000)}`);
  return { url, out: () => out, stop };
}

test('with state in PostgreSQL: migrated at start; users, sessions and CSRF tokens are shared by every NOC node', async () => {
  const url = await env.pg.createDatabase('start');
  const cfg = join(env.dir.path, 'server.json');
  writeFileSync(cfg, JSON.stringify({ state: { kind: 'postgres', url } }));
  const pw = join(env.dir.path, 'pw');
  writeFileSync(pw, 'correct horse battery\n');
  const add = run(['user', 'add', 'alice', '--role', 'operator', '--config', cfg, '--password-file', pw]);
  assert.is(add.code, 0, add.stderr);
  mkdirSync(join(env.dir.path, 'a'));
  mkdirSync(join(env.dir.path, 'b'));
  const a = await startServer(['--config', cfg, '--data-dir', join(env.dir.path, 'a')]);
  let b: Awaited<ReturnType<typeof startServer>> | null = null;
  try {
    b = await startServer(['--config', cfg, '--data-dir', join(env.dir.path, 'b')]);
    assert.match(a.out(), 'PostgreSQL state schema ready');
    const c = createPgClient(url);
    await c.connect();
    const names = (await c.query('SELECT name FROM fleetcare_migrations')).rows.map((r: { name: string }) => r.name);
    await c.end();
    assert.ok(names.includes('0001-tickets') && names.includes('0003-noc-accounts'));
    assert.ok(statSync(join(env.dir.path, 'a', 'collector', 'incidents.db')).size > 0);
    // Log in on node A …
    const login = await fetch(`${a.url}/api/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: 'correct horse battery' }),
    });
    assert.is(login.status, 200);
    const cookie = login.headers.get('set-cookie')!.split(';')[0];
    const { csrfToken } = (await login.json()) as { csrfToken: string };
    // … and node B knows the session and its CSRF token.
    const me = await fetch(`${b.url}/api/me`, { headers: { Cookie: cookie } });
    assert.is(me.status, 200);
    assert.equal(await me.json(), { user: { name: 'alice', role: 'operator' }, csrfToken });
    const forged = await fetch(`${b.url}/api/logout`, { method: 'POST', headers: { Cookie: cookie } });
    assert.is(forged.status, 403, 'a state change without the CSRF token is refused on B as well');
    const out = await fetch(`${b.url}/api/logout`, { method: 'POST', headers: { Cookie: cookie, 'X-CSRF-Token': csrfToken } });
    assert.is(out.status, 200);
    assert.is((await fetch(`${a.url}/api/me`, { headers: { Cookie: cookie } })).status, 401, 'logged out on B = logged out on A');
  } finally {
    await b?.stop();
    await a.stop();
  }
});

test.run();
