// Incidents in cluster mode across a failover, on a real PostgreSQL: two collector nodes (child
// processes, incidents-node.ts) split the partitions by leases and each runs the incident service
// on its own. A fault is raised on a device of node A and ticketed; a second fault is raised and
// its incident is still in its hold when A is killed (kill -9: no lease released, nothing saved
// on the way out). B takes A's partitions over with their detector state and incidents, opens the
// second incident, and every fault is ticketed exactly once — in PostgreSQL and in the ERPNext fake
// (count of creates per ticket). The dispatch pass runs on the owner of partition 0 only: each
// ticket is assigned by the rules once (one assign_to.add per issue), before and after the kill.
// The partition move is printed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { leaseTable } from '../../cluster/leases.js';
import { partitionOf } from '../../cluster/partitions.js';
import { migratePostgres } from '../../state/postgres/migrations.js';
import { PgDispatchState } from '../../state/postgres/dispatch.js';
import { teamSchema, technicianSchema } from '../../dispatch/model.js';
import { TestPostgres, havePostgres } from '../helpers/postgres.js';
import { waitFor } from '../helpers/net.js';
import { tempDir, type TempDir } from '../helpers/tmp.js';
import { FakeFrappe, FakeZammad } from '../tickets/fakes.js';
import type { FromNode, NodeConfig, ToNode } from './incidents-node.js';
import { telemetry } from '../collector/fixtures.js';

const PARTITIONS = 4;
const LEASE_MS = 2000;
const NODE = fileURLToPath(new URL('./incidents-node.js', import.meta.url));

type Node = { name: string; proc: ChildProcess; events: FromNode[]; exited: boolean };

