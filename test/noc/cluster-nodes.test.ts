// Two stateless NOC nodes over one PostgreSQL (cluster mode, issue 9): node A in this process,
// node B a separate process (test/noc/cluster-node.ts), both observing the fleet through a real
// aedes broker with a real agent. A session made on A works on B (cookie + CSRF token); a ticket
// changed through A's API is a live event on B; a command sent on A shows its state on B; /readyz
// and /metrics per node. Then B is killed with SIGKILL while a browser-like SSE client is on it:
// the client reconnects to A with Last-Event-ID and gets every ticket change exactly once, in
// order; the same with a real browser (Chromium's EventSource) behind a TCP load balancer. Last,
// PostgreSQL stops: /readyz names it; after its restart the node recovers.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { startAgent, type AgentHandle } from '../../agent/index.js';
import { agentConfigSchema } from '../../agent/config.js';
import { startIncidentService } from '../../collector/incidents/service.js';
import { incidentsConfigSchema } from '../../collector/incidents/config.js';
import { PartitionLeases } from '../../cluster/leases.js';
import type { CommandAccepted, DeviceDetail, RemoteCommand, SessionInfo, TicketDetail } from '../../noc/api.js';
import { sharedIncidentsView } from '../../noc/cluster.js';
import type { NocPartitionView } from '../../noc/context.js';
import { startNoc } from '../../noc/server.js';
import { createPgPool } from '../../state/postgres/db.js';
import { migratePostgres } from '../../state/postgres/migrations.js';
import { PgNocAccounts } from '../../state/postgres/noc-accounts.js';
import { PgTicketState } from '../../state/postgres/tickets.js';
import { PgDispatchState } from '../../state/postgres/dispatch.js';
import { teamSchema, technicianSchema } from '../../dispatch/model.js';
import { TestBroker } from '../helpers/broker.js';
import { freePort, waitFor } from '../helpers/net.js';
import { CHROMIUM, launchChromium } from '../helpers/noc-browser.js';
import { tempDir, type TempDir } from '../helpers/tmp.js';
import { ApiClient, PASSWORDS } from '../helpers/noc.js';
import { openBrowserLiveStream, ResumingLiveClient, startBalancer } from '../helpers/noc-live.js';
import { TestPostgres } from '../helpers/postgres.js';
import { createCmd } from '../tickets/support.js';
import { startClusterNocNode, type ClusterNocNode } from './cluster-node.js';

const log = pino({ level: process.env.NOC_TEST_LOG ?? 'silent' });
const NODE_SCRIPT = fileURLToPath(new URL('./cluster-node.js', import.meta.url));

let pg: TestPostgres;
let pgUrl: string;
let broker: TestBroker;
let dir: TempDir;
let writer: PgTicketState;
let nodeA: ClusterNocNode;
let nodeB: { url: string; proc: ChildProcess };
let agent: AgentHandle;
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** Starts node B as its own process; resolves with its URL once it listens. */
async function spawnNode(nodeId: string): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, [NODE_SCRIPT, JSON.stringify({ nodeId, pgUrl, brokerUrl: broker.url, dataDir: join(dir.path, nodeId) })], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    proc.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line && out.includes('\n')) resolve((JSON.parse(line) as { url: string }).url);
    });
    proc.once('exit', (code) => reject(new Error(`NOC node ${nodeId} exited (${code}) before listening`)));
  });
  return { url, proc };
}

test.before(async () => {
  pg = await TestPostgres.create();
  pgUrl = await pg.createDatabase('noc_cluster');
  await migratePostgres(pgUrl);
  dir = tempDir('fleetcare-noc-cluster-');
  broker = await TestBroker.create();
  const accounts = new PgNocAccounts(pgUrl, { sessionTtlMs: 3_600_000, scryptCost: 1024 });
  for (const role of ['viewer', 'operator'] as const) await accounts.ensureUser(role, role, PASSWORDS[role]);
  await accounts.close();
  writer = new PgTicketState(pgUrl);
  nodeA = await startClusterNocNode({ nodeId: 'noc-a', pgUrl, brokerUrl: broker.url, dataDir: join(dir.path, 'noc-a') }, log);
  nodeB = await spawnNode('noc-b');
  // A real agent; both nodes' collectors observe it.
  const config = agentConfigSchema.parse({
    device: { id: 'pos-1', token: 'anonymous-broker', site: 'riyadh-1', tenant: 'acme', model: 'POS-X1', serial: 'H-1' },
    broker: { url: broker.url, reconnect: { minMs: 100, maxMs: 1000, jitter: 0.5 } },
    dataDir: join(dir.path, 'agent'),
    telemetry: { publishIntervalMs: 200 },
    discovery: false,
    peripherals: [{ id: 'host', driver: 'host', intervalMs: 400 }],
  });
  agent = await startAgent(config, { log });
  const viewerB = await ApiClient.login(nodeB.url, 'viewer');
  await waitFor(
    'pos-1 online on both nodes',
    async () => nodeA.collector.device('pos-1')?.online && (await viewerB.get<DeviceDetail>('/api/devices/pos-1')).body.device?.online,
    20_000,
  );
});

