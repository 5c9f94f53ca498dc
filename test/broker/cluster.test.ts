// Cluster mode, broker tier (docs/cluster.md): three real `fleetcare server --role broker` nodes
// sharing routing and sessions through a real redis-server, each started on a free loopback
// port with temp dirs, and kill -9 of one node while clients and a real agent are on it.
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import pino from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startAgent, type AgentHandle } from '../../agent/index.js';
import { DeviceRegistry, startBroker } from '../../broker/index.js';
import { LocalBrokers } from '../../cluster/local-brokers.js';
import { seqRanges, type AckMessage } from '../../protocol/index.js';
import { agentConfig } from '../agent/support.js';
import { captureLog } from '../helpers/log.js';
import { freePort, waitFor } from '../helpers/net.js';
import { tempDir, type TempDir } from '../helpers/tmp.js';
import { RedisServer } from '../helpers/redis.js';

const CLI = fileURLToPath(new URL('../../cli/fleetcare.js', import.meta.url));
const HEARTBEAT_MS = 300;

let dir: TempDir;
let redis: RedisServer;
let brokers: LocalBrokers;
const logs: Array<{ node: number; line: Record<string, unknown> }> = [];
const tokens: Record<string, string> = {};

test.before(async () => {
  dir = tempDir('fleetcare-cluster-');
  redis = await RedisServer.create();
  const reg = DeviceRegistry.open(join(dir.path, 'broker'), { scryptCost: 1024 });
  for (const id of ['pos-agent', 'pos-cmd', 'pos-will', 'pos-moved', 'pos-revoked', 'pos-pub', 'pos-order']) tokens[id] = reg.addDevice(id);
  tokens.collector = reg.addServiceAccount('collector', 'collector');
  reg.close();
  brokers = await LocalBrokers.start({
    dataDir: dir.path,
    redisUrl: redis.url,
    nodes: 3,
    heartbeatIntervalMs: HEARTBEAT_MS,
    broker: { scryptCost: 1024, registryPollMs: 100 },
    onLog: (node, line) => logs.push({ node, line }),
  });
});

test.after(async () => {
  await brokers?.stop();
  await redis?.remove();
  dir?.remove();
});

/** Every node runs again after a test killed one (same port: clients' URL lists stay valid). */
test.after.each(async () => {
  for (let i = 0; i < 3; i++) await brokers.start(i);
});

/** Connects; `onMessage` is attached before CONNACK, so messages queued in the session are not missed. */
function connect(
  node: number | string[],
  o: IClientOptions,
  onMessage?: (topic: string, payload: Buffer) => void,
): Promise<{ client: MqttClient; sessionPresent: boolean }> {
  const urls = typeof node === 'number' ? [brokers.urls[node]] : node;
  const servers = urls.map((u) => ({ host: '127.0.0.1', port: Number(new URL(u).port) }));
  return new Promise((resolve, reject) => {
    const c = mqtt.connect({ ...servers[0], servers, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, ...o });
    if (onMessage) c.on('message', onMessage);
    c.once('connect', (connack) => resolve({ client: c, sessionPresent: connack.sessionPresent }));
    c.once('error', (e) => {
      c.end(true);
      reject(e);
    });
  });
}

const device = (id: string, extra: IClientOptions = {}): IClientOptions => ({ clientId: id, username: id, password: tokens[id], ...extra });
const collector = (clientId: string, extra: IClientOptions = {}): IClientOptions => ({ clientId, username: 'collector', password: tokens.collector, ...extra });
const closedOf = (c: MqttClient) => new Promise<void>((r) => c.once('close', () => r()));

