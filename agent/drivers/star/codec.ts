// Star printers in Star's own command mode (not ESC/POS): the Automatic Status Back frame, whose
// first byte encodes its length, and the version reply, as pure functions. Bit meanings of bytes
// 3 and 4 from docs/hardware.md; byte 6 (paper) and the fixed bits from a public Star ASB parser —
// see the source notes in firmware-profiles/models/star-tsp143.json.
import { garbageRuns, type GarbageFrame } from '../garbage-runs.js';

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

/** `ESC ACK SOH`: real-time status request; the printer answers with one ASB frame. */
export const STAR_STATUS_REQUEST = Uint8Array.of(0x1b, 0x06, 0x01);
/** `ESC # * LF NUL`: firmware version request; reply `<model> Ver<x.y>` `LF NUL`. */
export const STAR_VERSION_REQUEST = Uint8Array.of(0x1b, 0x23, 0x2a, 0x0a, 0x00);

/** Header byte 1: bit0 = 1, bit4 = 0, bit7 = 0; length in bits 1–3 and 5–6. */
export const isStarAsbHeader = (b: number) => (b & 0x91) === 0x01;
/** Frame length from header byte 1: bits 1–3 are the low 3 bits, bits 5–6 the next two. */
export const starAsbLength = (h: number) => ((h & 0x0e) >> 1) | ((h & 0x60) >> 2);
/** Bytes after the header: bit0 = 0, bit7 = 0. */
const isStarStatusByte = (b: number) => (b & 0x81) === 0;

export const STAR_ASB_MIN = 7;

export type StarStatus = {
  version: number;
  coverOpen: boolean;
  offline: boolean;
  headOverTemperature: boolean;
  unrecoverableError: boolean;
  cutterError: boolean;
  mechanicalError: boolean;
  paperEnd: boolean;
  paperNearEnd: boolean;
};

const bit = (b: number, m: number) => (b & m) !== 0;
const hex = (b: number) => `0x${b.toString(16).padStart(2, '0')}`;

export function decodeStarAsb(frame: Uint8Array): Decoded<StarStatus> {
  if (frame.length < 4) return { ok: false, error: `Star ASB frame too short (${frame.length})` };
  const h = frame[0];
  if (!isStarAsbHeader(h)) return { ok: false, error: `header ${hex(h)} does not match 0xx0xxx1` };
  const n = starAsbLength(h);
  if (n !== frame.length) return { ok: false, error: `header says ${n} bytes, frame has ${frame.length}` };
  for (let i = 1; i < frame.length; i++) if (!isStarStatusByte(frame[i])) return { ok: false, error: `byte ${i + 1} ${hex(frame[i])} has a fixed bit set` };
  const b3 = frame[2];
  const b4 = frame[3];
  const b6 = frame.length >= 6 ? frame[5] : 0;
  return {
    ok: true,
    value: {
      version: ((frame[1] & 0x0e) >> 1) | ((frame[1] & 0x20) >> 2),
      coverOpen: bit(b3, 0x20),
      offline: bit(b3, 0x08),
      headOverTemperature: bit(b4, 0x40),
      unrecoverableError: bit(b4, 0x20),
      cutterError: bit(b4, 0x08),
      mechanicalError: bit(b4, 0x04),
      paperEnd: bit(b6, 0x08),
      paperNearEnd: bit(b6, 0x04) || bit(b6, 0x02),
    },
  };
}

/** A 9-byte ASB (header 0x23, as TSP100-series printers send) for a status (simulator side). */
export function encodeStarAsb(s: Omit<StarStatus, 'version'>, version = 1, length = 9): Uint8Array {
  if (length < STAR_ASB_MIN || length > 31) throw new RangeError(`ASB length must be ${STAR_ASB_MIN}..31`);
  const out = new Uint8Array(length);
  out[0] = 0x01 | ((length & 0x07) << 1) | ((length & 0x18) << 2);
  out[1] = ((version & 0x07) << 1) | ((version & 0x08) << 2);
  out[2] = (s.coverOpen ? 0x20 : 0) | (s.offline ? 0x08 : 0);
  out[3] = (s.headOverTemperature ? 0x40 : 0) | (s.unrecoverableError ? 0x20 : 0) | (s.cutterError ? 0x08 : 0) | (s.mechanicalError ? 0x04 : 0);
  out[5] = (s.paperEnd ? 0x08 : 0) | (s.paperNearEnd ? 0x04 : 0);
  return out;
}

