// slaDeadlines against worked examples: response/resolution deadlines, hold, reopen, agreement status.
// Calendar: Riyadh (UTC+3) Sunday–Thursday 08–12 and 13–17. Week of 2026-03-08: Sun 8, Mon 9, Tue 10.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  effectivePriority,
  issueTimelineSchema,
  priorityPolicyOf,
  serviceLevelAgreementSchema,
  slaDeadlines,
  type IssueTimelineInput,
  type ServiceLevelAgreementInput,
} from '../../collector/sla/index.js';

const H = 3600;
const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const workweek = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday'] as const;

const slaInput: ServiceLevelAgreementInput = {
  service_level: 'POS Gold KSA',
  customer: 'Acme Retail',
  default_priority: 'P3',
  priorities: [
    { priority: 'P1', response_time: 900, resolution_time: 4 * H },
    { priority: 'P2', response_time: 1 * H, resolution_time: 8 * H },
    { priority: 'P3', response_time: 2 * H, resolution_time: 16 * H },
    { priority: 'P4', response_time: 4 * H, resolution_time: 40 * H },
  ],
  calendar: {
    time_zone: 'Asia/Riyadh',
    support_and_resolution: [
      ...workweek.map((workday) => ({ workday, start_time: '08:00', end_time: '12:00' })),
      ...workweek.map((workday) => ({ workday, start_time: '13:00', end_time: '17:00' })),
    ],
  },
};
const sla = serviceLevelAgreementSchema.parse(slaInput);
const deadlines = (t: IssueTimelineInput, now?: string, s = sla) => slaDeadlines(issueTimelineSchema.parse(t), s, now === undefined ? undefined : at(now));

// Opened Sun 09:00 +03 (06:00Z), P2; replied 09:30; On Hold 11:00 → Open Mon 09:00; Resolved Mon 15:00.
const held: IssueTimelineInput = {
  opening: '2026-03-08T09:00:00+03:00',
  priority: 'P2',
  status_changes: [
    { at: at('2026-03-08T06:30:00Z'), status: 'Replied' },
    { at: at('2026-03-08T08:00:00Z'), status: 'On Hold' },
    { at: at('2026-03-09T06:00:00Z'), status: 'Open' },
    { at: at('2026-03-09T12:00:00Z'), status: 'Resolved' },
  ],
};

test('no hold: deadlines straight from the calendar', () => {
  const d = deadlines({ opening: at('2026-03-08T06:00:00Z'), priority: 'P2' }, '2026-03-08T06:10:00Z');
  // response 1 h: Sun 09:00 → 10:00 +03 = 07:00Z. resolution 8 h: Sun 09–12 3 h, 13–17 4 h (7 h), Mon 08:00 + 1 h = 09:00 +03 = 06:00Z.
  assert.is(iso(d.responseBy), '2026-03-08T07:00:00.000Z');
  assert.is(iso(d.resolutionBy), '2026-03-09T06:00:00.000Z');
  assert.is(d.agreementStatus, 'First Response Due');
  assert.is(d.totalHoldTime, 0);
  // Without `now`: as of the last recorded moment (here the opening), never a wall clock.
  assert.is(deadlines({ opening: at('2026-03-08T06:00:00Z'), priority: 'P2' }).agreementStatus, 'First Response Due');
});

