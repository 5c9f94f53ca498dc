// The wire contract. These zod schemas are the single source of truth:
// every TypeScript type of a message is inferred from them, and docs/contract.schema.json
// is generated from them for people who write other clients.
import { z } from 'zod';

/** Contract version carried in every message as `v`. */
export const CONTRACT_VERSION = 1 as const;

/** Device ids are also MQTT client ids and topic levels, so no wildcards, slashes or spaces. */
export const deviceId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'device id: letters, digits, . _ - only, not starting with a symbol');
export type DeviceId = z.infer<typeof deviceId>;

/** Peripheral id within one device, e.g. `printer0`, `host`. */
export const peripheralId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'peripheral id: letters, digits, . _ - only');

const epochMs = z.number().int().nonnegative();

/** Fields every device→server message carries. */
const envelope = {
  v: z.literal(CONTRACT_VERSION),
  device: deviceId,
  /** Per-device, strictly increasing across restarts (persisted by the agent). */
  seq: z.number().int().positive(),
  /** Device clock, ms since epoch. The collector records its offset from arrival time. */
  ts: epochMs,
};

export const peripheralKind = z.enum(['host', 'printer', 'card-reader', 'fingerprint', 'clock']);
export type PeripheralKind = z.infer<typeof peripheralKind>;

/** Health derived at the edge by the agent's rules. `absent`: configured but not answering. */
export const health = z.enum(['ok', 'warning', 'critical', 'absent', 'unknown']);
export type Health = z.infer<typeof health>;

/** A fault code, e.g. `paper-end`, `cover-open`, `autocutter-error`. */
export const faultCode = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9-]*$/, 'fault code: kebab-case');

export const metricName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z][A-Za-z0-9_]*$/, 'metric name: identifier');

// ---------------------------------------------------------------------------------------------
// status (retained; birth message, LWT, graceful stop)

export const statusMessage = z.object({
  ...envelope,
  state: z.enum(['online', 'offline']),
  /** Why the device went offline: `lwt` when the broker published the will, else the stop reason. */
  reason: z.string().max(200).optional(),
  agentVersion: z.string().max(40).optional(),
});
export type StatusMessage = z.infer<typeof statusMessage>;

// ---------------------------------------------------------------------------------------------
// inventory (retained)

export const peripheralInventory = z.object({
  id: peripheralId,
  kind: peripheralKind,
  vendor: z.string().max(80).optional(),
  model: z.string().max(80).optional(),
  serial: z.string().max(80).optional(),
  firmware: z.string().max(80).optional(),
  /** Firmware profile matched to this peripheral (firmware-profiles/), if any. */
  profile: z.string().max(80).optional(),
  /** Where the agent reaches it: `serial:/dev/ttyUSB0`, `usb:04b8:0202`, `tcp:10.0.0.5:4370`. */
  port: z.string().max(200).optional(),
});
export type PeripheralInventory = z.infer<typeof peripheralInventory>;

export const inventoryMessage = z.object({
  ...envelope,
  model: z.string().max(80).optional(),
  serial: z.string().max(80).optional(),
  os: z.string().max(120).optional(),
  agentVersion: z.string().max(40),
  site: z.string().max(80).optional(),
  tenant: z.string().max(80).optional(),
  peripherals: z.array(peripheralInventory).max(64),
});
export type InventoryMessage = z.infer<typeof inventoryMessage>;

// ---------------------------------------------------------------------------------------------
// telemetry

export const sample = z.object({
  peripheral: peripheralId,
  kind: peripheralKind,
  /** When the sample was read (device clock, ms). */
  ts: epochMs,
  health,
  /** Gauges and rates: stored as floats. */
  metrics: z.record(metricName, z.number().finite()).default({}),
  /** Cumulative counters read from the device, never reset: stored as integers. */
  counters: z.record(metricName, z.number().int().nonnegative()).default({}),
  /** Fault codes active at `ts`. */
  faults: z.array(faultCode).max(32).default([]),
});
export type Sample = z.infer<typeof sample>;

