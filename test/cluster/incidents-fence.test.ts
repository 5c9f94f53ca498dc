// The cluster incident step on a real PostgreSQL with real partition leases: findings, ticket
// commands and detector state commit together under the lease fence; a node whose lease moved on
// writes nothing and evaluates its devices again; while a fenced step runs, no other node can
// take its partitions — unless it sits idle (its node paused or cut off mid-transaction): then
// PostgreSQL ends it, nothing of it commits, and the partitions move; the sweep touches only the
// partitions asked for.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type pg from 'pg';
import pino from 'pino';
import { PartitionLeases } from '../../cluster/leases.js';
import { partitionOf } from '../../cluster/partitions.js';
import { DetectorEngine } from '../../collector/detectors/index.js';
import { detectAndApplyFenced, fencedPool, fenceLeases, LeaseLostError, type LeaseFence } from '../../collector/incidents/cluster-pipeline.js';
import { defaultFirmwareProfilesDir, loadFirmwareProfiles } from '../../firmware-profiles/index.js';
import { createPgPool, inTransaction } from '../../state/postgres/db.js';
import { PgIncidentState } from '../../state/postgres/incidents.js';
import { PgTicketState } from '../../state/postgres/tickets.js';
import { migratePostgres } from '../../state/postgres/migrations.js';
import { TestPostgres, havePostgres } from '../helpers/postgres.js';
import { waitFor } from '../helpers/net.js';
import { finding } from '../state/incidents-suite.js';
import { createCmd } from '../tickets/support.js';
import { openIncidentView } from '../../collector/incidents/service.js';
import { operatorTicketActionOn } from '../../collector/tickets/actions.js';

const log = pino({ level: 'silent' });
const PARTITIONS = 4;
const HOUR = 3_600_000;
let server: TestPostgres | null = null;
const closers: Array<() => Promise<unknown>> = [];

test.before(async () => {
  if (havePostgres()) server = await TestPostgres.create();
});
test.after(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await server?.destroy();
});

async function setup(): Promise<{ url: string; pool: pg.Pool; incidents: PgIncidentState; leases: (node: string, leaseMs?: number) => PartitionLeases }> {
  const url = await server!.createDatabase('fence');
  await migratePostgres(url);
  const pool = createPgPool(url, { max: 6 });
  closers.push(() => pool.end());
  const incidents = new PgIncidentState(pool, { lifecycle: { holdMs: 0 }, partitions: PARTITIONS });
  const leases = (node: string, leaseMs = 1500) => {
    const l = new PartitionLeases(pool, { node, partitions: PARTITIONS, leaseMs, renewEveryMs: Math.floor(leaseMs / 4) }, {}, log);
    closers.push(() => l.stop({ release: false }));
    return l;
  };
  return { url, pool, incidents, leases };
}

const fenceOf = (l: PartitionLeases): LeaseFence => ({ node: l.config.node, epochs: new Map(l.owned().map((p) => [p, l.epochOf(p)!])) });

/** A device of partition `p`. */
const deviceIn = (p: number) => Array.from({ length: 100 }, (_, i) => `pos-${i}`).find((d) => partitionOf(d, PARTITIONS) === p)!;

