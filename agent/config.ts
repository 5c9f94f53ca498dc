// The agent's configuration file: one zod schema is the single source of truth for
// its shape and defaults; a bad file is refused with `file: field.path: reason`.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { deviceId, peripheralId, formatZodError } from '../protocol/index.js';
import { escposSerialConfigSchema } from './drivers/escpos/index.js';
import { zkClockConfigSchema } from './drivers/zk-clock/index.js';
import { starSerialConfigSchema } from './drivers/star/index.js';
// Schema only: the driver (and the native `usb` module) load lazily in agent/index.ts.
import { usbPrinterConfigSchema } from './drivers/usb-printer/config.js';
import { fingerprintSerialConfigSchema } from './drivers/fingerprint/config.js';
import { msrSerialConfigSchema } from './drivers/card-reader/config.js';
import { FleetcareError } from '../protocol/errors.js';

const positiveMs = z.number().int().positive();

/** Fields every peripheral entry has, whatever its driver. */
export const peripheralBase = {
  id: peripheralId,
  /** How often the poller reads it. */
  intervalMs: positiveMs.default(5000),
  /** A poll (or open) that takes longer is abandoned and counted as a failure. */
  timeoutMs: positiveMs.default(2000),
};

export const hostPeripheralConfigSchema = z.strictObject({
  driver: z.literal('host'),
  ...peripheralBase,
  id: peripheralId.default('host'),
  /** Filesystem whose free space is reported (the agent's data dir when omitted). */
  diskPath: z.string().min(1).optional(),
  /** Free space below this percentage raises `disk-low` (warning). */
  diskWarnFreePct: z.number().min(0).max(100).default(10),
  /** Free space below this percentage raises `disk-critical` (critical). */
  diskCriticalFreePct: z.number().min(0).max(100).default(3),
});
export type HostPeripheralConfig = z.infer<typeof hostPeripheralConfigSchema>;

export const peripheralConfigSchema = z.discriminatedUnion('driver', [
  hostPeripheralConfigSchema,
  escposSerialConfigSchema,
  fingerprintSerialConfigSchema,
  msrSerialConfigSchema,
  zkClockConfigSchema,
  starSerialConfigSchema,
  usbPrinterConfigSchema,
]);
export type PeripheralConfig = z.infer<typeof peripheralConfigSchema>;

const brokerUrl = z.string().regex(/^mqtts?:\/\/[^/\s]+(:\d+)?\/?$/, 'must be mqtt://host:port or mqtts://host:port');