test.after(async () => {
  await agent?.close('test done').catch(() => undefined);
  nodeB?.proc.kill('SIGKILL');
  await nodeA?.close().catch(() => undefined);
  await writer?.close().catch(() => undefined);
  await broker?.close();
  await pg?.destroy();
  dir?.remove();
});

test('a session made on node A works on node B; a ticket changed through A is a live event on B; a command sent on A shows its state on B', async () => {
  const operatorA = await ApiClient.login(nodeA.url, 'operator');
  const operatorB = operatorA.at(nodeB.url);
  const me = await operatorB.get<SessionInfo>('/api/me');
  assert.is(me.status, 200, 'the session cookie made on A is valid on B');
  assert.equal([me.body.user.name, me.body.csrfToken], ['operator', operatorA.csrf], 'B knows the CSRF token A issued');
  const wrongCsrf = operatorA.at(nodeB.url);
  wrongCsrf.csrf = 'not-the-token';

  const live = new ResumingLiveClient([nodeB.url], operatorA.sessionCookie);
  await live.start();
  try {
    // Nothing changed since B started: it tells the client the current cursor at once (an id-only
    // frame), so even a reconnect before the first ticket event resumes from there.
    await waitFor('an SSE id at connect', () => live.lastId !== null);
    assert.equal([live.lastId, live.tickets.length], [String(await writer.head()), 0]);
    const { ref } = await writer.enqueue(createCmd('pos-1/printer0/paper-end', { customer: 'acme', site: 'riyadh-1' }, Date.now()));
    const enc = encodeURIComponent(ref!);
    await waitFor('created event on B', () => live.tickets.some((t) => t.event.ref === ref && t.event.change === 'created'));

    const acked = await operatorA.post<{ ticket: { status: string } }>(`/api/tickets/${enc}/actions`, { action: 'ack', text: 'on it' });
    assert.is(acked.status, 200, acked.text);
    await waitFor('A’s ack is a live event on B', () => live.tickets.some((t) => t.event.ref === ref && t.event.status === 'Replied'));

    // B checks the CSRF token of the session A issued: the right one passes, another does not.
    const refused = await wrongCsrf.post(`/api/tickets/${enc}/actions`, { action: 'comment', text: 'forged' });
    assert.is(refused.status, 403, refused.text);
    const commented = await operatorB.post(`/api/tickets/${enc}/actions`, { action: 'comment', text: 'parts ordered' });
    assert.is(commented.status, 200, commented.text);
    const detail = await operatorA.get<{ comments: Array<{ body: string }> }>(`/api/tickets/${enc}`);
    assert.ok(
      detail.body.comments.some((c) => c.body.startsWith('parts ordered')),
      'the comment made on B is read on A',
    );

    // Dispatch on any node, from the shared teams and technicians: assigned on B, seen on A.
    const dispatchState = new PgDispatchState(pgUrl);
    try {
      await dispatchState.putTeam(teamSchema.parse({ id: 'field', name: 'Field service' }), { replace: true });
      await dispatchState.putTechnician(technicianSchema.parse({ id: 'lina', name: 'Lina', team: 'field' }), { replace: true });
    } finally {
      await dispatchState.close();
    }
    const assigned = await operatorB.post<{ assignment: { technician: string; by: string } }>(`/api/tickets/${enc}/assign`, { technician: 'lina' });
    assert.is(assigned.status, 200, JSON.stringify(assigned.body));
    assert.equal([assigned.body.assignment.technician, assigned.body.assignment.by], ['lina', 'operator']);
    const onA = await operatorA.get<TicketDetail>(`/api/tickets/${enc}`);
    assert.is(onA.body.assignment?.technician, 'lina', 'the assignment made on B is read on A');

    // Every ticket event carries its change cursor as the SSE id, in commit order.
    const ids = live.tickets.map((t) => t.id);
    assert.ok(
      ids.every((id, i) => Number.isInteger(id) && (i === 0 || id > ids[i - 1])),
      String(ids),
    );

    const sent = await operatorA.post<CommandAccepted>('/api/devices/pos-1/commands', { name: 'ping' });
    assert.is(sent.status, 202, sent.text);
    const onB = await operatorB.get<RemoteCommand>(`/api/commands/${sent.body.id}`);
    assert.is(onB.status, 200, 'the command sent on A is known on B at once');
    assert.equal([onB.body.device, onB.body.name, onB.body.user], ['pos-1', 'ping', 'operator']);
    const done = await waitFor('the agent’s answer, seen on B', async () => {
      const c = (await operatorB.get<RemoteCommand>(`/api/commands/${sent.body.id}`)).body;
      return c.status !== 'pending' ? c : null;
    });
    assert.is(done.status, 'ok');

    // What lives only in a collector node's detectors is refused here, saying why.
    const reliability = await operatorB.get<{ message: string }>('/api/reliability');
    assert.is(reliability.status, 503);
    assert.match(reliability.body.message, /no detectors run on this node/);
  } finally {
    live.close();
  }
});

