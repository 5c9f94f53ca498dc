// POST /api/tickets/:ref/actions on a real server: roles, the status change with its SLA
// recomputed (ack stops the response clock, hold pauses), and the errors an operator can meet.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Ticket } from '../../collector/tickets/index.js';
import { ApiClient, startNocServer, type NocTestServer } from '../helpers/noc.js';
import { GOLD_24X7 } from '../helpers/sla.js';

const gold = GOLD_24X7;

const KEY = 'pos-7/printer0/autocutter-error';
let s: NocTestServer;

test.before(async () => {
  s = await startNocServer({ collector: { incidents: { slas: { 'acme-retail': gold } } } });
  // A ticket as the incident service opens it: through the outbox.
  const outbox = s.server.incidents!.ticketing.outbox;
  const at = Date.now();
  outbox.enqueue({
    kind: 'create',
    key: KEY,
    at,
    eventId: 'test-create',
    ticket: {
      subject: 'Cutter jammed',
      description: 'autocutter-error for 3 min',
      priority: 'High',
      issueType: 'Hardware Failure',
      customer: 'acme-retail',
      site: 'riyadh-01',
      device: 'pos-7',
      peripheral: 'printer0',
      sla: { serviceLevelAgreement: 'Gold 24x7', responseBy: at + 3_600_000, resolutionBy: at + 8 * 3_600_000, agreementStatus: 'First Response Due' },
    },
  });
});
test.after(async () => {
  await s.close();
});

const path = (ref: string) => `/api/tickets/${encodeURIComponent(ref)}/actions`;

/** An action on the ticket that must succeed (200); the ticket as it changed. */
async function act(client: ApiClient, action: string, text?: string): Promise<Ticket> {
  const r = await client.post<{ ticket: Ticket }>(path(KEY), text === undefined ? { action } : { action, text });
  assert.is(r.status, 200, r.text);
  return r.body.ticket;
}

test('a viewer cannot act on tickets', async () => {
  const viewer = await ApiClient.login(s.url, 'viewer');
  const r = await viewer.post<{ message: string }>(path(KEY), { action: 'ack' });
  assert.is(r.status, 403);
  assert.match(r.body.message, 'needs role operator');
});

test('ack is the first response: status Replied, response fulfilled, resolution still due; the comment names the operator', async () => {
  const op = await ApiClient.login(s.url, 'operator');
  const acked = await act(op, 'ack', 'engineer on the way');
  assert.is(acked.status, 'Replied');
  assert.is(acked.sla.agreementStatus, 'Resolution Due');
  const comments = s.server.incidents!.tickets.comments(KEY);
  assert.ok(
    comments.some((c) => c.body.includes('engineer on the way') && c.body.includes('operator')),
    JSON.stringify(comments),
  );
});

test('hold pauses the SLA; reopen resumes it', async () => {
  const op = await ApiClient.login(s.url, 'operator');
  const held = await act(op, 'hold', 'waiting for the customer');
  assert.is(held.status, 'On Hold');
  assert.is(held.sla.agreementStatus, 'Paused');
  assert.is(held.sla.resolutionBy, null);
  const again = await op.post<{ message: string; error: string }>(path(KEY), { action: 'hold' });
  assert.is(again.status, 409);
  assert.match(again.body.message, 'already On Hold');
  const reopened = await act(op, 'reopen');
  assert.is(reopened.status, 'Open');
  assert.ok(reopened.sla.resolutionBy! > Date.now(), 'resolution deadline back');
});

test('bad actions get the reason: unknown action 400, empty comment 400, unknown ticket 404, closed ticket 409', async () => {
  const op = await ApiClient.login(s.url, 'operator');
  const unknownAction = await op.post<{ message: string }>(path(KEY), { action: 'delete' });
  assert.is(unknownAction.status, 400);
  assert.match(unknownAction.body.message, 'body.action');
  const empty = await op.post<{ message: string }>(path(KEY), { action: 'comment', text: '   ' });
  assert.is(empty.status, 400);
  assert.match(empty.body.message, 'a comment needs its text');
  const none = await op.post(path('pos-9/-/offline'), { action: 'ack' });
  assert.is(none.status, 404);
  await act(op, 'close', 'cutter replaced');
  const closed = await op.post<{ message: string }>(path(KEY), { action: 'comment', text: 'late note' });
  assert.is(closed.status, 409);
  assert.match(closed.body.message, 'closed');
});

test.run();
