// The broker-tier spike of cluster mode (docs/cluster.md): the same three measurements against
//   aedes   fleetcare broker nodes (aedes) sharing routing and sessions through Redis
//           (mqemitter-redis + aedes-persistence-redis), plus one in-memory node as the baseline
// 4. ACL: a device subscribing to another's commands, publishing as another, using another client id.
//   nats    a 3-node nats-server cluster with JetStream and its MQTT listener, fleetcare's
//           per-device ACL generated into users with permissions (no auth callout in 2.9)
// 1. throughput: P devices publish N QoS 1 telemetry messages on node 0; a persistent (clean
//    false) collector session on node 1 receives them; msg/s, latency p50/p99, CPU of the servers.
//    throughput-clean: the same with a clean-session collector (nothing of it stored in the persistence).
// 2. kill -9 of the collector's node while devices publish at a fixed rate: lost, duplicated,
//    the gap from the kill to the first message after it.
// 3. kill -9 of a device's node: time until its last will reaches a watcher on another node.
//
//   node dist/bench/broker-tier-spike.js [--target aedes|nats|both] [--messages 20000]
//        [--publishers 10] [--rate 400] [--seconds 9]
//
// Needs redis-server and nats-server (Debian). Figures on a shared 2-core machine are noisy.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { DeviceRegistry } from '../broker/index.js';
import { LocalBrokers } from '../cluster/local-brokers.js';
import { RedisServer } from '../test/helpers/redis.js';
import { benchFlags } from './help.js';
import { freePort, waitFor } from '../test/helpers/net.js';
import { tempDir } from '../test/helpers/tmp.js';

const flags = benchFlags(import.meta.url, { target: 'both', messages: 20000, publishers: 10, rate: 400, seconds: 9 });
const { target: TARGET, messages: MESSAGES, publishers: PUBLISHERS, rate: RATE, seconds: SECONDS } = flags;

type Creds = { username: string; password: string };
type Cluster = {
  name: string;
  urls: string[];
  device(i: number): Creds;
  collector: Creds;
  pids(): number[];
  kill(i: number): Promise<void>;
  stop(): Promise<void>;
};

const devId = (i: number) => `spike-${i}`;
const WILL_DEVICE = PUBLISHERS;

// ------------------------------------------------------------------ targets

async function aedesCluster(nodes: number, withRedis: boolean): Promise<Cluster> {
  const dir = tempDir('fleetcare-spike-aedes-');
  const redis = withRedis ? await RedisServer.create() : null;
  const reg = DeviceRegistry.open(join(dir.path, 'broker'), { scryptCost: 1024 });
  const tokens: string[] = [];
  for (let i = 0; i <= PUBLISHERS; i++) tokens.push(reg.addDevice(devId(i)));
  const collectorToken = reg.addServiceAccount('spike-collector', 'collector');
  reg.close();
  const brokers = await LocalBrokers.start({
    dataDir: dir.path,
    redisUrl: redis?.url,
    nodes,
    broker: { scryptCost: 1024, publishRate: { perSecond: 100_000, burst: 100_000 } },
  });
  return {
    name: withRedis ? `aedes ×${nodes} + Redis` : 'aedes ×1 in memory',
    urls: brokers.urls,
    device: (i) => ({ username: devId(i), password: tokens[i] }),
    collector: { username: 'spike-collector', password: collectorToken },
    pids: () =>
      [...Array(nodes).keys()]
        .map((i) => brokers.pid(i))
        .filter((p): p is number => !!p)
        .concat(redis?.pid ? [redis.pid] : []),
    kill: (i) => brokers.kill(i),
    async stop() {
      await brokers.stop();
      await redis?.remove();
      dir.remove();
    },
  };
}

