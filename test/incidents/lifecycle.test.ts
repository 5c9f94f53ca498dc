// Incident lifecycle with an injectable clock: open after a hold, hysteresis on recovery,
// reopen within a window, flapping, inhibition by a site incident, maintenance windows (weekly
// in a time zone, one-off), the transaction hook for a ticket outbox, and restarts that reopen
// the database and duplicate nothing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { tempDir, type TempDir } from '../helpers/tmp.js';
import { IncidentStore, windowActive, zonedTime, type IncidentChange, type IncidentStoreOptions } from '../../collector/incidents/index.js';
import { finding, fiveFlaps, LIFECYCLE, siteOutage, summary } from '../state/incidents-suite.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2026, 2, 2, 10, 0); // Monday 2 March 2026, 10:00 UTC
const dirs: TempDir[] = [];
const stores: IncidentStore[] = [];
test.after(() => {
  for (const s of stores) s.close();
  for (const d of dirs) d.remove();
});

function open(path?: string, o: IncidentStoreOptions = {}): { store: IncidentStore; path: string } {
  if (!path) {
    const d = tempDir('fleetcare-incidents-');
    dirs.push(d);
    path = join(d.path, 'incidents.db');
  }
  const store = new IncidentStore(path, { ...LIFECYCLE, ...o });
  stores.push(store);
  return { store, path };
}

const K = 'pos-1/printer/autocutter-error';

test('opens only after the hold; a condition gone before the hold leaves nothing', () => {
  const { store } = open();
  assert.equal(store.apply([finding(K, 'firing')], T0), []);
  assert.is(store.get(K)!.state, 'pending');
  assert.equal(store.apply([finding(K, 'firing')], T0 + 30_000), []);
  const cs = store.apply([finding(K, 'firing')], T0 + MIN);
  assert.equal(summary(cs), [`opened:create:${K}`]);
  assert.is(cs[0].incident.state, 'open');
  assert.is(cs[0].incident.ticketed, true);
  // Another key: gone before its hold.
  const K2 = 'pos-2/printer/paper-end';
  store.apply([finding(K2, 'firing', { holdMs: 15 * MIN })], T0);
  assert.equal(store.apply([finding(K2, 'firing', { holdMs: 15 * MIN })], T0 + 14 * MIN), []);
  assert.equal(store.apply([finding(K2, 'recovered')], T0 + 14.5 * MIN), []);
  assert.is(store.get(K2), null);
  assert.equal(store.apply([], T0 + HOUR), []);
  assert.is(store.list({ key: K2 }).length, 0);
});

test('the hold counts from when the condition was first observed (since), not from the first evaluation that saw it', () => {
  const { store } = open();
  // Observed 50 s before the evaluation that first sees it (a tick comes up to tickMs later).
  assert.equal(store.apply([finding(K, 'firing', { since: T0 - 50_000 })], T0), []);
  assert.is(store.get(K)!.firstSeen, T0 - 50_000);
  assert.equal(store.apply([finding(K, 'firing', { since: T0 - 50_000 })], T0 + 9_000), [], '59 s since the fault');
  assert.equal(
    summary(store.apply([finding(K, 'firing', { since: T0 - 50_000 })], T0 + 10_000)),
    [`opened:create:${K}`],
    '60 s since the fault, 10 s since the first evaluation',
  );
  // Active for longer than the hold already: opens at the first evaluation.
  const K2 = 'pos-2/printer/autocutter-error';
  assert.equal(summary(store.apply([finding(K2, 'firing', { since: T0 - 2 * MIN })], T0 + MIN)), [`opened:create:${K2}`]);
  // A `since` after the evaluation time (clocks of a replay) counts from the evaluation.
  const K3 = 'pos-3/printer/autocutter-error';
  store.apply([finding(K3, 'firing', { since: T0 + HOUR })], T0);
  assert.is(store.get(K3)!.firstSeen, T0);
});