/** `TSP143 Ver1.0` → model and version. */
export function decodeStarVersion(text: string): Decoded<{ model: string; version: string }> {
  const m = /^\s*(\S.*?)\s*Ver\s*([0-9][0-9A-Za-z.-]*)\s*$/.exec(text);
  if (!m) return { ok: false, error: `version reply "${text.slice(0, 40)}" is not "<model> Ver<x.y>"` };
  return { ok: true, value: { model: m[1], version: m[2] } };
}

export type StarFrame = { type: 'asb'; bytes: Uint8Array } | { type: 'text'; text: string };
export type StarSplitResult = { frames: Array<StarFrame | GarbageFrame>; rest: Uint8Array };

const printable = (b: number) => b >= 0x20 && b <= 0x7e;

/**
 * Splits printer output into ASB frames and (when one is expected) a text reply ending `LF NUL`.
 * An ASB frame is a valid header and `length - 1` bytes with clear fixed bits; anything else is
 * garbage and scanning resumes at the next byte, so noise and cut-off frames resynchronise.
 */
export function splitStarStream(buf: Uint8Array, opts: { expectText?: boolean; maxText?: number } = {}): StarSplitResult {
  const frames: StarSplitResult['frames'] = [];
  const maxText = opts.maxText ?? 64;
  const garbage = garbageRuns(buf, frames);
  let i = 0;
  while (i < buf.length) {
    const b = buf[i];
    if (opts.expectText && printable(b)) {
      let j = i;
      while (j < buf.length && printable(buf[j]) && j - i < maxText) j++;
      if (j === buf.length) {
        return garbage.result(i);
      }
      if (buf[j] === 0x0a && j + 1 === buf.length) {
        return garbage.result(i);
      }
      if (buf[j] === 0x0a && buf[j + 1] === 0x00 && j > i) {
        garbage.flush(i);
        frames.push({ type: 'text', text: Buffer.from(buf.subarray(i, j)).toString('latin1') });
        i = j + 2;
        continue;
      }
      // Not a text reply after all: fall through to the ASB / garbage rules at this byte.
    }
    if (isStarAsbHeader(b)) {
      const n = starAsbLength(b);
      if (n >= STAR_ASB_MIN) {
        const have = Math.min(n, buf.length - i);
        let ok = true;
        for (let k = 1; k < have; k++)
          if (!isStarStatusByte(buf[i + k])) {
            ok = false;
            break;
          }
        if (ok && have < n) {
          return garbage.result(i);
        }
        if (ok) {
          garbage.flush(i);
          frames.push({ type: 'asb', bytes: buf.slice(i, i + n) });
          i += n;
          continue;
        }
      }
    }
    garbage.mark(i);
    i++;
  }
  return garbage.result();
}

export const starFaultCodes = [
  'cover-open',
  'paper-end',
  'paper-near-end',
  'autocutter-error',
  'unrecoverable-error',
  'mechanical-error',
  'head-overheat',
  'offline',
] as const;
export type StarFaultCode = (typeof starFaultCodes)[number];

/** One problem, one code: `offline` only when nothing more specific explains it. */
export function faultsFromStarStatus(s: StarStatus): StarFaultCode[] {
  const out: StarFaultCode[] = [];
  if (s.coverOpen) out.push('cover-open');
  if (s.paperEnd) out.push('paper-end');
  else if (s.paperNearEnd) out.push('paper-near-end');
  if (s.cutterError) out.push('autocutter-error');
  if (s.unrecoverableError) out.push('unrecoverable-error');
  if (s.mechanicalError) out.push('mechanical-error');
  if (s.headOverTemperature) out.push('head-overheat');
  if (s.offline && out.length === 0) out.push('offline');
  return out;
}
