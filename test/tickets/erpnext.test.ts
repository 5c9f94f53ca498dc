// ERPNext sink against a fake Frappe server: create / comment / status / close, retries (500,
// 429 + Retry-After, dropped connection), no retry on 403, 417 UniqueValidationError adopted,
// unknown outcome (answer lost after the create) → search → adopt, coalesced updates, no secret
// in the logs, and the v15 SLA fields (response_by, sla_resolution_by, agreement_status as Frappe
// datetimes in the configured time zone; service_level_agreement only when configured).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ErpnextSink, TicketSender, frappeErrorMessage, type ErpnextSinkConfigInput } from '../../collector/tickets/index.js';
import { waitFor } from '../helpers/net.js';
import { FakeFrappe, frappeError } from './fakes.js';
import { senderRigs, createCmd, incidentChange } from './support.js';
import { captureLog } from '../helpers/log.js';

let fake: FakeFrappe;

const rig = senderRigs(test, async () => (fake = await new FakeFrappe().start()), 'fleetcare-erpnext-');

function setup(opts: { timeoutMs?: number; sink?: Partial<ErpnextSinkConfigInput> } = {}) {
  return rig((log) => new ErpnextSink({ url: fake.url, apiKey: fake.apiKey, apiSecret: fake.apiSecret, timeoutMs: opts.timeoutMs ?? 2000, ...opts.sink }, log));
}

const issuesWithKey = (key: string) => [...fake.issues.values()].filter((i) => i.custom_fleetcare_key === key);

test('create, comment, status, close: the documented requests with token auth and the unique key field', async () => {
  const { db, outbox, sender, cap, enqueue } = setup();
  const key = 'posA/printer/cutter-wear';
  incidentChange(db, enqueue, key, 'open', createCmd(key));
  sender.start();
  const issue = await waitFor('Issue created', () => issuesWithKey(key)[0]);
  assert.is(issue.subject, 'Cutter blade near end of life (posA / printer)');
  assert.is(issue.priority, 'Low');
  assert.is(issue.issue_type, 'Predicted Failure');
  assert.is(issue.customer, 'ACME Retail');
  assert.is(issue.custom_serial, 'TM88-000123');
  assert.is(issue.custom_warranty_status, 'Under Warranty');
  await waitFor('link recorded', () => outbox.link('erpnext', key));
  assert.is(outbox.link('erpnext', key)!.externalId, issue.name);

  enqueue({ kind: 'update', key, at: Date.now(), eventId: 'ev-7', comment: 'Life used 95 %, ETA 4 days' });
  await waitFor('comment', () => fake.comments.length === 1);
  assert.equal(
    { ...fake.comments[0], name: undefined, content: undefined },
    { name: undefined, comment_type: 'Comment', reference_doctype: 'Issue', reference_name: issue.name, content: undefined },
  );
  assert.match(fake.comments[0].content, /Life used 95 %, ETA 4 days\n\[event ev-7\]/);

  enqueue({ kind: 'set-status', key, at: Date.now(), status: 'On Hold' });
  await waitFor('On Hold', () => fake.issues.get(issue.name)!.status === 'On Hold');
  enqueue({ kind: 'close', key, at: Date.now(), resolution: 'Cutter replaced' });
  await waitFor('Closed', () => fake.issues.get(issue.name)!.status === 'Closed');
  assert.is(fake.issues.get(issue.name)!.resolution_details, 'Cutter replaced');
  await waitFor('outbox drained', () => outbox.pending() === 0);
  assert.is(fake.issues.size, 1);
  assert.is(fake.count('PUT', `/api/resource/Issue/${issue.name}`), 2);
  assert.ok(fake.requests.every((r) => r.headers.authorization === `token ${fake.apiKey}:${fake.apiSecret}`));
  assert.not.match(cap.text(), fake.apiSecret);
  assert.not.match(cap.text(), fake.apiKey + ':');
});

test('retries 500, 429 (honouring Retry-After) and a dropped connection; one Issue in the end', async () => {
  const { db, outbox, sender, cap, enqueue } = setup();
  const key = 'posB/printer/paper-out';
  fake.fault((r) => r.method === 'POST', { kind: 'respond', ...frappeError(500, 'InternalServerError', 'database is locked') });
  fake.fault((r) => r.method === 'POST', { kind: 'respond', status: 429, body: { exc_type: 'RateLimitExceededError' }, headers: { 'Retry-After': '1' } });
  fake.fault((r) => r.method === 'POST', { kind: 'drop-before' });
  incidentChange(db, enqueue, key, 'open', createCmd(key, { issueType: 'Consumable', priority: 'Medium' }));
  sender.start();
  await waitFor('created after retries', () => outbox.link('erpnext', key), 15_000);
  assert.is(issuesWithKey(key).length, 1);
  const posts = fake.requests.filter((r) => r.method === 'POST' && r.path === '/api/resource/Issue');
  assert.is(posts.length, 4);
  assert.ok(sender.stats().retries >= 3);
  assert.match(cap.text(), /HTTP 500 InternalServerError: database is locked/);
  assert.match(cap.text(), /HTTP 429/);
  assert.not.match(cap.text(), fake.apiSecret);
});

