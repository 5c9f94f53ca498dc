// The fleet simulator: N virtual store devices, each a real agent (in this process) talking to
// virtual peripherals over the same bytes as the real ones — PTY pairs for serial devices, TCP for
// attendance clocks, a fake of the WebUSB interface for USB printers (no USB bus here). Models,
// ages (share of rated life already used) and usage intensities come from a seed, so a fleet can
// be replayed; wear models record the ground truth of every part failure to
// `<dataDir>/ground-truth.jsonl` so that failure prediction can be scored against it.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { startAgent, agentConfigSchema, type AgentHandle } from '../agent/index.js';
import type { PolledPeripheral } from '../agent/poller.js';
import { createUsbPrinterDriver } from '../agent/drivers/usb-printer/index.js';
import { createPtyPair } from './pty.js';
import { VirtualEscposPrinter } from './escpos-printer.js';
import { VirtualStarPrinter } from './star-printer.js';
import { FakeUsb, FakeUsbPrinterDevice, deviceIdFixtures } from './usb-printer-fake.js';
import { VirtualCardReader } from './card-reader.js';
import { VirtualFingerprintModule } from './fingerprint-module.js';
import { VirtualZkClock } from './zk-clock.js';
import { GroundTruthRecorder, deriveSeed, seededRandom } from './wear.js';

export { seededRandom };

/** Where the simulated fleet's stores are: a tenant (the support company's customer) per region. */
const SITES = [
  { site: 'riyadh-olaya-01', tenant: 'souq-alkhair' },
  { site: 'jeddah-tahlia-02', tenant: 'souq-alkhair' },
  { site: 'tehran-vanak-01', tenant: 'shahrvand-retail' },
  { site: 'isfahan-chaharbagh-03', tenant: 'shahrvand-retail' },
  { site: 'shenzhen-futian-07', tenant: 'huamei-mart' },
  { site: 'guangzhou-tianhe-02', tenant: 'huamei-mart' },
];

/** Receipt printers of the fleet and how the agent reaches each (firmware-profiles/models ids). */
const PRINTERS = [
  { profile: 'epson-tm-t88vi', via: 'escpos-serial' },
  { profile: 'epson-tm-t20iii', via: 'escpos-serial' },
  { profile: 'epson-tm-t90', via: 'escpos-serial' },
  { profile: 'bixolon-srp-350', via: 'escpos-serial' },
  { profile: 'star-tsp143', via: 'star-serial' },
  { profile: 'epson-tm-m30', via: 'usb-printer' },
] as const;

/** A receipt: lines printed then one cut. Paper roll of 80 m ≈ 21,000 lines of 3.75 mm. */
const LINES_PER_ROLL = 21_000;
/** Every Nth device is a back office with the store's attendance clock on its LAN. */
const CLOCK_EVERY = 3;

type Closer = { close(): Promise<void> };

/** The receipt printer of one simulated device, whatever its kind. */
type SimPrinter = {
  profile: string;
  /** Serial number the printer reports (the warranty registry's key); null if it reports none. */
  serial: string | null;
  print(lines: number, cuts: number): void;
  /** A jammed autocutter (ESC/POS printers; a no-op where the simulator has none). */
  cutterJam(jammed: boolean): void;
  paperOut(out: boolean): void;
  coverOpen(open: boolean): void;
  busy(): boolean;
};

export type SimulatedDevice = {
  id: string;
  site: string;
  tenant: string;
  printer: SimPrinter;
  cardReader: VirtualCardReader;
  fingerprint: VirtualFingerprintModule;
  clock: VirtualZkClock | null;
  /** Receipts per minute while the simulation runs (sped up from a real shop). */
  receiptsPerMinute: number;
  /** Share of the rated life of every part already used at start. */
  ageFraction: number;
  /** Serial numbers: the device's (`host`) and each peripheral's, by peripheral id. */
  serials: Record<string, string>;
  agent: AgentHandle;
};

