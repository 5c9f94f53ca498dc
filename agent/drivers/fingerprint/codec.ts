// R30x / R50x / ZFM fingerprint-module packets as pure functions: builders, a checksum-verified
// stream splitter that resynchronises after noise and truncated packets, the confirmation-code
// table and reply decoders. Byte facts: docs/hardware.md and the Grow R503 user manual
// v1.4.1 (2023-09): packet format p. 8, ReadSysPara p. 13, TempleteNum p. 13–14, ReadProdInfo
// p. 16, GetImg p. 17, HandShake/CheckSensor p. 26. Nothing here does I/O.
import { garbageRuns, type GarbageFrame } from '../garbage-runs.js';

export const START_CODE = 0xef01;
export const DEFAULT_ADDRESS = 0xffffffff;
/** The module sends this single byte after power-on or a soft reset ("ready"). */
export const READY_BYTE = 0x55;

export const pid = { command: 0x01, data: 0x02, ack: 0x07, endOfData: 0x08 } as const;
export type Pid = (typeof pid)[keyof typeof pid];
const PIDS = new Set<number>(Object.values(pid));

export const instruction = {
  genImg: 0x01,
  img2Tz: 0x02,
  match: 0x03,
  search: 0x04,
  regModel: 0x05,
  store: 0x06,
  upChar: 0x08,
  downChar: 0x09,
  upImage: 0x0a,
  downImage: 0x0b,
  deleteChar: 0x0c,
  empty: 0x0d,
  readSysPara: 0x0f,
  vfyPwd: 0x13,
  hiSpeedSearch: 0x1b,
  templateNum: 0x1d,
  readIndexTable: 0x1f,
  getImageEx: 0x28,
  auraLed: 0x35,
  checkSensor: 0x36,
  readProdInfo: 0x3c,
  softReset: 0x3d,
  handShake: 0x40,
} as const;
export type InstructionName = keyof typeof instruction;
const INSTRUCTION_NAMES = new Map<number, InstructionName>(Object.entries(instruction).map(([k, v]) => [v, k as InstructionName]));
export const instructionName = (code: number): string => INSTRUCTION_NAMES.get(code) ?? `0x${code.toString(16).padStart(2, '0')}`;

/** Confirmation codes (first payload byte of an ack). */
export const confirmationCodes: Readonly<Record<number, string>> = {
  0x00: 'ok',
  0x01: 'receive-error',
  0x02: 'no-finger',
  0x03: 'image-fail',
  0x06: 'image-too-disordered',
  0x07: 'too-few-features',
  0x08: 'no-match',
  0x09: 'not-found',
  0x0a: 'enroll-mismatch',
  0x0b: 'bad-location',
  0x0c: 'db-read-fail',
  0x0d: 'upload-feature-fail',
  0x0e: 'packet-response-fail',
  0x0f: 'upload-fail',
  0x10: 'delete-fail',
  0x11: 'clear-fail',
  0x13: 'wrong-password',
  0x15: 'invalid-image',
  0x18: 'flash-error',
  0x1a: 'invalid-register',
  0x1f: 'library-full',
  0x26: 'timeout',
  0x29: 'sensor-abnormal',
};
export const confirmationName = (code: number): string => confirmationCodes[code] ?? `unknown-0x${code.toString(16).padStart(2, '0')}`;

/** Codes that say the captured image was bad (quality proxy, docs/hardware.md, fingerprint "Health"). */
export const IMAGE_QUALITY_CODES: ReadonlySet<number> = new Set([0x03, 0x06, 0x07, 0x15]);

export type Packet = { address: number; pid: Pid; payload: Uint8Array };
export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

const hex = (b: number) => `0x${b.toString(16).padStart(2, '0')}`;

/** 16-bit sum of PID, both length bytes and the payload. */
export function checksum(pidByte: number, length: number, payload: Uint8Array): number {
  let s = pidByte + ((length >> 8) & 0xff) + (length & 0xff);
  for (const b of payload) s += b;
  return s & 0xffff;
}

