// Zammad sink against a fake Zammad: create with article, internal notes for updates, state
// changes and close; 422 / 401 not retried (error_human kept); 5xx retried; unknown outcome
// (timeout after the ticket was created) → search → adopt; a sender that is no longer active (a
// cluster leader past its lease) sends nothing, and the create it marked is searched first next time.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TicketSender, ZammadSink, type ZammadSinkConfigInput } from '../../collector/tickets/index.js';
import { waitFor } from '../helpers/net.js';
import { FakeZammad, zammadError } from './fakes.js';
import { senderRigs, createCmd, incidentChange } from './support.js';
import { captureLog } from '../helpers/log.js';

let fake: FakeZammad;

const rig = senderRigs(test, async () => (fake = await new FakeZammad().start()), 'fleetcare-zammad-');

function setup(over: Partial<ZammadSinkConfigInput> = {}) {
  return rig(
    (log) =>
      new ZammadSink(
        {
          url: fake.url,
          token: fake.token,
          group: 'Support',
          customers: { 'ACME Retail': 'ops@acme.example' },
          defaultCustomer: 'it@globex.example',
          timeoutMs: 2000,
          ...over,
        },
        log,
      ),
  );
}

test('create (title with ref, group, customer, priority, article), note, pending, close', async () => {
  const { db, outbox, sender, cap, enqueue } = setup();
  const key = 'clock1/fp/sensor-degraded';
  incidentChange(db, enqueue, key, 'open', createCmd(key, { device: 'clock1', peripheral: 'fp', priority: 'High', issueType: 'Hardware Failure' }));
  sender.start();
  await waitFor('link', () => outbox.link('zammad', key));
  assert.is(fake.tickets.size, 1);
  const t = [...fake.tickets.values()][0];
  assert.is(t.title, `[${key}] Cutter blade near end of life (posA / printer)`);
  assert.is(t.group, 'Support');
  assert.is(t.customer, 'ops@acme.example');
  assert.is(t.priority, '3 high');
  assert.is(t.state, 'new');
  assert.is(fake.articles[0].type, 'note');
  assert.match(fake.articles[0].body, /ETA 12 days/);
  assert.is(outbox.link('zammad', key)!.externalId, String(t.id));

  enqueue({ kind: 'update', key, at: Date.now(), eventId: 'ev-2', comment: 'false rejects 8 % (baseline 1 %)' });
  await waitFor('note', () => fake.articles.length === 2);
  assert.equal([fake.articles[1].type, fake.articles[1].internal, fake.articles[1].ticket_id], ['note', true, t.id]);
  assert.match(fake.articles[1].body, /false rejects 8 %/);

  enqueue({ kind: 'set-status', key, at: Date.now(), status: 'On Hold' });
  await waitFor('pending reminder', () => t.state === 'pending reminder');
  assert.ok(typeof t.pending_time === 'string');
  enqueue({ kind: 'close', key, at: Date.now(), resolution: 'sensor replaced' });
  await waitFor('closed', () => t.state === 'closed');
  await waitFor('drained', () => outbox.pending() === 0);
  assert.match(fake.articles[fake.articles.length - 1].body, /Resolution: sensor replaced/);
  assert.ok(fake.requests.every((r) => r.headers.authorization === `Token token=${fake.token}`));
  assert.not.match(cap.text(), fake.token);
});

test('422 (unknown customer lookup) is not retried: failed with error_human; 401 likewise', async () => {
  const { db, outbox, sender, enqueue } = setup({ defaultCustomer: 'nobody@nowhere.example' });
  const key = 'posX/printer/paper-out';
  incidentChange(db, enqueue, key, 'open', createCmd(key, { customer: 'Unknown Tenant' }));
  sender.start();
  const f = await waitFor('failed', () => outbox.failures('zammad')[0]);
  assert.match(f.error!, /HTTP 422 No lookup value found for 'customer': "nobody@nowhere.example"/);
  await new Promise((r) => setTimeout(r, 300));
  assert.is(fake.count('POST', '/api/v1/tickets'), 1);
  assert.is(fake.tickets.size, 0);
});

test('401 with a wrong token: failed, not retried, token not in the error or the log', async () => {
  const { db, outbox, sender, cap, enqueue } = setup({ token: 'wrong-token-value' });
  const key = 'posY/printer/paper-out';
  incidentChange(db, enqueue, key, 'open', createCmd(key));
  sender.start();
  const f = await waitFor('failed', () => outbox.failures('zammad')[0]);
  assert.match(f.error!, /HTTP 401 Authentication failed/);
  await new Promise((r) => setTimeout(r, 300));
  assert.is(fake.count('POST', '/api/v1/tickets'), 1);
  assert.not.match(cap.text(), 'wrong-token-value');
  assert.not.match(f.error!, 'wrong-token-value');
});

