// kill -9 of the NOC node a live stream is on, in a real loopback cluster (cluster/local-cluster.ts):
// PostgreSQL, Redis and InfluxDB; one broker node, one collector node with incidents on and an
// ERPNext sink (the Frappe fake), and two NOC nodes, each a `fleetcare server --cluster` child
// process; two simulated devices whose faults are real (a virtual printer's paper or cover).
// A client logs in on noc-1 and follows its live stream; noc-1 gets SIGKILL while a fault is
// raised on a device and a ticket is changed through noc-2. The client resumes on noc-2 with
// Last-Event-ID (the session made on noc-1 holds there) and gets every ticket change exactly once,
// in commit order, including the ones made while it had no stream; the fault raised during the
// failover is ticketed once, in PostgreSQL and in ERPNext; a remote command sent on noc-1 just
// before the kill is not left pending (answered, or expired at its deadline by noc-2; which of
// the two is printed). Then the same with a real browser (Chromium's EventSource) behind a TCP
// balancer, after noc-1 is restarted on its port.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import pg from 'pg';
import pino from 'pino';
import { LocalCluster } from '../../cluster/local-cluster.js';
import { PgTicketState } from '../../state/postgres/tickets.js';
import type { CommandAccepted, RemoteCommand } from '../../noc/api.js';
import type { TicketChange } from '../../state/tickets.js';
import type { SimulatedDevice } from '../../sim/fleet.js';
import { havePostgres } from '../helpers/postgres.js';
import { haveRedis } from '../helpers/redis.js';
import { haveInfluxd } from '../helpers/influxd.js';
import { waitFor } from '../helpers/net.js';
import { ApiClient } from '../helpers/noc.js';
import { CHROMIUM, launchChromium } from '../helpers/noc-browser.js';
import { openBrowserLiveStream, ResumingLiveClient, startBalancer } from '../helpers/noc-live.js';
import { FakeFrappe } from '../tickets/fakes.js';

const runnable = havePostgres() && haveRedis() && haveInfluxd();
/** The local cluster gives admin, operator and viewer this password. */
const NOC_PASSWORD = 'noc-failover-pass';
/** Generous: a node process, PostgreSQL and the incident tick share 2 loaded cores. */
const SLOW = 60_000;

let cluster: LocalCluster;
let frappe: FakeFrappe;
let tickets: PgTicketState;
let pool: pg.Pool;
const errors: string[] = [];
/** Command id → the NOC node that recorded its outcome. */
const commandsFinishedBy = new Map<string, string>();

test.before(async () => {
  if (!runnable) return;
  frappe = await new FakeFrappe().start();
  cluster = await LocalCluster.start({
    brokers: 1,
    collectors: 1,
    nocs: 2,
    devices: 2,
    intervalMs: 300,
    partitions: 4,
    scryptCost: 1024,
    nocPassword: NOC_PASSWORD,
    collector: {
      batch: { maxDelayMs: 50 },
      incidents: {
        tickMs: 200,
        slaCheckMs: 1000,
        // A paper end or open cover becomes an incident after 1 s (the default waits minutes).
        detectors: { reactive: { holdMs: { 'paper-end': 1000, 'cover-open': 1000 } } },
        tickets: { erpnext: { url: frappe.url, apiKey: 'k3y', apiSecret: 's3cr3t-frappe', timeoutMs: 5000 }, backoff: { baseMs: 100, maxMs: 500 } },
      },
    },
    // A command lost with its NOC node is marked expired by a surviving node at this deadline.
    noc: { commandTimeoutMs: 10_000 },
    onLog: (node, line) => {
      if (line.msg === 'remote command finished') commandsFinishedBy.set(String(line.id), node);
      if (Number(line.level) >= 50) errors.push(`${node}: ${JSON.stringify(line)}`);
    },
    log: pino({ level: 'silent' }),
  });
  tickets = new PgTicketState(cluster.stateUrl);
  pool = new pg.Pool({ connectionString: cluster.stateUrl, max: 2 });
  pool.on('error', () => undefined);
});

test.after(async () => {
  await pool?.end().catch(() => undefined);
  await tickets?.close().catch(() => undefined);
  await cluster?.stop();
  await frappe?.stop();
});