test('hysteresis: resolves only when the recovery condition held recoverMs; firing again in between keeps it open', () => {
  const { store } = open();
  store.apply([finding(K, 'firing', { holdMs: 0 })], T0);
  assert.is(store.get(K)!.state, 'open');
  store.apply([finding(K, 'recovered')], T0 + MIN);
  assert.equal(store.apply([], T0 + 4 * MIN), [], 'not yet');
  store.apply([finding(K, 'firing')], T0 + 5 * MIN); // bounced
  assert.equal(store.apply([finding(K, 'recovered')], T0 + 7 * MIN), []);
  assert.equal(store.apply([], T0 + 11 * MIN), [], '4 min since the last recovery start');
  const cs = store.apply([], T0 + 12 * MIN);
  assert.equal(summary(cs), [`resolved:resolve:${K}`]);
  assert.is(store.get(K)!.state, 'resolved');
});

test('firing again within the reopen window reopens the same incident; after it, a new one', () => {
  const { store } = open();
  store.apply([finding(K, 'firing', { holdMs: 0, recoverMs: 0 })], T0);
  const id = store.get(K)!.id;
  store.apply([finding(K, 'recovered', { recoverMs: 0 })], T0 + MIN);
  assert.is(store.get(K)!.state, 'resolved');
  const cs = store.apply([finding(K, 'firing', { holdMs: 0 })], T0 + 2 * HOUR);
  assert.equal(summary(cs), [`reopened:reopen:${K}`]);
  assert.is(cs[0].incident.id, id);
  assert.is(cs[0].incident.reopenCount, 1);
  store.apply([finding(K, 'recovered')], T0 + 3 * HOUR);
  store.apply([], T0 + 3 * HOUR + 5 * MIN);
  assert.is(store.get(K)!.state, 'resolved');
  // The reopen window passes: the incident (and its ticket) is closed.
  const closed = store.apply([], T0 + 28 * HOUR);
  assert.equal(summary(closed), [`closed:close:${K}`]);
  store.apply([finding(K, 'firing', { holdMs: 0 })], T0 + 30 * HOUR);
  const again = store.get(K)!;
  assert.ok(again.id !== id, 'a new incident after the window');
  assert.equal(
    store.list({ key: K }).map((i) => i.state),
    ['closed', 'open'],
  );
});

test('flapping: N transitions in the window marks it once; no ticket churn; quiet ends it', () => {
  const { store } = open(undefined, { recoverMs: 0, holdMs: 0 });
  const all: IncidentChange[] = [];
  let t = T0;
  for (let i = 0; i < 5; i++) {
    all.push(...store.apply([finding(K, 'firing')], t));
    t += 5 * MIN;
    all.push(...store.apply([finding(K, 'recovered')], t));
    t += 5 * MIN;
  }
  assert.equal(summary(all), fiveFlaps(K));
  assert.is(store.get(K)!.flapping, true);
  const quiet = store.apply([], t + HOUR);
  assert.equal(summary(quiet), [`flap-ended:resolve:${K}`]);
  assert.is(store.get(K)!.flapping, false);
  assert.is(store.list({ key: K }).length, 1, 'one incident through it all');
});

test('a site incident inhibits the device incidents it explains, not the others; released when it ends', () => {
  const { store } = open(undefined, { holdMs: 0, recoverMs: 0 });
  const { site, offA, offB, offOther } = siteOutage();
  const wear = finding('a/printer/cutter-wear-out', 'firing', { detector: 'wear-out', kind: 'predicted-failure', priority: 'Low' });
  // Device findings listed first on purpose: the site finding is still applied first.
  const cs = store.apply([offA, offB, offOther, wear, site], T0);
  assert.equal(summary(cs).sort(), [
    'opened:create:a/printer/cutter-wear-out',
    'opened:create:site:s1/site/offline',
    'opened:create:x/device/offline',
    'opened:none(inhibited):a/device/offline',
    'opened:none(inhibited):b/device/offline',
  ]);
  assert.is(store.get('a/device/offline')!.inhibitedBy, 'site:s1/site/offline');
  // Power back for the site but device b stays offline: b gets its own ticket now.
  const back = store.apply([{ ...site, status: 'recovered' }, { ...offA, status: 'recovered' }, offB], T0 + 10 * MIN);
  assert.equal(summary(back).sort(), ['released:create:b/device/offline', 'resolved:none:a/device/offline', 'resolved:resolve:site:s1/site/offline']);
});