test('On Hold pauses: deadlines cleared while held, then recomputed plus the hold', () => {
  // During the hold (Sun 12:00 +03): resolution deadline cleared, response already given.
  const during = deadlines(held, '2026-03-08T09:00:00Z');
  assert.is(iso(during.onHoldSince), '2026-03-08T08:00:00.000Z');
  assert.is(during.resolutionBy, null);
  assert.is(iso(during.responseBy), '2026-03-08T07:00:00.000Z');
  assert.is(iso(during.firstRespondedOn), '2026-03-08T06:30:00.000Z');
  assert.is(during.agreementStatus, 'Resolution Due');
  assert.is(during.totalHoldTime, 0);

  // After: 2 h used before the hold (Sun 09–11); 6 h left from Mon 09:00: 09–12 3 h, 13:00 + 3 h = 16:00 +03 = 13:00Z.
  // (The hold covered 6 working hours: Sun 11–12, 13–17, Mon 08–09.) Wall hold Sun 08:00Z → Mon 06:00Z = 22 h.
  const after = deadlines(held, '2026-03-09T10:00:00Z');
  assert.is(iso(after.resolutionBy), '2026-03-09T13:00:00.000Z');
  assert.is(after.onHoldSince, null);
  assert.is(after.totalHoldTime, 22 * H);
  assert.is(after.agreementStatus, 'Resolution Due');

  // Resolved Mon 15:00 +03 (12:00Z) ≤ 16:00 → Fulfilled.
  const done = deadlines(held);
  assert.is(done.agreementStatus, 'Fulfilled');
  assert.is(iso(done.resolutionDate), '2026-03-09T12:00:00.000Z');
});

test('reopening counts the time since resolution as hold', () => {
  const reopened: IssueTimelineInput = { ...held, status_changes: [...held.status_changes!, { at: at('2026-03-10T07:00:00Z'), status: 'Open' }] };
  // Used: Sun 09–11 (2 h) + Mon 09–12, 13–15 (5 h) = 7 h; reopened Tue 10:00 +03; 1 h left → Tue 11:00 +03 = 08:00Z.
  // Hold: 22 h + Mon 15:00 → Tue 10:00 (19 h) = 41 h.
  const d = deadlines(reopened, '2026-03-10T07:30:00Z');
  assert.is(iso(d.resolutionBy), '2026-03-10T08:00:00.000Z');
  assert.is(d.totalHoldTime, 41 * H);
  assert.is(d.reopenCount, 1);
  assert.is(d.resolutionDate, null);
  assert.is(d.agreementStatus, 'Resolution Due');
  // Still open at Tue 11:30 +03 → Failed.
  assert.is(deadlines(reopened, '2026-03-10T08:30:00Z').agreementStatus, 'Failed');
  // Resolved again at Tue 10:45 +03 → Fulfilled.
  const fixed = { ...reopened, status_changes: [...reopened.status_changes!, { at: at('2026-03-10T07:45:00Z'), status: 'Resolved' as const }] };
  assert.is(deadlines(fixed).agreementStatus, 'Fulfilled');
  // Resolved → Closed is not a reopen (both fulfil the agreement).
  const closed = { ...held, status_changes: [...held.status_changes!, { at: at('2026-03-10T07:00:00Z'), status: 'Closed' as const }] };
  const c = deadlines(closed);
  assert.is(c.reopenCount, 0);
  assert.is(iso(c.resolutionDate), '2026-03-09T12:00:00.000Z');
  assert.is(c.agreementStatus, 'Fulfilled');
});

test('first response: due, late (Failed), on time across the weekend', () => {
  // Thu 2026-03-05 16:30 +03 (13:30Z), P2 1 h: Thu 16:30–17 = 30 min; Sun 08:00 + 30 min = 08:30 +03 = 05:30Z.
  const t = { opening: at('2026-03-05T13:30:00Z'), priority: 'P2' };
  assert.is(iso(deadlines(t).responseBy), '2026-03-08T05:30:00.000Z');
  assert.is(deadlines(t, '2026-03-08T05:00:00Z').agreementStatus, 'First Response Due');
  assert.is(deadlines(t, '2026-03-08T05:30:00Z').agreementStatus, 'First Response Due'); // met exactly = met
  assert.is(deadlines(t, '2026-03-08T06:00:00Z').agreementStatus, 'Failed');
  // Replied Sun 08:45 +03, after 08:30: Failed even though resolved in time.
  const late = { ...t, first_responded_on: at('2026-03-08T05:45:00Z'), status_changes: [{ at: at('2026-03-08T06:00:00Z'), status: 'Resolved' as const }] };
  assert.is(deadlines(late).agreementStatus, 'Failed');
  // Resolving without a reply counts as the first response.
  const direct = { ...t, status_changes: [{ at: at('2026-03-08T05:20:00Z'), status: 'Resolved' as const }] };
  const d = deadlines(direct);
  assert.is(iso(d.firstRespondedOn), '2026-03-08T05:20:00.000Z');
  assert.is(d.agreementStatus, 'Fulfilled');
});