test('Retry-After is honoured: no request to the sink before it has passed', async () => {
  const { db, sender, outbox, enqueue } = setup();
  const key = 'posB2/printer/paper-out';
  const times: number[] = [];
  fake.fault((r) => (times.push(Date.now()), r.method === 'POST'), { kind: 'respond', status: 429, body: {}, headers: { 'Retry-After': '1' } });
  fake.fault(() => (times.push(Date.now()), false), { kind: 'drop-before' }, 100); // only records times
  incidentChange(db, enqueue, key, 'open', createCmd(key));
  sender.start();
  await waitFor('created', () => outbox.link('erpnext', key), 10_000);
  assert.ok(times.length >= 2);
  assert.ok(times[1] - times[0] >= 950, `second request ${times[1] - times[0]} ms after the 429`);
});

test("403 PermissionError is not retried: the row is marked failed with Frappe's message, later rows wait", async () => {
  const { db, outbox, sender, enqueue } = setup();
  fake.forbidWrites = true;
  const key = 'posC/printer/cutter-error';
  incidentChange(db, enqueue, key, 'open', createCmd(key, { issueType: 'Hardware Failure', priority: 'High' }));
  enqueue({ kind: 'update', key, at: Date.now(), comment: 'still failing' });
  sender.start();
  const failures = await waitFor('failure visible', () => {
    const f = outbox.failures('erpnext');
    return f.length ? f : null;
  });
  assert.is(failures.length, 1);
  assert.is(failures[0].ref, key);
  assert.is(failures[0].kind, 'create');
  assert.match(failures[0].error!, /HTTP 403 PermissionError: No permission for Issue/);
  // Give it time to (wrongly) retry: exactly one POST must have been made.
  await new Promise((r) => setTimeout(r, 300));
  assert.is(fake.count('POST', '/api/resource/Issue'), 1);
  assert.is(outbox.pending('erpnext'), 1); // the comment waits behind the failed create
  assert.is(sender.stats().failed, 1);

  // Fixed on the ERPNext side: the operator re-queues, the create and the comment go through in order.
  fake.forbidWrites = false;
  assert.is(outbox.retry('erpnext', key), 1);
  await waitFor('drained', () => outbox.pending() === 0 && outbox.failures().length === 0);
  assert.is(issuesWithKey(key).length, 1);
  assert.is(fake.comments.length, 1);
});

test('unknown outcome (connection dropped after the Issue was inserted) → search by key → adopt, no duplicate', async () => {
  const { db, outbox, sender, cap, enqueue } = setup();
  const key = 'posD/printer/cutter-wear';
  fake.fault((r) => r.method === 'POST' && r.path === '/api/resource/Issue', { kind: 'drop-after' });
  incidentChange(db, enqueue, key, 'open', createCmd(key));
  sender.start();
  await waitFor('link', () => outbox.link('erpnext', key));
  assert.is(issuesWithKey(key).length, 1);
  assert.is(fake.count('POST', '/api/resource/Issue'), 1); // found by the search: no second insert
  const searches = fake.requests.filter((r) => r.method === 'GET' && r.path === '/api/resource/Issue');
  assert.is(searches.length, 1);
  assert.equal(JSON.parse(searches[0].query.get('filters')!), [['custom_fleetcare_key', '=', key]]);
  assert.ok(outbox.link('erpnext', key)!.adopted);
  assert.is(sender.stats().adopted, 1);
  assert.match(cap.text(), /adopted/);
});

test('unknown outcome by timeout (Issue inserted, no answer) → adopted, no duplicate', async () => {
  const { db, outbox, sender, enqueue } = setup({ timeoutMs: 300 });
  const key = 'posD2/printer/cutter-wear';
  fake.fault((r) => r.method === 'POST' && r.path === '/api/resource/Issue', { kind: 'hang-after' });
  incidentChange(db, enqueue, key, 'open', createCmd(key));
  enqueue({ kind: 'update', key, at: Date.now(), comment: 'follow-up' });
  sender.start();
  await waitFor('drained', () => outbox.pending() === 0);
  assert.is(issuesWithKey(key).length, 1);
  assert.is(fake.comments.length, 1);
  assert.is(fake.comments[0].reference_name, issuesWithKey(key)[0].name);
});