test("a device's command session and the collector's subscription survive the kill -9 of their node", async () => {
  // Both persistent (clean false) on node 0.
  const col = await connect(0, collector('collector-a', { clean: false }));
  await col.client.subscribeAsync('fleet/v1/+/telemetry', { qos: 1 });
  const dev = await connect(0, device('pos-cmd', { clean: false }));
  await dev.client.subscribeAsync('fleet/v1/pos-cmd/cmd/req', { qos: 1 });
  const pub = await connect(1, device('pos-pub'));
  const seen = new Set<number>();
  col.client.on('message', (_t, p) => seen.add(JSON.parse(p.toString()).n));
  for (let n = 1; n <= 20; n++) await pub.client.publishAsync('fleet/v1/pos-pub/telemetry', JSON.stringify({ n }), { qos: 1 });
  await waitFor('20 messages before the kill', () => seen.size === 20);

  const gone = Promise.all([closedOf(col.client), closedOf(dev.client)]);
  await brokers.kill(0);
  await gone;
  // While both are away: telemetry keeps coming on node 1, a command is sent on node 2.
  for (let n = 21; n <= 60; n++) await pub.client.publishAsync('fleet/v1/pos-pub/telemetry', JSON.stringify({ n }), { qos: 1 });
  const sender = await connect(2, collector('cmd-sender'));
  await sender.client.publishAsync('fleet/v1/pos-cmd/cmd/req', '{"cmd":"while-away"}', { qos: 1 });

  // They come back on other nodes: the sessions are there, with what was queued meanwhile.
  const col2 = await connect(1, collector('collector-a', { clean: false }), (_t, p) => seen.add(JSON.parse(p.toString()).n));
  assert.ok(col2.sessionPresent, "the collector's session survived its node");
  const cmds: string[] = [];
  const dev2 = await connect(2, device('pos-cmd', { clean: false }), (_t, p) => cmds.push(p.toString()));
  assert.ok(dev2.sessionPresent, "the device's session survived its node");
  await waitFor('the command sent while the device was away', () => cmds.includes('{"cmd":"while-away"}'));
  await waitFor('every telemetry message, none lost', () => seen.size === 60, 15_000);
  // Subscriptions came back with the session: new messages flow without a new SUBSCRIBE.
  await pub.client.publishAsync('fleet/v1/pos-pub/telemetry', JSON.stringify({ n: 61 }), { qos: 1 });
  await waitFor('a message after the failover', () => seen.has(61));
  await Promise.all([col2, dev2, pub, sender].map((x) => x.client.endAsync(true)));
  col.client.end(true);
  dev.client.end(true);
});

test("nothing overtaken is dropped as a duplicate: a birth amid other devices' events, a command with an ack right behind it", async () => {
  // With the Redis persistence a retained publish waits for Redis before it is routed, and so does
  // a command for a persistent session; what the node routes meanwhile overtakes it. aedes' own
  // per-client check dropped the overtaken one (broker/forward-dedupe.ts): collectors lost
  // agents' births and inventories in a busy fleet, an agent the command sent just before an ack.
  const ROUNDS = 10;
  const BURST = 40;
  const col = await connect(0, collector('collector-order'));
  const statuses: number[] = [];
  let events = 0;
  col.client.on('message', (topic, p) => {
    if (topic.endsWith('/status')) statuses.push(JSON.parse(p.toString()).n);
    else events++;
  });
  await col.client.subscribeAsync(['fleet/v1/pos-order/status', 'fleet/v1/pos-pub/event'], { qos: 1 });
  const dev = await connect(1, device('pos-order', { clean: false }));
  const received = new Set<string>();
  dev.client.on('message', (topic, p) => received.add(`${topic.slice('fleet/v1/pos-order/'.length)} ${p.toString()}`));
  await dev.client.subscribeAsync(['fleet/v1/pos-order/ack', 'fleet/v1/pos-order/cmd/req'], { qos: 1 });
  const other = await connect(1, device('pos-pub'));
  const sender = await connect(2, collector('order-sender'));

  const eventsOf = (n: number, from: number) =>
    Array.from({ length: BURST / 2 }, (_, i) => other.client.publishAsync('fleet/v1/pos-pub/event', JSON.stringify({ n, i: from + i }), { qos: 1 }));
  for (let n = 1; n <= ROUNDS; n++) {
    // Each client's publishes of a round go out in one TCP write (aedes handles the packets of one
    // read at once): the birth lands amid another device's events on the same node.
    const clients = [dev, other, sender].map((c) => c.client.stream);
    for (const c of clients) c.cork();
    setImmediate(() => {
      for (const c of clients) c.uncork();
    });
    await Promise.all([
      ...eventsOf(n, 0),
      dev.client.publishAsync('fleet/v1/pos-order/status', JSON.stringify({ n }), { qos: 1, retain: true }),
      ...eventsOf(n, BURST / 2),
      sender.client.publishAsync('fleet/v1/pos-order/cmd/req', JSON.stringify({ n }), { qos: 1 }),
      sender.client.publishAsync('fleet/v1/pos-order/ack', JSON.stringify({ n }), { qos: 1 }),
    ]);
  }
  const counts = () => `${statuses.length}/${ROUNDS} statuses, ${events}/${BURST * ROUNDS} events, ${received.size}/${2 * ROUNDS} commands and acks`;
  await waitFor('every message', () => statuses.length === ROUNDS && events === BURST * ROUNDS && received.size === 2 * ROUNDS, 30_000).catch((e: Error) => {
    throw new Error(`${e.message}: ${counts()}`);
  });
  assert.equal(
    statuses,
    Array.from({ length: ROUNDS }, (_, i) => i + 1),
    'the statuses in the order they were published',
  );
  await Promise.all([col, dev, other, sender].map((x) => x.client.endAsync(true)));
});

