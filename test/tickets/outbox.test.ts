// The outbox and built-in store without any network: same-transaction enqueue (rollback takes
// the ticket with it), per-sink rows, occurrences after close, coalescing, failure API.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TicketOutbox, TicketCommandError, coalesce, backoffDelay } from '../../collector/tickets/index.js';
import { tempDir, type TempDir } from '../helpers/tmp.js';
import { openCallerDb, createCmd, incidentChange } from './support.js';

const dirs: TempDir[] = [];
test.after(() => {
  for (const d of dirs) d.remove();
});
function setup(sinks = ['erpnext', 'webhook']) {
  const d = tempDir('fleetcare-tickets-');
  dirs.push(d);
  const db = openCallerDb(d.path);
  return { db, outbox: new TicketOutbox(db, { sinks }) };
}

test('enqueue inside the caller transaction: store ticket + one row per sink, committed together', () => {
  const { db, outbox } = setup();
  incidentChange(db, (c) => outbox.enqueue(c), 'posA/printer/cutter-wear', 'open', createCmd('posA/printer/cutter-wear'));
  const t = outbox.store.byKey('posA/printer/cutter-wear');
  assert.ok(t);
  assert.is(t!.status, 'Open');
  assert.is(t!.ref, 'posA/printer/cutter-wear');
  assert.is(t!.sla.agreementStatus, 'First Response Due');
  assert.is(t!.warrantyStatus, 'Under Warranty');
  assert.is(outbox.pending('erpnext'), 1);
  assert.is(outbox.pending('webhook'), 1);
  db.close();
});

test('a rolled-back caller transaction leaves neither ticket nor outbox row', () => {
  const { db, outbox } = setup();
  assert.throws(() =>
    db.transaction(() => {
      db.prepare(`INSERT INTO incidents (key, state, at) VALUES ('k', 'open', 1)`).run();
      outbox.enqueue(createCmd('posB/printer/cutter-wear'));
      throw new Error('incident change failed after the enqueue');
    })(),
  );
  assert.is(outbox.store.byKey('posB/printer/cutter-wear'), null);
  assert.is(outbox.pending(), 0);
  assert.is(db.prepare('SELECT count(*) FROM incidents').pluck().get(), 0);
  db.close();
});

test('invalid command throws TicketCommandError with path: message; non-applicable commands are reported, not queued', () => {
  const { db, outbox } = setup();
  const err = (() => {
    try {
      outbox.enqueue({ kind: 'create', key: 'no-slashes', at: 1, ticket: {} as never });
    } catch (e) {
      return e as Error;
    }
  })();
  assert.instance(err, TicketCommandError);
  assert.match(err!.message, /key: must be device\/peripheral\/failure-mode/);
  const r = outbox.enqueue({ kind: 'update', key: 'posZ/printer/jam', at: 1, comment: 'x' });
  assert.equal([r.applied, (r as { reason?: string }).reason, r.rows], [false, 'no-ticket', 0]);
  outbox.enqueue(createCmd('posC/printer/jam'));
  const again = outbox.enqueue(createCmd('posC/printer/jam'));
  assert.equal([again.applied, (again as { reason?: string }).reason], [false, 'already-open']);
  assert.is(outbox.pending('erpnext'), 1);
  db.close();
});

test('after close, the same dedup key opens a new occurrence with its own ref', () => {
  const { db, outbox } = setup(['erpnext']);
  const key = 'posD/-/offline';
  outbox.enqueue(createCmd(key, { peripheral: null, issueType: 'Connectivity' }));
  outbox.enqueue({ kind: 'close', key, at: 2, resolution: 'back online' });
  const r = outbox.enqueue(createCmd(key, { peripheral: null, issueType: 'Connectivity' }));
  assert.ok(r.applied);
  assert.is(r.ref, `${key}#2`);
  assert.equal(
    outbox.store.list({ device: 'posD' }).map((t) => [t.ref, t.status]),
    [
      [key, 'Closed'],
      [`${key}#2`, 'Open'],
    ],
  );
  assert.equal(outbox.store.list({ open: true, device: 'posD' }).length, 1);
  db.close();
});

test('coalescing: several comments become one, patches merge, the last status wins, order of ids kept', () => {
  const { db, outbox } = setup(['erpnext']);
  const key = 'posE/printer/cutter-wear';
  outbox.enqueue(createCmd(key));
  outbox.enqueue({ kind: 'update', key, at: 2, eventId: 'e1', comment: 'life used 93 %', patch: { priority: 'Medium' } });
  outbox.enqueue({ kind: 'set-status', key, at: 3, eventId: 'e2', status: 'On Hold', comment: 'waiting for part' });
  outbox.enqueue({ kind: 'update', key, at: 4, eventId: 'e3', comment: 'life used 95 %', patch: { priority: 'High' } });
  outbox.enqueue({ kind: 'close', key, at: 5, eventId: 'e4', resolution: 'cutter replaced' });
  const rows = outbox.rowsOf('erpnext', key);
  assert.is(rows.length, 5);
  const first = coalesce(rows);
  assert.is(first.op.kind, 'create');
  assert.equal(first.ids, [rows[0].id]);
  const rest = coalesce(rows.slice(1));
  assert.equal(
    rest.ids,
    rows.slice(1).map((r) => r.id),
  );
  if (rest.op.kind !== 'update') throw new Error('expected update');
  assert.is(rest.op.status, 'Closed');
  assert.is(rest.op.resolution, 'cutter replaced');
  assert.equal(rest.op.patch, { priority: 'High' });
  assert.is(rest.op.version, 5);
  assert.match(rest.op.comment!, /life used 93 %\n\[event e1\]\n\nwaiting for part\n\[event e2\]\n\nlife used 95 %\n\[event e3\]/);
  // The store saw every step.
  assert.equal(
    outbox.store.comments(key).map((c) => c.body),
    ['life used 93 %', 'waiting for part', 'life used 95 %'],
  );
  assert.is(outbox.store.get(key)!.priority, 'High');
  assert.is(outbox.store.get(key)!.resolution, 'cutter replaced');
  db.close();
});

test('backoff grows exponentially with jitter inside [cap/2, cap] and is capped', () => {
  const o = { baseMs: 100, maxMs: 1000 };
  // [attempt, random draw, delay]: the lowest and highest draw of attempt 1, doubling, the cap.
  const cases: [number, number, number][] = [
    [1, 0, 50],
    [1, 1, 100],
    [3, 1, 400],
    [10, 1, 1000],
    [10, 0, 500],
  ];
  for (const [attempt, draw, delay] of cases)
    assert.is(
      backoffDelay(attempt, o, () => draw),
      delay,
      `attempt ${attempt}, random ${draw}`,
    );
});

test.run();