test('417 UniqueValidationError on create (Issue made elsewhere, no local trace) → adopt it', async () => {
  const { db, outbox, sender, enqueue } = setup();
  const key = 'posE/printer/cutter-wear';
  fake.issues.set('ISS-2026-09999', { name: 'ISS-2026-09999', subject: 'made by hand', status: 'Replied', custom_fleetcare_key: key });
  incidentChange(db, enqueue, key, 'open', createCmd(key));
  sender.start();
  await waitFor('link', () => outbox.link('erpnext', key));
  assert.is(outbox.link('erpnext', key)!.externalId, 'ISS-2026-09999');
  assert.is(issuesWithKey(key).length, 1);
  assert.is(fake.count('POST', '/api/resource/Issue'), 1); // the refused insert, then the search
});

test('pending updates of one ticket are coalesced: three comments → one Comment, last status kept', async () => {
  const { db, outbox, sender, sink, defer, enqueue } = setup();
  const key = 'posF/printer/cutter-wear';
  incidentChange(db, enqueue, key, 'open', createCmd(key));
  sender.start();
  await waitFor('created', () => outbox.link('erpnext', key));
  await sender.close(); // stop sending while updates pile up (sink down, say)
  const fresh = new TicketSender(outbox, sink, { log: captureLog().log, backoff: { baseMs: 20, maxMs: 200 }, pollMs: 50 });
  defer(() => fresh.close());
  enqueue({ kind: 'update', key, at: 1, eventId: 'a', comment: 'life used 93 %' });
  enqueue({ kind: 'set-status', key, at: 2, eventId: 'b', status: 'On Hold', comment: 'part ordered' });
  enqueue({ kind: 'update', key, at: 3, eventId: 'c', comment: 'life used 96 %', patch: { priority: 'High' } });
  enqueue({ kind: 'set-status', key, at: 4, eventId: 'd', status: 'Replied' });
  fresh.start();
  await waitFor('drained', () => outbox.pending() === 0);
  assert.is(fake.comments.length, 1);
  assert.match(fake.comments[0].content, /life used 93 %[\s\S]*part ordered[\s\S]*life used 96 %/);
  const puts = fake.requests.filter((r) => r.method === 'PUT');
  assert.is(puts.length, 1);
  assert.equal(puts[0].body, { priority: 'High', status: 'Replied' });
  assert.is(fresh.stats().coalescedRows, 3);
});

const issuePosts = () => fake.requests.filter((r) => r.method === 'POST' && r.path === '/api/resource/Issue');
const issuePuts = () => fake.requests.filter((r) => r.method === 'PUT' && r.path.startsWith('/api/resource/Issue/'));

test('SLA on create: v15 field names, Frappe datetimes (YYYY-MM-DD HH:mm:ss) in the configured time zone; no SLA Link unless configured', async () => {
  const { db, outbox, sender, enqueue } = setup({ sink: { timeZone: 'Asia/Riyadh' } });
  const key = 'posS/printer/autocutter-error';
  // 21:30:00 UTC on 1 March is 00:30:00 on 2 March in Riyadh (UTC+3): the date turns, the hour is "00".
  const responseBy = Date.UTC(2026, 2, 1, 21, 30, 0);
  const resolutionBy = Date.UTC(2026, 2, 3, 5, 0, 9);
  incidentChange(
    db,
    enqueue,
    key,
    'open',
    createCmd(key, {
      priority: 'High',
      issueType: 'Hardware Failure',
      sla: { serviceLevelAgreement: 'Gold 24x7', responseBy, resolutionBy, agreementStatus: 'First Response Due' },
    }),
  );
  sender.start();
  const issue = await waitFor('Issue created', () => issuesWithKey(key)[0]);
  assert.is(issue.response_by, '2026-03-02 00:30:00');
  assert.is(issue.sla_resolution_by, '2026-03-03 08:00:09');
  assert.is(issue.agreement_status, 'First Response Due');
  const body = issuePosts()[0].body;
  assert.not.ok('service_level_agreement' in body, 'the SLA Link is off by default');
  assert.not.ok('resolution_by' in body, 'v14 name not sent');

  // A ticket without an SLA carries none of the fields (no nulls on create).
  const bare = 'posT/printer/autocutter-error';
  incidentChange(db, enqueue, bare, 'open', createCmd(bare, { sla: undefined }));
  await waitFor('second Issue', () => issuesWithKey(bare)[0]);
  const bareBody = issuePosts()[1].body;
  for (const f of ['response_by', 'sla_resolution_by', 'agreement_status', 'service_level_agreement']) assert.not.ok(f in bareBody, `${f} not sent`);
  await waitFor('drained', () => outbox.pending() === 0);
});