const device = (i: number): SimulatedDevice => cluster.fleet!.devices[i];

/** The tickets in PostgreSQL whose dedup key is on `device`'s printer (one per live fault). */
async function printerTickets(dev: string): Promise<Array<{ ref: string; key: string }>> {
  return (await pool.query(`SELECT ref, dedup_key AS key FROM tickets WHERE device = $1 AND peripheral = 'printer0' ORDER BY ref`, [dev])).rows;
}

/** ERPNext Issue inserts per fleetcare key (the ticket's ref) — every one must be 1. */
function createsPerKey(): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of frappe.requests)
    if (r.method === 'POST' && r.path === '/api/resource/Issue') out.set(r.body?.custom_fleetcare_key, (out.get(r.body?.custom_fleetcare_key) ?? 0) + 1);
  return out;
}

/** No ticket or incident doubled anywhere: one live ticket per dedup key, one ERPNext create per ticket, one live incident per key. */
async function assertNothingDoubled(): Promise<void> {
  const doubledTickets = (
    await pool.query(`SELECT dedup_key, count(*)::int AS n FROM tickets WHERE status NOT IN ('Resolved', 'Closed') GROUP BY dedup_key HAVING count(*) > 1`)
  ).rows;
  assert.equal(doubledTickets, [], 'one open ticket per dedup key in PostgreSQL');
  const doubledCreates = [...createsPerKey()].filter(([, n]) => n !== 1);
  assert.equal(doubledCreates, [], 'one ERPNext Issue insert per ticket');
  assert.is(frappe.issues.size, createsPerKey().size, 'one ERPNext Issue per ticket');
  const doubledIncidents = (
    await pool.query(`SELECT key, count(*)::int AS n FROM incidents WHERE state IN ('pending', 'open', 'resolved') GROUP BY key HAVING count(*) > 1`)
  ).rows;
  assert.equal(doubledIncidents, [], 'one live incident per key');
}

/** Waits until the `fault` raised on device i's printer is ticketed, in PostgreSQL and in ERPNext; returns the ticket. */
async function ticketed(i: number, fault: 'paper-end' | 'cover-open'): Promise<{ ref: string; key: string }> {
  const dev = device(i).id;
  const t = await waitFor(`${dev}: ${fault} ticketed`, async () => (await printerTickets(dev)).find((x) => x.key.endsWith(`/${fault}`)) ?? null, SLOW, 100);
  await waitFor(`${t.ref} sent to ERPNext`, () => createsPerKey().get(t.ref) === 1, SLOW, 50);
  return t;
}

const metric = async (client: ApiClient, name: string): Promise<number> => {
  const text = (await client.get('/metrics')).text;
  const m = new RegExp(`^fleetcare_${name}(?:\\{[^}]*\\})? (\\d+)$`, 'm').exec(text);
  if (!m) throw new Error(`no ${name} in /metrics`);
  return Number(m[1]);
};

/** The changes PostgreSQL committed after `from` up to `to`, as [cursor, ref, change]. */
async function committed(from: number, to: number): Promise<Array<[number, string, string]>> {
  const { changes } = await tickets.changesSince(from, 10_000);
  return changes.filter((c: TicketChange) => c.cursor <= to).map((c) => [c.cursor, c.ref, c.version === 1 ? 'created' : 'updated']);
}