export function encodePacket(p: { address?: number; pid: Pid; payload: Uint8Array | readonly number[] }): Uint8Array {
  const payload = Uint8Array.from(p.payload);
  const address = p.address ?? DEFAULT_ADDRESS;
  if (!Number.isInteger(address) || address < 0 || address > 0xffffffff) throw new RangeError(`address must be a u32, got ${address}`);
  if (!PIDS.has(p.pid)) throw new RangeError(`unknown packet identifier ${p.pid}`);
  if (payload.length > MAX_PAYLOAD) throw new RangeError(`payload too long (${payload.length} > ${MAX_PAYLOAD})`);
  const length = payload.length + 2;
  const sum = checksum(p.pid, length, payload);
  const out = new Uint8Array(9 + payload.length + 2);
  out[0] = 0xef;
  out[1] = 0x01;
  out[2] = (address >>> 24) & 0xff;
  out[3] = (address >>> 16) & 0xff;
  out[4] = (address >>> 8) & 0xff;
  out[5] = address & 0xff;
  out[6] = p.pid;
  out[7] = (length >> 8) & 0xff;
  out[8] = length & 0xff;
  out.set(payload, 9);
  out[9 + payload.length] = (sum >> 8) & 0xff;
  out[10 + payload.length] = sum & 0xff;
  return out;
}

/** A command packet: instruction code then parameters. */
export function command(code: number, params: readonly number[] = [], address = DEFAULT_ADDRESS): Uint8Array {
  for (const b of params) if (!Number.isInteger(b) || b < 0 || b > 255) throw new RangeError(`parameter byte out of range: ${b}`);
  return encodePacket({ address, pid: pid.command, payload: [code, ...params] });
}

const u32 = (v: number) => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];

export const commands = {
  genImg: (a?: number) => command(instruction.genImg, [], a),
  img2Tz: (buffer: number, a?: number) => command(instruction.img2Tz, [buffer], a),
  search: (buffer: number, start: number, count: number, a?: number) =>
    command(instruction.search, [buffer, (start >> 8) & 0xff, start & 0xff, (count >> 8) & 0xff, count & 0xff], a),
  templateNum: (a?: number) => command(instruction.templateNum, [], a),
  readSysPara: (a?: number) => command(instruction.readSysPara, [], a),
  vfyPwd: (password: number, a?: number) => command(instruction.vfyPwd, u32(password >>> 0), a),
  handShake: (a?: number) => command(instruction.handShake, [], a),
  checkSensor: (a?: number) => command(instruction.checkSensor, [], a),
  readProdInfo: (a?: number) => command(instruction.readProdInfo, [], a),
};

/** An ack packet (module side). */
export function ack(code: number, data: readonly number[] | Uint8Array = [], address = DEFAULT_ADDRESS): Uint8Array {
  return encodePacket({ address, pid: pid.ack, payload: [code, ...data] });
}

// ---------------------------------------------------------------------------------------------
// Stream splitter

/** Longest payload accepted: 256-byte data packets plus room for an instruction/code byte. */
export const MAX_PAYLOAD = 288;

export type FingerprintFrame = { type: 'packet'; packet: Packet; bytes: Uint8Array } | { type: 'ready' };
export type FingerprintSplit = { frames: Array<FingerprintFrame | GarbageFrame>; rest: Uint8Array };

type Attempt = { kind: 'ok'; end: number; packet: Packet } | { kind: 'incomplete' } | { kind: 'bad' };

