// Serial magnetic-stripe reader: framing, messages and raw track parsing as pure functions.
//
// What follows a standard and what is a fleetcare convention:
// - Track layout (ISO/IEC 7811 / 7813 as commonly documented): track 1 starts with `%`, track 2
//   and 3 with `;`, all end with `?`, followed by one LRC character: the XOR of the data values
//   of every character from start to end sentinel (6-bit values, char − 0x20, on track 1; 4-bit
//   values, char − 0x30, on tracks 2 and 3). Track 1 characters are 0x20–0x5F, tracks 2/3 0x30–0x3F;
//   a character outside its set is how a parity error shows in ASCII output. Verified here only
//   against the character-set arithmetic, not against a vendor manual.
// - Statistic names: UnifiedPOS / JavaPOS `JposStatisticsConst` MSR and common statistics
//   (docs/hardware.md): GoodReadCount, FailedReadCount, UnreadableCardCount,
//   MissingStartSentinelTrackNCount, ParityLRCErrorTrackNCount, HoursPoweredCount,
//   CommunicationErrorCount; info ManufacturerName, ModelName, SerialNumber, FirmwareRevision.
// - fleetcare convention (no vendor protocol with a statistics command was available to follow):
//   frames are `STX payload ETX LRC` (LRC = XOR of payload and ETX), payload printable ASCII;
//   host → reader `I` (identity) and `S` (statistics); reader → host `I` + `Name=value;…`,
//   `S` + `Name=value;…` (plus `TamperState` 0/1 and `BatteryPct` where the reader has them),
//   and unsolicited `T` + raw track 1 FS track 2 FS track 3 (FS = 0x1C) for each swipe;
//   NAK (0x15) answers a frame with a bad LRC. A real reader model needs its own codec here.
// Card data is parsed only to classify the read; the driver never stores or logs it.
import { garbageRuns, type GarbageFrame } from '../garbage-runs.js';

export const STX = 0x02;
export const ETX = 0x03;
export const ACK = 0x06;
export const NAK = 0x15;
/** Separates the three tracks inside a `T` frame. */
export const FS = 0x1c;
export const MAX_FRAME_PAYLOAD = 512;

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

const isPayloadByte = (b: number) => (b >= 0x20 && b <= 0x7e) || b === FS;

export function frameLrc(payload: Uint8Array): number {
  let x = ETX;
  for (const b of payload) x ^= b;
  return x;
}

export function encodeFrame(payload: string | Uint8Array): Uint8Array {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
  if (body.length > MAX_FRAME_PAYLOAD) throw new RangeError(`frame payload too long (${body.length})`);
  for (const b of body) if (!isPayloadByte(b)) throw new RangeError(`frame payload byte 0x${b.toString(16)} is not printable ASCII or FS`);
  return Uint8Array.from([STX, ...body, ETX, frameLrc(body)]);
}

export type MsrFrame = { type: 'frame'; payload: string; bytes: Uint8Array } | { type: 'ack' } | { type: 'nak' };
export type MsrSplit = { frames: Array<MsrFrame | GarbageFrame>; rest: Uint8Array };

/**
 * Splits reader output into frames. An STX starts a frame; a byte that cannot be in a payload,
 * a frame too long or a bad LRC makes the STX garbage and scanning resumes at the next byte, so
 * noise and cut-off frames resynchronise on the next STX. An incomplete frame at the end is
 * returned as `rest` unless a new STX starts inside it (the earlier frame was cut off).
 */
export function splitMsrStream(buf: Uint8Array): MsrSplit {
  const frames: MsrSplit['frames'] = [];
  const garbage = garbageRuns(buf, frames);
  let i = 0;
  while (i < buf.length) {
    const b = buf[i];
    if (b === ACK || b === NAK) {
      garbage.flush(i);
      frames.push({ type: b === ACK ? 'ack' : 'nak' });
      i++;
      continue;
    }
    if (b === STX) {
      let j = i + 1;
      let outcome: 'complete' | 'incomplete' | 'broken' | 'restart' = 'incomplete';
      for (; j < buf.length; j++) {
        const c = buf[j];
        if (c === ETX) {
          outcome = j + 1 < buf.length ? 'complete' : 'incomplete';
          break;
        }
        if (c === STX) {
          outcome = 'restart';
          break;
        }
        if (!isPayloadByte(c) || j - i > MAX_FRAME_PAYLOAD) {
          outcome = 'broken';
          break;
        }
      }
      if (outcome === 'complete') {
        const payload = buf.slice(i + 1, j);
        if (buf[j + 1] === frameLrc(payload)) {
          garbage.flush(i);
          frames.push({ type: 'frame', payload: Buffer.from(payload).toString('latin1'), bytes: buf.slice(i, j + 2) });
          i = j + 2;
          continue;
        }
        garbage.mark(i);
        i++;
        continue;
      }
      if (outcome === 'incomplete') {
        return garbage.result(i);
      }
      garbage.mark(i);
      i = outcome === 'restart' ? j : i + 1;
      continue;
    }
    garbage.mark(i);
    i++;
  }
  return garbage.result();
}

