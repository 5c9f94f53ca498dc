// The behaviour of a TicketStateStore, run against every implementation (as aedes runs
// abstract-persistence over each persistence): test/state/tickets-sqlite.test.ts and
// tickets-postgres.test.ts call it with a factory that makes a fresh, empty, migrated store.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { TicketStateStore } from '../../state/tickets.js';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { StoreSink, TicketCommandError, TicketSender, TicketStore } from '../../collector/tickets/index.js';
import { createCmd } from '../tickets/support.js';
import { serviceLevelAgreementSchema } from '../../collector/sla/index.js';
import { TicketActionError, markSlaBreachesOn, operatorTicketActionOn } from '../../collector/tickets/actions.js';
import { waitFor } from '../helpers/net.js';

export type TicketStoreFactory = (opts: { sinks: string[] }) => Promise<{ store: TicketStateStore; cleanup(): Promise<void> }>;

const T0 = 1_767_000_000_000;

export function ticketStoreSuite(name: string, factory: TicketStoreFactory, hooks: { before?: () => Promise<void>; after?: () => Promise<void> } = {}): void {
  const test = suite(`ticket store (${name})`);
  if (hooks.before) test.before(hooks.before);
  if (hooks.after) test.after(hooks.after);

  const withStore = (sinks: string[], fn: (s: TicketStateStore) => Promise<void>) => async () => {
    const { store, cleanup } = await factory({ sinks });
    try {
      await fn(store);
    } finally {
      await store.close();
      await cleanup();
    }
  };

  test(
    'create, repeat create, update with comment, status, close and a second occurrence',
    withStore([], async (s) => {
      const key = 'posA/printer/cutter-wear';
      const created = await s.enqueue(createCmd(key, {}, T0));
      assert.equal(created, { applied: true, ref: key, key, occurrence: 1, version: 1, created: true, rows: 0 });
      const again = await s.enqueue(createCmd(key, {}, T0 + 1));
      assert.equal(again, { applied: false, ref: key, key, reason: 'already-open', rows: 0 });
      await s.enqueue({ kind: 'update', key, at: T0 + 2, eventId: 'ev-2', comment: 'now 95 %', patch: { priority: 'High' } });
      await s.enqueue({ kind: 'set-status', key, at: T0 + 3, status: 'Replied' }, { recordStatus: 'Replied' });
      const t = await s.get(key);
      assert.is(t?.version, 3);
      assert.is(t?.priority, 'High');
      assert.is(t?.status, 'Replied');
      assert.is(t?.subject, 'Cutter blade near end of life (posA / printer)');
      assert.is(t?.openedAt, T0);
      assert.is(t?.updatedAt, T0 + 3);
      const comments = await s.comments(key);
      assert.equal(
        comments.map((c) => ({ ref: c.ref, at: c.at, version: c.version, eventId: c.eventId, body: c.body })),
        [{ ref: key, at: T0 + 2, version: 2, eventId: 'ev-2', body: 'now 95 %' }],
      );
      const closed = await s.enqueue({ kind: 'close', key, at: T0 + 4, resolution: 'cutter replaced' }, { recordStatus: 'Closed' });
      assert.is(closed.applied, true);
      assert.equal(await s.enqueue({ kind: 'close', key, at: T0 + 5 }), { applied: false, ref: key, key, reason: 'already-closed', rows: 0 });
      const c = await s.get(key);
      assert.is(c?.closedAt, T0 + 4);
      assert.is(c?.resolution, 'cutter replaced');
      const second = await s.enqueue(createCmd(key, {}, T0 + 10));
      assert.is(second.applied && second.ref, `${key}#2`);
      assert.is((await s.byKey(key))?.ref, `${key}#2`);
      assert.is((await s.get(key))?.status, 'Closed');
      assert.equal(await s.enqueue({ kind: 'update', key: 'posZ/-/offline', at: T0, comment: 'x' }), {
        applied: false,
        ref: null,
        key: 'posZ/-/offline',
        reason: 'no-ticket',
        rows: 0,
      });
      assert.equal(await s.statusLog(key), [
        { status: 'Replied', at: T0 + 3 },
        { status: 'Closed', at: T0 + 4 },
      ]);
    }),
  );

  test(
    'an invalid command is refused with TicketCommandError and changes nothing',
    withStore(['erpnext'], async (s) => {
      let err: unknown;
      try {
        await s.enqueue({ ...createCmd('posA/-/x', {}, T0), key: 'not-a-key' });
      } catch (e) {
        err = e;
      }
      assert.instance(err, TicketCommandError);
      assert.match((err as Error).message, /key/);
      assert.is(await s.pending(), 0);
      assert.is(await s.head(), 0);
    }),
  );

  test(
    'list filters, paging and order; per-device order; open counts; opened-between',
    withStore([], async (s) => {
      await s.enqueue(createCmd('posA/printer/paper-out', { priority: 'High', customer: 'ACME', site: 's1' }, T0));
      await s.enqueue(createCmd('posA/-/offline', { priority: 'Urgent', customer: 'ACME', site: 's1', issueType: 'Connectivity' }, T0 + 10));
      await s.enqueue(createCmd('posB/drawer/jam', { priority: 'Low', customer: 'Other', site: 's2' }, T0 + 20));
      await s.enqueue({ kind: 'set-status', key: 'posA/printer/paper-out', at: T0 + 30, status: 'Resolved' });
      const all = await s.list({}, { offset: 0, limit: 10 });
      assert.is(all.total, 3);
      assert.equal(
        all.items.map((t) => t.ref),
        ['posB/drawer/jam', 'posA/-/offline', 'posA/printer/paper-out'],
      );
      const page = await s.list({}, { offset: 1, limit: 1 });
      assert.equal([page.total, page.items.map((t) => t.ref)], [3, ['posA/-/offline']]);
      assert.equal(
        (await s.list({ open: true }, { offset: 0, limit: 10 })).items.map((t) => t.ref),
        ['posB/drawer/jam', 'posA/-/offline'],
      );
      assert.equal(
        (await s.list({ open: false }, { offset: 0, limit: 10 })).items.map((t) => t.ref),
        ['posA/printer/paper-out'],
      );
      assert.equal(
        (await s.list({ priority: ['Urgent', 'Low'], customer: 'ACME' }, { offset: 0, limit: 10 })).items.map((t) => t.ref),
        ['posA/-/offline'],
      );
      assert.equal((await s.list({ type: 'Connectivity' }, { offset: 0, limit: 10 })).total, 1);
      assert.equal((await s.list({ status: ['Resolved'], site: 's1', device: 'posA' }, { offset: 0, limit: 10 })).total, 1);
      // Open first, then the most recently opened others.
      assert.equal(
        (await s.ofDevice('posA', 10)).map((t) => t.ref),
        ['posA/-/offline', 'posA/printer/paper-out'],
      );
      const counts = (await s.openCounts()).sort((a, b) => (a.device + a.priority < b.device + b.priority ? -1 : 1));
      assert.equal(counts, [
        { device: 'posA', site: 's1', priority: 'Urgent', count: 1 },
        { device: 'posB', site: 's2', priority: 'Low', count: 1 },
      ]);
      assert.equal(
        (await s.openedBetween(T0 + 5, T0 + 20)).map((t) => t.ref),
        ['posA/-/offline', 'posB/drawer/jam'],
      );
      assert.equal(
        (await s.openedBetween(T0, T0 + 100, 'ACME')).map((t) => t.ref),
        ['posA/printer/paper-out', 'posA/-/offline'],
      );
      // Report fields come back as the ticket's own (no JSON digging by the caller).
      assert.equal((await s.openedBetween(T0, T0))[0].sla, {
        serviceLevelAgreement: 'Gold',
        responseBy: 1_767_000_000_000,
        resolutionBy: 1_767_500_000_000,
        agreementStatus: 'First Response Due',
      });
    }),
  );

  test(
    'first responses come from the status log (Replied, Resolved or Closed)',
    withStore([], async (s) => {
      await s.enqueue(createCmd('posA/-/a', {}, T0));
      await s.enqueue(createCmd('posA/-/b', {}, T0));
      await s.enqueue(createCmd('posA/-/c', {}, T0));
      await s.recordStatus('posA/-/a', 'On Hold', T0 + 1);
      await s.recordStatus('posA/-/a', 'Replied', T0 + 5);
      await s.recordStatus('posA/-/a', 'Resolved', T0 + 9);
      await s.recordStatus('posA/-/b', 'Closed', T0 + 7);
      const first = await s.firstResponses(['posA/-/a', 'posA/-/b', 'posA/-/c']);
      assert.equal([...first].sort(), [
        ['posA/-/a', T0 + 5],
        ['posA/-/b', T0 + 7],
      ]);
      assert.equal((await s.firstResponses([])).size, 0);
    }),
  );

  test(
    'the change feed lists every version in commit order from a cursor; subscribers are told after commit',
    withStore([], async (s) => {
      assert.is(await s.head(), 0);
      let told = 0;
      const off = s.subscribe(() => told++);
      await s.enqueue(createCmd('posA/-/offline', { priority: 'Urgent' }, T0));
      await s.enqueue({ kind: 'update', key: 'posA/-/offline', at: T0 + 1, comment: 'still offline' });
      const first = await s.changesSince(0);
      assert.equal(
        first.changes.map(({ cursor: _c, ...c }) => c),
        [
          { ref: 'posA/-/offline', key: 'posA/-/offline', version: 1, status: 'Open', priority: 'Urgent', device: 'posA', at: T0 },
          { ref: 'posA/-/offline', key: 'posA/-/offline', version: 2, status: 'Open', priority: 'Urgent', device: 'posA', at: T0 + 1 },
        ],
      );
      assert.is(first.cursor, await s.head());
      await waitFor('a change notification', () => told > 0);
      await s.enqueue({ kind: 'close', key: 'posA/-/offline', at: T0 + 2 });
      const next = await s.changesSince(first.cursor);
      assert.equal(
        next.changes.map((c) => [c.version, c.status]),
        [[3, 'Closed']],
      );
      assert.ok(next.cursor > first.cursor);
      assert.equal((await s.changesSince(next.cursor)).changes, []);
      assert.equal((await s.changesSince(0, 1)).changes.length, 1);
      // A command that does not apply is no change.
      await s.enqueue({ kind: 'close', key: 'posA/-/offline', at: T0 + 3 });
      assert.is(await s.head(), next.cursor);
      off();
    }),
  );

  test(
    'outbox: one row per sink, the head of each ticket due in order, attempts, reschedule, failures, retry, complete with link, discard',
    withStore(['erpnext', 'zammad'], async (s) => {
      assert.equal(s.sinkNames(), ['erpnext', 'zammad']);
      const key = 'posA/printer/paper-out';
      const r = await s.enqueue(createCmd(key, {}, T0));
      assert.is(r.rows, 2);
      await s.enqueue({ kind: 'update', key, at: T0 + 1, comment: 'again' });
      assert.is(await s.pending(), 4);
      assert.is(await s.pending('erpnext'), 2);
      const due = await s.nextDue('erpnext', T0 + 100);
      assert.is(due.head?.ref, key);
      assert.is(due.head?.kind, 'create');
      const rows = await s.rowsOf('erpnext', key);
      assert.equal(
        rows.map((x) => x.kind),
        ['create', 'update'],
      );
      await s.markAttempt(rows[0].id, true, T0 + 2);
      await s.reschedule([rows[0].id], 5_000_000_000_000, 'HTTP 503', null, T0 + 3);
      const later = await s.nextDue('erpnext', T0 + 100);
      assert.equal([later.head, later.nextAt], [null, 5_000_000_000_000]);
      const [row] = await s.rowsOf('erpnext', key, 1);
      assert.equal([row.attempts, row.maybe_created, row.last_error], [1, 1, 'HTTP 503']);
      await s.fail([row.id], 'HTTP 417 bad field', T0 + 4);
      const failed = await s.failures('erpnext');
      assert.equal(
        failed.map((f) => [f.ref, f.kind, f.attempts, f.error, f.at]),
        [[key, 'create', 1, 'HTTP 417 bad field', T0 + 4]],
      );
      assert.equal(await s.failures('zammad'), []);
      assert.is(await s.retry('erpnext', key), 1);
      assert.equal(await s.failures(), []);
      const again = await s.nextDue('erpnext', T0 + 100);
      assert.is(again.head?.id, row.id);
      await s.complete([row.id], { system: 'erpnext', ref: key, key, externalId: 'ISS-0001', state: 'Open' }, T0 + 5);
      await s.complete([], { system: 'erpnext', ref: key, key, externalId: 'ISS-0001', state: 'Replied', adopted: true }, T0 + 6);
      await s.complete([], { system: 'erpnext', ref: key, key, externalId: 'ISS-0001', state: 'Replied', adopted: false }, T0 + 7);
      assert.equal(await s.link('erpnext', key), {
        system: 'erpnext',
        ref: key,
        key,
        externalId: 'ISS-0001',
        state: 'Replied',
        adopted: true,
        updatedAt: T0 + 7,
      });
      assert.is(await s.link('zammad', key), null);
      assert.equal(
        (await s.links({ ref: key })).map((l) => l.system),
        ['erpnext'],
      );
      assert.equal((await s.links({ system: 'zammad' })).length, 0);
      assert.is(await s.pending('erpnext'), 1);
      assert.is(await s.discard('zammad', key), 2);
      assert.is(await s.pending('zammad'), 0);
      s.addSink('webhook');
      assert.is((await s.enqueue({ kind: 'update', key, at: T0 + 8, comment: 'x' })).rows, 3);
    }),
  );

  test(
    'operator actions: the status, its history entry and the recomputed SLA commit together; refusals carry a code',
    withStore(['erpnext'], async (s) => {
      const H = 3_600_000;
      const A = Date.parse('2026-03-06T07:00:00Z');
      const sla = serviceLevelAgreementSchema.parse({
        service_level: 'POS 24/7',
        default_priority: 'High',
        priorities: [{ priority: 'High', response_time: 3600, resolution_time: 4 * 3600 }],
        calendar: { time_zone: 'Asia/Riyadh', twenty_four_seven: true },
      });
      const ctx = { slas: { acme: sla } };
      // A High ticket of acme opened at A, its SLA deadlines set as the service sets them.
      const openedAtA = (ref: string) =>
        createCmd(
          ref,
          {
            priority: 'High',
            customer: 'acme',
            sla: { serviceLevelAgreement: 'POS 24/7', responseBy: A + H, resolutionBy: A + 4 * H, agreementStatus: 'First Response Due' },
          },
          A,
        );
      const ref = 'pos-1/printer/autocutter-error';
      await s.enqueue(openedAtA(ref));
      let r = await operatorTicketActionOn(s, ref, 'ack', 'on it', A + 30 * 60_000, ctx);
      assert.equal([r.ticket.status, r.ticket.sla.agreementStatus, r.commands.length], ['Replied', 'Resolution Due', 2]);
      r = await operatorTicketActionOn(s, ref, 'hold', 'waiting for the store', A + H, ctx);
      assert.equal([r.ticket.sla.agreementStatus, r.ticket.sla.resolutionBy], ['Paused', null]);
      r = await operatorTicketActionOn(s, ref, 'reopen', undefined, A + 3 * H, ctx);
      assert.equal([r.ticket.status, r.ticket.sla.agreementStatus, r.ticket.sla.resolutionBy], ['Open', 'Resolution Due', A + 6 * H]);
      r = await operatorTicketActionOn(s, ref, 'resolve', 'blade replaced', A + 5 * H, ctx);
      assert.equal([r.ticket.status, r.ticket.sla.agreementStatus], ['Resolved', 'Fulfilled']);
      assert.equal(
        (await s.statusLog(ref)).map((x) => x.status),
        ['Replied', 'On Hold', 'Open', 'Resolved'],
      );
      // Every SLA change went to the sink as an update with the patch.
      const patches: string[] = [];
      for (const row of await s.rowsOf('erpnext', ref)) if (row.kind === 'update') patches.push(JSON.parse(row.command).patch?.sla?.agreementStatus ?? '-');
      assert.equal(
        patches.filter((p) => p !== '-'),
        ['Resolution Due', 'Paused', 'Resolution Due', 'Fulfilled'],
      );
      const code = async (f: () => Promise<unknown>) => {
        try {
          await f();
        } catch (e) {
          return e instanceof TicketActionError ? e.code : `other: ${(e as Error).message}`;
        }
        return 'no error';
      };
      assert.is(await code(() => operatorTicketActionOn(s, 'nope/x/y', 'ack', undefined, A, ctx)), 'not-found');
      assert.is(await code(() => operatorTicketActionOn(s, ref, 'comment', '  ', A, ctx)), 'bad-request');
      assert.is(await code(() => operatorTicketActionOn(s, ref, 'resolve', undefined, A, ctx)), 'not-changed');
      const c = await operatorTicketActionOn(s, ref, 'comment', 'called the store', A + 6 * H, ctx);
      assert.is(c.commands.length, 1, 'a comment does not touch the SLA');
      await operatorTicketActionOn(s, ref, 'close', 'done', A + 7 * H, ctx);
      // The periodic pass: a passed deadline becomes Failed once; met and closed ones are left alone.
      const late = 'pos-2/printer/paper-out';
      await s.enqueue(openedAtA(late));
      assert.is(await markSlaBreachesOn(s, A + 30 * 60_000, ctx), 0, 'not due yet');
      assert.is(await markSlaBreachesOn(s, A + H + 1, ctx), 1, 'no response within 1 h');
      assert.is((await s.get(late))?.sla.agreementStatus, 'Failed');
      assert.is(await markSlaBreachesOn(s, A + 2 * H, ctx), 0, 'already Failed');
      await s.enqueue(createCmd(ref, { customer: 'acme' }, A + 8 * H));
      assert.is(await code(() => operatorTicketActionOn(s, ref, 'ack', undefined, A + 9 * H, ctx)), 'superseded', 'a second occurrence replaced it');
      assert.is((await operatorTicketActionOn(s, `${ref}#2`, 'ack', undefined, A + 9 * H, ctx)).ticket.status, 'Replied');
    }),
  );

  test(
    "a ticket sender drains this store's outbox into a sink: the create, then the updates coalesced, and records the link",
    withStore(['mirror'], async (s) => {
      // The sink: fleetcare's own store in another database (a real TicketSink).
      const mirrorDb = new Database(':memory:');
      const mirror = new TicketStore(mirrorDb);
      const key = 'posA/printer/paper-out';
      await s.enqueue(createCmd(key, {}, T0));
      await s.enqueue({ kind: 'update', key, at: T0 + 1, comment: 'first', patch: { priority: 'High' } });
      await s.enqueue({ kind: 'set-status', key, at: T0 + 2, status: 'Replied', comment: 'second' });
      const sender = new TicketSender(s, new StoreSink(mirror, pino({ level: 'silent' }), 'mirror'), { log: pino({ level: 'silent' }), pollMs: 50 });
      sender.start();
      try {
        await waitFor('the outbox drained', async () => (await s.pending('mirror')) === 0);
        assert.equal(await s.link('mirror', key), {
          system: 'mirror',
          ref: key,
          key,
          externalId: key,
          state: 'Replied',
          adopted: false,
          updatedAt: (await s.link('mirror', key))!.updatedAt,
        });
        const t = mirror.get(key);
        assert.equal([t?.status, t?.priority], ['Replied', 'High']);
        assert.equal(
          mirror.comments(key).map((c) => c.body),
          ['first\n\nsecond'],
          'the two comments were coalesced into one update',
        );
        const st = sender.stats();
        assert.equal([st.created, st.updates, st.coalescedRows], [1, 1, 1]);
        // A later change wakes the sender (no poll needed to notice it, but the poll would too).
        await s.enqueue({ kind: 'close', key, at: T0 + 3, resolution: 'refilled' });
        await waitFor('the close delivered', () => mirror.get(key)?.status === 'Closed');
      } finally {
        await sender.close();
        mirrorDb.close();
      }
    }),
  );

  test.run();
}