async function natsCluster(nodes: number): Promise<Cluster> {
  const dir = tempDir('fleetcare-spike-nats-');
  const ports = await Promise.all([...Array(nodes)].map(async () => ({ client: await freePort(), route: await freePort(), mqtt: await freePort() })));
  const tokens = [...Array(PUBLISHERS + 1)].map((_, i) => `tok-${i}-${Math.random().toString(36).slice(2)}`);
  const collectorToken = `col-${Math.random().toString(36).slice(2)}`;
  // fleetcare's ACL (docs/broker.md) as NATS permissions on the subjects MQTT topics map to
  // (`/` → `.`). The MQTT layer's own subjects ($MQTT.>) must be allowed too.
  const users = [
    ...tokens.map((t, i) => {
      const d = `fleet.v1.${devId(i)}`;
      return `{ user: "${devId(i)}", password: "${t}", permissions: { publish: { allow: ["${d}.status", "${d}.inventory", "${d}.telemetry", "${d}.event", "${d}.cmd.res", "$MQTT.>"] }, subscribe: { allow: ["${d}.ack", "${d}.cmd.req", "$MQTT.>"] } } }`;
    }),
    `{ user: "spike-collector", password: "${collectorToken}", permissions: { publish: { allow: ["fleet.v1.*.ack", "fleet.v1.*.cmd.req", "$MQTT.>"] }, subscribe: { allow: ["fleet.v1.*.status", "fleet.v1.*.inventory", "fleet.v1.*.telemetry", "fleet.v1.*.event", "fleet.v1.*.cmd.res", "$MQTT.>"] } } }`,
  ];
  const procs: Array<ChildProcess | null> = [];
  for (let i = 0; i < nodes; i++) {
    const conf = join(dir.path, `n${i}.conf`);
    mkdirSync(join(dir.path, `js${i}`), { recursive: true });
    writeFileSync(
      conf,
      `server_name: n${i}
listen: 127.0.0.1:${ports[i].client}
jetstream { store_dir: "${join(dir.path, `js${i}`)}", max_memory_store: 256MB, max_file_store: 1GB }
cluster { name: spike, listen: 127.0.0.1:${ports[i].route}, routes: [${ports.map((p) => `nats-route://127.0.0.1:${p.route}`).join(', ')}] }
mqtt { listen: 127.0.0.1:${ports[i].mqtt} }
authorization { users: [
  ${users.join(',\n  ')}
] }
`,
    );
    procs.push(spawn('nats-server', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] }));
  }
  const urls = ports.map((p) => `mqtt://127.0.0.1:${p.mqtt}`);
  // MQTT needs JetStream, which needs a meta leader: wait until a persistent session can subscribe.
  await waitFor(
    'nats MQTT with JetStream ready on every node',
    async () => {
      for (const u of urls) {
        const c = await connectMqtt(u, { username: 'spike-collector', password: collectorToken, clientId: `probe-${Math.random()}`, clean: false }).catch(
          () => null,
        );
        if (!c) return false;
        const ok = await c.subscribeAsync('fleet/v1/+/status', { qos: 1 }).then(
          (g) => g[0]?.qos === 1,
          () => false,
        );
        await c.endAsync(true);
        if (!ok) return false;
      }
      return true;
    },
    120_000,
    500,
  );
  return {
    name: `nats-server 2.9 ×${nodes} (JetStream, MQTT)`,
    urls,
    device: (i) => ({ username: devId(i), password: tokens[i] }),
    collector: { username: 'spike-collector', password: collectorToken },
    pids: () => procs.filter((p): p is ChildProcess => !!p).map((p) => p.pid!),
    async kill(i) {
      const p = procs[i];
      procs[i] = null;
      if (!p) return;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await exited;
    },
    async stop() {
      await Promise.all(
        procs.map(async (p) => {
          if (!p || p.exitCode !== null) return;
          const exited = new Promise((r) => p.once('exit', r));
          p.kill('SIGKILL');
          await exited;
        }),
      );
      dir.remove();
    },
  };
}

// ------------------------------------------------------------------ measurements

function connectMqtt(url: string | string[], o: IClientOptions): Promise<MqttClient> {
  const urls = Array.isArray(url) ? url : [url];
  const servers = urls.map((u) => {
    const x = new URL(u);
    return { host: x.hostname, port: Number(x.port) };
  });
  return new Promise((resolve, reject) => {
    const c = mqtt.connect({ ...servers[0], servers, protocolVersion: 4, reconnectPeriod: 200, connectTimeout: 5000, ...o });
    c.once('connect', () => resolve(c));
    c.once('error', (e) => {
      c.end(true);
      reject(e);
    });
  });
}

function cpuTicks(pids: number[]): number {
  let t = 0;
  for (const pid of pids) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      t += Number(f[11]) + Number(f[12]);
    } catch {
      /* gone */
    }
  }
  return t;
}

const pct = (xs: number[], p: number) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] : NaN);