test('a fenced step commits incident, ticket command and detector state together; after losing the lease it writes nothing and evaluates again', async () => {
  if (!server) return console.log('skipped: PostgreSQL is not installed');
  const { url, pool, incidents, leases } = await setup();
  const tickets = new PgTicketState(url, { sinks: ['erpnext'] });
  closers.push(() => tickets.close());
  const a = leases('a');
  await a.start();
  assert.is(a.owned().length, PARTITIONS);
  const engine = new DetectorEngine(loadFirmwareProfiles(defaultFirmwareProfilesDir()), { reactive: { holdMs: { 'autocutter-error': 0 } } });
  const device = deviceIn(1);
  const at = Date.now();
  engine.observeDevice({ device, site: 's1', online: true, lastSeen: at });
  engine.observeSample({
    device,
    site: 's1',
    peripheral: 'printer0',
    kind: 'printer',
    profile: 'epson-tm-t88vi',
    at,
    health: 'critical',
    faults: ['autocutter-error'],
  });
  const onChange = async (change: { ticket: string; incident: { key: string } }, c: Parameters<typeof tickets.enqueueIn>[0]) => {
    if (change.ticket === 'create') await tickets.enqueueIn(c, createCmd(change.incident.key, { device }, at));
  };
  const key = `${device}/printer0/autocutter-error`;
  const r = await detectAndApplyFenced(engine, incidents, pool, at, fenceOf(a), onChange);
  assert.equal(
    r.changes.map((c) => `${c.type}:${c.incident.key}`),
    [`opened:${key}`],
  );
  assert.is((await incidents.get(key))!.state, 'open');
  assert.is((await tickets.byKey(key))!.status, 'Open', 'the ticket committed with the incident');
  assert.is(await tickets.pending('erpnext'), 1);
  assert.is((await incidents.loadDeviceStates({ partitions: [1] })).length, 1, 'detector state saved under the fence');
  assert.equal(engine.unsavedDevices(), []);

  // a is paused past its lease: b takes every partition over (new epochs).
  const stale = fenceOf(a);
  await a.stop({ release: false });
  await pool.query(`UPDATE partition_leases SET expires_at = now() WHERE owner = 'a'`);
  await pool.query(`DELETE FROM cluster_nodes WHERE node = 'a'`);
  const b = leases('b');
  await b.start();
  assert.is(b.owned().length, PARTITIONS);
  // a wakes up and ticks with what it knew: the fault cleared meanwhile, on a.
  engine.observeSample({ device, site: 's1', peripheral: 'printer0', kind: 'printer', profile: 'epson-tm-t88vi', at: at + 1000, health: 'ok', faults: [] });
  let err: unknown;
  try {
    await detectAndApplyFenced(engine, incidents, pool, at + 1000, stale, onChange);
  } catch (e) {
    err = e;
  }
  assert.instance(err, LeaseLostError);
  assert.equal((err as LeaseLostError).partitions.sort(), [0, 1, 2, 3]);
  assert.is((await incidents.get(key))!.recoveringSince, null, 'nothing written: the recovery was not recorded');
  assert.ok(engine.unsavedDevices().includes(device), 'the detector state stays unsaved');
  assert.ok(engine.evaluateChanged(at + 1100).devices.includes(device), 'the device is evaluated again');
  // The new owner writes under its own fence.
  const ok = await detectAndApplyFenced(engine, incidents, pool, at + 1200, fenceOf(b), onChange);
  assert.is(ok.changes.length, 0);
  assert.is((await incidents.get(key))!.recoveringSince, at + 1200);
});

test('while a fenced transaction runs, no other node can take its partitions; they move after it commits', async () => {
  if (!server) return console.log('skipped: PostgreSQL is not installed');
  const { pool, leases } = await setup();
  const a = leases('a', 1000);
  await a.start();
  const fence = fenceOf(a);
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let fenced!: () => void;
  const locked = new Promise<void>((r) => (fenced = r));
  const tx = inTransaction(pool, async (c) => {
    await fenceLeases(c, fence);
    fenced();
    await held;
  });
  await locked;
  // a is paused: its leases run out while the transaction still holds their rows.
  await a.stop({ release: false });
  await pool.query(`DELETE FROM cluster_nodes WHERE node = 'a'`);
  await waitFor(
    "a's leases expired",
    async () => (await pool.query(`SELECT bool_and(expires_at <= now()) AS gone FROM partition_leases`)).rows[0].gone === true,
    10_000,
    50,
  );
  const b = leases('b');
  await b.start();
  assert.equal(b.owned(), [], 'locked lease rows are skipped by a takeover');
  release();
  await tx;
  await b.round();
  assert.is(b.owned().length, PARTITIONS, 'taken over once the fenced transaction ended');
});

test('a fenced transaction left idle (its node paused mid-transaction) is ended by PostgreSQL: nothing of it commits, its partitions move, the node does not crash', async () => {
  if (!server) return console.log('skipped: PostgreSQL is not installed');
  const { url, pool, leases } = await setup();
  // The incident service's pool, with a short idle timeout (FENCED_IDLE_TIMEOUT_MS in production).
  const fenced = fencedPool(url, { idleTimeoutMs: 1000 });
  closers.push(() => fenced.end());
  const a = leases('a', 1000);
  await a.start();
  const fence = fenceOf(a);
  let resume!: () => void;
  const paused = new Promise<void>((r) => (resume = r));
  let fenced0!: () => void;
  const locked = new Promise<void>((r) => (fenced0 = r));
  const tx = inTransaction(fenced, async (c) => {
    await fenceLeases(c, fence);
    await c.query(`INSERT INTO cluster_meta (key, value) VALUES ('written-by-a', 'x')`);
    fenced0();
    // a stops here (a GC pause, a frozen VM, its network to PostgreSQL gone) and its leases run out.
    await paused;
  }).then(
    () => null,
    (e: Error) => e,
  );
  await locked;
  await a.stop({ release: false });
  await pool.query(`DELETE FROM cluster_nodes WHERE node = 'a'`);
  const b = leases('b');
  await b.start();
  await waitFor(
    'b took the partitions over',
    async () => {
      await b.round();
      return b.owned().length === PARTITIONS;
    },
    15_000,
    100,
  );
  resume();
  const err = await tx;
  assert.ok(err, "a's transaction failed");
  assert.match(err.message, /not queryable|idle-in-transaction|terminat/i);
  assert.is((await pool.query(`SELECT 1 FROM cluster_meta WHERE key = 'written-by-a'`)).rowCount, 0, 'nothing of it committed');
  // The pool dropped the broken connection: the next transaction works.
  assert.is(await inTransaction(fenced, async (c) => (await c.query('SELECT 1 AS one')).rows[0].one), 1);
});