test('/readyz and /metrics per node: PostgreSQL reachable, node named; the collector’s partition figures when it owns partitions; detector figures only from a node that owns them all', async () => {
  for (const [url, node] of [
    [nodeA.url, 'noc-a'],
    [nodeB.url, 'noc-b'],
  ] as const) {
    const r = await fetch(`${url}/readyz`);
    const body = (await r.json()) as { status: string; node: string; checks: Record<string, { ok: boolean; detail: string }> };
    assert.is(r.status, 200, JSON.stringify(body));
    assert.is(body.node, node);
    assert.equal(body.checks.state, { ok: true, detail: 'postgres reachable' });
    assert.is(body.checks.tickets.ok, true);
  }
  const viewerA = await ApiClient.login(nodeA.url, 'viewer');
  let metrics = (await viewerA.get('/metrics')).text;
  assert.match(metrics, /^fleetcare_state_up\{node="noc-a"\} 1$/m);
  assert.match(metrics, /^fleetcare_open_tickets\{priority="High"\} \d+$/m, 'open tickets counted from the shared store');
  assert.not.match(metrics, /fleetcare_partitions_owned/, 'no partition figures without cluster partitions');

  // A collector in cluster mode carries its partition leases (cluster/collector-partitions.ts);
  // here node A's collector gets real leases on the same PostgreSQL, as that wiring gives it.
  const pool = createPgPool(pgUrl, { max: 2 });
  const leases = new PartitionLeases(pool, { node: 'noc-a', partitions: 4, leaseMs: 3000 }, {}, log);
  const view: NocPartitionView = { nodeId: 'noc-a', count: 4, owned: () => leases.owned(), stats: () => leases.stats() };
  const collector = nodeA.collector as unknown as { partitions?: NocPartitionView | null };
  collector.partitions = view;
  try {
    await leases.start();
    await waitFor('all 4 partitions owned and a lease renewed', () => leases.owned().length === 4 && leases.stats().renewals > 0, 10_000);
    metrics = (await viewerA.get('/metrics')).text;
    assert.match(metrics, /^fleetcare_partitions 4$/m);
    assert.match(metrics, /^fleetcare_partitions_owned\{node="noc-a"\} 4$/m);
    for (const p of [0, 1, 2, 3]) assert.match(metrics, new RegExp(`^fleetcare_partition_owned\\{node="noc-a",partition="${p}"\\} 1$`, 'm'));
    const renewals = Number(/^fleetcare_partition_lease_renewals_total\{node="noc-a"\} (\d+)$/m.exec(metrics)?.[1]);
    assert.ok(renewals >= 1, metrics);
    assert.match(metrics, /^fleetcare_partition_failovers_total\{node="noc-a"\} 0$/m);
    const ready = (await (await fetch(`${nodeA.url}/readyz`)).json()) as { checks: Record<string, { ok: boolean; detail: string }> };
    assert.equal(ready.checks.partitions, { ok: true, detail: 'owns 4 of 4 partitions' });

    // A NOC beside this collector's own detectors (an incident service) answers from them while
    // they see every partition...
    const detectors = startIncidentService(nodeA.collector, {}, { log });
    const detectorsDir = tempDir('fleetcare-noc-detectors-');
    const withDetectors = await startNoc(
      { port: 0 },
      { broker: null, collector: nodeA.collector, incidents: detectors, dataDir: detectorsDir.path, log, scryptCost: 1024 },
    );
    const other = new PartitionLeases(pool, { node: 'noc-z', partitions: 4, leaseMs: 3000 }, {}, log);
    try {
      await withDetectors.context.users.ensureUser('viewer', 'viewer', PASSWORDS.viewer);
      const viewerD = await ApiClient.login(withDetectors.url, 'viewer');
      assert.is((await viewerD.get('/api/reliability')).status, 200);
      // ...and refuses once another collector node took half of them (a rebalance).
      await other.start();
      await waitFor('2 partitions each', () => leases.owned().length === 2 && other.owned().length === 2, 20_000);
      const partial = await viewerD.get<{ message: string }>('/api/reliability');
      assert.is(partial.status, 503);
      assert.match(partial.body.message, /cover 2 of 4 partitions/);
      metrics = (await viewerA.get('/metrics')).text;
      assert.match(metrics, /^fleetcare_partitions_owned\{node="noc-a"\} 2$/m);
      assert.match(metrics, /^fleetcare_partition_releases_total\{node="noc-a"\} 2$/m);
    } finally {
      await other.stop();
      await withDetectors.close();
      await detectors.close();
      detectorsDir.remove();
    }
  } finally {
    collector.partitions = null;
    await leases.stop();
    await pool.end();
  }
});