function tryPacket(buf: Uint8Array, i: number): Attempt {
  const have = buf.length - i;
  if (have < 2) return { kind: 'incomplete' };
  if (buf[i + 1] !== 0x01) return { kind: 'bad' };
  if (have < 9) return { kind: PIDS.has(buf[i + 6] ?? pid.ack) ? 'incomplete' : 'bad' };
  const p = buf[i + 6];
  if (!PIDS.has(p)) return { kind: 'bad' };
  const length = (buf[i + 7] << 8) | buf[i + 8];
  if (length < 3 || length - 2 > MAX_PAYLOAD) return { kind: 'bad' };
  const end = i + 9 + length;
  if (buf.length < end) return { kind: 'incomplete' };
  const payload = buf.slice(i + 9, end - 2);
  const sum = (buf[end - 2] << 8) | buf[end - 1];
  if (sum !== checksum(p, length, payload)) return { kind: 'bad' };
  const address = ((buf[i + 2] << 24) | (buf[i + 3] << 16) | (buf[i + 4] << 8) | buf[i + 5]) >>> 0;
  return { kind: 'ok', end, packet: { address, pid: p as Pid, payload } };
}

/** Whether a complete, valid packet starts somewhere after `from` (a truncated packet is then garbage). */
function validPacketAfter(buf: Uint8Array, from: number): number {
  for (let j = from; j < buf.length - 1; j++) if (buf[j] === 0xef && tryPacket(buf, j).kind === 'ok') return j;
  return -1;
}

/**
 * Splits module output into packets. Scans for `EF 01`, checks PID, length and checksum; a header
 * whose packet fails any check is one garbage byte and scanning resumes at the next byte, so noise
 * and cut-off packets resynchronise on the next real header. An incomplete packet at the end is
 * returned as `rest` unless a complete valid packet starts inside it, in which case the truncated
 * one is garbage. A lone `0x55` outside a packet is the module's ready byte.
 */
export function splitFingerprintStream(buf: Uint8Array): FingerprintSplit {
  const frames: FingerprintSplit['frames'] = [];
  const garbage = garbageRuns(buf, frames);
  let i = 0;
  while (i < buf.length) {
    const b = buf[i];
    if (b === 0xef) {
      const t = tryPacket(buf, i);
      if (t.kind === 'ok') {
        garbage.flush(i);
        frames.push({ type: 'packet', packet: t.packet, bytes: buf.slice(i, t.end) });
        i = t.end;
        continue;
      }
      if (t.kind === 'incomplete') {
        const next = validPacketAfter(buf, i + 1);
        if (next < 0) {
          return garbage.result(i);
        }
        garbage.mark(i);
        i = next;
        continue;
      }
    } else if (b === READY_BYTE) {
      garbage.flush(i);
      frames.push({ type: 'ready' });
      i++;
      continue;
    }
    garbage.mark(i);
    i++;
  }
  return garbage.result();
}

// ---------------------------------------------------------------------------------------------
// Reply decoders

export type Ack = { code: number; data: Uint8Array };

export function decodeAck(p: Packet): Decoded<Ack> {
  if (p.pid !== pid.ack) return { ok: false, error: `expected an ack packet (0x07), got PID ${hex(p.pid)}` };
  if (p.payload.length < 1) return { ok: false, error: 'ack without a confirmation code' };
  return { ok: true, value: { code: p.payload[0], data: p.payload.slice(1) } };
}

export const packetSizes = [32, 64, 128, 256] as const;

export type SystemParameters = {
  statusRegister: number;
  systemId: number;
  capacity: number;
  securityLevel: number;
  address: number;
  /** Data packet size in bytes (from code 0–3). */
  packetSize: number;
  baudRate: number;
};

const be16 = (d: Uint8Array, o: number) => (d[o] << 8) | d[o + 1];
const be32 = (d: Uint8Array, o: number) => ((d[o] << 24) | (d[o + 1] << 16) | (d[o + 2] << 8) | d[o + 3]) >>> 0;

