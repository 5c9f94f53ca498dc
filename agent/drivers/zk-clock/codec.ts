// ZKTeco-style attendance-clock protocol (TCP 4370) as pure functions: packet builder, pyzk's
// checksum, a stream splitter that finds frames by their `50 50 82 7D` prefix (and so
// resynchronises after noise), and decoders for the replies the driver reads. Facts from
// docs/hardware.md (pyzk `zk/const.py`, `zk/base.py`); nothing here does I/O, so the
// driver, the simulator and the tests share one reading of the bytes.

/** TCP prefix `<HHI`: 0x5050, 0x7D82, payload length → wire `50 50 82 7D` + u32 LE. */
export const TCP_MAGIC = Uint8Array.of(0x50, 0x50, 0x82, 0x7d);
export const TCP_PREFIX_LENGTH = 8;
export const HEADER_LENGTH = 8;
export const USHRT_MAX = 65535;

export const zkCommand = {
  CMD_CONNECT: 1000,
  CMD_EXIT: 1001,
  CMD_ENABLEDEVICE: 1002,
  CMD_DISABLEDEVICE: 1003,
  CMD_GET_VERSION: 1100,
  CMD_GET_FREE_SIZES: 50,
  CMD_OPTIONS_RRQ: 11,
  /** Comm-key answer to CMD_ACK_UNAUTH (pyzk `connect`). */
  CMD_AUTH: 1102,
  CMD_GET_TIME: 201,
  CMD_SET_TIME: 202,
  CMD_ACK_OK: 2000,
  CMD_ACK_ERROR: 2001,
  CMD_ACK_UNAUTH: 2005,
} as const;

/** Option names read with CMD_OPTIONS_RRQ (`~SerialNumber\0` → `~SerialNumber=…\0`). */
export const zkOptions = {
  serialNumber: '~SerialNumber',
  platform: '~Platform',
  deviceName: '~DeviceName',
  fingerprintVersion: '~ZKFPVersion',
} as const;
export type ZkOptionName = keyof typeof zkOptions;

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

/**
 * pyzk's `__create_checksum` (from zkemsdk.c): sum of little-endian 16-bit words, folded by
 * subtracting 65535 (not 65536) whenever it exceeds 65535, an odd last byte added as is, then
 * one's complement brought back into range by adding 65535. Reproduced exactly, quirks included.
 */
export function zkChecksum(bytes: Uint8Array): number {
  let sum = 0;
  let i = 0;
  for (; i + 1 < bytes.length; i += 2) {
    sum += bytes[i] | (bytes[i + 1] << 8);
    if (sum > USHRT_MAX) sum -= USHRT_MAX;
  }
  if (i < bytes.length) sum += bytes[bytes.length - 1];
  while (sum > USHRT_MAX) sum -= USHRT_MAX;
  sum = ~sum;
  while (sum < 0) sum += USHRT_MAX;
  return sum & 0xffff;
}

export type ZkPacket = { command: number; checksum: number; sessionId: number; replyId: number; data: Uint8Array };

const u16 = (n: number, what: string) => {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new RangeError(`${what} must be 0..65535, got ${n}`);
  return n;
};

/**
 * One packet as pyzk's `__create_header` + `__create_tcp_top` build it: the checksum is computed
 * over the header with checksum 0 and the caller's reply id, and the packet then carries reply
 * id + 1 (wrapping at 65535). Returns the wire bytes and the reply id the packet carries (the
 * device answers with it).
 */
export function encodeRequest(command: number, data: Uint8Array, sessionId: number, replyId: number): { bytes: Uint8Array; replyId: number } {
  u16(command, 'command');
  u16(sessionId, 'session id');
  u16(replyId, 'reply id');
  const body = new Uint8Array(HEADER_LENGTH + data.length);
  const dv = new DataView(body.buffer);
  dv.setUint16(0, command, true);
  dv.setUint16(2, 0, true);
  dv.setUint16(4, sessionId, true);
  dv.setUint16(6, replyId, true);
  body.set(data, HEADER_LENGTH);
  const checksum = zkChecksum(body);
  let next = replyId + 1;
  if (next >= USHRT_MAX) next -= USHRT_MAX;
  dv.setUint16(2, checksum, true);
  dv.setUint16(6, next, true);
  return { bytes: withTcpPrefix(body), replyId: next };
}

/**
 * A reply packet (simulator side): header with the checksum computed over the packet as sent
 * (checksum field 0), carrying the request's reply id unchanged.
 */