async function throughput(c: Cluster, subNode: number, clean = false): Promise<Record<string, number>> {
  const received = new Set<string>();
  const lat: number[] = [];
  const col = await connectMqtt(c.urls[subNode], { ...c.collector, clientId: 'spike-col-tp', clean });
  await col.subscribeAsync('fleet/v1/+/telemetry', { qos: 1 });
  const all = new Promise<void>((resolve) => {
    col.on('message', (_t, payload) => {
      const m = JSON.parse(payload.toString()) as { d: number; s: number; t: number };
      const k = `${m.d}:${m.s}`;
      if (!received.has(k)) {
        received.add(k);
        lat.push(Date.now() - m.t);
      }
      if (received.size === MESSAGES) resolve();
    });
  });
  const pubs = await Promise.all([...Array(PUBLISHERS)].map((_, i) => connectMqtt(c.urls[0], { ...c.device(i), clientId: devId(i), clean: false })));
  const per = Math.ceil(MESSAGES / PUBLISHERS);
  const cpu0 = cpuTicks(c.pids());
  const t0 = Date.now();
  await Promise.all(
    pubs.map(async (p, d) => {
      // A window of 100 unacked publishes per device (mqtt.js would otherwise queue everything).
      const inflight = new Set<Promise<unknown>>();
      for (let s = 0; s < per && d * per + s < MESSAGES; s++) {
        const pr = p.publishAsync(`fleet/v1/${devId(d)}/telemetry`, JSON.stringify({ d, s, t: Date.now() }), { qos: 1 }).finally(() => inflight.delete(pr));
        inflight.add(pr);
        if (inflight.size >= 100) await Promise.race(inflight);
      }
      await Promise.all(inflight);
    }),
  );
  await Promise.race([all, new Promise((r) => setTimeout(r, 60_000))]);
  const ms = Date.now() - t0;
  const cpuS = (cpuTicks(c.pids()) - cpu0) / 100;
  await Promise.all([...pubs, col].map((x) => x.endAsync(true)));
  return {
    received: received.size,
    msgPerS: Math.round((received.size / ms) * 1000),
    p50ms: pct(lat, 50),
    p99ms: pct(lat, 99),
    serverCpuSeconds: +cpuS.toFixed(1),
    cpuMsPer1k: +((cpuS * 1e6) / received.size).toFixed(0),
  };
}

async function failover(c: Cluster): Promise<Record<string, number>> {
  const received = new Map<string, number>();
  let dups = 0;
  let killedAt = 0;
  let firstAfterKill = 0;
  // The collector is on node 1 and knows the other nodes (mqtt.js rotates through `servers`).
  const col = await connectMqtt([c.urls[1], c.urls[2], c.urls[0]], { ...c.collector, clientId: 'spike-col-fo', clean: false });
  let reconnects = -1;
  let lastError = '';
  col.on('connect', () => reconnects++);
  reconnects = 0;
  col.on('error', (e) => (lastError = e.message));
  await col.subscribeAsync('fleet/v1/+/telemetry', { qos: 1 });
  col.on('message', (_t, payload) => {
    const m = JSON.parse(payload.toString()) as { d: number; s: number };
    const k = `${m.d}:${m.s}`;
    if (received.has(k)) dups++;
    received.set(k, Date.now());
    if (killedAt && !firstAfterKill) firstAfterKill = Date.now();
  });
  const pubs = await Promise.all([...Array(PUBLISHERS)].map((_, i) => connectMqtt(c.urls[0], { ...c.device(i), clientId: devId(i), clean: false })));
  const total = RATE * SECONDS;
  let sent = 0;
  const t0 = Date.now();
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor(((Date.now() - t0) / 1000) * RATE));
      for (; sent < due; sent++) {
        const d = sent % PUBLISHERS;
        pubs[d].publish(`fleet/v1/${devId(d)}/telemetry`, JSON.stringify({ d, s: sent }), { qos: 1 });
      }
      if (!killedAt && Date.now() - t0 > (SECONDS * 1000) / 3) {
        killedAt = Date.now();
        void c.kill(1);
      }
      if (sent >= total) {
        clearInterval(tick);
        resolve();
      }
    }, 10);
  });
  await waitFor('all failover messages', () => received.size >= total, 30_000, 100).catch(() => {});
  await Promise.all([...pubs, col].map((x) => x.endAsync(true)));
  if (lastError) process.stdout.write(`  collector's last MQTT error: ${lastError}\n`);
  return {
    sent: total,
    received: received.size,
    lost: total - received.size,
    duplicates: dups,
    gapMs: firstAfterKill ? firstAfterKill - killedAt : NaN,
    collectorReconnects: reconnects,
  };
}