// ---------------------------------------------------------------------------------------------
// Messages

export const requests = { identity: () => encodeFrame('I'), statistics: () => encodeFrame('S') };

/** `Name=value;Name=value` → record (names `[A-Za-z0-9]+`, values without `;`). */
export function parseFields(text: string): Decoded<Record<string, string>> {
  const out: Record<string, string> = {};
  if (text === '') return { ok: true, value: out };
  for (const part of text.split(';')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) return { ok: false, error: `field "${part.slice(0, 40)}" has no name=value` };
    const name = part.slice(0, eq);
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(name)) return { ok: false, error: `bad field name "${name.slice(0, 40)}"` };
    out[name] = part.slice(eq + 1);
  }
  return { ok: true, value: out };
}

export const formatFields = (fields: Record<string, string | number>) =>
  Object.entries(fields)
    .map(([k, v]) => `${k}=${v}`)
    .join(';');

/** UnifiedPOS MSR statistics (and the common ones) this protocol carries. */
export const msrStatisticNames = [
  'GoodReadCount',
  'FailedReadCount',
  'UnreadableCardCount',
  'MissingStartSentinelTrack1Count',
  'MissingStartSentinelTrack2Count',
  'MissingStartSentinelTrack3Count',
  'ParityLRCErrorTrack1Count',
  'ParityLRCErrorTrack2Count',
  'ParityLRCErrorTrack3Count',
  'HoursPoweredCount',
  'CommunicationErrorCount',
] as const;
export type MsrStatisticName = (typeof msrStatisticNames)[number];

export type MsrStatistics = Record<MsrStatisticName, number> & {
  /** fleetcare extension: 1 when the reader's tamper switch has tripped. */
  tamper?: boolean;
  /** fleetcare extension: battery charge in percent (cordless readers). */
  batteryPct?: number;
};

/** `S` reply payload (without the `S`) → statistics; every UnifiedPOS name is required. */
export function decodeStatistics(text: string): Decoded<MsrStatistics> {
  const f = parseFields(text);
  if (!f.ok) return f;
  const out: Partial<MsrStatistics> = {};
  for (const name of msrStatisticNames) {
    const v = f.value[name];
    if (v === undefined) return { ok: false, error: `statistics reply lacks ${name}` };
    if (!/^[0-9]{1,12}$/.test(v)) return { ok: false, error: `${name}="${v.slice(0, 20)}" is not a count` };
    out[name] = Number(v);
  }
  if (f.value.TamperState !== undefined) {
    if (f.value.TamperState !== '0' && f.value.TamperState !== '1')
      return { ok: false, error: `TamperState="${f.value.TamperState.slice(0, 10)}" is not 0 or 1` };
    out.tamper = f.value.TamperState === '1';
  }
  if (f.value.BatteryPct !== undefined) {
    const b = Number(f.value.BatteryPct);
    if (!/^[0-9]{1,3}$/.test(f.value.BatteryPct) || b > 100) return { ok: false, error: `BatteryPct="${f.value.BatteryPct.slice(0, 10)}" is not 0..100` };
    out.batteryPct = b;
  }
  return { ok: true, value: out as MsrStatistics };
}

export function encodeStatistics(s: MsrStatistics): string {
  const fields: Record<string, number> = {};
  for (const name of msrStatisticNames) fields[name] = Math.floor(s[name]);
  if (s.tamper !== undefined) fields.TamperState = s.tamper ? 1 : 0;
  if (s.batteryPct !== undefined) fields.BatteryPct = Math.round(s.batteryPct);
  return 'S' + formatFields(fields);
}

export type MsrIdentity = { manufacturer?: string; model?: string; serial?: string; firmware?: string };

export function decodeIdentity(text: string): Decoded<MsrIdentity> {
  const f = parseFields(text);
  if (!f.ok) return f;
  const v = f.value;
  const clean = (s: string | undefined) => (s?.trim() ? s.trim().slice(0, 80) : undefined);
  return {
    ok: true,
    value: { manufacturer: clean(v.ManufacturerName), model: clean(v.ModelName), serial: clean(v.SerialNumber), firmware: clean(v.FirmwareRevision) },
  };
}