test('kill -9 of the NOC node a live stream is on, while a fault is raised and a ticket changed through the other node: the client resumes there and gets every ticket change once, in order; the fault is ticketed once', async () => {
  if (!runnable) return console.log('  (skipped: needs PostgreSQL, Redis and InfluxDB)');
  const [noc1, noc2] = cluster.nocUrls;
  // A ticket to change: pos-001's paper runs out before the client connects.
  device(0).printer.paperOut(true);
  const first = await ticketed(0, 'paper-end');
  const enc = encodeURIComponent(first.ref);

  const operator1 = await ApiClient.login(noc1, 'operator', NOC_PASSWORD);
  const operator2 = operator1.at(noc2);
  // Every node knows each device's inventory: its retained birth and inventory reached every
  // node's collector, whatever the broker routed in between (broker/forward-dedupe.ts).
  for (const on of [operator1, operator2])
    for (const i of [0, 1])
      await waitFor(
        `${device(i).id}'s inventory on ${on.base}`,
        async () => {
          const d = (await on.get<{ device: { site: string | null; peripheralCount: number } }>(`/api/devices/${device(i).id}`)).body.device;
          return d.site !== null && d.peripheralCount > 0;
        },
        SLOW,
      );
  const comment = async (on: ApiClient, text: string) => {
    const r = await on.post(`/api/tickets/${enc}/actions`, { action: 'comment', text });
    assert.is(r.status, 200, r.text);
  };
  const from = await tickets.head();
  const live = new ResumingLiveClient([noc1, noc2], operator1.sessionCookie);
  await live.start();
  try {
    assert.is(live.connections[0], noc1, 'the stream is on noc-1');
    await waitFor('a cursor at connect', () => live.lastId !== null && Number(live.lastId) >= from, SLOW);
    for (let i = 0; i < 3; i++) await comment(operator1, `before the kill ${i}`);
    await waitFor('3 changes live from noc-1', () => live.tickets.filter((t) => t.event.ref === first.ref).length >= 3, SLOW);
    const replayedBefore = await metric(operator2, 'live_replayed_total');

    // The client's reconnect is held (a browser's retry timer) until the failover's changes are
    // committed, so only noc-2's replay of the change feed can bring them.
    assert.is(live.connections.length, 1, 'still on its first stream');
    live.holdReconnect();
    device(1).printer.coverOpen(true);
    // A remote command sent on noc-1 just before it dies is never left pending: the device's
    // answer reaches every NOC node's collector and a surviving node records it; or, when noc-1
    // died before the broker's PUBACK reached it, the broker dropped the request (aedes forwards
    // a QoS 1 message only once its PUBACK is written) and a surviving node marks it expired.
    const sent = await operator1.post<CommandAccepted>(`/api/devices/${device(0).id}/commands`, { name: 'ping' });
    assert.is(sent.status, 202, sent.text);
    await cluster.kill('noc-1');
    assert.not.ok(cluster.isRunning('noc-1'));
    for (let i = 0; i < 3; i++) await comment(operator2, `while noc-1 is dead ${i}`);
    const raised = await ticketed(1, 'cover-open');
    const during = (async () => {
      for (let i = 0; i < 3; i++) await comment(operator2, `during the reconnect ${i}`);
    })();
    live.release();
    await waitFor('reconnected to noc-2', () => live.connections.length === 2, SLOW);
    assert.is(live.connections[1], noc2, 'resumed on noc-2 with the session made on noc-1');
    await during;
    for (let i = 0; i < 3; i++) await comment(operator2, `after the reconnect ${i}`);
    const command = await waitFor(
      'the command sent on noc-1 ended (answered or expired), seen on noc-2',
      async () => {
        const c = (await operator2.get<RemoteCommand>(`/api/commands/${sent.body.id}`)).body;
        return c.status !== 'pending' ? c : null;
      },
      SLOW,
    );
    assert.equal([command.user, command.device], ['operator', device(0).id]);
    if (command.status === 'ok') assert.ok(command.answeredAt !== null, 'answered by the device');
    else assert.is(command.status, 'expired', JSON.stringify(command));
    console.log(`  a command sent on noc-1 just before its kill -9: ${command.status}, recorded by ${commandsFinishedBy.get(sent.body.id)}`);

    const head = await tickets.head();
    await waitFor('every change up to the head on the stream', () => live.tickets.some((t) => t.id >= head), SLOW);
    const expected = await committed(from, head);
    assert.equal(
      live.tickets.filter((t) => t.id > from && t.id <= head).map((t) => [t.id, t.event.ref, t.event.change]),
      expected,
      'each ticket change once, in commit order, across the kill',
    );
    // What the client got covers: 12 comments on the first ticket (and the command's outcome,
    // attached as a comment) and the raised fault's creation.
    assert.ok(expected.filter(([, ref]) => ref === first.ref).length >= 12, JSON.stringify(expected));
    const created = live.tickets.filter((t) => t.event.ref === raised.ref && t.event.change === 'created');
    assert.is(created.length, 1, 'the ticket of the fault raised during the failover: created once on the stream');
    assert.is(live.events.find((e) => e.id === String(created[0].id))?.node, noc2, 'its creation came from noc-2');
    assert.ok((await metric(operator2, 'live_replayed_total')) >= replayedBefore + 4, 'noc-2 replayed what was committed while the client had no stream');

    assert.is((await printerTickets(device(1).id)).length, 1, 'the raised fault: one ticket in PostgreSQL');
    assert.is(createsPerKey().get(raised.ref), 1, 'the raised fault: one ERPNext Issue');
    await assertNothingDoubled();
    assert.equal(errors, [], 'no node logged an error');
  } finally {
    live.close();
  }
});