export function encodeReply(command: number, data: Uint8Array, sessionId: number, replyId: number): Uint8Array {
  const body = new Uint8Array(HEADER_LENGTH + data.length);
  const dv = new DataView(body.buffer);
  dv.setUint16(0, u16(command, 'command'), true);
  dv.setUint16(4, u16(sessionId, 'session id'), true);
  dv.setUint16(6, u16(replyId, 'reply id'), true);
  body.set(data, HEADER_LENGTH);
  dv.setUint16(2, zkChecksum(body), true);
  return withTcpPrefix(body);
}

function withTcpPrefix(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(TCP_PREFIX_LENGTH + body.length);
  out.set(TCP_MAGIC, 0);
  new DataView(out.buffer).setUint32(4, body.length, true);
  out.set(body, TCP_PREFIX_LENGTH);
  return out;
}

/** Header + data of one TCP payload (without the 8-byte prefix). */
export function decodePacket(body: Uint8Array): Decoded<ZkPacket & { checksumOk: boolean }> {
  if (body.length < HEADER_LENGTH) return { ok: false, error: `packet is ${body.length} bytes, header needs ${HEADER_LENGTH}` };
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const command = dv.getUint16(0, true);
  const checksum = dv.getUint16(2, true);
  const zeroed = body.slice();
  zeroed[2] = 0;
  zeroed[3] = 0;
  return {
    ok: true,
    value: {
      command,
      checksum,
      sessionId: dv.getUint16(4, true),
      replyId: dv.getUint16(6, true),
      data: body.slice(HEADER_LENGTH),
      checksumOk: zkChecksum(zeroed) === checksum,
    },
  };
}

export type ZkFrame = { type: 'packet'; body: Uint8Array } | { type: 'garbage'; bytes: Uint8Array };

export type ZkSplitResult = { frames: ZkFrame[]; rest: Uint8Array };

/** Largest payload accepted; a bigger length field is taken as noise (free sizes and options are < 1 KiB). */
export const MAX_PAYLOAD = 64 * 1024;

/**
 * Splits a TCP byte stream into packets. A frame starts at `50 50 82 7D`; its length field must
 * be HEADER_LENGTH..maxPayload, else the magic is noise. Bytes before a magic are garbage; an
 * incomplete frame (or a partial magic at the end) is returned as `rest`.
 */
export function splitZkStream(buf: Uint8Array, maxPayload = MAX_PAYLOAD): ZkSplitResult {
  const frames: ZkFrame[] = [];
  let i = 0;
  let garbageFrom = -1;
  const flush = (end: number) => {
    if (garbageFrom >= 0 && end > garbageFrom) frames.push({ type: 'garbage', bytes: buf.slice(garbageFrom, end) });
    garbageFrom = -1;
  };
  while (i < buf.length) {
    // Longest prefix of the magic present at i.
    let m = 0;
    while (m < 4 && i + m < buf.length && buf[i + m] === TCP_MAGIC[m]) m++;
    if (m < 4 && i + m < buf.length) {
      if (garbageFrom < 0) garbageFrom = i;
      i++;
      continue;
    }
    if (m < 4 || buf.length - i < TCP_PREFIX_LENGTH) {
      flush(i);
      return { frames, rest: buf.slice(i) };
    }
    const len = new DataView(buf.buffer, buf.byteOffset + i + 4, 4).getUint32(0, true);
    if (len < HEADER_LENGTH || len > maxPayload) {
      if (garbageFrom < 0) garbageFrom = i;
      i++;
      continue;
    }
    if (buf.length - i < TCP_PREFIX_LENGTH + len) {
      flush(i);
      return { frames, rest: buf.slice(i) };
    }
    flush(i);
    frames.push({ type: 'packet', body: buf.slice(i + TCP_PREFIX_LENGTH, i + TCP_PREFIX_LENGTH + len) });
    i += TCP_PREFIX_LENGTH + len;
  }
  flush(buf.length);
  return { frames, rest: new Uint8Array(0) };
}

// ---------------------------------------------------------------------------------------------
// Request payloads and reply decoders

/** `~SerialNumber\0` etc. */
export function optionRequest(name: ZkOptionName): Uint8Array {
  return Buffer.from(`${zkOptions[name]}\0`, 'latin1');
}

const cString = (bytes: Uint8Array) => {
  const end = bytes.indexOf(0);
  return Buffer.from(end >= 0 ? bytes.subarray(0, end) : bytes).toString('latin1');
};

/** `~SerialNumber=ABC123\0` → `ABC123` (pyzk: text after the first `=`, up to NUL). */
export function decodeOptionReply(data: Uint8Array, name?: ZkOptionName): Decoded<string> {
  const text = cString(data);
  const eq = text.indexOf('=');
  if (eq < 0) return { ok: false, error: `option reply "${text.slice(0, 40)}" has no "="` };
  if (name && text.slice(0, eq) !== zkOptions[name]) return { ok: false, error: `option reply is for "${text.slice(0, eq)}", expected "${zkOptions[name]}"` };
  const value = text.slice(eq + 1).trim();
  if (!/^[\x20-\x7e]*$/.test(value)) return { ok: false, error: 'option value is not printable ASCII' };
  return { ok: true, value };
}

