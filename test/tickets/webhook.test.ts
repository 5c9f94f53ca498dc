// Webhook sink: the signature is verifiable by an independent reference implementation, the
// timestamp header is the signed one, the idempotency key is ref + version, retries repeat the
// same key (receivers dedup), 4xx is not retried.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHmac } from 'node:crypto';
import { TicketOutbox, TicketSender, WebhookSink, verifyWebhook } from '../../collector/tickets/index.js';
import { waitFor } from '../helpers/net.js';
import { tempDir, type TempDir } from '../helpers/tmp.js';
import { FakeWebhookReceiver, type FakeRequest } from './fakes.js';
import { openCallerDb, createCmd, incidentChange } from './support.js';
import { captureLog } from '../helpers/log.js';

const SECRET = 'whsec-0123456789abcdef-secret';
const dirs: TempDir[] = [];
let fake: FakeWebhookReceiver;
let cleanups: (() => Promise<void> | void)[] = [];
test.before.each(async () => {
  fake = await new FakeWebhookReceiver().start();
});
test.after.each(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
  await fake.stop();
});
test.after(() => {
  for (const d of dirs) d.remove();
});

/** Reference check written from the spec, independent of the sink's code. */
function referenceVerify(r: FakeRequest, secret: string): boolean {
  const expected = 'sha256=' + createHmac('sha256', secret).update(Buffer.from(r.raw, 'utf8')).digest('hex');
  const ts = Number(r.headers['x-fleetcare-timestamp']);
  return r.headers['x-fleetcare-signature'] === expected && JSON.parse(r.raw).timestamp === ts && Math.abs(Date.now() / 1000 - ts) < 300;
}

function setup() {
  const d = tempDir('fleetcare-webhook-');
  dirs.push(d);
  const db = openCallerDb(d.path);
  const cap = captureLog();
  const sink = new WebhookSink({ url: `${fake.url}/hooks/fleetcare`, secret: SECRET, timeoutMs: 300 }, cap.log);
  const outbox = new TicketOutbox(db, { sinks: [sink.name] });
  const sender = new TicketSender(outbox, sink, { log: cap.log, backoff: { baseMs: 20, maxMs: 200 }, pollMs: 50 });
  cleanups.push(async () => {
    await sender.close();
    db.close();
  });
  return { db, outbox, sender, cap, enqueue: (c: Parameters<TicketOutbox['enqueue']>[0]) => outbox.enqueue(c) };
}

test('create, coalesced update and close are signed, verifiable, with ref:version idempotency keys', async () => {
  const { db, outbox, sender, cap, enqueue } = setup();
  const key = 'posA/msr/read-errors';
  incidentChange(db, enqueue, key, 'open', createCmd(key, { issueType: 'Hardware Failure' }));
  enqueue({ kind: 'update', key, at: 1, eventId: 'e1', comment: 'failed reads 12 %' });
  enqueue({ kind: 'update', key, at: 2, eventId: 'e2', comment: 'failed reads 18 %' });
  sender.start();
  await waitFor('drained', () => outbox.pending() === 0);
  enqueue({ kind: 'close', key, at: 3, resolution: 'head cleaned' });
  await waitFor('drained again', () => outbox.pending() === 0 && fake.accepted.length === 3);
  for (const r of fake.requests) assert.ok(referenceVerify(r, SECRET), 'signature verifies');
  assert.ok(!referenceVerify(fake.requests[0], 'another-secret-entirely'));
  assert.equal(fake.accepted.map((r) => r.headers['idempotency-key']), [`${key}:v1`, `${key}:v3`, `${key}:v4`]);
  const [create, update, close] = fake.accepted.map((r) => r.body);
  assert.is(create.type, 'ticket.create');
  assert.is(create.ticket.serial, 'TM88-000123');
  assert.is(create.ticket.sla.agreementStatus, 'First Response Due');
  assert.is(update.type, 'ticket.update');
  assert.match(update.comment, /failed reads 12 %[\s\S]*failed reads 18 %/);
  assert.equal(update.eventIds, ['e1', 'e2']);
  assert.is(close.status, 'Closed');
  assert.is(close.resolution, 'head cleaned');
  // The sink's own verifier agrees, and rejects a tampered body or timestamp.
  const r = fake.requests[0];
  const headers = { signature: String(r.headers['x-fleetcare-signature']), timestamp: String(r.headers['x-fleetcare-timestamp']) };
  assert.ok(verifyWebhook(SECRET, r.raw, headers).ok);
  assert.equal(verifyWebhook(SECRET, r.raw.replace('posA', 'posB'), headers), { ok: false, reason: 'signature' });
  assert.equal(verifyWebhook(SECRET, r.raw, { ...headers, timestamp: String(Number(headers.timestamp) + 1) }), { ok: false, reason: 'timestamp' });
  assert.equal(verifyWebhook(SECRET, r.raw, headers, { nowSec: Number(headers.timestamp) + 3600 }), { ok: false, reason: 'stale' });
  assert.not.match(cap.text(), SECRET);
});

test('timeout / 500 → resent with the same idempotency key (receiver keeps one); 400 not retried', async () => {
  const { db, outbox, sender, enqueue } = setup();
  const key = 'posB/printer/paper-out';
  fake.fault((r) => r.body?.type === 'ticket.create', { kind: 'hang-after' });
  fake.fault((r) => r.body?.type === 'ticket.create', { kind: 'respond', status: 500, body: { error: 'boom' } });
  incidentChange(db, enqueue, key, 'open', createCmd(key));
  sender.start();
  await waitFor('drained', () => outbox.pending() === 0);
  const creates = fake.requests.filter((r) => r.body?.type === 'ticket.create');
  assert.is(creates.length, 3);
  assert.ok(creates.every((r) => r.headers['idempotency-key'] === `${key}:v1`));
  assert.is(fake.accepted.length, 1);

  fake.fault(() => true, { kind: 'respond', status: 400, body: { error: 'unknown field' } });
  enqueue({ kind: 'update', key, at: 5, comment: 'x' });
  const f = await waitFor('failed', () => outbox.failures('webhook')[0]);
  assert.match(f.error!, /HTTP 400/);
  await new Promise((r) => setTimeout(r, 200));
  assert.is(fake.requests.filter((r) => r.body?.type === 'ticket.update').length, 1);
});

test.run();