export const agentConfigSchema = z
  .strictObject({
    device: z.strictObject({
      id: deviceId,
      /** Broker password for this device (shown once by `fleetcare device add`). Never logged. */
      token: z.string().min(1),
      site: z.string().max(80).optional(),
      tenant: z.string().max(80).optional(),
      model: z.string().max(80).optional(),
      serial: z.string().max(80).optional(),
    }),
    broker: z
      .strictObject({
        /** The broker (one node, or a TCP load balancer in front of a cluster's nodes). */
        url: brokerUrl.optional(),
        /**
         * Cluster mode without a load balancer: every broker node. The agent starts at a random
         * one and moves to the next after each lost connection or failed attempt, with the same
         * backoff and jitter as for one broker (docs/cluster.md).
         */
        urls: z.array(brokerUrl).min(1).max(16).optional(),
        tls: z
          .strictObject({
            /** PEM file of the CA that signed the broker's certificate (relative to the config file). */
            ca: z.string().min(1).optional(),
            rejectUnauthorized: z.boolean().default(true),
          })
          .optional(),
        keepaliveSec: z.number().int().min(5).max(3600).default(30),
        connectTimeoutMs: positiveMs.default(10_000),
        reconnect: z
          .strictObject({
            minMs: positiveMs.default(1000),
            maxMs: positiveMs.default(60_000),
            /** Fraction of each delay that is randomised (0 = lockstep, 1 = anywhere in [0, delay]). */
            jitter: z.number().min(0).max(1).default(0.5),
          })
          .default({ minMs: 1000, maxMs: 60_000, jitter: 0.5 })
          .refine((r) => r.minMs <= r.maxMs, { message: 'minMs must be <= maxMs', path: ['minMs'] }),
      })
      .superRefine((b, ctx) => {
        if ((b.url === undefined) === (b.urls === undefined))
          ctx.addIssue({ code: 'custom', path: ['url'], message: 'give either url or urls (a list of broker nodes)' });
      })
      // Output: `urls` always lists the nodes; `url` is the first (for logs and single-URL callers).
      .transform((b) => {
        const urls = b.urls ?? [b.url as string];
        return { ...b, url: urls[0], urls };
      }),
    /** Where the outbox database lives (relative to the config file). */
    dataDir: z.string().min(1),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    telemetry: z
      .strictObject({
        /** Samples gathered in this window go out as one telemetry message. */
        publishIntervalMs: positiveMs.default(5000),
        maxSamplesPerMessage: z.number().int().min(1).max(500).default(100),
      })
      .default({ publishIntervalMs: 5000, maxSamplesPerMessage: 100 }),
    outbox: z
      .strictObject({
        maxRows: z.number().int().min(10).default(100_000),
        maxBytes: z
          .number()
          .int()
          .min(64 * 1024)
          .default(50 * 1024 * 1024),
        /** When full, old telemetry is thinned keeping every Nth message. */
        thinKeepEvery: z.number().int().min(2).max(100).default(4),
        /** A sent row with no ack after this long is sent again. */
        ackTimeoutMs: positiveMs.default(15_000),
        /** Most rows sent and not yet acked at once. */
        maxInFlight: z.number().int().min(1).max(10_000).default(200),
        /** Keep `outbox_journal` of every seq ever written (end-to-end tests). */
        journal: z.boolean().default(false),
      })
      .default({ maxRows: 100_000, maxBytes: 50 * 1024 * 1024, thinKeepEvery: 4, ackTimeoutMs: 15_000, maxInFlight: 200, journal: false }),
    /**
     * Discovery once at start (agent/discovery.ts): serial ports from sysfs and USB devices,
     * matched to firmware profiles and logged. `false` is short for `{ enabled: false }`.
     */
    discovery: z
      .union([
        z.boolean(),
        z.strictObject({
          enabled: z.boolean().default(true),
          /**
           * Also poll what discovery matched to a firmware profile, with the driver the profile
           * names, unless a configured peripheral already covers it (explicit config wins).
           */
          autoAdd: z.boolean().default(false),
        }),
      ])
      .default(true)
      .transform((d) => (typeof d === 'boolean' ? { enabled: d, autoAdd: false } : d)),
    /** Peripherals to poll. Omitted or empty: just the host itself. */
    peripherals: z.array(peripheralConfigSchema).max(32).optional(),
  })
  .transform((c) => ({
    ...c,
    peripherals: c.peripherals && c.peripherals.length > 0 ? c.peripherals : [hostPeripheralConfigSchema.parse({ driver: 'host' })],
  }))
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.peripherals.forEach((p, i) => {
      if (seen.has(p.id)) ctx.addIssue({ code: 'custom', path: ['peripherals', i, 'id'], message: `duplicate peripheral id "${p.id}"` });
      seen.add(p.id);
    });
  });

export type AgentConfigInput = z.input<typeof agentConfigSchema>;
export type AgentConfig = z.output<typeof agentConfigSchema>;

/** A config file that cannot be used; `message` is `file: field.path: reason`. */
export class AgentConfigError extends FleetcareError<'config-invalid'> {
  override name = 'AgentConfigError';
  constructor(message: string) {
    super('config-invalid', message);
  }
}

/** Reads, validates and resolves an agent config file. Relative paths are taken from the file's folder. */
export function loadAgentConfig(path: string): AgentConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new AgentConfigError(`${path}: ${code === 'ENOENT' ? 'file not found' : `cannot read (${code ?? (e as Error).message})`}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new AgentConfigError(`${path}: invalid JSON: ${(e as Error).message}`);
  }
  const r = agentConfigSchema.safeParse(raw);
  if (!r.success) throw new AgentConfigError(`${path}: ${formatZodError(r.error)}`);
  const base = dirname(resolve(path));
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const c = r.data;
  return {
    ...c,
    dataDir: abs(c.dataDir),
    broker: { ...c.broker, tls: c.broker.tls && { ...c.broker.tls, ca: c.broker.tls.ca && abs(c.broker.tls.ca) } },
  };
}