export function encodeIdentity(id: MsrIdentity): string {
  const f: Record<string, string> = {};
  if (id.manufacturer) f.ManufacturerName = id.manufacturer;
  if (id.model) f.ModelName = id.model;
  if (id.serial) f.SerialNumber = id.serial;
  if (id.firmware) f.FirmwareRevision = id.firmware;
  return 'I' + formatFields(f);
}

// ---------------------------------------------------------------------------------------------
// Raw tracks

export type TrackNumber = 1 | 2 | 3;
type TrackSpec = { start: string; base: number; max: number; mask: number };
const TRACKS: Record<TrackNumber, TrackSpec> = {
  1: { start: '%', base: 0x20, max: 0x5f, mask: 0x3f },
  2: { start: ';', base: 0x30, max: 0x3f, mask: 0x0f },
  3: { start: ';', base: 0x30, max: 0x3f, mask: 0x0f },
};
const END = '?';

export type TrackStatus = 'ok' | 'empty' | 'missing-start-sentinel' | 'missing-end-sentinel' | 'parity-error' | 'lrc-error';

/** The LRC character of a track's characters from start sentinel to end sentinel inclusive. */
export function trackLrc(n: TrackNumber, framed: string): string {
  const t = TRACKS[n];
  let x = 0;
  for (const ch of framed) x ^= (ch.charCodeAt(0) - t.base) & t.mask;
  return String.fromCharCode(x + t.base);
}

/** `%B…?` / `;…?` + LRC for `data` (simulator side). */
export function encodeTrack(n: TrackNumber, data: string): string {
  const framed = TRACKS[n].start + data + END;
  return framed + trackLrc(n, framed);
}

/** Checks one raw track as read: sentinels, character set (parity proxy), LRC. */
export function checkTrack(n: TrackNumber, raw: string): TrackStatus {
  if (raw.length === 0) return 'empty';
  const t = TRACKS[n];
  if (raw[0] !== t.start) return 'missing-start-sentinel';
  const end = raw.indexOf(END, 1);
  if (end < 0) return 'missing-end-sentinel';
  for (let i = 0; i <= end; i++) {
    const c = raw.charCodeAt(i);
    if (c < t.base || c > t.max) return 'parity-error';
  }
  if (end + 1 >= raw.length) return 'lrc-error';
  const lrc = raw.charCodeAt(end + 1);
  if (lrc < t.base || lrc > t.max) return 'parity-error';
  return trackLrc(n, raw.slice(0, end + 1)) === raw[end + 1] ? 'ok' : 'lrc-error';
}

export type SwipeResult = {
  tracks: Record<TrackNumber, TrackStatus>;
  /** Track 1 or 2 decoded: what a POS needs to take the card. */
  good: boolean;
  /** Failed, and no track even began with its start sentinel (blank, demagnetised, not a card). */
  unreadable: boolean;
};

/** `T` payload (without the `T`): up to three FS-separated raw tracks → per-track status. */
export function classifySwipe(tracksText: string): SwipeResult {
  const parts = tracksText.split(String.fromCharCode(FS));
  const tracks = { 1: checkTrack(1, parts[0] ?? ''), 2: checkTrack(2, parts[1] ?? ''), 3: checkTrack(3, parts[2] ?? '') } as Record<TrackNumber, TrackStatus>;
  const good = tracks[1] === 'ok' || tracks[2] === 'ok';
  const started = ([1, 2, 3] as const).some((n) => tracks[n] !== 'empty' && tracks[n] !== 'missing-start-sentinel');
  return { tracks, good, unreadable: !good && !started };
}

/** Adds one swipe to UnifiedPOS statistics (the reader and the agent count the same way). */
export function countSwipe(s: MsrStatistics, r: SwipeResult): void {
  if (r.good) s.GoodReadCount++;
  else s.FailedReadCount++;
  if (r.unreadable) s.UnreadableCardCount++;
  for (const n of [1, 2, 3] as const) {
    const st = r.tracks[n];
    if (st === 'missing-start-sentinel') s[`MissingStartSentinelTrack${n}Count`]++;
    if (st === 'lrc-error' || st === 'parity-error') s[`ParityLRCErrorTrack${n}Count`]++;
  }
}

export const emptyStatistics = (): MsrStatistics => Object.fromEntries(msrStatisticNames.map((n) => [n, 0])) as unknown as MsrStatistics;
