// bench/ticket-latency: how long after a reactive fault on a device its ticket is in the built-in
// store, beyond the hold time. The real path, in-process: `fleetcare server` parts (aedes broker,
// collector with the embedded store, incident service; no NOC) via cli/server.ts runServer, and
// devices that publish over MQTT as agents do (test/collector/fixtures.ts FakeDevice, logged in
// with their own token): a retained birth and inventory (Epson TM-T88VI printers with their
// firmware profile), telemetry every `--telemetry-ms`, and at the fault an agent's edge event
// `fault-raised` (autocutter-error, critical) followed by telemetry samples that carry the fault
// with health critical. Faults are spread at random over `--spread` seconds, one per printer.
//
// Per fault: latency = (ticket openedAt, or the moment the ticket is first seen in
// incidents.tickets) − (fault event sent) − hold. Also printed: fault sent → incident first seen
// (the collector's arrival time, where the hold starts), and the event-loop delay of the process.
// `--background N` adds N agents sending telemetry (bench/ingest-load.ts in its own process, one
// raw MQTT connection each, `--background-rate` msg/s per agent) so the figure is under load.
//
//   npx tsc -p . && node dist/bench/ticket-latency.js [--devices 50] [--faults 100] [--hold-ms 2000]
//       [--tick-ms N (default: the service's)] [--spread 30] [--background 1000] [--background-rate 0.1]
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseBenchArgs } from './help.js';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pino } from 'pino';
import { runServer } from '../cli/server.js';
import { serverConfigSchema } from '../cli/server-config.js';
import { quantile } from '../collector/detectors/index.js';
import { incidentsConfigSchema } from '../collector/incidents/config.js';
import { collectorConfigSchema } from '../collector/config.js';
import { CONTRACT_VERSION } from '../protocol/index.js';
import { FakeDevice } from '../test/collector/fixtures.js';
import { freePort, sleep, waitFor } from '../test/helpers/net.js';
import { tempDir } from '../test/helpers/tmp.js';

const { values } = parseBenchArgs(import.meta.url, {
  options: {
    devices: { type: 'string', default: '50' },
    faults: { type: 'string', default: '100' },
    'hold-ms': { type: 'string', default: '2000' },
    /** Incident service tick; default: the shipped default (incidentsConfigSchema). */
    'tick-ms': { type: 'string' },
    /** Collector batch flush delay; default: the shipped default. */
    'batch-ms': { type: 'string' },
    spread: { type: 'string', default: '30' },
    'telemetry-ms': { type: 'string', default: '5000' },
    background: { type: 'string', default: '0' },
    'background-rate': { type: 'string', default: '0.1' },
    seed: { type: 'string', default: '1' },
  },
});
const DEVICES = Number(values.devices);
const FAULTS = Number(values.faults);
const HOLD_MS = Number(values['hold-ms']);
const SPREAD_MS = Number(values.spread) * 1000;
const TELEMETRY_MS = Number(values['telemetry-ms']);
const BACKGROUND = Number(values.background);
const BACKGROUND_RATE = Number(values['background-rate']);
const PRINTERS = Math.ceil(FAULTS / DEVICES);
const FAULT = 'autocutter-error';
const PROFILE = 'epson-tm-t88vi';
if (![DEVICES, FAULTS, HOLD_MS, SPREAD_MS, TELEMETRY_MS, BACKGROUND, BACKGROUND_RATE].every((x) => Number.isFinite(x) && x >= 0) || DEVICES < 1 || FAULTS < 1) {
  throw new Error('bench/ticket-latency: --devices and --faults must be ≥ 1, the other options numbers ≥ 0');
}
const root = fileURLToPath(new URL('..', import.meta.url)); // dist/
const LOAD = join(root, 'bench', 'ingest-load.js');

