// Operator actions recompute the ticket's SLA from its status history and send it as a ticket
// update through the outbox (same transaction); the periodic pass marks passed deadlines Failed.
// 24/7 SLA (Riyadh) so the deadlines are plain arithmetic: High = 1 h response, 4 h resolution.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Database from 'better-sqlite3';
import { serviceLevelAgreementSchema } from '../../collector/sla/index.js';
import { TicketOutbox } from '../../collector/tickets/index.js';
import { TicketActionError, markSlaBreaches, operatorTicketAction, ticketSlaAt } from '../../collector/tickets/actions.js';

const H = 3_600_000;
const T0 = Date.parse('2026-03-06T07:00:00Z');
const sla = serviceLevelAgreementSchema.parse({
  service_level: 'POS 24/7',
  default_priority: 'Medium',
  priorities: [
    { priority: 'High', response_time: 3600, resolution_time: 4 * 3600 },
    { priority: 'Medium', response_time: 2 * 3600, resolution_time: 8 * 3600 },
  ],
  calendar: { time_zone: 'Asia/Riyadh', twenty_four_seven: true },
});
const ctx = { slas: { acme: sla } };

function setup() {
  const db = new Database(':memory:');
  const outbox = new TicketOutbox(db, { sinks: ['erpnext'] });
  const ticket = {
    subject: 'Printer cutter jammed',
    description: 'd',
    priority: 'High' as const,
    issueType: 'Hardware Failure' as const,
    customer: 'acme',
    device: 'pos-1',
    peripheral: 'printer',
  };
  outbox.enqueue({
    kind: 'create',
    key: 'pos-1/printer/autocutter-error',
    at: T0,
    ticket: { ...ticket, sla: { serviceLevelAgreement: 'POS 24/7', responseBy: T0 + H, resolutionBy: T0 + 4 * H, agreementStatus: 'First Response Due' } },
  });
  const rows = () => db.prepare("SELECT kind, command FROM ticket_outbox WHERE sink = 'erpnext' ORDER BY id").all() as Array<{ kind: string; command: string }>;
  return { db, outbox, rows, ref: 'pos-1/printer/autocutter-error' };
}

test('ack = first response; hold pauses; reopen resumes with the held time added; resolve fulfils', () => {
  const { outbox, rows, ref } = setup();
  let r = operatorTicketAction(outbox, ref, 'ack', 'on it', T0 + 30 * 60_000, ctx);
  assert.is(r.ticket.status, 'Replied');
  assert.equal(r.ticket.sla, { serviceLevelAgreement: 'POS 24/7', responseBy: T0 + H, resolutionBy: T0 + 4 * H, agreementStatus: 'Resolution Due' });
  assert.is(r.commands.length, 2, 'status + SLA update');
  // On Hold at +1 h for 2 h: deadlines cleared while paused, resolution moved by the 2 h on resume.
  r = operatorTicketAction(outbox, ref, 'hold', 'waiting for the store', T0 + H, ctx);
  assert.equal([r.ticket.sla.agreementStatus, r.ticket.sla.resolutionBy], ['Paused', null]);
  r = operatorTicketAction(outbox, ref, 'reopen', undefined, T0 + 3 * H, ctx);
  assert.equal([r.ticket.status, r.ticket.sla.agreementStatus, r.ticket.sla.resolutionBy], ['Open', 'Resolution Due', T0 + 6 * H]);
  r = operatorTicketAction(outbox, ref, 'resolve', 'blade replaced', T0 + 5 * H, ctx);
  assert.equal([r.ticket.status, r.ticket.sla.agreementStatus], ['Resolved', 'Fulfilled']);
  // Every SLA change went to the sink as an update with the patch.
  const slaPatches = rows()
    .filter((x) => x.kind === 'update')
    .map((x) => JSON.parse(x.command).patch.sla.agreementStatus);
  assert.equal(slaPatches, ['Resolution Due', 'Paused', 'Resolution Due', 'Fulfilled']);
});

test('bad requests, unknown tickets and no-op actions are refused with a code', () => {
  const { outbox, ref } = setup();
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return e instanceof TicketActionError ? e.code : `other: ${(e as Error).message}`;
    }
    return 'no error';
  };
  assert.is(
    code(() => operatorTicketAction(outbox, 'nope/x/y', 'ack', undefined, T0, ctx)),
    'not-found',
  );
  assert.is(
    code(() => operatorTicketAction(outbox, ref, 'comment', '  ', T0, ctx)),
    'bad-request',
  );
  assert.is(
    code(() => operatorTicketAction(outbox, ref, 'dance' as never, undefined, T0, ctx)),
    'bad-request',
  );
  assert.is(
    code(() => operatorTicketAction(outbox, ref, 'reopen', undefined, T0, ctx)),
    'not-changed',
    'already Open',
  );
  const c = operatorTicketAction(outbox, ref, 'comment', 'called the store', T0 + 60_000, ctx);
  assert.is(c.commands.length, 1, 'a comment does not touch the SLA');
});

test('the periodic pass marks a passed deadline Failed once, and leaves met ones alone', () => {
  const { outbox, rows, ref } = setup();
  assert.is(markSlaBreaches(outbox, T0 + 30 * 60_000, ctx), 0, 'not due yet');
  assert.is(markSlaBreaches(outbox, T0 + H + 1, ctx), 1, 'no response within 1 h');
  assert.is(outbox.store.get(ref)!.sla.agreementStatus, 'Failed');
  assert.is(markSlaBreaches(outbox, T0 + 2 * H, ctx), 0, 'already Failed');
  assert.equal(
    rows()
      .filter((x) => x.kind === 'update')
      .map((x) => JSON.parse(x.command).patch.sla.agreementStatus),
    ['Failed'],
  );
  // A late response does not un-fail it.
  const r = operatorTicketAction(outbox, ref, 'ack', undefined, T0 + 2 * H, ctx);
  assert.is(r.ticket.sla.agreementStatus, 'Failed');
  assert.is(ticketSlaAt(outbox.db, r.ticket, sla, T0 + 2 * H).agreementStatus, 'Failed');
});

test.run();