function startNode(name: string, cfg: Omit<NodeConfig, 'node'>): Node {
  // Each node its own data dir (service records stay node-local in cluster mode).
  const dataDir = join(cfg.dataDir, name);
  mkdirSync(dataDir, { recursive: true });
  const proc = fork(NODE, [JSON.stringify({ ...cfg, dataDir, node: name })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const n: Node = { name, proc, events: [], exited: false };
  proc.on('message', (m: FromNode) => n.events.push(m));
  proc.on('exit', () => (n.exited = true));
  return n;
}

const sendTo = (n: Node, m: ToNode) => {
  // A node just killed can still look connected: the send then fails with EPIPE, which without a
  // callback is an unhandled 'error' on the process (it crashed this test once). Lost telemetry to
  // a dead node is what a dead node gets.
  if (!n.exited && n.proc.connected) n.proc.send(m, (err) => void err);
};

let server: TestPostgres | null = null;
let frappe: FakeFrappe | null = null;
let dir: TempDir | null = null;
const nodes: Node[] = [];

test.before(async () => {
  if (!havePostgres()) return;
  server = await TestPostgres.create();
  frappe = await new FakeFrappe().start();
  dir = tempDir('fleetcare-incidents-failover-');
});
test.after(async () => {
  for (const n of nodes) if (!n.exited) n.proc.kill('SIGKILL');
  await frappe?.stop();
  await server?.destroy();
  dir?.remove();
});

/** The devices every node is told of: one Epson printer each. */
function fleetDevices(all: string[]): NodeConfig['devices'] {
  return all.map((device) => ({
    device,
    site: `store-${device}`,
    tenant: 'acme-retail',
    serial: `HOST-${device}`,
    peripherals: [{ id: 'printer0', kind: 'printer', profile: 'epson-tm-t88vi', serial: `SN-${device}` }],
  }));
}
test('a fault raised while its owner is killed is ticketed once, by the node that takes the partition over', async () => {
  if (!server) return console.log('skipped: PostgreSQL is not installed');
  const url = await server.createDatabase('incidents_failover');
  await migratePostgres(url);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  pool.on('error', () => undefined);
  try {
    // Devices whose partitions node A will own once B has joined (A and B split 4 partitions 2/2,
    // A first by name: partitions are taken lowest first, so A keeps 0 and 1 after rebalancing).
    const all = Array.from({ length: 40 }, (_, i) => `pos-${i + 1}`);
    // One field team and its technician: every ticket goes to Lina by the rules.
    const dispatchState = new PgDispatchState(url);
    await dispatchState.putTeam(teamSchema.parse({ id: 'field', name: 'Field service' }));
    await dispatchState.putTechnician(technicianSchema.parse({ id: 'lina', name: 'Lina', team: 'field', email: 'lina@acme-service.example' }));
    await dispatchState.close();
    const cfg: Omit<NodeConfig, 'node'> = {
      pgUrl: url,
      partitions: PARTITIONS,
      leaseMs: LEASE_MS,
      dataDir: dir!.path,
      devices: fleetDevices(all),
      incidents: {
        tickMs: 100,
        stateSaveMs: 200,
        slaCheckMs: 500,
        detectors: { reactive: { holdMs: { 'autocutter-error': 300, 'paper-end': 3000 }, recoverMs: 60_000 } },
        dispatch: { passMs: 200 },
        tickets: { erpnext: { url: frappe!.url, apiKey: 'k3y', apiSecret: 's3cr3t-frappe', timeoutMs: 5000 }, backoff: { baseMs: 100, maxMs: 500 } },
      },
    };
    const a = startNode('node-a', cfg);
    nodes.push(a);
    await waitFor('node A ready', () => a.events.some((e) => e.type === 'ready'), 30_000);
    const b = startNode('node-b', cfg);
    nodes.push(b);
    await waitFor('node B ready', () => b.events.some((e) => e.type === 'ready'), 30_000);
    await waitFor(
      'an even split of the partitions',
      async () => {
        const t = await leaseTable(pool);
        return t.filter((r) => r.owner === 'node-a').length === 2 && t.filter((r) => r.owner === 'node-b').length === 2;
      },
      30_000,
      100,
    );
    const ownerOf = new Map((await leaseTable(pool)).map((r) => [r.partition, r.owner]));
    const ofA = all.filter((d) => ownerOf.get(partitionOf(d, PARTITIONS)) === 'node-a');
    const [early, late] = ofA;
    assert.ok(early && late, 'two devices on node A');
    const earlyKey = `${early}/printer0/autocutter-error`;
    const lateKey = `${late}/printer0/paper-end`;

    // The fleet: every device reports every 100 ms to every node (the broker's fan-out); only the owner takes it.
    const faults = new Map<string, string[]>();
    let seq = 0;
    const feeder = setInterval(() => {
      const ts = Date.now();
      for (const device of [early, late, ...all.slice(0, 6)]) {
        seq++;
        // One printer0 sample, critical with the faults raised on the device.
        const message = telemetry(device, seq, { ts, metrics: {}, counters: {} });
        const raised = faults.get(device);
        if (raised) Object.assign(message.samples[0], { health: 'critical', faults: raised });
        for (const n of nodes) sendTo(n, { type: 'telemetry', message });
      }
    }, 100);
    try {
      const ticketsOf = async (key: string) =>
        (await pool.query('SELECT ref, status FROM tickets WHERE dedup_key = $1', [key])).rows as Array<{ ref: string; status: string }>;
      const creates = (ref: string) =>
        frappe!.requests.filter((r) => r.method === 'POST' && r.path === '/api/resource/Issue' && r.body?.custom_fleetcare_key === ref).length;

      // The first fault is opened, ticketed and sent while A is alive.
      faults.set(early, ['autocutter-error']);
      await waitFor('the first fault ticketed in ERPNext', () => creates(earlyKey) === 1, 20_000, 50);
      // The second one is still in its hold when A dies.
      faults.set(late, ['paper-end']);
      await waitFor(
        'the second fault pending on node A',
        async () => (await pool.query(`SELECT 1 FROM incidents WHERE key = $1 AND state = 'pending'`, [lateKey])).rowCount === 1,
        20_000,
        20,
      );
      const aHad = (await leaseTable(pool)).filter((r) => r.owner === 'node-a').map((r) => r.partition);
      a.proc.kill('SIGKILL');
      const killedAt = Date.now();
      await waitFor('node A gone', () => a.exited, 10_000);

      const moved = await waitFor(
        'node B owns every partition',
        () => {
          const got = new Set(b.events.flatMap((e) => (e.type === 'acquired' && e.at >= killedAt ? e.partitions : [])));
          const at = b.events.filter((e) => e.type === 'acquired' && e.at >= killedAt).map((e) => (e as { at: number }).at);
          return aHad.every((p) => got.has(p)) ? Math.max(...at) - killedAt : null;
        },
        30_000,
        20,
      );
      console.log(
        `partition move after kill -9 of node A: partitions ${aHad.join(', ')} on node B ${moved} ms after the kill (lease ${LEASE_MS} ms, renew every ${LEASE_MS / 4} ms)`,
      );

      await waitFor('the second fault ticketed in ERPNext by node B', () => creates(lateKey) === 1, 30_000, 50);
      // Some more ticks and sender rounds on B: nothing is created again.
      const ticksBefore = seq;
      await waitFor('a second of telemetry after the ticket', () => seq >= ticksBefore + 80, 10_000, 50);
      await waitFor('the outbox drained', async () => (await pool.query('SELECT count(*)::int AS n FROM ticket_outbox')).rows[0].n === 0, 10_000, 50);

      for (const key of [earlyKey, lateKey]) {
        const t = await ticketsOf(key);
        assert.is(t.length, 1, `one ticket for ${key} in PostgreSQL`);
        assert.is(t[0].status, 'Open');
        assert.is(creates(key), 1, `one create for ${key} in ERPNext`);
        const live = (await pool.query(`SELECT state, ticketed FROM incidents WHERE key = $1`, [key])).rows;
        assert.equal(live, [{ state: 'open', ticketed: 1 }], `one incident for ${key}`);
      }
      assert.is([...frappe!.issues.values()].length, 2, 'two issues in ERPNext, one per fault');
      // Assigned by the rules once each: by A's dispatch pass before the kill, by B's after it.
      for (const key of [earlyKey, lateKey]) {
        const issue = [...frappe!.issues.values()].find((i) => i.custom_fleetcare_key === key)!;
        const assignCalls = () =>
          frappe!.requests.filter((r) => r.method === 'POST' && r.path === '/api/method/frappe.desk.form.assign_to.add' && r.body?.name === issue.name).length;
        await waitFor(`${key} assigned in ERPNext`, () => assignCalls() >= 1, 20_000, 50);
        assert.equal(frappe!.assignments.get(issue.name as string), ['lina@acme-service.example'], `${key} assigned to Lina`);
        const fields = (await pool.query(`SELECT fields FROM tickets WHERE dedup_key = $1`, [key])).rows[0].fields as {
          assignment: { technician: string; by: string } | null;
        };
        assert.equal([fields.assignment?.technician, fields.assignment?.by], ['lina', 'rules'], `${key}: assigned by the rules`);
        assert.is(assignCalls(), 1, `${key}: one assign_to.add (the pass ran once, not on both nodes)`);
      }
      const late0 = (await pool.query(`SELECT first_seen, opened_at FROM incidents WHERE key = $1`, [lateKey])).rows[0] as {
        first_seen: number;
        opened_at: number;
      };
      assert.ok(late0.first_seen < killedAt, "the incident B opened is the one A started (its hold counted from A's first sighting)");
      const lateId = (await pool.query(`SELECT id FROM incidents WHERE key = $1`, [lateKey])).rows[0].id as number;
      assert.equal((await pool.query('SELECT type, ticket FROM incident_log WHERE incident = $1 ORDER BY id', [lateId])).rows, [
        { type: 'opened', ticket: 'create' },
      ]);
      // B loaded the detector state A saved, of every device, with the partitions it took (2 at the split, 2 after the kill).
      sendTo(b, { type: 'stats' });
      const stats = await waitFor('node B stats', () => b.events.find((e) => e.type === 'stats'), 10_000);
      assert.ok(
        stats.type === 'stats' && stats.stats.statesLoaded >= all.length,
        `B loaded ${stats.type === 'stats' ? stats.stats.statesLoaded : 0} device states`,
      );
      assert.is(stats.type === 'stats' && stats.stats.tickErrors, 0);
    } finally {
      clearInterval(feeder);
    }
    sendTo(b, { type: 'stop' });
    await waitFor('node B stopped', () => b.exited, 20_000);
  } finally {
    await pool.end();
  }
});

test('a leader paused past its lease while its create is in flight to a slow Zammad: the next leader waits for it and adopts the ticket, created once', async () => {
  if (!server) return console.log('skipped: PostgreSQL is not installed');
  // Zammad has no unique key a second create would hit: a create sent while the previous leader's
  // is still on its way makes two tickets. The slow server applies the create this long after it
  // arrived (less than the sink's timeout: a request's outcome is known within the timeout).
  const SLOW_MS = 3000;
  const url = await server.createDatabase('incidents_handover');
  await migratePostgres(url);
  const zammad = await new FakeZammad().start();
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  pool.on('error', () => undefined);
  const here: Node[] = [];
  try {
    const all = Array.from({ length: 40 }, (_, i) => `pos-${i + 1}`);
    const cfg: Omit<NodeConfig, 'node'> = {
      pgUrl: url,
      partitions: PARTITIONS,
      leaseMs: LEASE_MS,
      dataDir: join(dir!.path, 'handover'),
      devices: fleetDevices(all),
      incidents: {
        tickMs: 100,
        detectors: { reactive: { holdMs: { 'autocutter-error': 300 } } },
        tickets: {
          zammad: { url: zammad.url, token: zammad.token, defaultCustomer: 'ops@acme.example', timeoutMs: 2 * SLOW_MS },
          backoff: { baseMs: 100, maxMs: 500 },
        },
      },
    };
    for (const name of ['node-c', 'node-d']) {
      const n = startNode(name, cfg);
      here.push(n);
      nodes.push(n);
      await waitFor(`${name} ready`, () => n.events.some((e) => e.type === 'ready'), 30_000);
    }
    await waitFor(
      'an even split of the partitions',
      async () => {
        const t = await leaseTable(pool);
        return here.every((n) => t.filter((r) => r.owner === n.name).length === 2);
      },
      30_000,
      100,
    );
    const owners = new Map((await leaseTable(pool)).map((r) => [r.partition, r.owner]));
    // The leader (owner of partition 0) sends the tickets; the fault is on a device of the other node.
    const leader = here.find((n) => n.name === owners.get(0))!;
    const other = here.find((n) => n !== leader)!;
    const device = all.find((d) => owners.get(partitionOf(d, PARTITIONS)) === other.name)!;
    const key = `${device}/printer0/autocutter-error`;
    const createsSeen = () => zammad.requests.filter((r) => r.method === 'POST' && r.path === '/api/v1/tickets').length;
    zammad.fault((r) => r.method === 'POST' && r.path === '/api/v1/tickets', { kind: 'delay-before', ms: SLOW_MS });

    let seq = 0;
    const feeder = setInterval(() => {
      seq++;
      const message = telemetry(device, seq, { ts: Date.now(), metrics: {}, counters: {} });
      Object.assign(message.samples[0], { health: 'critical', faults: ['autocutter-error'] });
      for (const n of here) sendTo(n, { type: 'telemetry', message });
    }, 100);
    try {
      await waitFor("the leader's create on its way to Zammad", () => createsSeen() === 1, 20_000, 10);
      // Paused (a GC pause, a frozen VM) with its request in flight: its lease runs out.
      leader.proc.kill('SIGSTOP');
      const pausedAt = Date.now();
      // After its lease — or, paused inside a fenced tick with its lease rows locked, after PostgreSQL's idle-in-transaction timeout.
      await waitFor(`${other.name} owns partition 0`, async () => (await leaseTable(pool)).find((r) => r.partition === 0)?.owner === other.name, 30_000, 50);
      console.log(`partition 0 on ${other.name} ${Date.now() - pausedAt} ms after ${leader.name} was paused`);
      await waitFor('the slow create applied', () => zammad.delayed === 0 && zammad.tickets.size > 0, 20_000, 50);
      // The new leader settles the ticket: adopted (its search finds the slow create) or created.
      await waitFor(
        'the ticket settled by the new leader',
        async () => (await pool.query('SELECT count(*)::int AS n FROM ticket_outbox')).rows[0].n === 0,
        4 * SLOW_MS + 20_000,
        50,
      );
      leader.proc.kill('SIGCONT');
      await waitFor(`${leader.name} back: its leases dropped`, () => leader.events.some((e) => e.type === 'released' && e.why === 'expired'), 20_000, 50);
      const [ticket] = (await pool.query('SELECT ref FROM tickets WHERE dedup_key = $1', [key])).rows as Array<{ ref: string }>;
      assert.ok(ticket, `a ticket for ${key} in PostgreSQL`);
      assert.is(
        [...zammad.tickets.values()].filter((t) => t.title.startsWith(`[${ticket.ref}] `)).length,
        1,
        `one Zammad ticket for ${ticket.ref} (creates sent: ${createsSeen()})`,
      );
      assert.is(createsSeen(), 1, 'created once: the new leader searched and adopted it');
      assert.is(zammad.tickets.size, 1);
      const link = (await pool.query('SELECT external_id FROM ticket_link WHERE ref = $1', [ticket.ref])).rows;
      assert.equal(link, [{ external_id: String([...zammad.tickets.keys()][0]) }], 'linked to it in PostgreSQL');
    } finally {
      clearInterval(feeder);
    }
    for (const n of here) {
      sendTo(n, { type: 'stop' });
      await waitFor(`${n.name} stopped`, () => n.exited, 20_000);
    }
  } finally {
    await pool.end();
    await zammad.stop();
  }
});

test.run();
