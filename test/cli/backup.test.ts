// `fleetcare backup` / `restore` as an operator runs them: a backup taken while a real server
// (its own process) writes, a restore refused while that server runs, then backup → wipe →
// restore gives back the same tickets, devices and NOC users; a damaged backup is refused.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { TicketOutbox } from '../../collector/tickets/index.js';
import { freePort, waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';

const CLI = fileURLToPath(new URL('../../cli/fleetcare.js', import.meta.url));

function run(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000, input });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function startServer(dataDir: string, port: number, httpPort: number): Promise<{ proc: ChildProcess; stop(): Promise<void> }> {
  const proc = spawn(process.execPath, [CLI, 'server', '--data-dir', dataDir, '--port', String(port), '--http-port', String(httpPort), '--log-level', 'info'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logs = '';
  proc.stdout!.on('data', (b) => (logs += b));
  proc.stderr!.on('data', (b) => (logs += b));
  await waitFor(`server started (${logs.slice(-300)})`, () => logs.includes('fleetcare server started') || proc.exitCode !== null, 30_000);
  if (proc.exitCode !== null) throw new Error(`server exited: ${logs}`);
  return {
    proc,
    async stop() {
      if (proc.exitCode !== null) return;
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    },
  };
}

test('backup while the server runs; restore refused while it runs; backup → wipe → restore gives back the same tickets', async () => {
  const dir = tempDir('fleetcare-backup-');
  const data = join(dir.path, 'data');
  const backup = join(dir.path, 'backup');
  const port = await freePort();
  const httpPort = await freePort();
  const server = await startServer(data, port, httpPort);
  try {
    const flags = ['--data-dir', data];
    assert.is(run(['device', 'add', 'pos-1', '--site', 'tehran-vanak-01', '--tenant', 'shahrvand-retail', ...flags]).code, 0);
    assert.is(run(['user', 'add', 'noor', '--role', 'operator', ...flags], 'night-shift-2026\n').code, 0);
    // Tickets written the way the incident service writes them, into the running server's database.
    const db = new Database(join(data, 'collector', 'incidents.db'), { timeout: 10_000 });
    const outbox = new TicketOutbox(db, { sinks: [] });
    for (const [device, fault] of [
      ['pos-1', 'autocutter-error'],
      ['pos-2', 'paper-end'],
    ])
      outbox.enqueue({
        kind: 'create',
        key: `${device}/printer0/${fault}`,
        at: Date.now(),
        eventId: `${device}-${fault}-opened`,
        ticket: {
          subject: `Fault: ${device}/printer0 ${fault}`,
          description: fault,
          priority: 'High',
          issueType: 'Hardware Failure',
          customer: 'shahrvand-retail',
          site: 'tehran-vanak-01',
          device,
          peripheral: 'printer0',
        },
      });
    db.close();
    assert.is(run(['tickets', 'ack', 'pos-1/printer0/autocutter-error', '--comment', 'on it', ...flags]).code, 0);
    const tickets = JSON.parse(run(['tickets', 'list', '--json', ...flags]).stdout);
    assert.is(tickets.length, 2);
    const devices = run(['device', 'list', '--json', ...flags]).stdout;
    const users = run(['user', 'list', '--json', ...flags]).stdout;

    const b = run(['backup', backup, ...flags]);
    assert.is(b.code, 0, b.stderr);
    // Every SQLite database the running server keeps in its data dir, whichever parts made them.
    const databases = readdirSync(data, { recursive: true, encoding: 'utf8' }).filter((f) => /\.(db|sqlite)$/.test(f));
    assert.ok(databases.length >= 6, databases.join(', '));
    assert.match(b.stdout, `${databases.length} database(s)`);
    for (const f of databases) assert.ok(existsSync(join(backup, f)), `${f} is in the backup`);
    for (const f of ['broker/registry.sqlite', 'collector/incidents.db', 'noc.db', 'fleetcare-backup.json']) assert.ok(existsSync(join(backup, f)), f);
    assert.not.ok(existsSync(join(backup, 'server.lock')), 'the lock is not state');
    const again = run(['backup', backup, ...flags]);
    assert.is(again.code, 1);
    assert.match(again.stderr, 'not empty');

    const refused = run(['restore', backup, ...flags, '--port', String(port), '--http-port', String(httpPort)]);
    assert.is(refused.code, 1);
    assert.match(refused.stderr, /the server is running on this data dir \(pid \d+/);
    assert.is(JSON.parse(run(['tickets', 'list', '--json', ...flags]).stdout).length, 2, 'nothing touched');

    await server.stop();
    assert.not.ok(existsSync(join(data, 'server.lock')), 'a clean stop removes the lock');
    rmSync(data, { recursive: true, force: true });
    const r = run(['restore', backup, ...flags, '--port', String(port), '--http-port', String(httpPort)]);
    assert.is(r.code, 0, r.stderr);
    assert.equal(JSON.parse(run(['tickets', 'list', '--json', ...flags]).stdout), tickets);
    assert.is(run(['device', 'list', '--json', ...flags]).stdout, devices);
    assert.is(run(['user', 'list', '--json', ...flags]).stdout, users);

    // A damaged backup is refused before anything is touched.
    const noc = join(backup, 'noc.db');
    const bytes = readFileSync(noc);
    bytes[bytes.length - 100] ^= 0xff;
    writeFileSync(noc, bytes);
    const damaged = run(['restore', backup, ...flags, '--port', String(port), '--http-port', String(httpPort)]);
    assert.is(damaged.code, 1);
    assert.match(damaged.stderr, 'noc.db does not match its checksum');
    assert.equal(JSON.parse(run(['tickets', 'list', '--json', ...flags]).stdout), tickets);

    // The restored state serves: a server starts on it.
    const restarted = await startServer(data, port, httpPort);
    await restarted.stop();
  } finally {
    await server.stop();
    dir.remove();
  }
});

test('restore refuses when the server port answers even without a lock (another host, an old version)', async () => {
  const dir = tempDir('fleetcare-backup-');
  const data = join(dir.path, 'data');
  const port = await freePort();
  const httpPort = await freePort();
  const server = await startServer(data, port, httpPort);
  try {
    assert.is(run(['backup', join(dir.path, 'b'), '--data-dir', data]).code, 0);
    rmSync(join(data, 'server.lock'));
    const r = run(['restore', join(dir.path, 'b'), '--data-dir', data, '--port', String(port), '--http-port', String(httpPort)]);
    assert.is(r.code, 1);
    assert.match(r.stderr, `something is listening on 127.0.0.1:${port}`);
  } finally {
    await server.stop();
    dir.remove();
  }
});

test.run();