test('5xx and 429 retried; an article POST failing with 500 is retried without repeating anything else', async () => {
  const { db, outbox, sender, enqueue } = setup();
  const key = 'posZ/printer/cutter-error';
  fake.fault((r) => r.method === 'POST' && r.path === '/api/v1/tickets', { kind: 'respond', ...zammadError(503, 'Service Unavailable') });
  fake.fault((r) => r.method === 'POST' && r.path === '/api/v1/tickets', {
    kind: 'respond',
    status: 429,
    body: { error: 'too many requests' },
    headers: { 'Retry-After': '0' },
  });
  incidentChange(db, enqueue, key, 'open', createCmd(key));
  enqueue({ kind: 'update', key, at: Date.now(), comment: 'cutter error persists' });
  fake.fault((r) => r.path === '/api/v1/ticket_articles', { kind: 'respond', ...zammadError(500, 'internal error') });
  sender.start();
  await waitFor('drained', () => outbox.pending() === 0, 10_000);
  assert.is(fake.tickets.size, 1);
  assert.is(fake.articles.filter((a) => /cutter error persists/.test(a.body)).length, 1);
});

test('unknown outcome (ticket created, answer never comes) → search → adopt, no duplicate', async () => {
  const { db, outbox, sender, enqueue } = setup({ timeoutMs: 300 });
  const key = 'posW/printer/cutter-wear';
  fake.fault((r) => r.method === 'POST' && r.path === '/api/v1/tickets', { kind: 'hang-after' });
  incidentChange(db, enqueue, key, 'open', createCmd(key));
  sender.start();
  await waitFor('link', () => outbox.link('zammad', key));
  assert.is(fake.tickets.size, 1);
  assert.is(fake.count('POST', '/api/v1/tickets'), 1);
  assert.is(fake.count('GET', '/api/v1/tickets/search'), 1);
  assert.ok(outbox.link('zammad', key)!.adopted);
});

test('search with a custom key attribute matches exactly (fuzzy hits ignored)', async () => {
  const { db, outbox, sender, enqueue } = setup({ keyAttribute: 'fleetcare_key' });
  const key = 'posV/printer/cutter-wear';
  // A ticket whose key merely contains ours must not be adopted.
  fake.fault((r) => r.method === 'POST' && r.path === '/api/v1/tickets' && r.body?.fleetcare_key === key, { kind: 'drop-before' });
  incidentChange(db, enqueue, 'posV/printer/cutter-wear-2', 'open', createCmd('posV/printer/cutter-wear-2'));
  incidentChange(db, enqueue, key, 'open', createCmd(key));
  sender.start();
  await waitFor('drained', () => outbox.pending() === 0);
  assert.is(fake.tickets.size, 2);
  assert.ok(fake.count('GET', '/api/v1/tickets/search') >= 1); // searched, saw only the fuzzy hit
  assert.equal([...fake.tickets.values()].map((t) => t.fleetcare_key).sort(), [key, 'posV/printer/cutter-wear-2']);
});

test('a sender no longer active sends nothing; a create it marked before stopping is searched first by the next sender', async () => {
  const { db, outbox, sink, defer, enqueue } = setup();
  const key = 'posL/printer0/autocutter-error';
  incidentChange(db, enqueue, key, 'open', createCmd(key));
  // Active for its first check only: it marks the create as maybe sent, then finds itself no
  // longer the sender (its lease ran out) just before the request.
  let checks = 0;
  const old = new TicketSender(outbox, sink, { log: captureLog().log, active: () => ++checks === 1 });
  assert.is(await old.step(), 'worked');
  assert.is(checks, 2);
  assert.is(fake.requests.length, 0, 'nothing sent by a sender no longer active');
  assert.is(await old.step(), null, 'an inactive sender takes no row');
  assert.is(fake.requests.length, 0);
  const next = new TicketSender(outbox, sink, { log: captureLog().log });
  defer(() => next.close());
  assert.is(await next.step(), 'worked');
  assert.equal(
    fake.requests.map((r) => `${r.method} ${r.path}`),
    ['GET /api/v1/tickets/search', 'POST /api/v1/tickets'],
    'searched first (the create might have been sent), then created',
  );
  assert.is(fake.tickets.size, 1);
  assert.ok(outbox.link('zammad', key));
});

test.run();