/** ReadSysPara data (16 bytes after the confirmation code). */
export function decodeSystemParameters(data: Uint8Array): Decoded<SystemParameters> {
  if (data.length < 16) return { ok: false, error: `ReadSysPara data is 16 bytes, got ${data.length}` };
  const sizeCode = be16(data, 12);
  if (sizeCode > 3) return { ok: false, error: `packet size code ${sizeCode} is not 0..3` };
  const baudN = be16(data, 14);
  if (baudN < 1 || baudN > 12) return { ok: false, error: `baud multiplier ${baudN} is not 1..12` };
  return {
    ok: true,
    value: {
      statusRegister: be16(data, 0),
      systemId: be16(data, 2),
      capacity: be16(data, 4),
      securityLevel: be16(data, 6),
      address: be32(data, 8),
      packetSize: packetSizes[sizeCode],
      baudRate: baudN * 9600,
    },
  };
}

export function encodeSystemParameters(s: SystemParameters): Uint8Array {
  const code = packetSizes.indexOf(s.packetSize as (typeof packetSizes)[number]);
  if (code < 0) throw new RangeError(`packet size must be one of ${packetSizes.join(', ')}`);
  const w = (v: number) => [(v >> 8) & 0xff, v & 0xff];
  return Uint8Array.from([
    ...w(s.statusRegister),
    ...w(s.systemId),
    ...w(s.capacity),
    ...w(s.securityLevel),
    ...u32(s.address),
    ...w(code),
    ...w(Math.round(s.baudRate / 9600)),
  ]);
}

/** TempleteNum data: u16 template count. */
export function decodeTemplateCount(data: Uint8Array): Decoded<number> {
  if (data.length < 2) return { ok: false, error: `TempleteNum data is 2 bytes, got ${data.length}` };
  return { ok: true, value: be16(data, 0) };
}

export type ProductInfo = {
  moduleModel: string;
  batch: string;
  serial: string;
  hardwareVersion: string;
  sensorModel: string;
  imageWidth: number;
  imageHeight: number;
  templateSize: number;
  capacity: number;
};

const PROD_INFO_BYTES = 46;
const ascii = (d: Uint8Array, o: number, n: number) =>
  Buffer.from(d.subarray(o, o + n))
    .toString('latin1')
    .replace(/\0+$/, '')
    .replace(/[^\x20-\x7e]/g, '')
    .trim();

/** ReadProdInfo data (R503 manual p. 16): strings NUL-padded, numbers big-endian. */
export function decodeProductInfo(data: Uint8Array): Decoded<ProductInfo> {
  if (data.length < PROD_INFO_BYTES) return { ok: false, error: `ReadProdInfo data is ${PROD_INFO_BYTES} bytes, got ${data.length}` };
  return {
    ok: true,
    value: {
      moduleModel: ascii(data, 0, 16),
      batch: ascii(data, 16, 4),
      serial: ascii(data, 20, 8),
      hardwareVersion: `${data[28]}.${data[29]}`,
      sensorModel: ascii(data, 30, 8),
      imageWidth: be16(data, 38),
      imageHeight: be16(data, 40),
      templateSize: be16(data, 42),
      capacity: be16(data, 44),
    },
  };
}

export function encodeProductInfo(p: ProductInfo): Uint8Array {
  const out = new Uint8Array(PROD_INFO_BYTES);
  const put = (s: string, o: number, n: number) => out.set(Buffer.from(s.slice(0, n), 'latin1'), o);
  put(p.moduleModel, 0, 16);
  put(p.batch, 16, 4);
  put(p.serial, 20, 8);
  const [maj, min] = p.hardwareVersion.split('.').map((x) => Number(x) & 0xff);
  out[28] = maj ?? 0;
  out[29] = min ?? 0;
  put(p.sensorModel, 30, 8);
  const w = (v: number, o: number) => {
    out[o] = (v >> 8) & 0xff;
    out[o + 1] = v & 0xff;
  };
  w(p.imageWidth, 38);
  w(p.imageHeight, 40);
  w(p.templateSize, 42);
  w(p.capacity, 44);
  return out;
}
