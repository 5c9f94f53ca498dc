// The behaviour of an IncidentStateStore, run against every implementation
// (incidents-sqlite.test.ts, incidents-postgres.test.ts): the lifecycle with an injected clock
// (hold, hysteresis, reopen window, flapping, site inhibition, maintenance muting), a hook that
// throws rolling the whole apply back, the NOC's reads, and per-device detector state.
import * as assert from 'uvu/assert';
import { storeSuite, type SuiteHooks } from './suite-support.js';
import type { IncidentStateStore, IncidentChange } from '../../state/incidents.js';
import type { IncidentStoreOptions } from '../../collector/incidents/store.js';
import type { Finding } from '../../collector/detectors/index.js';

export type IncidentsFactory = (lifecycle: IncidentStoreOptions) => Promise<{ store: IncidentStateStore; cleanup(): Promise<void> }>;

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2026, 2, 2, 10, 0); // Monday 2 March 2026, 10:00 UTC
const K = 'pos-1/printer/autocutter-error';
/** The lifecycle every test here runs under (lifecycle.test.ts uses it too). */
export const LIFECYCLE: IncidentStoreOptions = {
  holdMs: MIN,
  recoverMs: 5 * MIN,
  reopenWindowMs: 24 * HOUR,
  flapCount: 4,
  flapWindowMs: HOUR,
  flapQuietMs: HOUR,
};

export function finding(key: string, status: Finding['status'], extra: Partial<Finding> = {}): Finding {
  const [device, peripheral, failureMode] = key.split('/');
  return {
    key,
    device,
    peripheral,
    failureMode,
    site: 's1',
    scope: 'device',
    status,
    detector: 'reactive',
    kind: 'fault',
    priority: 'High',
    issueType: 'printer-hardware',
    figures: { fault: failureMode },
    runbook: { profile: 'epson-tm-t88vi', code: failureMode },
    inhibitableBySite: false,
    ...extra,
  };
}
/** Each change as `type:ticket(suppressed):key`, to compare a whole apply at once. */
export const summary = (cs: IncidentChange[]) => cs.map((c) => `${c.type}:${c.ticket}${c.suppressed ? `(${c.suppressed})` : ''}:${c.incident.key}`);

/** `summary` of `key` firing and recovering 5 times, 5 min apart (LIFECYCLE: 4 transitions an hour flap). */
export const fiveFlaps = (key: string) => [
  `opened:create:${key}`,
  `resolved:resolve:${key}`,
  `reopened:reopen:${key}`,
  `flapping:update:${key}`, // 4th transition within the hour
  `reopened:none(flapping):${key}`,
  `resolved:none(flapping):${key}`,
  `reopened:none(flapping):${key}`,
  `resolved:none(flapping):${key}`,
  `reopened:none(flapping):${key}`,
  `resolved:none(flapping):${key}`,
];

/** Site s1 offline, devices a and b of s1 offline with it, device x offline at site s2. */
export function siteOutage(): { site: Finding; offA: Finding; offB: Finding; offOther: Finding } {
  return {
    site: finding('site:s1/site/offline', 'firing', {
      scope: 'site',
      detector: 'site',
      kind: 'site-offline',
      priority: 'Urgent',
      issueType: 'site-outage',
    }),
    offA: finding('a/device/offline', 'firing', { kind: 'device-offline', inhibitableBySite: true }),
    offB: finding('b/device/offline', 'firing', { kind: 'device-offline', inhibitableBySite: true }),
    offOther: finding('x/device/offline', 'firing', { kind: 'device-offline', inhibitableBySite: true, site: 's2' }),
  };
}