test('hold before the first response pauses the response clock too', () => {
  // Sun 09:00 +03 P2, On Hold 09:30 → Open 13:00 (+03). Response used 30 min; 30 min left from 13:00 → 13:30 +03 = 10:30Z.
  // Wall hold 3.5 h (the 12–13 lunch inside it is not working time anyway).
  const t: IssueTimelineInput = {
    opening: at('2026-03-08T06:00:00Z'),
    priority: 'P2',
    status_changes: [
      { at: at('2026-03-08T06:30:00Z'), status: 'On Hold' },
      { at: at('2026-03-08T10:00:00Z'), status: 'Open' },
    ],
  };
  const during = deadlines(t, '2026-03-08T07:30:00Z');
  assert.is(during.responseBy, null);
  assert.is(during.agreementStatus, 'First Response Due');
  const after = deadlines(t, '2026-03-08T10:05:00Z');
  assert.is(iso(after.responseBy), '2026-03-08T10:30:00.000Z');
  assert.is(after.totalHoldTime, 3.5 * H);
});

test('a hold that starts after a deadline passed does not rescue it', () => {
  // Sun 09:00 +03 P2, no reply; responseBy 10:00 +03 (07:00Z); On Hold at 11:00 +03.
  const t: IssueTimelineInput = {
    opening: at('2026-03-08T06:00:00Z'),
    priority: 'P2',
    status_changes: [{ at: at('2026-03-08T08:00:00Z'), status: 'On Hold' }],
  };
  const d = deadlines(t, '2026-03-08T08:30:00Z');
  assert.is(iso(d.responseBy), '2026-03-08T07:00:00.000Z');
  assert.is(d.agreementStatus, 'Failed');
});

test('response-only agreements, unknown priority, 24/7, custom pause status', () => {
  const responseOnly = serviceLevelAgreementSchema.parse({ ...slaInput, apply_sla_for_resolution: false });
  const r = deadlines(
    { opening: at('2026-03-08T06:00:00Z'), priority: 'P2', first_responded_on: at('2026-03-08T06:10:00Z') },
    '2026-03-20T00:00:00Z',
    responseOnly,
  );
  assert.is(r.agreementStatus, 'Fulfilled');
  assert.is(r.resolutionBy, null);

  // Unknown priority → default P3 (2 h / 16 h): Sun 09:00 + 2 h = 11:00 +03 = 08:00Z.
  const u = deadlines({ opening: at('2026-03-08T06:00:00Z'), priority: 'Urgent' });
  assert.is(u.priority, 'P3');
  assert.is(iso(u.responseBy), '2026-03-08T08:00:00.000Z');

  // 24/7: Fri 2026-03-06 07:00Z P1 → response 07:15Z, resolution 11:00Z (a Saudi weekend day).
  const always = serviceLevelAgreementSchema.parse({ ...slaInput, calendar: { time_zone: 'Asia/Riyadh', twenty_four_seven: true } });
  const a = deadlines({ opening: at('2026-03-06T07:00:00Z'), priority: 'P1' }, undefined, always);
  assert.is(iso(a.responseBy), '2026-03-06T07:15:00.000Z');
  assert.is(iso(a.resolutionBy), '2026-03-06T11:00:00.000Z');

  // Replied as a pause status (waiting for the customer): 24/7 P1, replied 07:05, customer answers (Open) 08:05.
  const waiting = serviceLevelAgreementSchema.parse({
    ...slaInput,
    calendar: { time_zone: 'Asia/Riyadh', twenty_four_seven: true },
    pause_sla_on: ['On Hold', 'Replied'],
  });
  const w = deadlines(
    {
      opening: at('2026-03-06T07:00:00Z'),
      priority: 'P1',
      status_changes: [
        { at: at('2026-03-06T07:05:00Z'), status: 'Replied' },
        { at: at('2026-03-06T08:05:00Z'), status: 'Open' },
      ],
    },
    undefined,
    waiting,
  );
  assert.is(iso(w.resolutionBy), '2026-03-06T12:00:00.000Z');
  assert.is(w.totalHoldTime, 1 * H);
});