test('a real agent with the list of broker URLs fails over when its node is killed; nothing it wrote is lost', async () => {
  // The collector side: acks every telemetry/event seq end to end, from a node we will not kill
  // (chosen once we know the agent's node).
  const agentDir = tempDir('fleetcare-cluster-agent-');
  const received = new Set<number>();
  const cap = captureLog();
  let agent: AgentHandle | null = null;
  let col: { client: MqttClient } | null = null;
  try {
    const cfg = agentConfig({
      dataDir: agentDir.path,
      brokerUrl: brokers.urls[0],
      id: 'pos-agent',
      device: { id: 'pos-agent', token: tokens['pos-agent'] },
      broker: { urls: brokers.urls, reconnect: { minMs: 200, maxMs: 2000, jitter: 0.5 } },
      outbox: { ackTimeoutMs: 1000, journal: true },
    } as never);
    agent = await startAgent(cfg, { log: cap.log });
    const nodeOf = () => {
      const l = [...cap.lines].reverse().find((x) => x.msg === 'connected');
      return l ? brokers.urls.indexOf(String(l.broker)) : -1;
    };
    await waitFor('agent connected', () => agent!.stats().link.connected && nodeOf() >= 0).catch((e) => {
      throw new Error(
        `${(e as Error).message}\n${cap.text().slice(-3000)}\n${JSON.stringify(logs.filter((l) => JSON.stringify(l).includes('pos-agent')).slice(-20))}`,
      );
    });
    const first = nodeOf();
    const colNode = (first + 1) % 3;
    col = await connect(colNode, collector('collector-ack', { clean: false }));
    const c = col.client;
    c.on('message', (_topic, payload) => {
      const msg = JSON.parse(payload.toString()) as { seq: number };
      received.add(msg.seq);
      const ack: AckMessage = { v: 1, ranges: seqRanges([msg.seq]), ts: Date.now() };
      c.publish(`fleet/v1/pos-agent/ack`, JSON.stringify(ack), { qos: 1 });
    });
    await c.subscribeAsync({ 'fleet/v1/pos-agent/telemetry': { qos: 1 }, 'fleet/v1/pos-agent/event': { qos: 1 } });
    await waitFor('acked telemetry before the kill', () => agent!.stats().outbox.acked >= 5);

    const killedAt = Date.now();
    await brokers.kill(first);
    await waitFor('the agent reconnected to another node', () => agent!.stats().link.connected && nodeOf() >= 0 && nodeOf() !== first, 20_000);
    assert.ok(agent.stats().link.connects >= 2);

    // Every seq the agent wrote up to a second after the kill reaches the collector.
    const journal = new Database(join(agentDir.path, 'outbox.db'), { readonly: true });
    try {
      const written = () =>
        (
          journal.prepare("SELECT seq FROM outbox_journal WHERE channel IN ('telemetry', 'event') AND at <= ?").all(killedAt + 1000) as Array<{ seq: number }>
        ).map((r) => r.seq);
      await waitFor(
        'seqs written before the kill are received after the failover',
        () => Date.now() > killedAt + 1000 && written().length > 0 && written().every((s) => received.has(s)),
        20_000,
      );
      await waitFor('the outbox drains through the new node', () => {
        const s = agent!.stats().outbox;
        return s.acked > 0 && written().every((q) => received.has(q));
      });
    } finally {
      journal.close();
    }
  } finally {
    await agent?.close();
    col?.client.end(true);
    agentDir.remove();
  }
});