export const telemetryMessage = z.object({
  ...envelope,
  samples: z.array(sample).min(1).max(500),
});
export type TelemetryMessage = z.infer<typeof telemetryMessage>;

// ---------------------------------------------------------------------------------------------
// event

export const eventType = z.enum([
  'fault-raised',
  'fault-cleared',
  'peripheral-attached',
  'peripheral-detached',
  'agent-started',
  'agent-stopping',
  'driver-error',
  'outbox-dropped',
]);
export type EventType = z.infer<typeof eventType>;
export const eventSeverity = z.enum(['info', 'warning', 'critical']);

export const eventMessage = z.object({
  ...envelope,
  type: eventType,
  peripheral: peripheralId.optional(),
  /**
   * Fault code for fault-raised/fault-cleared (its severity is the fault's health in the firmware
   * profiles); for peripheral-detached and driver-error the error's code (protocol/errors.ts:
   * `timeout`, `usb-disconnected`, …, or a system code such as `enoent`), never a class name.
   */
  code: z.string().max(64).optional(),
  severity: eventSeverity.default('info'),
  message: z.string().max(1000).optional(),
  /** Extra figures, e.g. `{ dropped: 120 }` for outbox-dropped. */
  data: z.record(metricName, z.union([z.number(), z.string().max(200), z.boolean()])).optional(),
});
export type EventMessage = z.infer<typeof eventMessage>;

// ---------------------------------------------------------------------------------------------
// ack (collector → device)

/**
 * Selective acknowledgement: inclusive `[from, to]` ranges of seqs the collector has stored
 * durably (telemetry store or its own spool). The agent deletes exactly those rows.
 *
 * Why ranges instead of a single cumulative seq (docs/durability.md): the agent thins its outbox when full
 * and the broker may lose an in-flight message on restart, so the collector cannot tell a
 * deliberate gap from a lost message. A cumulative ack would either stall on a gap forever or
 * delete a row that never arrived. `upTo` still gives the cumulative view for monitoring.
 */
export const ackMessage = z.object({
  v: z.literal(CONTRACT_VERSION),
  ranges: z
    .array(z.tuple([z.number().int().positive(), z.number().int().positive()]))
    .min(1)
    .max(1000)
    .refine((rs) => rs.every(([a, b]) => a <= b), 'each range must be [from, to] with from <= to'),
  /** Collector clock, ms. */
  ts: epochMs,
});
export type AckMessage = z.infer<typeof ackMessage>;

// ---------------------------------------------------------------------------------------------
// remote commands

/** `sync-clock-time`: set an attendance clock to the agent host's local time (CMD_SET_TIME). */
export const commandName = z.enum(['ping', 'self-test', 'read-counters', 'inventory', 'recover', 'sync-clock-time']);
export type CommandName = z.infer<typeof commandName>;

export const commandRequest = z.object({
  v: z.literal(CONTRACT_VERSION),
  id: z.string().min(1).max(64),
  name: commandName,
  peripheral: peripheralId.optional(),
  args: z.record(z.string(), z.unknown()).default({}),
  /** Do not run after this time (ms); a late command is answered with `expired`. */
  expires: epochMs,
});
export type CommandRequest = z.infer<typeof commandRequest>;

export const commandResult = z.object({
  ...envelope,
  id: z.string().min(1).max(64),
  ok: z.boolean(),
  result: z.unknown().optional(),
  error: z.string().max(1000).optional(),
});
export type CommandResult = z.infer<typeof commandResult>;

/** Schemas of device→server messages by channel. */
export const deviceMessageSchemas = {
  status: statusMessage,
  inventory: inventoryMessage,
  telemetry: telemetryMessage,
  event: eventMessage,
  'cmd/res': commandResult,
} as const;
export type DeviceChannel = keyof typeof deviceMessageSchemas;
export type DeviceMessage = {
  [K in DeviceChannel]: { channel: K; message: z.infer<(typeof deviceMessageSchemas)[K]> };
}[DeviceChannel];