test('timeline and agreement validation name the field', () => {
  const t = issueTimelineSchema.safeParse({
    opening: at('2026-03-08T06:00:00Z'),
    status_changes: [
      { at: at('2026-03-08T07:00:00Z'), status: 'Resolved' },
      { at: at('2026-03-08T06:30:00Z'), status: 'Pending' },
    ],
  });
  assert.equal(
    t.error?.issues.map((i) => i.path.join('.')),
    ['status_changes.1.status'],
  );
  const order = issueTimelineSchema.safeParse({
    opening: at('2026-03-08T06:00:00Z'),
    status_changes: [
      { at: at('2026-03-08T07:00:00Z'), status: 'Resolved' },
      { at: at('2026-03-08T06:40:00Z'), status: 'Open' },
      { at: at('2026-03-08T05:40:00Z'), status: 'Open' },
    ],
  });
  assert.equal(
    order.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
    ['status_changes.1.at: out of order', 'status_changes.2.at: before the opening', 'status_changes.2.at: out of order'],
  );
  const s = serviceLevelAgreementSchema.safeParse({
    ...slaInput,
    default_priority: 'P9',
    priorities: [
      { priority: 'P1', response_time: 5 * H, resolution_time: 4 * H },
      { priority: 'P2', response_time: 1, resolution_time: 2 },
    ],
    pause_sla_on: ['Resolved'],
    priority_caps: { 'wear-out': 'P1' },
  });
  assert.equal(s.error?.issues.map((i) => i.path.join('.')).sort(), [
    'default_priority',
    'pause_sla_on',
    'priorities.0.response_time',
    'priority_caps.wear-out',
  ]);
});

test('predictions never start a P1 clock', () => {
  const policy = priorityPolicyOf(sla);
  assert.is(effectivePriority('P1', 'wear-out', policy), 'P2');
  assert.is(effectivePriority('P1', 'degradation', policy), 'P2');
  assert.is(effectivePriority('P1', 'reactive', policy), 'P1');
  assert.is(effectivePriority('P1', 'site', policy), 'P1');
  assert.is(effectivePriority('P4', 'wear-out', policy), 'P4'); // a cap never raises urgency
  assert.is(effectivePriority(undefined, 'reactive', policy), 'P3'); // default
  assert.is(effectivePriority('Urgent', 'wear-out', policy), 'P3');
  // Caps as data: predicted failures are P4 under this contract, peripherals offline at most P3.
  const capped = priorityPolicyOf(serviceLevelAgreementSchema.parse({ ...slaInput, priority_caps: { 'wear-out': 'P4', offline: 'P3' } }));
  assert.is(effectivePriority('P1', 'wear-out', capped), 'P4');
  assert.is(effectivePriority('P2', 'offline', capped), 'P3');
  assert.is(effectivePriority('P1', 'degradation', capped), 'P2');
  // ERPNext's default priorities, ordered most urgent first.
  const erp = { order: ['High', 'Medium', 'Low'], caps: {}, default: 'Medium' };
  assert.is(effectivePriority('High', 'wear-out', erp), 'Medium');
});

test.run();
