// Turning bytes from the wire into a validated message, with a specific reason when that fails.
// Used by the collector (device messages) and the agent (ack, cmd/req); never throws.
import { z } from 'zod';
import { CONTRACT_VERSION, ackMessage, commandRequest, deviceMessageSchemas, type AckMessage, type CommandRequest, type DeviceMessage } from './messages.js';
import { parseTopic } from './topics.js';

/** Why a message was refused; also the label of the collector's rejection counter. */
export const rejectReason = z.enum(['bad-topic', 'not-device-channel', 'too-large', 'bad-json', 'unknown-version', 'schema', 'device-mismatch']);
export type RejectReason = z.infer<typeof rejectReason>;

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: RejectReason; detail: string };

/** Default cap on one payload; the broker enforces its own (configurable) limit too. */
export const MAX_PAYLOAD_BYTES = 256 * 1024;

/** `path: message; path: message` — the form every validation error in fleetcare takes. */
export function formatZodError(err: z.ZodError): string {
  return err.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

function parseJson(payload: Uint8Array | string, maxBytes: number): Decoded<unknown> {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
  if (size > maxBytes) return { ok: false, reason: 'too-large', detail: `${size} bytes > ${maxBytes}` };
  const text = typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8');
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, reason: 'bad-json', detail: (e as Error).message };
  }
}

function checked<T>(schema: z.ZodType<T>, raw: unknown): Decoded<T> {
  if (raw && typeof raw === 'object' && 'v' in raw && (raw as { v: unknown }).v !== CONTRACT_VERSION) {
    return { ok: false, reason: 'unknown-version', detail: `v=${JSON.stringify((raw as { v: unknown }).v)}, expected ${CONTRACT_VERSION}` };
  }
  const r = schema.safeParse(raw);
  if (!r.success) return { ok: false, reason: 'schema', detail: formatZodError(r.error) };
  return { ok: true, value: r.data };
}

/** Decodes a device→server message and checks that its `device` field matches the topic. */
export function decodeDeviceMessage(topic: string, payload: Uint8Array | string, maxBytes = MAX_PAYLOAD_BYTES): Decoded<DeviceMessage> {
  const t = parseTopic(topic);
  if (!t) return { ok: false, reason: 'bad-topic', detail: topic };
  if (!Object.hasOwn(deviceMessageSchemas, t.channel)) return { ok: false, reason: 'not-device-channel', detail: t.channel };
  const json = parseJson(payload, maxBytes);
  if (!json.ok) return json;
  const channel = t.channel as keyof typeof deviceMessageSchemas;
  const msg = checked(deviceMessageSchemas[channel] as z.ZodType<DeviceMessage['message']>, json.value);
  if (!msg.ok) return msg;
  if (msg.value.device !== t.device) {
    return { ok: false, reason: 'device-mismatch', detail: `payload device ${msg.value.device} on topic of ${t.device}` };
  }
  return { ok: true, value: { channel, message: msg.value } as DeviceMessage };
}

export function decodeAck(payload: Uint8Array | string): Decoded<AckMessage> {
  const json = parseJson(payload, MAX_PAYLOAD_BYTES);
  return json.ok ? checked(ackMessage, json.value) : json;
}

export function decodeCommandRequest(payload: Uint8Array | string): Decoded<CommandRequest> {
  const json = parseJson(payload, MAX_PAYLOAD_BYTES);
  return json.ok ? checked(commandRequest, json.value) : json;
}

/** Merges sorted or unsorted seqs into inclusive ranges, for `ack`. */
export function seqRanges(seqs: Iterable<number>): Array<[number, number]> {
  const sorted = [...new Set(seqs)].sort((a, b) => a - b);
  const out: Array<[number, number]> = [];
  for (const s of sorted) {
    const last = out[out.length - 1];
    if (last && s === last[1] + 1) last[1] = s;
    else out.push([s, s]);
  }
  return out;
}