/** What a scenario fixes for one device instead of drawing it from the seed. */
export type DevicePin = {
  site?: string;
  /** Receipt printer profile id (one of PRINTERS). */
  printer?: string;
  /** Starting cumulative counters of an ESC/POS printer (an aged part), e.g. { autocutterCuts: 1_930_000 }. */
  printerCounters?: Record<string, number>;
};

export type FleetOptions = {
  devices: number;
  seed: number;
  /** One broker, or the nodes of a cluster (each agent fails over across them, docs/cluster.md). */
  brokerUrl: string | string[];
  /** Registers a device with the broker and returns its token (a cluster's registry is in PostgreSQL: async). */
  provision: (id: string, site: string, tenant: string) => string | Promise<string>;
  /** Agents' data dirs go under here, one per device; ground truth beside them. */
  dataDir: string;
  intervalMs: number;
  log: Logger;
  idPrefix?: string;
  /** Merged into every agent's `outbox` config (e.g. `{ journal: true }` for end-to-end tests). */
  outbox?: Record<string, unknown>;
  /** Device index (0-based) → what a scenario fixes for it; the rest is drawn from the seed. */
  pins?: Record<number, DevicePin>;
};

/** Serial number of a simulated part: kind P printer, U USB printer, M card reader, F fingerprint, C clock, H host. */
export function simSerial(seed: number, index: number, kind: string): string {
  return `SIM${kind}${String(seed).padStart(3, '0')}${String(index + 1).padStart(5, '0')}`;
}

export type Fleet = { devices: SimulatedDevice[]; groundTruth: GroundTruthRecorder; close(): Promise<void> };