/** `Name=Value\0` (simulator side). */
export function encodeOptionReply(name: ZkOptionName, value: string): Uint8Array {
  return Buffer.from(`${zkOptions[name]}=${value}\0`, 'latin1');
}

/** CMD_GET_VERSION reply data: a NUL-terminated firmware string, e.g. `Ver 6.60 Apr 28 2017`. */
export function decodeVersionReply(data: Uint8Array): Decoded<string> {
  const text = cString(data).trim();
  if (!text) return { ok: false, error: 'empty firmware version' };
  if (!/^[\x20-\x7e]+$/.test(text)) return { ok: false, error: 'firmware version is not printable ASCII' };
  return { ok: true, value: text };
}

export type ZkFreeSizes = {
  users: number;
  fingers: number;
  records: number;
  cards: number;
  fingerCapacity: number;
  userCapacity: number;
  recordCapacity: number;
  fingersAvailable: number;
  usersAvailable: number;
  recordsAvailable: number;
};

/** Index of each field among the first 20 little-endian int32 of a CMD_GET_FREE_SIZES reply. */
export const freeSizesLayout: Record<keyof ZkFreeSizes, number> = {
  users: 4,
  fingers: 6,
  records: 8,
  cards: 12,
  fingerCapacity: 14,
  userCapacity: 15,
  recordCapacity: 16,
  fingersAvailable: 17,
  usersAvailable: 18,
  recordsAvailable: 19,
};

export const FREE_SIZES_LENGTH = 80;

export function decodeFreeSizes(data: Uint8Array): Decoded<ZkFreeSizes> {
  if (data.length < FREE_SIZES_LENGTH) return { ok: false, error: `free sizes reply is ${data.length} bytes, need ${FREE_SIZES_LENGTH}` };
  const dv = new DataView(data.buffer, data.byteOffset, FREE_SIZES_LENGTH);
  const out = {} as ZkFreeSizes;
  for (const [k, idx] of Object.entries(freeSizesLayout) as Array<[keyof ZkFreeSizes, number]>) {
    const v = dv.getInt32(idx * 4, true);
    if (v < 0) return { ok: false, error: `free sizes field ${k} is negative (${v})` };
    out[k] = v;
  }
  return { ok: true, value: out };
}

export function encodeFreeSizes(s: ZkFreeSizes): Uint8Array {
  const out = new Uint8Array(FREE_SIZES_LENGTH);
  const dv = new DataView(out.buffer);
  for (const [k, idx] of Object.entries(freeSizesLayout) as Array<[keyof ZkFreeSizes, number]>) dv.setInt32(idx * 4, s[k], true);
  return out;
}

/** Share of a store used, in percent with two decimals; 0 when the capacity is unknown (0). */
export function usedPct(used: number, capacity: number): number {
  if (!(capacity > 0)) return 0;
  return Math.round((used / capacity) * 10_000) / 100;
}

export const zkFaultCodes = ['log-memory-full', 'log-memory-near-full', 'user-storage-near-full', 'fingerprint-storage-near-full', 'clock-drift'] as const;
export type ZkFaultCode = (typeof zkFaultCodes)[number];

/**
 * Faults from the store counts. A full record store is critical: the clock stops logging
 * attendance (records available 0, or records at capacity). One problem, one code: `near-full`
 * is dropped once the store is full.
 */
export function faultsFromFreeSizes(s: ZkFreeSizes, warnPct: number): ZkFaultCode[] {
  const out: ZkFaultCode[] = [];
  const recPct = usedPct(s.records, s.recordCapacity);
  if (s.recordCapacity > 0 && (s.recordsAvailable === 0 || s.records >= s.recordCapacity)) out.push('log-memory-full');
  else if (recPct >= warnPct) out.push('log-memory-near-full');
  if (usedPct(s.users, s.userCapacity) >= warnPct) out.push('user-storage-near-full');
  if (usedPct(s.fingers, s.fingerCapacity) >= warnPct) out.push('fingerprint-storage-near-full');
  return out;
}

/** The profile's clock-offset limits (seconds): raise above `warningSec`, clear within `clearSec`. */
export type ClockOffsetLimits = { warningSec: number; clearSec: number };

/**
 * Whether the clock's time is a `clock-drift` fault now, with hysteresis: raised once |offset|
 * exceeds the warning, cleared only once it is back within the (much smaller) clear limit, so a
 * clock hovering at the limit is one fault, not a flapping one. No reading (the firmware refused
 * CMD_GET_TIME) changes nothing.
 */