test('kill -9 of the NOC node a live stream is on: the client resumes on the other node with Last-Event-ID and misses no ticket change', async () => {
  const operatorA = await ApiClient.login(nodeA.url, 'operator');
  const { ref } = await writer.enqueue(createCmd('pos-1/printer0/cover-open', { customer: 'acme', site: 'riyadh-1' }, Date.now()));
  const enc = encodeURIComponent(ref!);
  const from = await writer.head();
  const live = new ResumingLiveClient([nodeB.url, nodeA.url], operatorA.sessionCookie);
  await live.start();
  try {
    assert.is(live.connections[0], nodeB.url);
    // (B's view may not have read the ticket's creation yet: then that is its first event.)
    await waitFor('a cursor at connect', () => live.lastId !== null && Number(live.lastId) >= from - 1);
    const comment = async (text: string) => {
      const r = await operatorA.post(`/api/tickets/${enc}/actions`, { action: 'comment', text });
      assert.is(r.status, 200, r.text);
    };
    for (let i = 0; i < 5; i++) await comment(`before the kill ${i}`);
    await waitFor('5 changes live on B', () => live.tickets.filter((t) => t.event.ref === ref).length >= 5);

    live.holdReconnect();
    nodeB.proc.kill('SIGKILL');
    await new Promise((r) => nodeB.proc.once('exit', r));
    // Committed while the browser has no stream: only the replay can bring these.
    for (let i = 0; i < 5; i++) await comment(`while disconnected ${i}`);
    // More commit while it reconnects and replays: live on A, queued behind the replay, sent once.
    const during = (async () => {
      for (let i = 0; i < 5; i++) await comment(`during the reconnect ${i}`);
    })();
    live.release();
    await waitFor('reconnected to A', () => live.connections.length === 2);
    assert.is(live.connections[1], nodeA.url);
    await during;
    for (let i = 0; i < 5; i++) await comment(`after the reconnect ${i}`);

    const head = await writer.head();
    await waitFor('every change up to the head', () => live.tickets.some((t) => t.id === head));
    const expected = (await writer.changesSince(from, 10_000)).changes;
    assert.is(expected.length, 20);
    assert.equal(
      live.tickets.filter((t) => t.id > from).map((t) => [t.id, t.event.ref, t.event.change]),
      expected.map((c) => [c.cursor, c.ref, c.version === 1 ? 'created' : 'updated']),
      'each change once, in commit order, across the kill',
    );
    const replayedOnA = live.events.filter((e) => e.node === nodeA.url && e.event.type === 'ticket').length;
    assert.ok(replayedOnA >= 15, 'the changes made while disconnected came from A');
    assert.ok(nodeA.noc.context.live.replayed >= 5, `replayed: ${nodeA.noc.context.live.replayed}`);
  } finally {
    live.close();
  }
});