// Deterministic fault schedule (mulberry32).
let rnd = Number(values.seed) >>> 0;
const random = () => {
  rnd = (rnd + 0x6d2b79f5) >>> 0;
  let t = rnd;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

/** One store POS: its printers, their active faults, telemetry like an agent's. */
class Pos {
  private seq = Date.now();
  private readonly active = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  readonly printers: string[];

  constructor(
    readonly dev: FakeDevice,
    readonly site: string,
  ) {
    this.printers = Array.from({ length: PRINTERS }, (_, i) => `printer${i}`);
  }

  async announce(): Promise<void> {
    const id = this.dev.id;
    await this.dev.publish('status', { v: CONTRACT_VERSION, device: id, seq: ++this.seq, ts: Date.now(), state: 'online', agentVersion: 'bench' }, true);
    await this.dev.publish(
      'inventory',
      {
        v: CONTRACT_VERSION,
        device: id,
        seq: ++this.seq,
        ts: Date.now(),
        agentVersion: 'bench',
        model: 'POS-bench',
        serial: `HOST-${id}`,
        site: this.site,
        tenant: 'acme-retail',
        peripherals: this.printers.map((p) => ({ id: p, kind: 'printer', vendor: 'EPSON', model: 'TM-T88VI', serial: `${id}-${p}`, profile: PROFILE })),
      },
      true,
    );
    await this.telemetry();
    // Agents publish on their own period, not in step with each other.
    const first = setTimeout(() => {
      this.timer = setInterval(() => void this.telemetry().catch(() => {}), TELEMETRY_MS);
    }, random() * TELEMETRY_MS);
    this.timer = first;
  }

  private cuts = 1000;
  async telemetry(): Promise<void> {
    const ts = Date.now();
    this.cuts += 7;
    await this.dev.publish('telemetry', {
      v: CONTRACT_VERSION,
      device: this.dev.id,
      seq: ++this.seq,
      ts,
      samples: this.printers.map((p) => {
        const faults = this.active.has(p) ? [FAULT] : [];
        return {
          peripheral: p,
          kind: 'printer',
          ts,
          health: faults.length ? 'critical' : 'ok',
          metrics: { replyLatencyMs: 3 },
          counters: { autocutterCuts: this.cuts, linesFed: this.cuts * 40 },
          faults,
        };
      }),
    });
  }

  /** The agent's edge rule: the fault set changed → a fault-raised event now; later samples carry it. Returns when it was sent. */
  async fault(printer: string): Promise<number> {
    this.active.add(printer);
    const sentAt = Date.now();
    await this.dev.publish('event', {
      v: CONTRACT_VERSION,
      device: this.dev.id,
      seq: ++this.seq,
      ts: sentAt,
      type: 'fault-raised',
      peripheral: printer,
      code: FAULT,
      severity: 'critical',
      message: 'autocutter error',
    });
    return sentAt;
  }

  async close(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      clearInterval(this.timer);
    }
    await this.dev.close();
  }
}

type Measured = { key: string; sentAt: number; firstSeen: number; openedAt: number; seenAt: number };

