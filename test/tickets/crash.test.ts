// A crash (SIGKILL) between the caller's transaction and the send, or in the middle of the send,
// loses and duplicates nothing: a child process makes the changes and is killed; the parent
// reopens the DB and drains the outbox into a fake ERPNext.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { ErpnextSink, TicketOutbox, TicketSender } from '../../collector/tickets/index.js';
import { waitFor } from '../helpers/net.js';
import { tempDir, type TempDir } from '../helpers/tmp.js';
import { FakeFrappe } from './fakes.js';
import { openCallerDb } from './support.js';

const child = fileURLToPath(new URL('./crash-child.js', import.meta.url));
const dirs: TempDir[] = [];
let fake: FakeFrappe;
test.before.each(async () => {
  fake = await new FakeFrappe().start();
});
test.after.each(async () => fake.stop());
test.after(() => {
  for (const d of dirs) d.remove();
});

function runChild(dbPath: string, mode: string, onStdout?: (s: string) => void): { done: Promise<NodeJS.Signals | number | null>; kill: () => void } {
  const p = spawn(process.execPath, [child, dbPath, fake.url, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  p.stdout.on('data', (b: Buffer) => onStdout?.(b.toString()));
  return { done: new Promise((resolve) => p.on('exit', (code, signal) => resolve(signal ?? code))), kill: () => p.kill('SIGKILL') };
}

async function drain(dbPath: string) {
  const db = openCallerDb(join(dbPath, '..'), 'tickets.db');
  const log = pino({ level: 'silent' });
  const sink = new ErpnextSink({ url: fake.url, apiKey: fake.apiKey, apiSecret: fake.apiSecret, timeoutMs: 2000 }, log);
  const outbox = new TicketOutbox(db, { sinks: [sink.name] });
  const sender = new TicketSender(outbox, sink, { log, backoff: { baseMs: 20, maxMs: 100 }, pollMs: 50 });
  sender.start();
  await waitFor('outbox drained', () => outbox.pending() === 0 && outbox.failures().length === 0);
  await sender.close();
  return { db, outbox };
}

const byKey = (key: string) => [...fake.issues.values()].filter((i) => i.custom_fleetcare_key === key);

function newDb(): string {
  const d = tempDir('fleetcare-crash-');
  dirs.push(d);
  return join(d.path, 'tickets.db');
}

test('killed inside the transaction: neither incident nor ticket; the committed one before it is sent once', async () => {
  const dbPath = newDb();
  assert.is(await runChild(dbPath, 'die-in-transaction').done, 'SIGKILL');
  const { db, outbox } = await drain(dbPath);
  assert.equal(db.prepare('SELECT key FROM incidents ORDER BY key').pluck().all(), ['posK/printer/cutter-wear']);
  assert.is(outbox.store.byKey('posL/printer/jam'), null);
  assert.is(byKey('posK/printer/cutter-wear').length, 1);
  assert.is(fake.issues.size, 1);
  db.close();
});

test('killed after commit, before any send: everything is sent after restart, exactly once', async () => {
  const dbPath = newDb();
  assert.is(await runChild(dbPath, 'die-after-commit').done, 'SIGKILL');
  assert.is(fake.requests.length, 0);
  const { db, outbox } = await drain(dbPath);
  assert.is(byKey('posM/printer/cutter-wear').length, 1);
  assert.is(byKey('posN/-/offline').length, 1);
  assert.is(fake.issues.size, 2);
  assert.is(fake.comments.length, 1);
  assert.match(fake.comments[0].content, /life used 97 %/);
  assert.is(outbox.links('erpnext').length, 2);
  db.close();
});

test('killed while the create is in flight (ERPNext inserted it, no answer yet): adopted after restart, no duplicate, the update follows', async () => {
  const dbPath = newDb();
  fake.fault((r) => r.method === 'POST' && r.path === '/api/resource/Issue', { kind: 'hang-after' });
  const c = runChild(dbPath, 'send');
  await waitFor('create received by ERPNext', () => fake.count('POST', '/api/resource/Issue') === 1);
  c.kill();
  assert.is(await c.done, 'SIGKILL');
  assert.is(fake.issues.size, 1);
  const { db, outbox } = await drain(dbPath);
  assert.is(byKey('posP/printer/cutter-wear').length, 1);
  assert.is(fake.count('POST', '/api/resource/Issue'), 1);
  assert.ok(outbox.link('erpnext', 'posP/printer/cutter-wear')!.adopted);
  assert.is(fake.comments.length, 1);
  assert.match(fake.comments[0].content, /life used 98 %/);
  db.close();
});

test.run();
