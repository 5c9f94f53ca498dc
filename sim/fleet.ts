// The fleet simulator: N virtual store devices, each a real agent (in this process) with the
// host peripheral and a virtual ESC/POS printer behind a real PTY pair. Models, ages (how much
// of the rated life is already used) and usage intensities come from a seed, so a fleet can be
// replayed. The printers are used like a shop uses them: receipts printed and cut, paper rolls
// running out and replaced, covers opened.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { startAgent, agentConfigSchema, type AgentHandle } from '../agent/index.js';
import { createPtyPair, type PtyPair } from './pty.js';
import { VirtualEscposPrinter } from './escpos-printer.js';

/** mulberry32: a small, fast, seedable PRNG — the same seed gives the same fleet. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Where the simulated fleet's stores are: a tenant (the support company's customer) per region. */
const SITES = [
  { site: 'riyadh-olaya-01', tenant: 'souq-alkhair' },
  { site: 'jeddah-tahlia-02', tenant: 'souq-alkhair' },
  { site: 'tehran-vanak-01', tenant: 'shahrvand-retail' },
  { site: 'isfahan-chaharbagh-03', tenant: 'shahrvand-retail' },
  { site: 'shenzhen-futian-07', tenant: 'huamei-mart' },
  { site: 'guangzhou-tianhe-02', tenant: 'huamei-mart' },
];

const PRINTER_PROFILES = ['epson-tm-t88vi', 'epson-tm-t20iii', 'epson-tm-t90'];

/** A receipt: lines printed then one cut. Paper roll of 80 m ≈ 21,000 lines of 3.75 mm. */
const LINES_PER_ROLL = 21_000;

export type SimulatedDevice = {
  id: string;
  site: string;
  tenant: string;
  profile: string;
  /** Receipts per minute while the simulation runs (sped up from a real shop). */
  receiptsPerMinute: number;
  /** Share of the cutter's rated life already used at start. */
  ageFraction: number;
  printer: VirtualEscposPrinter;
  pty: PtyPair;
  agent: AgentHandle;
};

export type FleetOptions = {
  devices: number;
  seed: number;
  brokerUrl: string;
  /** Registers a device with the broker and returns its token. */
  provision: (id: string, site: string, tenant: string) => string;
  /** Agents' data dirs go under here, one per device. */
  dataDir: string;
  intervalMs: number;
  log: Logger;
  idPrefix?: string;
};

export type Fleet = { devices: SimulatedDevice[]; close(): Promise<void> };

export async function startFleet(opts: FleetOptions): Promise<Fleet> {
  const random = seededRandom(opts.seed);
  const devices: SimulatedDevice[] = [];
  const timers: NodeJS.Timeout[] = [];
  const prefix = opts.idPrefix ?? 'pos';
  try {
    for (let i = 0; i < opts.devices; i++) {
      const { site, tenant } = SITES[Math.floor(random() * SITES.length)];
      const id = `${prefix}-${String(i + 1).padStart(3, '0')}`;
      const profile = PRINTER_PROFILES[Math.floor(random() * PRINTER_PROFILES.length)];
      const ageFraction = random() * 0.9;
      const receiptsPerMinute = 2 + Math.floor(random() * 20);
      const token = opts.provision(id, site, tenant);
      const pty = await createPtyPair();
      const printer = new VirtualEscposPrinter({
        path: pty.devicePath,
        profile,
        serial: `SIM${String(opts.seed).padStart(3, '0')}${String(i + 1).padStart(5, '0')}`,
        ageFraction,
      });
      await printer.open();
      const dataDir = join(opts.dataDir, id);
      mkdirSync(dataDir, { recursive: true });
      const config = agentConfigSchema.parse({
        device: { id, token, site, tenant, model: 'sim-pos-terminal', serial: `HOST-${id}` },
        broker: { url: opts.brokerUrl },
        dataDir,
        telemetry: { publishIntervalMs: opts.intervalMs },
        peripherals: [
          { id: 'host', driver: 'host', intervalMs: opts.intervalMs * 2 },
          { id: 'printer0', driver: 'escpos-serial', path: pty.hostPath, intervalMs: opts.intervalMs },
        ],
      });
      const agent = await startAgent(config, { log: opts.log.child({ device: id }) });
      devices.push({ id, site, tenant, profile, receiptsPerMinute, ageFraction, printer, pty, agent });
    }
  } catch (e) {
    await closeAll(devices, timers);
    throw e;
  }

  // A shop's day, sped up: receipts, paper running out and replaced, a cover opened now and then.
  const linesOnRoll = new Map(devices.map((d) => [d.id, Math.floor(random() * LINES_PER_ROLL)]));
  timers.push(
    setInterval(() => {
      for (const d of devices) {
        const receipts = d.receiptsPerMinute / 6; // every 10 s
        const n = Math.floor(receipts) + (random() < receipts % 1 ? 1 : 0);
        if (n === 0 || d.printer.state.paper === 'end' || d.printer.state.coverOpen) continue;
        const lines = n * (20 + Math.floor(random() * 30));
        d.printer.print(lines, n);
        const left = (linesOnRoll.get(d.id) ?? 0) - lines;
        linesOnRoll.set(d.id, left);
        if (left <= 0) {
          d.printer.setPaper('end');
          // Somebody notices and changes the roll a minute or two later.
          timers.push(setTimeout(() => {
            d.printer.setPaper('ok');
            linesOnRoll.set(d.id, LINES_PER_ROLL);
          }, 60_000 + random() * 60_000));
        } else if (left < LINES_PER_ROLL * 0.05) d.printer.setPaper('near-end');
        if (random() < 0.01) {
          d.printer.setCoverOpen(true);
          timers.push(setTimeout(() => d.printer.setCoverOpen(false), 5_000 + random() * 20_000));
        }
      }
    }, 10_000),
  );
  opts.log.info({ devices: devices.length, seed: opts.seed }, 'simulated fleet started');
  return { devices, close: () => closeAll(devices, timers) };
}

async function closeAll(devices: SimulatedDevice[], timers: NodeJS.Timeout[]): Promise<void> {
  for (const t of timers) clearTimeout(t);
  for (const d of devices) await d.agent.close('simulation stopped').catch(() => {});
  for (const d of devices) await d.printer.close().catch(() => {});
  for (const d of devices) await d.pty.close().catch(() => {});
}