test('a real browser (Chromium EventSource) behind a load balancer: its NOC node is killed with SIGKILL, it reconnects through the balancer to the other node and gets every ticket change once', async () => {
  if (!existsSync(CHROMIUM)) {
    console.log(`  (skipped: no Chromium at ${CHROMIUM})`);
    return;
  }
  const b2 = await spawnNode('noc-b2');
  const lb = await startBalancer(() => [b2.url, nodeA.url]);
  const browser = await launchChromium();
  const operatorA = await ApiClient.login(nodeA.url, 'operator');
  try {
    const { ref } = await writer.enqueue(createCmd('pos-1/printer0/near-end', { customer: 'acme', site: 'riyadh-1' }, Date.now()));
    const enc = encodeURIComponent(ref!);
    const from = await writer.head();
    const { tickets: seen, opens } = await openBrowserLiveStream(await browser.newPage(), lb.url, { username: 'viewer', password: PASSWORDS.viewer });
    await waitFor('the browser’s stream open', async () => (await opens()) === 1);
    const comment = async (text: string) => {
      const r = await operatorA.post(`/api/tickets/${enc}/actions`, { action: 'comment', text });
      assert.is(r.status, 200, r.text);
    };
    for (let i = 0; i < 3; i++) await comment(`browser, before ${i}`);
    await waitFor('3 changes in the browser', async () => (await seen()).filter((t) => t.ref === ref).length >= 3);

    const replayedBefore = nodeA.noc.context.live.replayed;
    lb.hold();
    b2.proc.kill('SIGKILL');
    await new Promise((r) => b2.proc.once('exit', r));
    for (let i = 0; i < 3; i++) await comment(`browser, while its node is dead ${i}`);
    lb.release();
    await waitFor('the browser reconnected (to A)', async () => (await opens()) === 2, 20_000);
    for (let i = 0; i < 3; i++) await comment(`browser, after ${i}`);
    const head = await writer.head();
    await waitFor('every change in the browser', async () => (await seen()).some((t) => Number(t.id) === head), 20_000);
    const expected = (await writer.changesSince(from, 10_000)).changes;
    assert.is(expected.length, 9);
    assert.equal(
      (await seen()).filter((t) => Number(t.id) > from).map((t) => [Number(t.id), t.ref]),
      expected.map((c) => [c.cursor, c.ref]),
      'each change once, in order, across the kill',
    );
    assert.ok(nodeA.noc.context.live.replayed >= replayedBefore + 3, 'the browser sent Last-Event-ID and A replayed what it missed');
  } finally {
    await browser.close().catch(() => undefined);
    b2.proc.kill('SIGKILL');
    await lb.close();
  }
});

test('PostgreSQL stops: /readyz answers 503 naming it; after a restart the node is ready and live ticket events flow again', async () => {
  const operatorA = await ApiClient.login(nodeA.url, 'operator');
  const live = new ResumingLiveClient([nodeA.url], operatorA.sessionCookie);
  await live.start();
  try {
    await pg.stop();
    const r = await fetch(`${nodeA.url}/readyz`);
    const body = (await r.json()) as { status: string; failing: string[]; checks: Record<string, { ok: boolean; detail: string }> };
    assert.is(r.status, 503);
    assert.is(body.status, 'degraded');
    assert.match(body.failing[0], /^state: postgres unreachable at 127\.0\.0\.1:\d+\/noc_cluster_\d+_\d+ \(.+\)$/);
    assert.ok(!('tickets' in body.checks), 'no second failure reported for the same cause');
    assert.ok(!body.failing[0].includes('fleetcare@'), 'no credentials in the message');

    await pg.start();
    await waitFor('ready again', async () => (await fetch(`${nodeA.url}/readyz`)).status === 200, 20_000, 200);
    const { ref } = await writer.enqueue(createCmd('pos-1/printer0/after-restart', { customer: 'acme', site: 'riyadh-1' }, Date.now()));
    await waitFor('a ticket event after the restart', () => live.tickets.some((t) => t.event.ref === ref), 20_000);
  } finally {
    live.close();
  }
});

test('a NOC node that cannot read the ticket change feed ends live streams at once (the client retries elsewhere) and /readyz says tickets are unreadable', async () => {
  const down = `postgres://fleetcare@127.0.0.1:${await freePort()}/nowhere`;
  const nodeDir = tempDir('fleetcare-noc-down-');
  const incidents = sharedIncidentsView({ tickets: { url: down }, config: incidentsConfigSchema.parse({}) });
  const noc = await startNoc({ port: 0 }, { broker: null, collector: null, incidents, dataDir: nodeDir.path, log, scryptCost: 1024 });
  try {
    await noc.context.users.ensureUser('viewer', 'viewer', PASSWORDS.viewer);
    const viewer = await ApiClient.login(noc.url, 'viewer');
    const res = await fetch(`${noc.url}/api/live`, { headers: { cookie: viewer.sessionCookie, 'last-event-id': '7' } });
    assert.is(res.status, 200);
    assert.is(await res.text(), 'retry: 3000\n\n', 'ended after the retry hint, with no id and no events');
    const ready = await fetch(`${noc.url}/readyz`);
    const body = (await ready.json()) as { failing: string[] };
    assert.is(ready.status, 503);
    assert.match(body.failing[0], /^tickets: ticket store unreadable \(.+\)$/);
  } finally {
    await noc.close();
    await incidents.close();
    nodeDir.remove();
  }
});

test.run();