/** fleetcare's ACL (docs/broker.md) as each target enforces it: 1 = refused as it must be. */
async function acl(c: Cluster): Promise<Record<string, number>> {
  const watcher = await connectMqtt(c.urls[1], { ...c.collector, clientId: 'spike-acl-watch', clean: true });
  const got: string[] = [];
  watcher.on('message', (t) => got.push(t));
  await watcher.subscribeAsync('fleet/v1/+/telemetry', { qos: 1 });
  const d0 = await connectMqtt(c.urls[0], { ...c.device(0), clientId: devId(0), clean: true, reconnectPeriod: 0 });
  d0.on('error', () => {});
  const foreignSub = await d0.subscribeAsync(`fleet/v1/${devId(1)}/cmd/req`, { qos: 1 }).then(
    (g) => (g[0]?.qos === 128 ? 1 : 0),
    () => 1,
  );
  d0.publish(`fleet/v1/${devId(1)}/telemetry`, 'forged', { qos: 1 });
  d0.publish(`fleet/v1/${devId(0)}/telemetry`, 'own', { qos: 1 });
  await waitFor('own message', () => got.includes(`fleet/v1/${devId(0)}/telemetry`) || !d0.connected, 10_000, 50).catch(() => {});
  const forgedPublishBlocked = got.includes(`fleet/v1/${devId(1)}/telemetry`) ? 0 : 1;
  d0.end(true);
  // A device's token used with another client id.
  const otherId = await connectMqtt(c.urls[0], { ...c.device(2), clientId: 'not-the-device-id', clean: true, reconnectPeriod: 0 }).then(
    (x) => (x.end(true), 0),
    () => 1,
  );
  await watcher.endAsync(true);
  return { foreignSubscribeRefused: foreignSub, forgedPublishBlocked, clientIdMustEqualDevice: otherId };
}

async function willAfterNodeDeath(c: Cluster): Promise<Record<string, number>> {
  const watcher = await connectMqtt(c.urls[1], { ...c.collector, clientId: 'spike-watch', clean: true });
  await watcher.subscribeAsync('fleet/v1/+/status', { qos: 1 });
  const dev = devId(WILL_DEVICE);
  const dc = await connectMqtt(c.urls[0], {
    ...c.device(WILL_DEVICE),
    clientId: dev,
    clean: false,
    keepalive: 30,
    reconnectPeriod: 0,
    will: { topic: `fleet/v1/${dev}/status`, payload: Buffer.from('{"state":"offline","reason":"lwt"}'), qos: 1, retain: true },
  });
  dc.on('error', () => {});
  let at = 0;
  watcher.on('message', (t, p) => {
    if (t === `fleet/v1/${dev}/status` && p.toString().includes('lwt') && !at) at = Date.now();
  });
  const killed = Date.now();
  await c.kill(0);
  dc.end(true);
  await waitFor('the will of a device whose node died', () => at > 0, 60_000, 100).catch(() => {});
  await watcher.endAsync(true);
  return { willAfterMs: at ? at - killed : NaN };
}

async function run(
  make: () => Promise<Cluster>,
  scenarios: Array<'throughput' | 'throughput-clean' | 'failover' | 'will' | 'acl'>,
  subNode = 1,
): Promise<void> {
  for (const s of scenarios) {
    let c: Cluster;
    try {
      c = await make();
    } catch (e) {
      process.stdout.write(`${'(cluster)'.padEnd(40)} ${s.padEnd(11)} FAILED TO START: ${(e as Error).message}\n`);
      continue;
    }
    try {
      const r =
        s === 'throughput' || s === 'throughput-clean'
          ? await throughput(c, Math.min(subNode, c.urls.length - 1), s === 'throughput-clean')
          : s === 'failover'
            ? await failover(c)
            : s === 'acl'
              ? await acl(c)
              : await willAfterNodeDeath(c);
      process.stdout.write(`${c.name.padEnd(40)} ${s.padEnd(11)} ${JSON.stringify(r)}\n`);
    } catch (e) {
      process.stdout.write(`${c.name.padEnd(40)} ${s.padEnd(11)} FAILED: ${(e as Error).message}\n`);
    } finally {
      await c.stop();
    }
  }
}

process.stdout.write(`broker-tier spike: ${MESSAGES} messages from ${PUBLISHERS} devices (throughput); ${RATE} msg/s for ${SECONDS} s (failover)\n`);
if (TARGET === 'aedes' || TARGET === 'both') {
  await run(() => aedesCluster(1, false), ['throughput', 'throughput-clean'], 0);
  await run(() => aedesCluster(3, true), ['throughput', 'throughput-clean', 'failover', 'will', 'acl']);
}
if (TARGET === 'nats' || TARGET === 'both') {
  await run(() => natsCluster(3), ['throughput', 'failover', 'will', 'acl']);
}
process.exit(0);
