// A hand-written fast path for the hottest decode in fleetcare: the collector's telemetry (and
// event) messages and the topic parse the broker does on every PUBLISH. zod stays the single
// source of truth: the fast path only ever *accepts* a message it can prove zod would accept
// with an equal result; on anything else (a bad message, an unknown key, a missing default, an
// unusual channel) it defers to decodeDeviceMessage, which gives the verdict and the error text.
// test/protocol-fast.test.ts compares both on many generated valid and invalid payloads.
import { decodeDeviceMessage, MAX_PAYLOAD_BYTES, type Decoded } from './decode.js';
import { eventSeverity, eventType, health, peripheralKind, type DeviceMessage, type EventMessage, type TelemetryMessage } from './messages.js';
import { channels, TOPIC_ROOT, type Channel, type ParsedTopic } from './topics.js';

// The same rules as the zod schemas in messages.ts: patterns restated (the test keeps them in step).
const ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const METRIC = /^[A-Za-z][A-Za-z0-9_]*$/;
const FAULT = /^[a-z0-9][a-z0-9-]*$/;
// The enumerations are the schemas' own lists.
const KINDS = new Set<string>(peripheralKind.options);
const HEALTH = new Set<string>(health.options);
const EVENT_TYPES = new Set<string>(eventType.options);
const SEVERITIES = new Set<string>(eventSeverity.options);
const PREFIX = TOPIC_ROOT + '/';

/** deviceId / peripheralId of messages.ts. */
export function isId(s: unknown): s is string {
  return typeof s === 'string' && s.length >= 1 && s.length <= 64 && ID.test(s);
}

/** parseTopic of topics.ts without zod (same answers; proven by test/protocol-fast.test.ts). */
export function parseTopicFast(topic: string): ParsedTopic | null {
  if (!topic.startsWith(PREFIX)) return null;
  const slash = topic.indexOf('/', PREFIX.length);
  if (slash <= PREFIX.length) return null;
  const channel = topic.slice(slash + 1);
  if (!Object.hasOwn(channels, channel)) return null;
  const device = topic.slice(PREFIX.length, slash);
  if (!isId(device)) return null;
  return { device, channel: channel as Channel };
}

// JSON.parse only ever makes plain objects; an own `__proto__` key, arrays and null are refused.
function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

const isEpochMs = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
const isSeq = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x > 0;
const isShortString = (x: unknown, max: number): x is string => typeof x === 'string' && x.length <= max;

function envelopeOk(m: Record<string, unknown>): boolean {
  return m.v === 1 && isId(m.device) && isSeq(m.seq) && isEpochMs(m.ts);
}

function metricsOk(x: unknown, integer: boolean): boolean {
  if (!isPlainObject(x)) return false;
  for (const k in x) {
    if (k.length > 64 || !METRIC.test(k)) return false;
    const v = x[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) return false;
    if (integer && (!Number.isSafeInteger(v) || v < 0)) return false;
  }
  return true;
}

function sampleOk(s: unknown): boolean {
  if (!isPlainObject(s)) return false;
  let n = 0;
  for (const k in s) {
    n++;
    if (k !== 'peripheral' && k !== 'kind' && k !== 'ts' && k !== 'health' && k !== 'metrics' && k !== 'counters' && k !== 'faults') return false;
  }
  // Every key present (no defaults to fill in), so zod's output equals the input.
  if (n !== 7) return false;
  if (!isId(s.peripheral) || !KINDS.has(s.kind as string) || !isEpochMs(s.ts) || !HEALTH.has(s.health as string)) return false;
  if (!metricsOk(s.metrics, false) || !metricsOk(s.counters, true)) return false;
  const f = s.faults;
  if (!Array.isArray(f) || f.length > 32) return false;
  for (let i = 0; i < f.length; i++) {
    const c = f[i];
    if (typeof c !== 'string' || c.length < 1 || c.length > 64 || !FAULT.test(c)) return false;
  }
  return true;
}

/** True when zod's telemetryMessage would accept `m` and return a value deep-equal to it. */
export function telemetryOk(m: unknown): m is TelemetryMessage {
  if (!isPlainObject(m)) return false;
  let n = 0;
  for (const k in m) {
    n++;
    if (k !== 'v' && k !== 'device' && k !== 'seq' && k !== 'ts' && k !== 'samples') return false;
  }
  if (n !== 5 || !envelopeOk(m)) return false;
  const samples = m.samples;
  if (!Array.isArray(samples) || samples.length < 1 || samples.length > 500) return false;
  for (let i = 0; i < samples.length; i++) if (!sampleOk(samples[i])) return false;
  return true;
}

/** True when zod's eventMessage would accept `m` and return a value deep-equal to it. */
export function eventOk(m: unknown): m is EventMessage {
  if (!isPlainObject(m)) return false;
  let severity = false;
  for (const k in m) {
    switch (k) {
      case 'v':
      case 'device':
      case 'seq':
      case 'ts':
      case 'type':
        break;
      case 'severity':
        if (!SEVERITIES.has(m.severity as string)) return false;
        severity = true;
        break;
      case 'peripheral':
        if (!isId(m.peripheral)) return false;
        break;
      case 'code':
        if (!isShortString(m.code, 64)) return false;
        break;
      case 'message':
        if (!isShortString(m.message, 1000)) return false;
        break;
      case 'data': {
        const d = m.data;
        if (!isPlainObject(d)) return false;
        for (const dk in d) {
          if (dk.length > 64 || !METRIC.test(dk)) return false;
          const v = d[dk];
          // zod's z.number() refuses ±Infinity (JSON.parse makes it from 1e999).
          if (!(typeof v === 'number' ? Number.isFinite(v) : typeof v === 'boolean' || isShortString(v, 200))) return false;
        }
        break;
      }
      default:
        return false; // zod would strip it: let zod build that output
    }
  }
  // severity has a default: without it zod's output differs from the input, so defer.
  return severity && envelopeOk(m) && EVENT_TYPES.has(m.type as string);
}

/**
 * decodeDeviceMessage with a fast path for telemetry and event. Same answers: the fast path
 * returns a result only for a message zod accepts unchanged; everything else goes to zod.
 */
export function decodeDeviceMessageFast(topic: string, payload: Uint8Array | string, maxBytes = MAX_PAYLOAD_BYTES): Decoded<DeviceMessage> {
  const t = parseTopicFast(topic);
  if (t && (t.channel === 'telemetry' || t.channel === 'event')) {
    const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
    if (size <= maxBytes) {
      // A Buffer decodes in place (decode.ts copies it first via Buffer.from).
      const text =
        typeof payload === 'string'
          ? payload
          : Buffer.isBuffer(payload)
            ? payload.toString('utf8')
            : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8');
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch {
        raw = undefined; // zod's path reports bad-json with its message
      }
      if (raw !== undefined) {
        if (t.channel === 'telemetry' ? telemetryOk(raw) : eventOk(raw)) {
          if ((raw as { device: string }).device === t.device) return { ok: true, value: { channel: t.channel, message: raw } as DeviceMessage };
        }
      }
    }
  }
  return decodeDeviceMessage(topic, payload, maxBytes);
}