test('a real browser (Chromium EventSource) behind a TCP balancer: noc-1, restarted, gets SIGKILL under its stream; it reconnects through the balancer to noc-2 and gets every ticket change once', async () => {
  if (!runnable) return console.log('  (skipped: needs PostgreSQL, Redis and InfluxDB)');
  if (!existsSync(CHROMIUM)) return console.log(`  (skipped: no Chromium at ${CHROMIUM})`);
  await cluster.start('noc-1');
  const [noc1, noc2] = cluster.nocUrls;
  const lb = await startBalancer(() => cluster.nocUrls);
  const browser = await launchChromium();
  try {
    const operator = await ApiClient.login(noc2, 'operator', NOC_PASSWORD);
    const [first] = await printerTickets(device(0).id);
    const enc = encodeURIComponent(first.ref);
    const comment = async (text: string) => {
      const r = await operator.post(`/api/tickets/${enc}/actions`, { action: 'comment', text });
      assert.is(r.status, 200, r.text);
    };
    const viewer1 = await ApiClient.login(noc1, 'viewer', NOC_PASSWORD);
    const from = await tickets.head();
    const { tickets: seen, opens } = await openBrowserLiveStream(await browser.newPage(), lb.url, { username: 'viewer', password: NOC_PASSWORD });
    await waitFor('the browser’s stream open', async () => (await opens()) >= 1, SLOW);
    // The balancer sends a connection to the first node that accepts it: the stream is on noc-1.
    await waitFor('the browser’s stream on noc-1', async () => (await metric(viewer1, 'live_clients')) >= 1, SLOW);
    for (let i = 0; i < 2; i++) await comment(`browser, before ${i}`);
    await waitFor('2 changes in the browser', async () => (await seen()).filter((t) => t.ref === first.ref).length >= 2, SLOW);

    const replayedBefore = await metric(operator, 'live_replayed_total');
    // (A stream a node ends at once — its change feed not read yet, just after its start — is
    // retried by the browser: count the opens from here.)
    const opensBefore = await opens();
    lb.hold();
    device(1).printer.paperOut(true);
    await cluster.kill('noc-1');
    for (let i = 0; i < 2; i++) await comment(`browser, while its node is dead ${i}`);
    const raised = await ticketed(1, 'paper-end');
    lb.release();
    await waitFor('the browser reconnected (to noc-2)', async () => (await opens()) > opensBefore, SLOW);
    for (let i = 0; i < 2; i++) await comment(`browser, after ${i}`);

    const head = await tickets.head();
    await waitFor('every change in the browser', async () => (await seen()).some((t) => Number(t.id) >= head), SLOW);
    assert.equal(
      (await seen()).filter((t) => Number(t.id) > from && Number(t.id) <= head).map((t) => [Number(t.id), t.ref, t.change]),
      await committed(from, head),
      'each change once, in order, across the kill',
    );
    assert.is((await seen()).filter((t) => t.ref === raised.ref && t.change === 'created').length, 1, 'the fault raised during the failover: created once');
    assert.ok((await metric(operator, 'live_replayed_total')) >= replayedBefore + 3, 'the browser sent Last-Event-ID and noc-2 replayed what it missed');
    assert.is(createsPerKey().get(raised.ref), 1, 'the raised fault: one ERPNext Issue');
    await assertNothingDoubled();
    assert.equal(errors, [], 'no node logged an error');
  } finally {
    await browser.close().catch(() => undefined);
    await lb.close();
  }
});

test.run();
