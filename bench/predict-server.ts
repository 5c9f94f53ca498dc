// bench/predict --through-server: the same scenario replay fed over MQTT to a real broker,
// collector and incident service (cli/server.ts runServer, embedded store), time-accelerated.
// Every simulated device logs in with its own token and publishes its inventory (profiles,
// serials) and its telemetry; each sample carries its simulated device time, which ends about
// now, so that the collector's measurement-time guard accepts it (its backlog age limit is set to
// the replay's length). A unit swap is a new inventory with the new serial; a part swap is a
// service record written to the service-record store the incident service follows. Every
// `evalEveryHours` of simulated time the bench waits until the incident service has seen every
// sample published so far, then ticks it at the simulated time. Tickets are read back from the
// real ticket store.
import { pathToFileURL } from 'node:url';
import { exitOnHelp } from './help.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { freePort } from '../cluster/local-net.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { runServer } from '../cli/server.js';
import { serverConfigSchema } from '../cli/server-config.js';
import type { FirmwareProfile } from '../firmware-profiles/index.js';
import type { DetectorConfigInput } from '../collector/detectors/index.js';
import { CONTRACT_VERSION, topicFor } from '../protocol/index.js';
import type { FleetReplay, ReplaySample } from '../sim/wear-scenarios.js';
import type { BenchTicket } from './predict.js';

// Not a script of its own: `node dist/bench/predict.js --through-server` runs it; --help says so.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) exitOnHelp(import.meta.url);

const DAY = 86_400_000;

async function until(what: string, fn: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export async function replayThroughServer(
  replay: FleetReplay,
  o: { days: number; evalEveryHours: number; detectors: DetectorConfigInput; profiles: readonly FirmwareProfile[] },
): Promise<BenchTicket[]> {
  const dir = mkdtempSync(join(tmpdir(), 'fleetcare-predict-server-'));
  const given = o.detectors ?? {};
  const detectors = { ...given, measurementTime: { maxBacklogMs: (o.days + 3) * DAY, ...(given.measurementTime ?? {}) } };
  const config = serverConfigSchema.parse({
    dataDir: dir,
    broker: { port: await freePort(), scryptCost: 1024 },
    noc: { enabled: false },
    collector: { batch: { maxDelayMs: 10 }, incidents: { tickMs: 3_600_000, detectors } },
  });
  const server = await runServer(config, { log: pino({ level: 'warn' }) });
  const clients = new Map<string, MqttClient>();
  const seq = new Map<string, number>();
  const tickets: BenchTicket[] = [];
  try {
    const inc = server.incidents!;
    const next = (d: string) => {
      const s = (seq.get(d) ?? 0) + 1;
      seq.set(d, s);
      return s;
    };
    const publishInventory = async (device: string, peripherals: ReturnType<FleetReplay['inventory']>[number]['peripherals'], ts: number) => {
      await clients
        .get(device)!
        .publishAsync(
          topicFor(device, 'inventory'),
          JSON.stringify({ v: CONTRACT_VERSION, device, seq: next(device), ts, agentVersion: 'bench', site: `site-${device}`, peripherals }),
          { qos: 1 },
        );
    };
    for (const inv of replay.inventory()) {
      const token = server.broker!.registry.addDevice(inv.device, { site: `site-${inv.device}` });
      const c = connect(server.brokerUrl!, { clientId: inv.device, username: inv.device, password: token, clean: true, reconnectPeriod: 1000 });
      await new Promise<void>((resolve, reject) => {
        c.once('connect', () => resolve());
        c.once('error', reject);
      });
      clients.set(inv.device, c);
      await publishInventory(inv.device, inv.peripherals, replay.clock);
    }
    const inventory = new Map(replay.inventory().map((i) => [i.device, i.peripherals]));
    await until('every inventory', () => [...inventory.keys()].every((d) => server.collector!.device(d)?.peripherals.length === 2));
    let published = 0;
    const seen = new Set<string>();
    for (let h = 0; h < o.days * 24; h++) {
      const { samples, service } = replay.step(h);
      const now = replay.clock;
      for (const s of service) {
        if (s.kind === 'unit-swap') {
          const list = inventory.get(s.device)!.map((p) => (p.id === s.peripheral ? { ...p, serial: s.serial } : p));
          inventory.set(s.device, list);
          await publishInventory(s.device, list, now);
        } else
          await inc.serviceRecords.add(
            {
              device: s.device,
              peripheral: s.peripheral,
              part: s.part,
              kind: s.kind,
              at: now,
              failed: s.failed,
              profile: s.profile,
              usage: s.usage,
              source: 'api',
            },
            now,
          );
      }
      // The technician's record is in before the device reports from its new part.
      if (service.some((s) => s.kind !== 'unit-swap')) {
        await until('samples ingested', () => inc.stats().samples >= published);
        await inc.syncServiceRecords();
      }
      const byDevice = new Map<string, ReplaySample[]>();
      for (const s of samples) {
        const l = byDevice.get(s.device);
        if (l) l.push(s);
        else byDevice.set(s.device, [s]);
      }
      for (const [device, list] of byDevice) {
        await clients.get(device)!.publishAsync(
          topicFor(device, 'telemetry'),
          JSON.stringify({
            v: CONTRACT_VERSION,
            device,
            seq: next(device),
            ts: list[list.length - 1].ts,
            samples: list.map((s) => ({ peripheral: s.peripheral, kind: s.kind, ts: s.ts, health: 'ok', metrics: {}, counters: s.counters, faults: [] })),
          }),
          { qos: 1 },
        );
        published += list.length;
      }
      if (h % o.evalEveryHours !== 0) continue;
      await until('samples ingested', () => inc.stats().samples >= published);
      if (service.length) {
        // Unit swaps reach the detectors with the inventory refresh; part swaps through the record store.
        await until('swapped serials seen', () =>
          service.every(
            (s) => s.kind !== 'unit-swap' || server.collector!.device(s.device)?.peripherals.find((p) => p.id === s.peripheral)?.serial === s.serial,
          ),
        );
      }
      await inc.syncServiceRecords();
      inc.tick(now);
      for (const t of inc.tickets.list()) {
        if (seen.has(t.ref)) continue;
        seen.add(t.ref);
        const i = inc.incidents.get(t.key);
        if (!i || (i.detector !== 'wear-out' && i.detector !== 'degradation')) continue;
        tickets.push({ device: t.device!, peripheral: t.peripheral!, instance: replay.instanceOf(t.device!, t.peripheral!), at: now, detector: i.detector });
      }
    }
  } finally {
    for (const c of clients.values()) await c.endAsync().catch(() => {});
    await server.close('bench done');
    rmSync(dir, { recursive: true, force: true });
  }
  return tickets;
}