export async function startFleet(opts: FleetOptions): Promise<Fleet> {
  const random = seededRandom(opts.seed);
  mkdirSync(opts.dataDir, { recursive: true });
  const groundTruth = new GroundTruthRecorder(join(opts.dataDir, 'ground-truth.jsonl'));
  const devices: SimulatedDevice[] = [];
  const closers: Closer[] = [];
  const timers: NodeJS.Timeout[] = [];
  const prefix = opts.idPrefix ?? 'pos';
  const close = async () => {
    for (const t of timers) clearTimeout(t);
    for (const d of devices) await d.agent.close('simulation stopped').catch(() => {});
    for (const c of closers.reverse()) await c.close().catch(() => {});
  };
  try {
    for (let i = 0; i < opts.devices; i++) {
      const pin = opts.pins?.[i] ?? {};
      // Draw even when pinned, so the other devices stay the same as without pins.
      const drawn = SITES[Math.floor(random() * SITES.length)];
      const pinnedSite = pin.site ? SITES.find((s) => s.site === pin.site) : undefined;
      if (pin.site && !pinnedSite) throw new Error(`pins[${i}].site: unknown site ${pin.site}`);
      const { site, tenant } = pinnedSite ?? drawn;
      const id = `${prefix}-${String(i + 1).padStart(3, '0')}`;
      const ageFraction = random() * 0.9;
      const receiptsPerMinute = 2 + Math.floor(random() * 20);
      const serial = (kind: string) => simSerial(opts.seed, i, kind);
      const seedOf = (part: string) => deriveSeed(opts.seed, `${id}/${part}`);
      const token = await opts.provision(id, site, tenant);
      const peripherals: unknown[] = [{ id: 'host', driver: 'host', intervalMs: opts.intervalMs * 2 }];
      const extraPeripherals: PolledPeripheral[] = [];

      // Receipt printer.
      const drawnModel = PRINTERS[Math.floor(random() * PRINTERS.length)];
      const model = pin.printer ? PRINTERS.find((m) => m.profile === pin.printer) : drawnModel;
      if (!model) throw new Error(`pins[${i}].printer: unknown printer ${pin.printer}`);
      let printer: SimPrinter;
      if (model.via === 'escpos-serial') {
        const pty = await createPtyPair();
        closers.push(pty);
        const p = new VirtualEscposPrinter({
          path: pty.devicePath,
          profile: model.profile,
          serial: serial('P'),
          ageFraction,
          ...(pin.printerCounters ? { counters: pin.printerCounters } : {}),
        });
        await p.open();
        closers.push(p);
        peripherals.push({ id: 'printer0', driver: 'escpos-serial', path: pty.hostPath, intervalMs: opts.intervalMs });
        printer = {
          profile: model.profile,
          serial: serial('P'),
          cutterJam: (jammed) => p.setCutterJam(jammed),
          print: (lines, cuts) => void p.print(lines, cuts),
          paperOut: (out) => p.setPaper(out ? 'end' : 'ok'),
          coverOpen: (open) => p.setCoverOpen(open),
          busy: () => p.state.paper === 'end' || p.state.coverOpen,
        };
      } else if (model.via === 'star-serial') {
        const p = await VirtualStarPrinter.start({
          cutterWear: {
            seed: seedOf('cutter'),
            ratedCuts: 1_000_000,
            usage: Math.floor(ageFraction * 1_000_000),
            recorder: groundTruth,
            device: id,
            peripheral: 'printer0',
          },
        });
        closers.push(p);
        peripherals.push({ id: 'printer0', driver: 'star-serial', path: p.hostPath, intervalMs: opts.intervalMs });
        let out = false;
        let open = false;
        printer = {
          profile: model.profile,
          serial: null,
          cutterJam: () => {},
          print: (_lines, cuts) => p.cut(cuts),
          paperOut: (v) => ((out = v), p.setPaper(v ? 'end' : 'ok')),
          coverOpen: (v) => ((open = v), p.setCoverOpen(v)),
          busy: () => out || open,
        };
      } else {
        const usbDevice = new FakeUsbPrinterDevice({
          vendorId: 0x04b8,
          productId: 0x0202,
          deviceId: deviceIdFixtures.epsonTmM30.replace('X4SK123456', serial('U')),
          serialNumber: serial('U'),
          escpos: true,
        });
        const usb = new FakeUsb([usbDevice]);
        extraPeripherals.push({
          driver: createUsbPrinterDriver(
            { id: 'printer0', driver: 'usb-printer', vid: '04b8', pid: '0202', intervalMs: opts.intervalMs },
            { log: opts.log.child({ device: id }), usb },
          ),
          intervalMs: opts.intervalMs,
          timeoutMs: 2000,
        });
        printer = {
          profile: model.profile,
          serial: serial('U'),
          cutterJam: () => {},
          print: () => {},
          paperOut: (v) => usbDevice.set({ paperEmpty: v }),
          coverOpen: (v) => usbDevice.set({ coverOpen: v }),
          busy: () => usbDevice.state.paperEmpty || usbDevice.state.coverOpen,
        };
      }

      // Card reader (statistics read by the agent) and the cashiers' fingerprint module, whose
      // captures pass through the agent's relay (the POS software's port) so the agent sees them.
      const cardReader = await VirtualCardReader.start({
        profile: 'generic-serial-msr',
        serial: serial('M'),
        ageFraction,
        seed: seedOf('msr'),
        device: id,
        peripheral: 'msr0',
        recorder: groundTruth,
      });
      closers.push(cardReader);
      peripherals.push({ id: 'msr0', driver: 'msr-serial', path: cardReader.hostPath, intervalMs: opts.intervalMs });
      const posPort = await createPtyPair();
      closers.push(posPort);
      const fingerprint = await VirtualFingerprintModule.start({
        profile: 'grow-r503',
        serial: serial('F'),
        ageFraction,
        seed: seedOf('finger'),
        device: id,
        peripheral: 'finger0',
        recorder: groundTruth,
        posPath: posPort.devicePath,
      });
      closers.push(fingerprint);
      peripherals.push({ id: 'finger0', driver: 'r30x-serial', path: fingerprint.hostPath, relay: { path: posPort.hostPath }, intervalMs: opts.intervalMs });

      // Attendance clock on the LAN of every third store's back office.
      let clock: VirtualZkClock | null = null;
      if (i % CLOCK_EVERY === CLOCK_EVERY - 1) {
        const records = 100_000;
        clock = await VirtualZkClock.start({
          serial: serial('C'),
          capacity: { records },
          stored: { users: 20 + Math.floor(random() * 60), fingers: 40 + Math.floor(random() * 100), records: Math.floor(random() * 0.97 * records) },
          sensorWear: {
            seed: seedOf('clock-sensor'),
            ratedScans: 1_000_000,
            usage: Math.floor(ageFraction * 1_000_000),
            recorder: groundTruth,
            device: id,
            peripheral: 'clock0',
          },
        });
        closers.push(clock);
        peripherals.push({ id: 'clock0', driver: 'zk-clock-tcp', host: clock.host, port: clock.port, intervalMs: opts.intervalMs * 4, timeoutMs: 5000 });
      }

      const dataDir = join(opts.dataDir, id);
      mkdirSync(dataDir, { recursive: true });
      const config = agentConfigSchema.parse({
        device: { id, token, site, tenant, model: clock ? 'sim-backoffice-pc' : 'sim-pos-terminal', serial: serial('H') },
        broker: Array.isArray(opts.brokerUrl) ? { urls: opts.brokerUrl } : { url: opts.brokerUrl },
        dataDir,
        telemetry: { publishIntervalMs: opts.intervalMs },
        ...(opts.outbox ? { outbox: opts.outbox } : {}),
        peripherals,
      });
      const agent = await startAgent(config, { log: opts.log.child({ device: id }), extraPeripherals });
      const serials: Record<string, string> = {
        host: serial('H'),
        ...(printer.serial ? { printer0: printer.serial } : {}),
        msr0: serial('M'),
        finger0: serial('F'),
        ...(clock ? { clock0: serial('C') } : {}),
      };
      devices.push({ id, site, tenant, printer, cardReader, fingerprint, clock, receiptsPerMinute, ageFraction, serials, agent });
    }
  } catch (e) {
    await close();
    throw e;
  }

  // A shop's day, sped up: receipts and card payments, cashiers logging in by fingerprint, staff
  // clocking in, paper running out and replaced, a cover opened now and then.
  const linesOnRoll = new Map(devices.map((d) => [d.id, Math.floor(random() * LINES_PER_ROLL)]));
  const tick = async () => {
    for (const d of devices) {
      const receipts = d.receiptsPerMinute / 6; // per 10 s
      const n = Math.floor(receipts) + (random() < receipts % 1 ? 1 : 0);
      if (n > 0) await d.cardReader.swipe(n).catch(() => {});
      if (random() < 0.3) await d.fingerprint.use(1).catch(() => {});
      if (d.clock && random() < 0.5) d.clock.punch(1 + Math.floor(random() * 3));
      if (n === 0 || d.printer.busy()) continue;
      const lines = n * (20 + Math.floor(random() * 30));
      d.printer.print(lines, n);
      const left = (linesOnRoll.get(d.id) ?? 0) - lines;
      linesOnRoll.set(d.id, left);
      if (left <= 0) {
        d.printer.paperOut(true);
        // Somebody notices and changes the roll a minute or two later.
        timers.push(
          setTimeout(
            () => {
              d.printer.paperOut(false);
              linesOnRoll.set(d.id, LINES_PER_ROLL);
            },
            60_000 + random() * 60_000,
          ),
        );
      }
      if (random() < 0.01) {
        d.printer.coverOpen(true);
        timers.push(setTimeout(() => d.printer.coverOpen(false), 5_000 + random() * 20_000));
      }
    }
  };
  let running = false;
  timers.push(
    setInterval(() => {
      if (running) return;
      running = true;
      tick().finally(() => (running = false));
    }, 10_000),
  );
  opts.log.info({ devices: devices.length, seed: opts.seed, groundTruth: join(opts.dataDir, 'ground-truth.jsonl') }, 'simulated fleet started');
  return { devices, groundTruth, close };
}
