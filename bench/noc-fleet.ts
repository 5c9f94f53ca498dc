// bench/noc-fleet: the NOC's fleet routes at fleet scale. A real collector (embedded store) takes
// status, inventory and one telemetry message (printer counters, health, faults) for N devices
// from an anonymous aedes broker; then the NOC (same process, like `fleetcare server`) answers
// GET /api/fleet and several /api/devices queries over HTTP, each `--rounds` times. Prints
// per-request milliseconds (p50/p99/max) and the server's heap.
//
//   npx tsc -p . && node dist/bench/noc-fleet.js [--devices 10000] [--rounds 50]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchFlags } from './help.js';
import { connect } from 'mqtt';
import { pino } from 'pino';
import { startCollector } from '../collector/index.js';
import { quantile } from '../collector/detectors/index.js';
import { startNoc } from '../noc/server.js';
import { CONTRACT_VERSION, topicFor } from '../protocol/index.js';
import { TestBroker } from '../test/helpers/broker.js';

const { devices: DEVICES, rounds: ROUNDS } = benchFlags(import.meta.url, { devices: 10000, rounds: 50 });
const log = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'fleetcare-bench-noc-'));

const broker = await TestBroker.create();
const mqttUrl = broker.url;

const collector = await startCollector({ dataDir: join(dir, 'collector'), mqtt: { url: mqttUrl }, batch: { maxDelayMs: 50 } }, { log });
const noc = await startNoc({ port: 0 }, { broker: null, collector, incidents: null, dataDir: dir, log, scryptCost: 1024 });
// The account store's interface is async (PostgreSQL in cluster mode): without the awaits the token was "[object Promise]".
await noc.context.users.ensureUser('bench', 'viewer', 'bench-password-1');
const token = await noc.context.users.createApiToken('bench', 'bench');

// The fleet: 10 tenants, 500 sites, every 7th device offline, some printers worn or faulted.
const pub = connect(mqttUrl, { clientId: 'bench-fleet', protocolVersion: 4 });
await new Promise<void>((r) => pub.once('connect', () => r()));
const now = Date.now();
let started = Date.now();
for (let i = 0; i < DEVICES; i++) {
  const device = `pos-${String(i).padStart(5, '0')}`;
  const site = `site-${i % 500}`;
  const tenant = `tenant-${i % 10}`;
  const env = (seq: number) => ({ v: CONTRACT_VERSION, device, seq, ts: now });
  const cuts = Math.floor(((i * 7919) % 2_000_000) * 0.99);
  const fault = i % 53 === 0 ? ['paper-end'] : [];
  await pub.publishAsync(topicFor(device, 'status'), JSON.stringify({ ...env(1), state: 'online' }), { qos: 1 });
  await pub.publishAsync(
    topicFor(device, 'inventory'),
    JSON.stringify({
      ...env(2),
      agentVersion: '1.0.0',
      site,
      tenant,
      model: 'POS-X1',
      serial: `H${i}`,
      peripherals: [
        { id: 'host', kind: 'host' },
        { id: 'printer0', kind: 'printer', vendor: 'Epson', model: 'TM-T88VI', serial: `P${i}`, profile: 'epson-tm-t88vi' },
      ],
    }),
    { qos: 1 },
  );
  await pub.publishAsync(
    topicFor(device, 'telemetry'),
    JSON.stringify({
      ...env(3),
      samples: [
        {
          peripheral: 'printer0',
          kind: 'printer',
          ts: now,
          health: fault.length ? 'warning' : 'ok',
          metrics: { temperature: 40 },
          counters: { autocutterCuts: cuts, linesFed: cuts * 10 },
          faults: fault,
        },
        { peripheral: 'host', kind: 'host', ts: now, health: 'ok', metrics: { cpuPct: 5 }, counters: {}, faults: [] },
      ],
    }),
    { qos: 1 },
  );
  if (i % 7 === 0) await pub.publishAsync(topicFor(device, 'status'), JSON.stringify({ ...env(4), state: 'offline', reason: 'lwt' }), { qos: 1 });
}
// Wait until the NOC's view has every device and its counters.
const total = async (q: string) =>
  ((await (await fetch(`${noc.url}/api/devices?limit=1&${q}`, { headers: { authorization: `Bearer ${token}` } })).json()) as { total: number }).total;
while ((await total('wearAbove=0')) < DEVICES - 1 || (await total('health=offline')) < Math.ceil(DEVICES / 7)) await new Promise((r) => setTimeout(r, 200));
console.log(`fleet of ${DEVICES} loaded in ${((Date.now() - started) / 1000).toFixed(1)} s`);

const queries = [
  // Baseline: the same login check (a Bearer token is an scrypt verify) and nothing else.
  '/api/me',
  '/api/fleet',
  '/api/devices?limit=100',
  '/api/devices?sort=status&limit=100',
  '/api/devices?sort=wear&limit=50',
  '/api/devices?health=offline,critical,warning&limit=100',
  '/api/devices?q=site-42&limit=100',
  '/api/devices?tenant=tenant-3&wearAbove=0.8&offset=100&limit=100',
];
console.log(`| request | p50 ms | p99 ms | max ms | answer bytes |`);
console.log(`|---|---:|---:|---:|---:|`);
for (const path of queries) {
  const ms: number[] = [];
  let bytes = 0;
  for (let i = 0; i < ROUNDS; i++) {
    started = performance.now();
    const r = await fetch(noc.url + path, { headers: { authorization: `Bearer ${token}` } });
    const text = await r.text();
    ms.push(performance.now() - started);
    bytes = text.length;
    if (r.status !== 200) throw new Error(`${path}: ${r.status} ${text}`);
  }
  ms.sort((a, b) => a - b);
  console.log(`| \`${path}\` | ${quantile(ms, 0.5).toFixed(1)} | ${quantile(ms, 0.99).toFixed(1)} | ${ms[ms.length - 1].toFixed(1)} | ${bytes} |`);
}
global.gc?.();
console.log(`heap used ${(process.memoryUsage().heapUsed / 1e6).toFixed(0)} MB (devices ${DEVICES})`);

await pub.endAsync();
await noc.close();
await collector.close();
await broker.close();
rmSync(dir, { recursive: true, force: true });