test('the will of a device whose node died is published by a surviving node', async () => {
  const watcher = await connect(1, collector('watch-will'));
  await watcher.client.subscribeAsync('fleet/v1/+/status', { qos: 1 });
  const wills: string[] = [];
  watcher.client.on('message', (t, p) => t === 'fleet/v1/pos-will/status' && wills.push(p.toString()));
  const dev = await connect(
    0,
    device('pos-will', {
      clean: false,
      will: { topic: 'fleet/v1/pos-will/status', payload: Buffer.from('{"state":"offline","reason":"lwt"}'), qos: 1, retain: true },
    }),
  );
  dev.client.on('error', () => {});
  const killed = Date.now();
  await brokers.kill(0);
  await waitFor('the will, from a surviving node', () => wills.some((w) => w.includes('lwt')), 15_000);
  process.stdout.write(`  will after the node's death: ${Date.now() - killed} ms (heartbeat ${HEARTBEAT_MS} ms)\n`);
  dev.client.end(true);
  await watcher.client.endAsync(true);
});

test("a dead node's will is dropped when its device already has a session on another node", async () => {
  const watcher = await connect(1, collector('watch-moved'));
  await watcher.client.subscribeAsync('fleet/v1/pos-moved/status', { qos: 1 });
  const statuses: string[] = [];
  watcher.client.on('message', (_t, p) => statuses.push(p.toString()));
  const will = { topic: 'fleet/v1/pos-moved/status', payload: Buffer.from('{"state":"offline","reason":"lwt"}'), qos: 1 as const, retain: true };
  const dev = await connect(0, device('pos-moved', { clean: false, will }));
  dev.client.on('error', () => {});
  await brokers.kill(0);
  // The device is back at once, on node 2, before the survivors give node 0 up.
  const again = await connect(2, device('pos-moved', { clean: false, will }));
  await waitFor(
    "the dead node's will handled",
    () => logs.some((l) => l.line.msg === "dead node's will dropped: the client has a newer session" && l.line.client === 'pos-moved'),
    15_000,
  );
  assert.not.ok(
    statuses.some((s) => s.includes('lwt')),
    'no false offline for a device that is connected',
  );
  dev.client.end(true);
  await again.client.endAsync(true);
  await watcher.client.endAsync(true);
});

test('fleetcare device rotate closes the session on whichever node it is, and the old token is refused on every node', async () => {
  const dev = await connect(2, device('pos-revoked', { clean: false }));
  await dev.client.subscribeAsync('fleet/v1/pos-revoked/cmd/req', { qos: 1 });
  const closed = closedOf(dev.client);
  const r = spawnSync(process.execPath, [CLI, 'device', 'rotate', 'pos-revoked', '--data-dir', dir.path], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  await closed;
  for (let i = 0; i < 3; i++) {
    const refused = await connect(i, device('pos-revoked')).then(
      (x) => (x.client.end(true), false),
      () => true,
    );
    assert.ok(refused, `node ${i} refuses the old token`);
  }
  const fresh = await connect(0, { clientId: 'pos-revoked', username: 'pos-revoked', password: r.stdout.trim(), clean: false });
  assert.not.ok(fresh.sessionPresent, 'the persistent session was dropped');
  await fresh.client.endAsync(true);
  dev.client.end(true);
});

test('an unreachable Redis at start: a clear error naming the setting, nothing listening', async () => {
  const nowhere = `redis://127.0.0.1:${await freePort()}`;
  const err = await startBroker(
    { dataDir: join(dir.path, 'lonely'), port: 0, cluster: { redisUrl: nowhere, startTimeoutMs: 300 } },
    { log: pino({ level: 'silent' }) },
  ).then(
    () => null,
    (e: Error) => e,
  );
  assert.ok(err, 'refused to start');
  assert.match(err!.message, /^broker\.cluster\.redisUrl: cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+/);
});

test.run();