export function clockDrifting(offsetSec: number | null, wasDrifting: boolean, limits: ClockOffsetLimits): boolean {
  if (offsetSec === null) return wasDrifting;
  const off = Math.abs(offsetSec);
  if (off > limits.warningSec) return true;
  if (off <= limits.clearSec) return false;
  return wasDrifting;
}

// ---------------------------------------------------------------------------------------------
// Comm key (CMD_AUTH) and the clock's own time (CMD_GET_TIME / CMD_SET_TIME)

/** Largest comm key a clock's menu accepts (six digits); pyzk packs it as u32. */
export const MAX_COMM_KEY = 999_999;

/**
 * The 4-byte CMD_AUTH payload for a comm key, as pyzk's `make_commkey` (from the SDK's
 * commpro.c `MakeKey`): the key's 32 bits reversed, plus the session id; its little-endian bytes
 * XORed with "ZKSO"; the two 16-bit halves swapped; bytes 0, 1 and 3 XORed with `ticks` and byte
 * 2 replaced by it (pyzk sends ticks = 50).
 */
export function makeCommKey(key: number, sessionId: number, ticks = 50): Uint8Array {
  if (!Number.isInteger(key) || key < 0 || key > 0xffffffff) throw new RangeError(`comm key must be a whole number 0..4294967295`);
  u16(sessionId, 'session id');
  let reversed = 0;
  for (let i = 0; i < 32; i++) reversed = ((reversed << 1) | ((key >>> i) & 1)) >>> 0;
  const k = (reversed + sessionId) >>> 0;
  const b = [k & 0xff, (k >>> 8) & 0xff, (k >>> 16) & 0xff, (k >>> 24) & 0xff];
  const x = [b[0] ^ 0x5a /* Z */, b[1] ^ 0x4b /* K */, b[2] ^ 0x53 /* S */, b[3] ^ 0x4f /* O */];
  const swapped = [x[2], x[3], x[0], x[1]];
  const t = ticks & 0xff;
  return Uint8Array.of(swapped[0] ^ t, swapped[1] ^ t, t, swapped[3] ^ t);
}

/** Wall-clock fields of the clock's time (it keeps local time, no zone). */
export type ZkClockTime = { year: number; month: number; day: number; hour: number; minute: number; second: number };

/**
 * pyzk `__encode_time` (zkemsdk.c EncodeTime): seconds in a calendar of 12 months of 31 days
 * from 2000-01-01, `((yy*12*31 + (month-1)*31 + day-1) * 86400 + (h*60+m)*60 + s)`, sent as u32 LE.
 */
export function encodeZkTime(t: ZkClockTime): Uint8Array {
  if (t.year < 2000 || t.year > 2099) throw new RangeError(`clock year must be 2000..2099, got ${t.year}`);
  const v = ((t.year % 100) * 12 * 31 + (t.month - 1) * 31 + t.day - 1) * 86_400 + (t.hour * 60 + t.minute) * 60 + t.second;
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, v, true);
  return out;
}

/** pyzk `__decode_time` (zkemsdk.c DecodeTime); rejects fields no calendar has (e.g. 31 February). */
export function decodeZkTime(data: Uint8Array): Decoded<ZkClockTime> {
  if (data.length < 4) return { ok: false, error: `time reply is ${data.length} bytes, need 4` };
  let v = new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true);
  const second = v % 60;
  v = Math.floor(v / 60);
  const minute = v % 60;
  v = Math.floor(v / 60);
  const hour = v % 24;
  v = Math.floor(v / 24);
  const day = (v % 31) + 1;
  v = Math.floor(v / 31);
  const month = (v % 12) + 1;
  v = Math.floor(v / 12);
  const year = v + 2000;
  const t = { year, month, day, hour, minute, second };
  const check = new Date(Date.UTC(year, month - 1, day));
  if (check.getUTCMonth() !== month - 1) return { ok: false, error: `clock time ${year}-${month}-${day} is not a calendar date` };
  return { ok: true, value: t };
}

/** The wall-clock fields as if they were UTC, in ms (to compare two wall clocks). */
export function zkTimeToWallMs(t: ZkClockTime): number {
  return Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute, t.second);
}

/** Local wall-clock fields of an instant (the time a clock set from this host shows). */
export function localZkTime(ms: number): ZkClockTime {
  const d = new Date(ms);
  return { year: d.getFullYear(), month: d.getMonth() + 1, day: d.getDate(), hour: d.getHours(), minute: d.getMinutes(), second: d.getSeconds() };
}

/** This host's local wall time at `ms` as if it were UTC (same scale as zkTimeToWallMs). */
export function localWallMs(ms: number): number {
  return ms - new Date(ms).getTimezoneOffset() * 60_000;
}
