// Webhook sink: the signature is verifiable by an independent reference implementation, the
// timestamp header is the signed one, the idempotency key is ref + version, retries repeat the
// same key (receivers dedup), 4xx is not retried.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHmac } from 'node:crypto';
import { WebhookSink, verifyWebhook } from '../../collector/tickets/index.js';
import { waitFor } from '../helpers/net.js';
import { FakeWebhookReceiver, type FakeRequest } from './fakes.js';
import { senderRigs, createCmd, incidentChange } from './support.js';

const SECRET = 'whsec-0123456789abcdef-secret';
let fake: FakeWebhookReceiver;
const rig = senderRigs(test, async () => (fake = await new FakeWebhookReceiver().start()), 'fleetcare-webhook-');

/** Reference check written from the spec, independent of the sink's code. */
function referenceVerify(r: FakeRequest, secret: string): boolean {
  const expected = 'sha256=' + createHmac('sha256', secret).update(Buffer.from(r.raw, 'utf8')).digest('hex');
  const ts = Number(r.headers['x-fleetcare-timestamp']);
  return r.headers['x-fleetcare-signature'] === expected && JSON.parse(r.raw).timestamp === ts && Math.abs(Date.now() / 1000 - ts) < 300;
}

function setup() {
  return rig((log) => new WebhookSink({ url: `${fake.url}/hooks/fleetcare`, secret: SECRET, timeoutMs: 300 }, log));
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
  assert.equal(
    fake.accepted.map((r) => r.headers['idempotency-key']),
    [`${key}:v1`, `${key}:v3`, `${key}:v4`],
  );
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
