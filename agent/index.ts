// The device agent: peripherals → poller → outbox (SQLite, before publish) → MQTT link → collector
// ack → rows deleted. `startAgent` is what the CLI and the fleet simulator call; several agents
// may run in one process, so everything lives in the returned handle.
import { mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { CONTRACT_VERSION, type AckMessage, type EventMessage, type InventoryMessage, type Sample } from '../protocol/index.js';
import type { AgentConfig, PeripheralConfig } from './config.js';
import type { DriverContext, PeripheralDriver, PeripheralIdentity } from './drivers/driver.js';
import { createHostDriver } from './drivers/host.js';
import { Link, type LinkStats } from './link.js';
import { Outbox, type OutboxStats } from './outbox.js';
import { Poller, type PolledPeripheral, type PollerEvent, type PeripheralStats } from './poller.js';
import { runCommand, type CommandOutcome } from './commands.js';
import { configForDiscovered, discoverPeripherals, discoveredId, type DiscoveryOptions } from './discovery.js';

export { agentConfigSchema, loadAgentConfig, AgentConfigError, type AgentConfig, type AgentConfigInput } from './config.js';
export { reconnectDelay } from './link.js';
export { severityOf } from './poller.js';

export type AgentStats = {
  device: string;
  link: LinkStats;
  outbox: OutboxStats;
  peripherals: PeripheralStats[];
  samples: number;
  telemetryMessages: number;
  events: number;
  commands: Record<CommandOutcome, number>;
  clockOffsetMs: number | null;
};

export type OutboxCounts = Pick<OutboxStats, 'rows' | 'bytes' | 'inFlight' | 'memoryRows' | 'mode'>;

export type AgentHandle = {
  readonly device: string;
  close(reason?: string): Promise<void>;
  stats(): AgentStats;
  outboxCounts(): OutboxCounts;
  /** Test hook: drop the broker connection without DISCONNECT, as a crash would. */
  simulateConnectionLoss(): void;
};

export type StartAgentOptions = {
  log: Logger;
  /** Extra peripherals with ready-made drivers (tests, the fleet simulator). */
  extraPeripherals?: PolledPeripheral[];
  /** Randomness for reconnect jitter (tests). */
  random?: () => number;
  /** Where discovery looks (tests: a fake sysfs tree and USB bus); the real machine when omitted. */
  discovery?: Pick<DiscoveryOptions, 'sysRoot' | 'devRoot' | 'usb' | 'profiles'>;
};

type HostContext = { defaultDiskPath: string; clockOffsetMs: () => number | undefined };

/** Driver factories by config `driver`. Lazy imports: a device without a printer never loads serialport. */
const driverFactories: {
  [K in PeripheralConfig['driver']]: (c: Extract<PeripheralConfig, { driver: K }>, ctx: DriverContext & HostContext) => Promise<PeripheralDriver>;
} = {
  host: async (c, ctx) => createHostDriver(c, ctx),
  'escpos-serial': async (c, ctx) => (await import('./drivers/escpos/index.js')).createEscposSerialDriver(c, ctx),
  'zk-clock-tcp': async (c, ctx) => (await import('./drivers/zk-clock/index.js')).createZkClockDriver(c, ctx),
  'star-serial': async (c, ctx) => (await import('./drivers/star/index.js')).createStarSerialDriver(c, ctx),
  'usb-printer': async (c, ctx) => (await import('./drivers/usb-printer/index.js')).createUsbPrinterDriver(c, ctx),
  'r30x-serial': async (c, ctx) => (await import('./drivers/fingerprint/index.js')).createFingerprintSerialDriver(c, ctx),
  'msr-serial': async (c, ctx) => (await import('./drivers/card-reader/index.js')).createMsrSerialDriver(c, ctx),
};

function agentVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

const cut = (s: string | undefined, n: number) => (s === undefined ? undefined : s.slice(0, n));

/**
 * Runs discovery once and logs what is plugged in. Returns the configs of matched devices to
 * poll as well when `discovery.autoAdd` is on; explicit config always wins. Never throws.
 */
async function discoverAtStart(config: AgentConfig, log: Logger, where: StartAgentOptions['discovery']): Promise<PeripheralConfig[]> {
  try {
    const found = await discoverPeripherals({ ...where, configured: config.peripherals });
    log.info(
      {
        peripherals: found.peripherals.map((p) => ({ source: p.source, port: p.port, profile: p.profile, driver: p.driver, configuredAs: p.configuredAs })),
        notes: found.notes,
      },
      'discovered peripherals',
    );
    if (!config.discovery.autoAdd) return [];
    const taken = new Set(config.peripherals.map((p) => p.id));
    const added: PeripheralConfig[] = [];
    for (const d of found.peripherals) {
      const r = configForDiscovered(d, discoveredId(d, taken));
      if (!r.ok) {
        if (d.profile) log.info({ port: d.port, profile: d.profile, reason: r.reason }, 'discovered peripheral not added');
        continue;
      }
      taken.add(r.config.id);
      added.push(r.config);
      log.info({ peripheral: r.config.id, driver: r.config.driver, port: d.port, profile: d.profile }, 'discovered peripheral added');
    }
    return added;
  } catch (e) {
    log.error({ err: (e as Error).message }, 'discovery failed; polling the configured peripherals only');
    return [];
  }
}

export async function startAgent(config: AgentConfig, { log: parentLog, extraPeripherals = [], random, discovery }: StartAgentOptions): Promise<AgentHandle> {
  const device = config.device.id;
  const log = parentLog.child({ device });
  const version = agentVersion();
  mkdirSync(config.dataDir, { recursive: true });

  const envelope = (seq: number, ts: number) => ({ v: CONTRACT_VERSION, device, seq, ts });
  const eventJson = (seq: number, e: Omit<EventMessage, 'v' | 'device' | 'seq'>) => JSON.stringify({ ...envelope(seq, e.ts), ...e });

  const outbox = new Outbox({
    path: join(config.dataDir, 'outbox.db'),
    ...config.outbox,
    log,
    buildEvent: (seq, ts, f) => eventJson(seq, { ts, type: 'outbox-dropped', ...f, severity: f.severity ?? 'warning' }),
  });

  let clockOffsetMs: number | undefined;
  const counters = { samples: 0, telemetryMessages: 0, events: 0 };
  const commandCounts: Record<CommandOutcome, number> = { ok: 0, failed: 0, invalid: 0, expired: 0, unanswerable: 0 };
  let pending: Sample[] = [];
  let closed = false;

  // --- peripherals
  const hostCtx = { log, defaultDiskPath: config.dataDir, clockOffsetMs: () => clockOffsetMs };
  const polled: PolledPeripheral[] = [];
  const discovered = config.discovery.enabled ? await discoverAtStart(config, log, discovery) : [];
  for (const pc of [...config.peripherals, ...discovered]) {
    try {
      const make = driverFactories[pc.driver] as (c: PeripheralConfig, ctx: DriverContext & HostContext) => Promise<PeripheralDriver>;
      polled.push({ driver: await make(pc, hostCtx), intervalMs: pc.intervalMs, timeoutMs: pc.timeoutMs });
    } catch (e) {
      // A driver that cannot even be built is logged and left out; the rest of the agent runs.
      log.error({ peripheral: pc.id, driver: pc.driver, err: (e as Error).message }, 'cannot create driver');
    }
  }
  polled.push(...extraPeripherals);

  const appendEvent = (e: PollerEvent | Omit<EventMessage, 'v' | 'device' | 'seq'>) => {
    if (closed) return;
    outbox.append('event', 1, (seq) => eventJson(seq, e as Omit<EventMessage, 'v' | 'device' | 'seq'>));
    counters.events++;
    pump();
  };

  const inventory = (seq: number): InventoryMessage => ({
    ...envelope(seq, Date.now()),
    model: config.device.model,
    serial: config.device.serial,
    os: cut(`${os.type()} ${os.release()} ${os.arch()}`, 120),
    agentVersion: version,
    site: config.device.site,
    tenant: config.device.tenant,
    peripherals: poller.ids().map((id) => {
      const idn: PeripheralIdentity = poller.identity(id) ?? {};
      return {
        id,
        kind: poller.kind(id) as InventoryMessage['peripherals'][number]['kind'],
        vendor: cut(idn.vendor, 80),
        model: cut(idn.model, 80),
        serial: cut(idn.serial, 80),
        firmware: cut(idn.firmware, 80),
        profile: cut(idn.profile, 80),
        port: cut(idn.port, 200),
      };
    }),
  });

  const poller: Poller = new Poller(polled, {
    log,
    onSample: (s) => {
      if (closed) return;
      pending.push(s);
      counters.samples++;
    },
    onEvent: appendEvent,
    onIdentity: () => link.publishInventory(),
  });

  // --- link
  const pump = () => {
    if (!link.connected) return;
    for (const row of outbox.takeForSend()) {
      // Errors need no handling here: an unacked row is sent again after ackTimeoutMs.
      link.publish(row.channel, row.payload).catch(() => {});
    }
  };

  const link: Link = new Link({
    device: config.device,
    broker: config.broker,
    agentVersion: version,
    log,
    random,
    allocateSeq: () => outbox.allocateSeq(),
    inventory,
    onConnect: () => {
      outbox.resetSession();
      pump();
    },
    onDisconnect: () => {},
    onAck: (ack: AckMessage, receivedAt: number) => {
      outbox.ack(ack.ranges);
      clockOffsetMs = receivedAt - ack.ts;
      pump();
    },
    onCommand: (payload) => {
      void runCommand(payload, {
        log,
        poller,
        inventory: () => inventory(0),
        republishInventory: () => link.publishInventory(),
        now: Date.now,
      })
        .then(({ outcome, answer }) => {
          commandCounts[outcome]++;
          if (!answer || closed) return;
          const seq = outbox.allocateSeq();
          return link.publish('cmd/res', JSON.stringify({ ...envelope(seq, Date.now()), ...answer }));
        })
        .catch((e) => log.warn({ err: (e as Error).message }, 'cannot send command result'));
    },
  });

  // --- telemetry batching: one message per publishIntervalMs
  const flushSamples = () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    const max = config.telemetry.maxSamplesPerMessage;
    for (let i = 0; i < batch.length; i += max) {
      const samples = batch.slice(i, i + max);
      outbox.append('telemetry', samples.length, (seq) => JSON.stringify({ ...envelope(seq, Date.now()), samples }));
      counters.telemetryMessages++;
    }
    pump();
  };
  const telemetryTimer = setInterval(() => {
    try {
      flushSamples();
    } catch (e) {
      log.error({ err: (e as Error).message }, 'telemetry flush failed');
    }
  }, config.telemetry.publishIntervalMs);
  // Overdue acks are re-sent from here as well as on every ack and append.
  const resendTimer = setInterval(
    () => {
      try {
        pump();
      } catch (e) {
        log.error({ err: (e as Error).message }, 'resend failed');
      }
    },
    Math.max(250, Math.min(5000, Math.floor(config.outbox.ackTimeoutMs / 3))),
  );

  appendEvent({
    ts: Date.now(),
    type: 'agent-started',
    severity: 'info',
    message: `fleetcare agent ${version} started`,
    data: { agentVersion: version, peripherals: polled.length },
  });
  poller.start();
  link.start();
  log.info({ peripherals: polled.map((p) => p.driver.id), broker: config.broker.url, outboxRows: outbox.stats().rows }, 'agent started');

  return {
    device,
    async close(reason = 'stopped') {
      if (closed) return;
      clearInterval(telemetryTimer);
      clearInterval(resendTimer);
      await poller.stop();
      try {
        flushSamples();
        appendEvent({ ts: Date.now(), type: 'agent-stopping', severity: 'info', message: `agent stopping: ${reason}`.slice(0, 1000) });
      } catch (e) {
        log.error({ err: (e as Error).message }, 'final flush failed');
      }
      closed = true;
      await link.stop(reason);
      outbox.close();
      log.info({ reason }, 'agent stopped');
    },
    stats: () => ({
      device,
      link: link.stats(),
      outbox: outbox.stats(),
      peripherals: poller.stats(),
      ...counters,
      commands: { ...commandCounts },
      clockOffsetMs: clockOffsetMs ?? null,
    }),
    outboxCounts: () => {
      const s = outbox.stats();
      return { rows: s.rows, bytes: s.bytes, inFlight: s.inFlight, memoryRows: s.memoryRows, mode: s.mode };
    },
    simulateConnectionLoss: () => link.simulateConnectionLoss(),
  };
}