test('SLA on update: recomputed deadlines sent as Frappe datetimes (DST of the time zone applied), a paused SLA clears them with nulls', async () => {
  const { db, outbox, sender, enqueue } = setup({ sink: { timeZone: 'Europe/Berlin' } });
  const key = 'posU/printer/autocutter-error';
  const winter = Date.UTC(2026, 0, 15, 8, 0, 0); // CET, UTC+1
  incidentChange(
    db,
    enqueue,
    key,
    'open',
    createCmd(key, { sla: { serviceLevelAgreement: null, responseBy: winter, resolutionBy: winter + 4 * 3600_000, agreementStatus: 'First Response Due' } }),
  );
  sender.start();
  const issue = await waitFor('Issue created', () => issuesWithKey(key)[0]);
  assert.is(issue.response_by, '2026-01-15 09:00:00');
  assert.is(issue.sla_resolution_by, '2026-01-15 13:00:00');

  // On Hold: the deadlines are cleared (ERPNext clears them while paused).
  enqueue({
    kind: 'update',
    key,
    at: Date.now(),
    eventId: 'sla-1',
    patch: { sla: { serviceLevelAgreement: null, responseBy: null, resolutionBy: null, agreementStatus: 'Resolution Due' } },
  });
  await waitFor('first PUT', () => issuePuts().length === 1 && outbox.pending() === 0);
  assert.equal(issuePuts()[0].body, { response_by: null, sla_resolution_by: null, agreement_status: 'Resolution Due' });
  assert.is(fake.issues.get(issue.name)!.response_by, null);
  assert.is(fake.issues.get(issue.name)!.sla_resolution_by, null);

  // Resumed in summer: recomputed deadlines, CEST (UTC+2); 22:30:05 UTC is 00:30:05 the next day.
  const summer = Date.UTC(2026, 6, 1, 22, 30, 5);
  enqueue({
    kind: 'update',
    key,
    at: Date.now(),
    eventId: 'sla-2',
    patch: { sla: { serviceLevelAgreement: null, responseBy: summer, resolutionBy: summer + 3600_000, agreementStatus: 'Fulfilled' } },
  });
  await waitFor('second PUT', () => issuePuts().length === 2 && outbox.pending() === 0);
  assert.equal(issuePuts()[1].body, { response_by: '2026-07-02 00:30:05', sla_resolution_by: '2026-07-02 01:30:05', agreement_status: 'Fulfilled' });
  assert.is(fake.issues.get(issue.name)!.agreement_status, 'Fulfilled');
  assert.is(outbox.failures().length, 0);
});

test('service_level_agreement is sent only when configured; ERPNext refuses an SLA it does not have (417 LinkValidationError, not retried)', async () => {
  const { db, outbox, sender, enqueue } = setup({ sink: { slaFields: { serviceLevelAgreement: 'service_level_agreement' } } });
  const key = 'posV/printer/autocutter-error';
  const sla = {
    serviceLevelAgreement: 'Gold 24x7',
    responseBy: Date.UTC(2026, 2, 2, 10, 0, 0),
    resolutionBy: Date.UTC(2026, 2, 2, 18, 0, 0),
    agreementStatus: 'First Response Due' as const,
  };
  incidentChange(db, enqueue, key, 'open', createCmd(key, { sla }));
  sender.start();
  const issue = await waitFor('Issue created', () => issuesWithKey(key)[0]);
  assert.is(issue.service_level_agreement, 'Gold 24x7');
  assert.is(issue.response_by, '2026-03-02 10:00:00', 'UTC by default');
  enqueue({ kind: 'update', key, at: Date.now(), patch: { sla: { ...sla, agreementStatus: 'Resolution Due' } } });
  await waitFor('PUT', () => issuePuts().length === 1 && outbox.pending() === 0);
  assert.is(issuePuts()[0].body.service_level_agreement, 'Gold 24x7');

  // A contract named here but not created in ERPNext: the create fails for good, with Frappe's words.
  const other = 'posW/printer/autocutter-error';
  incidentChange(db, enqueue, other, 'open', createCmd(other, { sla: { ...sla, serviceLevelAgreement: 'Platinum' } }));
  const failures = await waitFor('failure', () => {
    const f = outbox.failures('erpnext');
    return f.length ? f : null;
  });
  assert.is(failures[0].ref, other);
  assert.match(failures[0].error!, /LinkValidationError: Could not find Service Level Agreement: Platinum/);
  await new Promise((r) => setTimeout(r, 200));
  assert.is(issuePosts().filter((r) => r.body[fake.keyField] === other).length, 1, 'a 417 is not retried');
  assert.is(issuesWithKey(other).length, 0);
});

test('frappeErrorMessage reads _server_messages (JSON string of JSON strings)', () => {
  const body = frappeError(417, 'ValidationError', 'Status cannot be "<b>Bogus</b>"').body;
  assert.is(frappeErrorMessage(body), 'ValidationError: Status cannot be "Bogus"');
  assert.is(frappeErrorMessage({ exc_type: 'DoesNotExistError', exception: 'DoesNotExistError: Issue x not found' }), 'DoesNotExistError: Issue x not found');
});

test.run();