async function main(): Promise<void> {
  const dir = tempDir('fleetcare-ticket-latency-');
  const port = await freePort();
  const log = pino({ level: 'warn' }, pino.destination(2));
  const config = serverConfigSchema.parse({
    dataDir: dir.path,
    broker: { port, scryptCost: 1024 },
    noc: { enabled: false },
    collector: {
      ...(values['batch-ms'] ? { batch: { maxDelayMs: Number(values['batch-ms']) } } : {}),
      incidents: {
        ...(values['tick-ms'] ? { tickMs: Number(values['tick-ms']) } : {}),
        detectors: { reactive: { holdMs: { [FAULT]: HOLD_MS } } },
      },
    },
  });
  const collectorDefaults = collectorConfigSchema.parse({ dataDir: dir.path, mqtt: { url: 'mqtt://x' } });
  const tickMs = values['tick-ms'] ? Number(values['tick-ms']) : incidentsConfigSchema.parse({}).tickMs;
  const batchMs = values['batch-ms'] ? Number(values['batch-ms']) : collectorDefaults.batch.maxDelayMs;
  const server = await runServer(config, { log });
  const poses: Pos[] = [];
  let load: ReturnType<typeof spawn> | null = null;
  try {
    const registry = server.broker!.registry;
    const incidents = server.incidents!;
    for (let i = 0; i < DEVICES; i++) {
      const id = `pos-${String(i).padStart(3, '0')}`;
      const token = registry.addDevice(id, { site: `store-${i % 10}`, tenant: 'acme-retail' });
      poses.push(new Pos(await FakeDevice.connect(server.brokerUrl!, id, { token }), `store-${i % 10}`));
    }
    for (const p of poses) await p.announce();
    await waitFor('every printer known to the detectors', () => incidents.stats().samples >= DEVICES * PRINTERS, 30_000);

    // Background fleet (its own process), provisioned in the same registry.
    let loadResult: Record<string, unknown> | null = null;
    let measureStarted: Promise<void> = Promise.resolve();
    if (BACKGROUND > 0) {
      const creds: Record<string, string> = {};
      for (let i = 0; i < BACKGROUND; i++) {
        const id = `bg-${String(i).padStart(5, '0')}`;
        creds[id] = registry.addDevice(id, { site: `bg-site-${Math.floor(i / 20)}`, tenant: 'bg' });
      }
      const credentials = join(dir.path, 'credentials.json');
      writeFileSync(credentials, JSON.stringify(creds));
      const runSeconds = Math.ceil((SPREAD_MS + HOLD_MS) / 1000) + 15;
      load = spawn(
        process.execPath,
        [
          LOAD,
          '--port',
          String(port),
          '--agents',
          String(BACKGROUND),
          '--rate',
          String(BACKGROUND_RATE),
          '--duration',
          String(runSeconds),
          '--warmup',
          '10',
          '--prefix',
          'bg',
          '--credentials',
          credentials,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      measureStarted = new Promise<void>((resolve) => {
        let buf = '';
        load!.stdout!.on('data', (b: Buffer) => {
          buf += b.toString();
          let nl;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
            buf = buf.slice(nl + 1);
            if (line.phase === 'measure-start') resolve();
            if (line.phase === 'result') loadResult = line;
          }
        });
      });
      await measureStarted; // connected and 10 s of load behind us
      process.stderr.write(`background: ${BACKGROUND} agents × ${BACKGROUND_RATE} msg/s running\n`);
    }

    // Inject: one fault per printer, at random moments over the spread window.
    const targets = poses.flatMap((p) => p.printers.map((printer) => ({ pos: p, printer }))).slice(0, FAULTS);
    const schedule = targets.map((t) => ({ ...t, at: random() * SPREAD_MS })).sort((a, b) => a.at - b.at);
    const sent = new Map<string, number>();
    const seen = new Map<string, number>();
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    const start = Date.now();
    // Watch the built-in ticket store for the keys sent and not yet ticketed.
    const watcher = setInterval(() => {
      const now = Date.now();
      for (const key of sent.keys()) if (!seen.has(key) && incidents.tickets.byKey(key)) seen.set(key, now);
    }, 20);
    for (const s of schedule) {
      const wait = start + s.at - Date.now();
      if (wait > 0) await sleep(wait);
      const key = `${s.pos.dev.id}/${s.printer}/${FAULT}`;
      sent.set(key, await s.pos.fault(s.printer));
    }
    await waitFor('a ticket for every fault', () => seen.size === FAULTS, HOLD_MS + 60_000, 100);
    clearInterval(watcher);
    lag.disable();
    const cpu = process.cpuUsage(cpu0);
    const wallMs = performance.now() - wall0;

    const rows: Measured[] = [...sent].map(([key, sentAt]) => {
      const t = incidents.tickets.byKey(key)!;
      const inc = incidents.incidents.get(key)!;
      return { key, sentAt, firstSeen: inc.firstSeen, openedAt: t.openedAt, seenAt: seen.get(key)! };
    });
    const opened = rows.map((r) => r.openedAt - r.sentAt - HOLD_MS);
    const visible = rows.map((r) => r.seenAt - r.sentAt - HOLD_MS);
    const toFirstTick = rows.map((r) => r.firstSeen - r.sentAt);
    const f = (xs: number[]) => ['p50', 'p90', 'p99', 'max'].map((q, i) => `${q} ${Math.round(quantile(xs, [0.5, 0.9, 0.99, 1][i]))}`).join(' / ');
    const tickets = incidents.tickets.list().length;
    if (load) await new Promise((r) => load!.once('exit', r));
    load = null;
    const bs = server.broker!.stats();
    const cs = server.collector!.stats();

    console.log(
      `\nbench/ticket-latency — ${FAULTS} faults (${FAULT}) on ${DEVICES} devices × ${PRINTERS} printers over ${SPREAD_MS / 1000} s; hold ${HOLD_MS} ms; tick ${tickMs} ms; batch flush ${batchMs} ms; background ${BACKGROUND ? `${BACKGROUND} agents × ${BACKGROUND_RATE} msg/s` : 'none'}`,
    );
    console.log(`beyond the hold, ms (ticket openedAt − fault sent − hold):      ${f(opened)}`);
    console.log(`beyond the hold, ms (ticket seen in the store − sent − hold):   ${f(visible)}`);
    console.log(`fault sent → hold starts (incident firstSeen), ms:              ${f(toFirstTick)}`);
    console.log(`tickets in the store: ${tickets} (one per fault: ${tickets === FAULTS ? 'yes' : 'NO'})`);
    console.log(
      `event-loop delay ms: p50 ${(lag.percentile(50) / 1e6).toFixed(0)} / p99 ${(lag.percentile(99) / 1e6).toFixed(0)} / max ${(lag.max / 1e6).toFixed(0)}; bench process CPU ${(((cpu.user + cpu.system) / 1000 / wallMs) * 100).toFixed(0)} % of a core (server + fault devices)`,
    );
    console.log(
      `broker: ${bs.rateLimited} publishes dropped by the rate limit, ${bs.rateLimitDisconnects} flooding disconnects; collector: ${cs.mqtt.disconnects} broker disconnects, ${cs.ingest.duplicates} duplicates`,
    );
    if (loadResult) {
      const l = loadResult as { ackedMsgPerSec: number; unacked: number; latencyMs: { p50: number; p99: number } };
      console.log(
        `background ingest: ${l.ackedMsgPerSec.toFixed(0)} acked msg/s, unacked ${l.unacked}, publish→ack p50 ${l.latencyMs.p50.toFixed(0)} / p99 ${l.latencyMs.p99.toFixed(0)} ms`,
      );
    }
    console.log(
      JSON.stringify({
        faults: FAULTS,
        devices: DEVICES,
        holdMs: HOLD_MS,
        tickMs,
        batchMs,
        background: BACKGROUND,
        backgroundRate: BACKGROUND_RATE,
        beyondHoldOpenedMs: { p50: quantile(opened, 0.5), p90: quantile(opened, 0.9), p99: quantile(opened, 0.99), max: Math.max(...opened) },
        beyondHoldSeenMs: { p50: quantile(visible, 0.5), p90: quantile(visible, 0.9), p99: quantile(visible, 0.99), max: Math.max(...visible) },
      }),
    );
  } finally {
    if (load) load.kill('SIGTERM');
    for (const p of poses) await p.close().catch(() => {});
    await server.close('bench done');
    dir.remove();
  }
}

await main();