test('maintenance windows: weekly in the site time zone (across DST) and one-off; tickets muted, data kept', () => {
  // New York, Sundays 01:00 for 3 h. 8 March 2026 is the DST change (02:00 → 03:00).
  const weekly = { kind: 'weekly' as const, site: 's1', timeZone: 'America/New_York', days: ['sun' as const], start: '01:00', durationMinutes: 180 };
  const start = zonedTime(2026, 3, 8, 1, 0, 'America/New_York');
  assert.is(new Date(start).toISOString(), '2026-03-08T06:00:00.000Z', 'EST');
  assert.ok(windowActive(weekly, start));
  assert.ok(windowActive(weekly, start + 3 * HOUR - 1), 'absolute 3 h even across the change');
  assert.not.ok(windowActive(weekly, start + 3 * HOUR));
  assert.not.ok(windowActive(weekly, start - 1));
  const summer = zonedTime(2026, 3, 15, 1, 0, 'America/New_York');
  assert.is(new Date(summer).toISOString(), '2026-03-15T05:00:00.000Z', 'EDT: local time kept');
  assert.ok(windowActive(weekly, summer + HOUR));
  assert.not.ok(windowActive(weekly, zonedTime(2026, 3, 16, 2, 0, 'America/New_York')), 'Monday');
  // A window crossing midnight, Tehran (UTC+3:30), Thursday 23:00 for 2 h.
  const tehran = { kind: 'weekly' as const, site: 's9', timeZone: 'Asia/Tehran', days: ['thu' as const], start: '23:00', durationMinutes: 120 };
  assert.ok(windowActive(tehran, Date.UTC(2026, 5, 4, 20, 0)), 'Friday 00:30 local, started Thursday');

  const { store } = open(undefined, { holdMs: 0, recoverMs: 0 });
  const id = store.addMaintenance(weekly);
  store.addMaintenance({ kind: 'once', site: 's2', from: start, to: start + HOUR });
  assert.is(store.maintenance().length, 2);
  assert.ok(store.inMaintenance('s1', start + HOUR));
  assert.not.ok(store.inMaintenance('s2', start + HOUR), 'one-off: end excluded');
  const other = finding('o/printer/unrecoverable-error', 'firing', { site: 's2' });
  const cs = store.apply([finding(K, 'firing'), other], start + 30 * MIN);
  assert.equal(summary(cs), [`opened:none(maintenance):${K}`, 'opened:none(maintenance):o/printer/unrecoverable-error']);
  assert.is(store.get(K)!.muted, true, 'data kept: the incident exists');
  // The one-off window of s2 ends first; the s1 incident stays muted.
  assert.equal(summary(store.apply([], start + 1.5 * HOUR)), ['released:create:o/printer/unrecoverable-error']);
  // s1's window ends with the fault still there: ticket now.
  assert.equal(summary(store.apply([finding(K, 'firing')], start + 3 * HOUR)), [`released:create:${K}`]);
  // A fault that comes and goes inside a window never tickets.
  const K3 = 'pos-3/printer/unrecoverable-error';
  const next = start + 7 * 24 * HOUR;
  store.apply([finding(K3, 'firing')], next + 10 * MIN);
  assert.equal(summary(store.apply([finding(K3, 'recovered')], next + 20 * MIN)), ['resolved:none:' + K3]);
  assert.equal(
    store.history(store.get(K3)!.id).map((h) => h.type),
    ['opened', 'resolved'],
  );
  assert.ok(store.removeMaintenance(id));
  assert.not.ok(store.inMaintenance('s1', next + HOUR));
});

