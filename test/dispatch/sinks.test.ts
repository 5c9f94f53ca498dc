// Assignment in the external ticket systems, against their fakes: ERPNext's `_assign` through
// frappe.desk.form.assign_to.add/remove (a reassignment removes the previous assignee, an unknown
// Frappe user is a 417 that is not retried), Zammad's `owner_id` and `group` (owner 1 = nobody
// when the rules match no one; an unknown owner is a 422 kept as the failure).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ErpnextSink, ZammadSink, type TicketAssignment } from '../../collector/tickets/index.js';
import { waitFor } from '../helpers/net.js';
import { FakeFrappe, FakeZammad } from '../tickets/fakes.js';
import { createCmd, outboxRigs } from '../tickets/support.js';

const { rig, defer } = outboxRigs(test, 'fleetcare-dispatch-sink-');

const assignment = (technician: string | null, email: string | null, team: string | null): TicketAssignment => ({
  technician,
  technicianName: technician,
  technicianEmail: email,
  team,
  by: 'rules',
  at: Date.now(),
  reason: 'test',
});

test("ERPNext: assignment is the Issue's _assign through assign_to.add; reassigning removes the previous assignee; unassigned clears it", async () => {
  const fake = await new FakeFrappe().start();
  defer(() => fake.stop());
  const { outbox, sender } = rig(
    (log) =>
      new ErpnextSink(
        { url: fake.url, apiKey: fake.apiKey, apiSecret: fake.apiSecret, timeoutMs: 2000, assignees: { omar: 'omar@acme-service.example' } },
        log,
      ),
  );
  const key = 'posA/printer/cutter-wear-out';
  outbox.enqueue(createCmd(key));
  outbox.enqueue({
    kind: 'update',
    key,
    at: Date.now(),
    eventId: 'd1',
    patch: { assignment: assignment('lina', 'lina@acme-service.example', 'riyadh') },
    comment: 'Assigned to Lina',
  });
  sender.start();
  const name = (await waitFor('Issue', () => outbox.link('erpnext', key))).externalId;
  await waitFor('assigned', () => fake.assignments.get(name)?.length === 1);
  assert.equal(JSON.parse(String(fake.issues.get(name)!._assign)), ['lina@acme-service.example']);
  const add = fake.requests.find((r) => r.path === '/api/method/frappe.desk.form.assign_to.add')!;
  assert.equal(
    { doctype: add.body.doctype, name: add.body.name, assign_to: add.body.assign_to },
    { doctype: 'Issue', name, assign_to: ['lina@acme-service.example'] },
  );
  // Reassigned (the configured Frappe user of omar): Lina's ToDo removed, Omar's added.
  outbox.enqueue({ kind: 'update', key, at: Date.now(), eventId: 'd2', patch: { assignment: assignment('omar', null, 'riyadh') } });
  await waitFor('reassigned', () => fake.issues.get(name)!._assign === JSON.stringify(['omar@acme-service.example']));
  // The rules matched nobody any more: nobody is assigned.
  outbox.enqueue({ kind: 'update', key, at: Date.now(), eventId: 'd3', patch: { assignment: assignment(null, null, null) } });
  await waitFor('cleared', () => fake.issues.get(name)!._assign === '[]');
  await waitFor('drained', () => outbox.pending() === 0);
  // A technician with no Frappe user: 417 LinkValidationError, not retried, kept as the failure with Frappe's message.
  outbox.enqueue({ kind: 'update', key, at: Date.now(), eventId: 'd4', patch: { assignment: assignment('ghost', 'ghost@nowhere.example', 'riyadh') } });
  const failure = await waitFor('failed', () => outbox.failures('erpnext')[0]);
  assert.match(failure.error ?? '', /417.*Could not find Allocated To: ghost@nowhere.example/);
  assert.is(fake.requests.filter((r) => r.body?.assign_to?.[0] === 'ghost@nowhere.example').length, 1);
});

test('Zammad: owner_id and group from the configured maps; unassigned = owner 1; an unknown owner is a 422 failure', async () => {
  const fake = await new FakeZammad().start();
  defer(() => fake.stop());
  const { outbox, sender, cap } = rig(
    (log) =>
      new ZammadSink(
        {
          url: fake.url,
          token: fake.token,
          group: 'Users',
          customers: { 'ACME Retail': 'ops@acme.example' },
          defaultCustomer: 'it@globex.example',
          timeoutMs: 2000,
          owners: { lina: 3, ghost: 99 },
          teamGroups: { riyadh: 'Support' },
        },
        log,
      ),
  );
  const key = 'clock1/fp/sensor-degraded';
  outbox.enqueue(createCmd(key, { device: 'clock1', peripheral: 'fp' }));
  sender.start();
  const id = Number((await waitFor('ticket', () => outbox.link('zammad', key))).externalId);
  outbox.enqueue({ kind: 'update', key, at: Date.now(), eventId: 'z1', patch: { assignment: assignment('lina', null, 'riyadh') } });
  await waitFor('owner', () => fake.tickets.get(id)!.owner_id === 3);
  assert.is(fake.tickets.get(id)!.group, 'Support');
  outbox.enqueue({ kind: 'update', key, at: Date.now(), eventId: 'z2', patch: { assignment: assignment(null, null, null) } });
  await waitFor('nobody', () => fake.tickets.get(id)!.owner_id === 1);
  // Not in the owners map: the owner is left as it is (and said so in the log).
  outbox.enqueue({ kind: 'update', key, at: Date.now(), eventId: 'z3', patch: { assignment: assignment('omar', null, 'riyadh') } });
  await waitFor('drained', () => outbox.pending() === 0);
  assert.is(fake.tickets.get(id)!.owner_id, 1);
  assert.match(cap.text(), /no owner id for this technician/);
  outbox.enqueue({ kind: 'update', key, at: Date.now(), eventId: 'z4', patch: { assignment: assignment('ghost', null, 'riyadh') } });
  const failure = await waitFor('failed', () => outbox.failures('zammad')[0]);
  assert.match(failure.error ?? '', /422.*No lookup value found for 'owner_id': 99/);
});

test.run();
