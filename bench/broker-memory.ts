// Broker memory per connection: opens N authenticated MQTT connections (raw CONNECT packets, so
// the client side costs nothing in the broker process) against the fleetcare broker and against
// plain aedes, each in its own child process, and prints RSS/heap growth per connection.
//
//   node dist/bench/broker-memory.js [--connections 10000] [--broker both|fleetcare|aedes]
//        [--subscribe] [--keepalive 60] [--scrypt-cost 1024] [--batch 500]
//
// --subscribe: each device also subscribes to its own ack and cmd/req, as a real agent does.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execSync } from 'node:child_process';
import pino from 'pino';
import mqttPacket from 'mqtt-packet';
import { exitOnHelp } from './help.js';

type Mem = { rss: number; heapUsed: number; external: number; arrayBuffers: number };
type ToChild = { cmd: 'measure' } | { cmd: 'stop' };
type FromChild = { ready: number } | { mem: Mem; connections: number };

const args = process.argv.slice(2);
if (args[0] !== '--serve') exitOnHelp(import.meta.url, args);
const flag = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] && !args[i + 1].startsWith('--') ? args[i + 1] : dflt;
};
const has = (name: string) => args.includes(`--${name}`);

// ---------------------------------------------------------------- child: the broker under test

async function serve(kind: 'fleetcare' | 'aedes', dataDir: string): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  let connections: () => number;
  let port: number;
  if (kind === 'fleetcare') {
    const { startBroker } = await import('../broker/index.js');
    const b = await startBroker({ dataDir, port: 0, scryptCost: Number(flag('scrypt-cost', '1024')) }, { log: pino({ level: 'warn' }) });
    port = b.port;
    connections = () => b.stats().connections;
  } else {
    const { Aedes } = await import('aedes');
    const aedes = await Aedes.createBroker();
    const server = createServer((s) => aedes.handle(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
    connections = () => (aedes as unknown as { connectedClients: number }).connectedClients;
  }
  process.on('message', (m: ToChild) => {
    if (m.cmd === 'stop') process.exit(0);
    for (let i = 0; i < 3; i++) gc?.();
    const u = process.memoryUsage();
    process.send!({
      mem: { rss: u.rss, heapUsed: u.heapUsed, external: u.external, arrayBuffers: u.arrayBuffers },
      connections: connections(),
    } satisfies FromChild);
  });
  process.send!({ ready: port } satisfies FromChild);
}

// ---------------------------------------------------------------- parent: the load

async function main(): Promise<void> {
  const n = Number(flag('connections', '10000'));
  const which = flag('broker', 'both');
  const batch = Number(flag('batch', '500'));
  const keepalive = Number(flag('keepalive', '60'));
  const subscribe = has('subscribe');
  const nofile = Number(execSync('ulimit -n', { shell: '/bin/bash' }).toString().trim());
  if (Number.isFinite(nofile) && nofile < n + 200) {
    console.error(
      `ulimit -n is ${nofile}: too low for ${n} connections (each side needs one fd per connection). Raise it (ulimit -n ${n + 1000}) or lower --connections.`,
    );
    process.exit(2);
  }
  console.log(
    `broker memory per connection: ${n} connections, keepalive ${keepalive} s${subscribe ? ', each subscribed to its ack and cmd/req' : ''}, node ${process.version}`,
  );
  const results: Array<{ kind: string; perConnRss: number; perConnHeap: number }> = [];
  for (const kind of which === 'both' ? (['aedes', 'fleetcare'] as const) : [which as 'aedes' | 'fleetcare']) {
    results.push(await runOne(kind, n, batch, keepalive, subscribe));
  }
  if (results.length === 2) {
    const [a, f] = results;
    console.log(`fleetcare / aedes RSS per connection: ${(f.perConnRss / a.perConnRss).toFixed(2)}×`);
  }
}

async function runOne(kind: 'fleetcare' | 'aedes', n: number, batch: number, keepalive: number, subscribe: boolean) {
  const dataDir = mkdtempSync(join(tmpdir(), 'fleetcare-bench-broker-'));
  const tokens: string[] = [];
  if (kind === 'fleetcare') {
    const { DeviceRegistry } = await import('../broker/index.js');
    const started = Date.now();
    const reg = DeviceRegistry.open(dataDir, { scryptCost: Number(flag('scrypt-cost', '1024')) });
    for (let i = 0; i < n + WARMUP; i++) tokens.push(reg.addDevice(deviceName(i)));
    reg.close();
    console.log(`  [${kind}] registered ${n} devices in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  const here = fileURLToPath(import.meta.url);
  const child = fork(here, ['--serve', kind, dataDir, ...process.argv.slice(2)], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve) => child.once('message', (m: FromChild) => resolve((m as { ready: number }).ready)));
  // Warm-up: one-time lazy allocations (mqtt-packet's 65,536-entry number cache, ~6 MB; JIT code;
  // matcher tries) land in the baseline, so the difference is the marginal cost per connection.
  const warm = await Promise.all(
    Array.from({ length: WARMUP }, (_, k) => openClient(port, deviceName(n + k), kind === 'fleetcare' ? tokens[n + k] : undefined, keepalive, true)),
  );
  for (const s of warm) s.destroy();
  await new Promise((r) => setTimeout(r, 1000));
  const before = await measure(child);

  const sockets: Socket[] = [];
  // The clients do not run a real MQTT stack, so they ping for it (aedes drops a client after 1.5 × keepalive).
  const ping = () => {
    for (const s of sockets) s.write(Buffer.from([0xc0, 0]));
  };
  const pinger = keepalive > 0 ? setInterval(ping, (keepalive * 1000) / 2) : null;
  const started = Date.now();
  for (let i = 0; i < n; i += batch) {
    const group = [];
    for (let j = i; j < Math.min(n, i + batch); j++)
      group.push(openClient(port, deviceName(j), kind === 'fleetcare' ? tokens[j] : undefined, keepalive, subscribe));
    sockets.push(...(await Promise.all(group)));
  }
  const connectSecs = (Date.now() - started) / 1000;
  await new Promise((r) => setTimeout(r, 2000));
  const after = await measure(child);
  const mb = (b: number) => (b / 1048576).toFixed(1) + ' MB';
  const perConnRss = (after.mem.rss - before.mem.rss) / n;
  const perConnHeap = (after.mem.heapUsed - before.mem.heapUsed) / n;
  const perConnExt = (after.mem.external - before.mem.external) / n;
  console.log(
    `  [${kind}] ${after.connections} connected in ${connectSecs.toFixed(1)} s; RSS ${mb(before.mem.rss)} → ${mb(after.mem.rss)}, heap ${mb(before.mem.heapUsed)} → ${mb(after.mem.heapUsed)}`,
  );
  console.log(
    `  [${kind}] per connection: RSS ${(perConnRss / 1024).toFixed(2)} KB, heap ${(perConnHeap / 1024).toFixed(2)} KB, external ${(perConnExt / 1024).toFixed(2)} KB`,
  );
  if (after.connections !== n) console.log(`  [${kind}] WARNING: broker reports ${after.connections} connections, expected ${n}`);

  if (pinger) clearInterval(pinger);
  for (const s of sockets) s.destroy();
  child.send({ cmd: 'stop' } satisfies ToChild);
  await new Promise((r) => child.once('exit', r));
  rmSync(dataDir, { recursive: true, force: true });
  return { kind, perConnRss, perConnHeap };
}

function measure(child: ChildProcess): Promise<{ mem: Mem; connections: number }> {
  return new Promise((resolve) => {
    child.once('message', (m: FromChild) => resolve(m as { mem: Mem; connections: number }));
    child.send({ cmd: 'measure' } satisfies ToChild);
  });
}

const WARMUP = 50;
const deviceName = (i: number) => `bench-${String(i).padStart(6, '0')}`;

// Raw MQTT 3.1.1 packets (mqtt-packet): CONNECT, SUBSCRIBE (the whole client side is a socket and a few bytes).
function openClient(port: number, id: string, token: string | undefined, keepalive: number, subscribe: boolean): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    s.on('error', reject);
    s.once('connect', () => {
      const credentials = token ? { username: id, password: Buffer.from(token) } : {};
      s.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: id, keepalive, ...credentials }));
    });
    let seen = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      seen = Buffer.concat([seen, d]);
      if (seen.length >= 4 && seen[0] === 0x20) {
        if (seen[3] !== 0) return reject(new Error(`CONNACK ${seen[3]} for ${id}`));
        if (!subscribe) return done();
        if (seen.length === 4) {
          const subscriptions = [`fleet/v1/${id}/ack`, `fleet/v1/${id}/cmd/req`].map((topic) => ({ topic, qos: 1 as const }));
          s.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions }));
        }
        if (seen.length >= 4 + 6 && seen[4] === 0x90) return done();
      }
    };
    const done = () => {
      s.off('data', onData);
      s.resume(); // keep reading (PINGRESP etc.) so nothing piles up
      resolve(s);
    };
    s.on('data', onData);
  });
}

// Last, so every const above is initialised before it runs.
if (args[0] === '--serve') await serve(args[1] as 'fleetcare' | 'aedes', args[2]);
else await main();