test("a ticket command enqueued in the caller's transaction vanishes with it", async () => {
  if (!server) return console.log('skipped: PostgreSQL is not installed');
  const { url, pool } = await setup();
  const tickets = new PgTicketState(url, { sinks: ['erpnext'] });
  closers.push(() => tickets.close());
  await inTransaction(pool, async (c) => {
    const r = await tickets.enqueueIn(c, createCmd('pos-1/printer0/jam'));
    assert.ok(r.applied);
    assert.is((await tickets.byKey('pos-1/printer0/jam', c))!.status, 'Open', 'visible inside the transaction');
    await c.query('ROLLBACK'); // the caller gives up
    await c.query('BEGIN');
  });
  assert.is(await tickets.byKey('pos-1/printer0/jam'), null);
  assert.is(await tickets.pending(), 0);
});

test('the sweep of a scoped apply touches only the partitions asked for', async () => {
  if (!server) return console.log('skipped: PostgreSQL is not installed');
  const { pool, incidents } = await setup();
  const d0 = deviceIn(0);
  const d2 = deviceIn(2);
  const k0 = `${d0}/printer/paper-end`;
  const k2 = `${d2}/printer/paper-end`;
  const T = Date.UTC(2026, 2, 2);
  await incidents.apply([finding(k0, 'firing', { holdMs: 0 }), finding(k2, 'firing', { holdMs: 0 })], T);
  await incidents.apply([finding(k0, 'recovered'), finding(k2, 'recovered')], T + 1000);
  assert.equal((await pool.query('SELECT key, partition, state FROM incidents ORDER BY partition')).rows, [
    { key: k0, partition: 0, state: 'open' },
    { key: k2, partition: 2, state: 'open' },
  ]);
  // Both have recovered long enough; only partition 0 is swept.
  const cs = await inTransaction(pool, (c) => incidents.applyIn(c, [], T + HOUR, {}, { partitions: [0] }));
  assert.equal(
    cs.map((c) => `${c.type}:${c.incident.key}`),
    [`resolved:${k0}`],
  );
  assert.is((await incidents.get(k2))!.state, 'open');
  assert.equal(await incidents.liveDevices({ partitions: [2] }), [d2]);
  await incidents.saveDeviceStates(
    [
      [d0, { n: 0 }],
      [d2, { n: 2 }],
    ],
    T,
  );
  assert.equal(await incidents.loadDeviceStates({ partitions: [2] }), [{ n: 2 }]);
});

test("a NOC-only node's incident view reads incidents and tickets; its operator actions queue for every configured sink", async () => {
  if (!server) return console.log('skipped: PostgreSQL is not installed');
  const { url, incidents } = await setup();
  const key = 'pos-9/printer0/autocutter-error';
  await incidents.apply([finding(key, 'firing', { holdMs: 0, device: 'pos-9', peripheral: 'printer0' })], Date.UTC(2026, 2, 2));
  const writer = new PgTicketState(url, { sinks: ['erpnext', 'hooks'] });
  closers.push(() => writer.close());
  await writer.enqueue(createCmd(key));
  const view = openIncidentView(
    url,
    {
      tickets: {
        erpnext: { url: 'http://127.0.0.1:9', apiKey: 'k', apiSecret: 's' },
        webhooks: [{ name: 'hooks', url: 'http://127.0.0.1:9/h', secret: 'a-secret-of-16-chars' }],
      },
    },
    { log },
  );
  closers.push(() => view.close());
  assert.is((await view.incidents.get(key))!.state, 'open');
  assert.is((await view.ticketState.byKey(key))!.status, 'Open');
  assert.equal(view.ticketState.sinkNames(), ['erpnext', 'hooks']);
  const before = await view.ticketState.pending();
  const r = await operatorTicketActionOn(view.ticketState, key, 'ack', 'on it', Date.now(), view.config);
  assert.is(r.ticket.status, 'Replied');
  assert.is(await view.ticketState.pending(), before + 2, 'one outbox row per sink');
});

test.run();