test('onChange runs inside the transaction: an outbox row per change, and a throw rolls everything back', () => {
  const { store } = open(undefined, { holdMs: 0 });
  store.db.exec('CREATE TABLE outbox (id INTEGER PRIMARY KEY, incident INTEGER, action TEXT)');
  const hooks = {
    onChange: (c: IncidentChange) => {
      if (c.ticket !== 'none') store.db.prepare('INSERT INTO outbox (incident, action) VALUES (?, ?)').run(c.incident.id, c.ticket);
    },
  };
  store.apply([finding(K, 'firing')], T0, hooks);
  assert.equal(store.db.prepare('SELECT action FROM outbox').pluck().all(), ['create']);
  assert.throws(
    () =>
      store.apply([finding('z/printer/unrecoverable-error', 'firing')], T0, {
        onChange: () => {
          throw new Error('outbox full');
        },
      }),
    /outbox full/,
  );
  assert.is(store.get('z/printer/unrecoverable-error'), null, 'rolled back');
  // Retried: the same change happens exactly once.
  store.apply([finding('z/printer/unrecoverable-error', 'firing')], T0, hooks);
  assert.equal(store.db.prepare('SELECT action FROM outbox').pluck().all(), ['create', 'create']);
  // The partial unique index refuses a second live incident for a key, whoever writes it.
  assert.throws(
    () =>
      store.db
        .prepare(
          'INSERT INTO incidents SELECT NULL, key, device, peripheral, failure_mode, site, scope, detector, kind, priority, issue_type, state, figures, eta, runbook, inhibitable, first_seen, last_firing, opened_at, recovering_since, resolved_at, closed_at, hold_ms, recover_ms, reopen_count, flapping, transitions, ticketed, muted, inhibited_by, updated_at FROM incidents WHERE key = ?',
        )
        .run(K),
    /UNIQUE/,
  );
});

test('restart: reopening the database continues holds, recoveries and windows without duplicates', () => {
  const first = open(undefined, { holdMs: 10 * MIN, recoverMs: 5 * MIN });
  const all: IncidentChange[] = [];
  const site = finding('site:s1/site/offline', 'firing', { scope: 'site', holdMs: 0 });
  all.push(...first.store.apply([finding(K, 'firing'), finding('b/printer/mechanical-error', 'firing', { holdMs: 0 })], T0));
  all.push(...first.store.apply([finding('b/printer/mechanical-error', 'recovered')], T0 + MIN));
  first.store.addMaintenance({ kind: 'once', site: 's1', from: T0 + 20 * MIN, to: T0 + 40 * MIN });
  first.store.close();

  const second = open(first.path, { holdMs: 10 * MIN, recoverMs: 5 * MIN });
  // Same findings again after the restart: nothing new until the hold passes.
  all.push(...second.store.apply([finding(K, 'firing'), finding('b/printer/mechanical-error', 'recovered')], T0 + 2 * MIN));
  all.push(...second.store.apply([finding(K, 'firing')], T0 + 10 * MIN));
  second.store.close();

  const third = open(first.path, { holdMs: 10 * MIN, recoverMs: 5 * MIN });
  all.push(...third.store.apply([finding(K, 'firing')], T0 + 10 * MIN)); // re-delivered evaluation
  all.push(...third.store.apply([site, finding('c/device/offline', 'firing', { inhibitableBySite: true, holdMs: 0 })], T0 + 25 * MIN));
  assert.equal(summary(all), [
    'opened:create:b/printer/mechanical-error',
    `opened:create:${K}`, // hold of 10 min counted across the restart
    'resolved:resolve:b/printer/mechanical-error', // recovery held 5 min across the restart
    'opened:none(maintenance):site:s1/site/offline',
    'opened:none(inhibited):c/device/offline',
  ]);
  assert.is(third.store.list().length, 4);
  assert.is(third.store.list({ state: 'open' }).length, 3);
});

test.run();