export function incidentsSuite(name: string, factory: IncidentsFactory, hooks: SuiteHooks = {}): void {
  const { test, withStore } = storeSuite(`incident store (${name})`, factory, hooks);

  test(
    'opens only after the hold; a condition gone before the hold leaves nothing; reads see it',
    withStore(async (s) => {
      assert.equal(await s.apply([finding(K, 'firing')], T0), []);
      assert.is((await s.get(K))!.state, 'pending');
      assert.equal(await s.apply([finding(K, 'firing')], T0 + 30_000), []);
      const cs = await s.apply([finding(K, 'firing', { figures: { fault: 'autocutter-error', count: 3 } })], T0 + MIN);
      assert.equal(summary(cs), [`opened:create:${K}`]);
      assert.is(cs[0].incident.state, 'open');
      assert.is(cs[0].incident.ticketed, true);
      const got = (await s.get(K))!;
      assert.equal(got, cs[0].incident, 'get returns what the change carried');
      assert.equal(got.figures, { fault: 'autocutter-error', count: 3 });
      assert.equal(got.runbook, { profile: 'epson-tm-t88vi', code: 'autocutter-error' });
      assert.is(got.firstSeen, T0);
      assert.is(got.openedAt, T0 + MIN);
      assert.equal(await s.byId(got.id), got);
      assert.equal(await s.liveDevices(), ['pos-1']);
      assert.equal(
        (await s.history(got.id)).map((h) => [h.type, h.ticket, h.at]),
        [['opened', 'create', T0 + MIN]],
      );
      // Another key: gone before its hold.
      const K2 = 'pos-2/printer/paper-end';
      await s.apply([finding(K2, 'firing', { holdMs: 15 * MIN })], T0);
      assert.equal(await s.apply([finding(K2, 'recovered')], T0 + 14 * MIN), []);
      assert.is(await s.get(K2), null);
      assert.is((await s.list({ key: K2 })).length, 0);
      assert.equal(
        (await s.list({ state: 'open' })).map((i) => i.key),
        [K],
      );
      assert.equal((await s.list({ state: ['pending', 'closed'] })).length, 0);
      assert.equal(
        (await s.list({ site: 's1' })).map((i) => i.key),
        [K],
      );
    }, LIFECYCLE),
  );

  test(
    'hysteresis: resolves only when recovery held recoverMs; firing in between keeps it open',
    withStore(async (s) => {
      await s.apply([finding(K, 'firing', { holdMs: 0 })], T0);
      assert.is((await s.get(K))!.state, 'open');
      await s.apply([finding(K, 'recovered')], T0 + MIN);
      assert.equal(await s.apply([], T0 + 4 * MIN), [], 'not yet');
      await s.apply([finding(K, 'firing')], T0 + 5 * MIN); // bounced
      assert.equal(await s.apply([finding(K, 'recovered')], T0 + 7 * MIN), []);
      assert.equal(await s.apply([], T0 + 11 * MIN), [], '4 min since the last recovery start');
      assert.equal(summary(await s.apply([], T0 + 12 * MIN)), [`resolved:resolve:${K}`]);
      assert.is((await s.get(K))!.state, 'resolved');
    }, LIFECYCLE),
  );

  test(
    'firing again within the reopen window reopens the same incident; after it, a new one',
    withStore(async (s) => {
      await s.apply([finding(K, 'firing', { holdMs: 0, recoverMs: 0 })], T0);
      const id = (await s.get(K))!.id;
      await s.apply([finding(K, 'recovered', { recoverMs: 0 })], T0 + MIN);
      assert.is((await s.get(K))!.state, 'resolved');
      const cs = await s.apply([finding(K, 'firing', { holdMs: 0 })], T0 + 2 * HOUR);
      assert.equal(summary(cs), [`reopened:reopen:${K}`]);
      assert.is(cs[0].incident.id, id);
      assert.is(cs[0].incident.reopenCount, 1);
      await s.apply([finding(K, 'recovered')], T0 + 3 * HOUR);
      await s.apply([], T0 + 3 * HOUR + 5 * MIN);
      assert.equal(summary(await s.apply([], T0 + 28 * HOUR)), [`closed:close:${K}`]);
      assert.equal(await s.liveDevices(), []);
      await s.apply([finding(K, 'firing', { holdMs: 0 })], T0 + 30 * HOUR);
      assert.ok((await s.get(K))!.id !== id, 'a new incident after the window');
      assert.equal(
        (await s.list({ key: K })).map((i) => i.state),
        ['closed', 'open'],
      );
    }, LIFECYCLE),
  );

  test(
    'flapping: N transitions in the window marks it once; no ticket churn; quiet ends it',
    withStore(
      async (s) => {
        const all: IncidentChange[] = [];
        let t = T0;
        for (let i = 0; i < 5; i++) {
          all.push(...(await s.apply([finding(K, 'firing')], t)));
          t += 5 * MIN;
          all.push(...(await s.apply([finding(K, 'recovered')], t)));
          t += 5 * MIN;
        }
        assert.equal(summary(all), fiveFlaps(K));
        assert.is((await s.get(K))!.flapping, true);
        assert.equal(summary(await s.apply([], t + HOUR)), [`flap-ended:resolve:${K}`]);
        assert.is((await s.get(K))!.flapping, false);
        assert.is((await s.list({ key: K })).length, 1, 'one incident through it all');
      },
      { ...LIFECYCLE, holdMs: 0, recoverMs: 0 },
    ),
  );

  test(
    'a site incident inhibits the device incidents it explains; released when it ends',
    withStore(
      async (s) => {
        const { site, offA, offB, offOther } = siteOutage();
        const cs = await s.apply([offA, offB, offOther, site], T0);
        assert.equal(summary(cs).sort(), [
          'opened:create:site:s1/site/offline',
          'opened:create:x/device/offline',
          'opened:none(inhibited):a/device/offline',
          'opened:none(inhibited):b/device/offline',
        ]);
        assert.is((await s.get('a/device/offline'))!.inhibitedBy, 'site:s1/site/offline');
        const back = await s.apply([{ ...site, status: 'recovered' }, { ...offA, status: 'recovered' }, offB], T0 + 10 * MIN);
        assert.equal(summary(back).sort(), ['released:create:b/device/offline', 'resolved:none:a/device/offline', 'resolved:resolve:site:s1/site/offline']);
      },
      { ...LIFECYCLE, holdMs: 0, recoverMs: 0 },
    ),
  );

  test(
    'a maintenance window mutes the ticket but keeps the incident; released when it ends',
    withStore(
      async (s) => {
        const id = await s.addMaintenance({ kind: 'once', site: 's1', from: T0, to: T0 + HOUR });
        assert.ok(await s.inMaintenance('s1', T0 + MIN));
        assert.equal(summary(await s.apply([finding(K, 'firing')], T0 + 10 * MIN)), [`opened:none(maintenance):${K}`]);
        assert.is((await s.get(K))!.muted, true);
        assert.equal(summary(await s.apply([finding(K, 'firing')], T0 + HOUR)), [`released:create:${K}`]);
        assert.ok(await s.removeMaintenance(id));
        assert.equal(await s.maintenance(), []);
      },
      { ...LIFECYCLE, holdMs: 0, recoverMs: 0 },
    ),
  );

  test(
    'a hook that throws rolls the whole apply back; retried, the change happens once',
    withStore(
      async (s) => {
        const Z = 'z/printer/unrecoverable-error';
        const seen: string[] = [];
        await s.apply([finding(K, 'firing')], T0, { onChange: (c) => void seen.push(`${c.type}:${c.incident.key}`) });
        let err: unknown;
        try {
          await s.apply([finding(Z, 'firing')], T0, {
            onChange: () => {
              throw new Error('outbox full');
            },
          });
        } catch (e) {
          err = e;
        }
        assert.match(String((err as Error)?.message), 'outbox full');
        assert.is(await s.get(Z), null, 'rolled back');
        await s.apply([finding(Z, 'firing')], T0, { onChange: (c) => void seen.push(`${c.type}:${c.incident.key}`) });
        assert.equal(seen, [`opened:${K}`, `opened:${Z}`]);
        assert.is((await s.list({ key: Z })).length, 1);
        assert.equal(
          (await s.history((await s.get(Z))!.id)).map((h) => h.type),
          ['opened'],
        );
      },
      { ...LIFECYCLE, holdMs: 0 },
    ),
  );

  test(
    'per-device detector state: saved, replaced, loaded',
    withStore(async (s) => {
      assert.equal(await s.loadDeviceStates(), []);
      const bytes = await s.saveDeviceStates(
        [
          ['pos-1', { v: 2, n: 1 }],
          ['pos-2', { v: 2, n: 2 }],
        ],
        T0,
      );
      assert.is(bytes, JSON.stringify({ v: 2, n: 1 }).length * 2);
      await s.saveDeviceStates([['pos-1', { v: 2, n: 10 }]], T0 + 1);
      const loaded = (await s.loadDeviceStates<{ v: number; n: number }>()).map((x) => x.n).sort((a, b) => a - b);
      assert.equal(loaded, [2, 10]);
      assert.is(await s.saveDeviceStates([], T0), 0);
    }, LIFECYCLE),
  );

  test.run();
}
