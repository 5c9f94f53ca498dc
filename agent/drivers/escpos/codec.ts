// ESC/POS byte-level protocol as small pure functions: command builders, reply decoders and a
// stream splitter that tells the kinds of reply apart in one byte stream. Every rule here comes
// from docs/hardware.md (Epson ESC/POS reference, Citizen appendix 5.3); nothing does
// I/O, so the driver, the simulator and the tests all share exactly one reading of the bytes.
import { garbageRuns, type GarbageFrame } from '../garbage-runs.js';

export const DLE = 0x10;
export const EOT = 0x04;
export const ENQ = 0x05;
export const GS = 0x1d;
export const XON = 0x11;
export const XOFF = 0x13;
/** First byte of a "printer information B" / maintenance-counter block (`5F … 00`). */
export const BLOCK_HEADER = 0x5f;
export const BLOCK_END = 0x00;

// ---------------------------------------------------------------------------------------------
// Command builders. Each validates its argument so that a bad value can never reach the wire.

export type RealtimeStatusRequest = 1 | 2 | 3 | 4;

/** `DLE EOT n` — real-time status, answered even when the printer is offline. */
export function dleEot(n: RealtimeStatusRequest): Uint8Array {
  if (!Number.isInteger(n) || n < 1 || n > 4) throw new RangeError(`DLE EOT n must be 1..4, got ${n}`);
  return Uint8Array.of(DLE, EOT, n);
}

/** `DLE ENQ n` — recover from a recoverable error: 1 restart from the failed line, 2 after clearing buffers. */
export function dleEnq(n: 1 | 2): Uint8Array {
  if (n !== 1 && n !== 2) throw new RangeError(`DLE ENQ n must be 1 or 2, got ${n}`);
  return Uint8Array.of(DLE, ENQ, n);
}

/** `GS I n` ids this driver knows: 1..3 (and 49..51) one byte; 65..69 printer information B blocks. */
export const gsIRequest = {
  modelId: 1,
  typeId: 2,
  romVersion: 3,
  firmware: 65,
  maker: 66,
  modelName: 67,
  serial: 68,
  fonts: 69,
} as const;
export type GsIRequest = 1 | 2 | 3 | 49 | 50 | 51 | 65 | 66 | 67 | 68 | 69;
const GS_I_ALLOWED = new Set<number>([1, 2, 3, 49, 50, 51, 65, 66, 67, 68, 69]);

/** `GS I n` — transmit printer id. */
export function gsI(n: GsIRequest): Uint8Array {
  if (!GS_I_ALLOWED.has(n)) throw new RangeError(`GS I n must be one of ${[...GS_I_ALLOWED].join(', ')}, got ${n}`);
  return Uint8Array.of(GS, 0x49, n);
}

/** Whether `GS I n` answers with one byte (true) or a `5F … 00` block (false). */
export function gsIRepliesWithByte(n: GsIRequest): boolean {
  return n < 65;
}

/**
 * Epson maintenance counters read with `GS g 2`. Cumulative ids are never reset by anyone;
 * resettable ids are listed only so that a reply can be named — the driver reads cumulative ones.
 */
export const maintenanceCounters = {
  linesFed: { cumulative: 148, resettable: 20 },
  headEnergizing: { cumulative: 149, resettable: 21 },
  autocutterCuts: { cumulative: 178, resettable: 50 },
  operatingHours: { cumulative: 198, resettable: 70 },
} as const;
export type MaintenanceCounterName = keyof typeof maintenanceCounters;
export const maintenanceCounterNames = Object.keys(maintenanceCounters) as MaintenanceCounterName[];
const COUNTER_IDS = new Set<number>(Object.values(maintenanceCounters).flatMap((c) => [c.cumulative, c.resettable]));

/**
 * `GS g 2 m nL nH` = `1D 67 32 00 nL nH` — read a maintenance counter.
 *
 * There is deliberately no builder for `GS g 0` (reset counter): the function byte here is the
 * constant `0x32`, the id must be a known counter, and `assertNoCounterReset` guards the write path.
 */
export function gsG2(counterId: number): Uint8Array {
  if (!COUNTER_IDS.has(counterId)) throw new RangeError(`GS g 2: unknown maintenance counter id ${counterId}`);
  return Uint8Array.of(GS, 0x67, 0x32, 0x00, counterId & 0xff, (counterId >> 8) & 0xff);
}

/** `GS g 2` for a named cumulative counter (148, 149, 178, 198). */
export function readCumulativeCounter(name: MaintenanceCounterName): Uint8Array {
  return gsG2(maintenanceCounters[name].cumulative);
}

/**
 * Bixolon counters: `BS SO S # RS m n` = `08 0E 53 23 1E 01 n` (n=99 autocutter cuts, n=104
 * paper-feed length in km), reply `5F … 00` like GS g 2. Bixolon SRP-330II manual (docs/hardware.md).
 */
export const bixolonCounters = { autocutterCuts: 99, paperFedKm: 104 } as const;
export function bixolonCounter(n: number): Uint8Array {
  if (n !== 99 && n !== 104) throw new RangeError(`BS SO S # RS: unknown counter ${n}`);
  return Uint8Array.of(0x08, 0x0e, 0x53, 0x23, 0x1e, 0x01, n);
}

/** How a profile's `capabilities.counterReader` reads a named cumulative counter (null: not readable that way). */
export type CounterReader = 'epson-gs-g2' | 'bixolon-bs-so';
export function counterCommand(reader: CounterReader, name: string): { bytes: Uint8Array; what: string } | null {
  if (reader === 'bixolon-bs-so') {
    const n = bixolonCounters[name as keyof typeof bixolonCounters];
    return n === undefined ? null : { bytes: bixolonCounter(n), what: `BS SO S # RS ${n}` };
  }
  if (!(name in maintenanceCounters)) return null;
  return { bytes: readCumulativeCounter(name as MaintenanceCounterName), what: `GS g 2 ${name}` };
}

/** `GS a n` — enable Automatic Status Back for the status groups in `n` (0 disables). */
export function gsA(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0x0f) throw new RangeError(`GS a n must be 0..15, got ${n}`);
  return Uint8Array.of(GS, 0x61, n);
}

/** Throws if `bytes` contains `GS g 0` (`1D 67 30`, reset maintenance counter). Called before every write. */
export function assertNoCounterReset(bytes: Uint8Array): void {
  for (let i = 0; i + 2 < bytes.length; i++) {
    if (bytes[i] === GS && bytes[i + 1] === 0x67 && bytes[i + 2] === 0x30) {
      throw new Error('refusing to send GS g 0 (reset maintenance counter): counters are read cumulatively, never reset');
    }
  }
}

// ---------------------------------------------------------------------------------------------
// DLE EOT replies

/** Fixed bits of a DLE EOT reply: `0xx1xx10`. */
export const isRealtimeStatusByte = (b: number) => (b & 0x93) === 0x12;
/** ASB first byte: `0xx1xx00`. */
export const isAsbFirstByte = (b: number) => (b & 0x93) === 0x10;
/** ASB bytes 2–4, GS I one-byte ids and GS r replies: `0xx0xxxx`. */
export const isLowPatternByte = (b: number) => (b & 0x90) === 0x00;

export type PrinterStatus = { n: 1; drawerPin3High: boolean; offline: boolean; waitingForOnlineRecovery: boolean; feedButtonPressed: boolean };
export type OfflineCauseStatus = { n: 2; coverOpen: boolean; feedingByButton: boolean; stoppedByPaperEnd: boolean; errorOccurred: boolean };
export type ErrorCauseStatus = { n: 3; mechanicalError: boolean; autocutterError: boolean; unrecoverableError: boolean; autoRecoverableError: boolean };
export type PaperSensorStatus = { n: 4; paperNearEnd: boolean; paperEnd: boolean };
export type RealtimeStatus = PrinterStatus | OfflineCauseStatus | ErrorCauseStatus | PaperSensorStatus;

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

const bit = (b: number, mask: number) => (b & mask) !== 0;
const hex = (b: number) => `0x${b.toString(16).padStart(2, '0')}`;

/** Decodes the one-byte reply to `DLE EOT n` after checking its fixed bits. */
export function escposRealtimeStatus(n: 1, byte: number): Decoded<PrinterStatus>;
export function escposRealtimeStatus(n: 2, byte: number): Decoded<OfflineCauseStatus>;
export function escposRealtimeStatus(n: 3, byte: number): Decoded<ErrorCauseStatus>;
export function escposRealtimeStatus(n: 4, byte: number): Decoded<PaperSensorStatus>;
export function escposRealtimeStatus(n: RealtimeStatusRequest, byte: number): Decoded<RealtimeStatus>;
export function escposRealtimeStatus(n: RealtimeStatusRequest, byte: number): Decoded<RealtimeStatus> {
  if (!Number.isInteger(byte) || byte < 0 || byte > 0xff) return { ok: false, error: `not a byte: ${byte}` };
  if (!isRealtimeStatusByte(byte)) return { ok: false, error: `${hex(byte)} does not match the DLE EOT reply pattern 0xx1xx10` };
  switch (n) {
    case 1:
      return {
        ok: true,
        value: { n, drawerPin3High: bit(byte, 0x04), offline: bit(byte, 0x08), waitingForOnlineRecovery: bit(byte, 0x20), feedButtonPressed: bit(byte, 0x40) },
      };
    case 2:
      return {
        ok: true,
        value: { n, coverOpen: bit(byte, 0x04), feedingByButton: bit(byte, 0x08), stoppedByPaperEnd: bit(byte, 0x20), errorOccurred: bit(byte, 0x40) },
      };
    case 3:
      return {
        ok: true,
        value: {
          n,
          mechanicalError: bit(byte, 0x04),
          autocutterError: bit(byte, 0x08),
          unrecoverableError: bit(byte, 0x20),
          autoRecoverableError: bit(byte, 0x40),
        },
      };
    case 4:
      // Epson sets both bits of each pair; one bit is enough for us (some clones set only one).
      return { ok: true, value: { n, paperNearEnd: bit(byte, 0x0c), paperEnd: bit(byte, 0x60) } };
    default:
      return { ok: false, error: `DLE EOT n must be 1..4, got ${n}` };
  }
}

/** Builds the DLE EOT reply byte for a status (used by the simulator; inverse of the decoder). */
export function encodeRealtimeStatus(s: RealtimeStatus): number {
  let b = 0x12;
  const set = (on: boolean, mask: number) => {
    if (on) b |= mask;
  };
  switch (s.n) {
    case 1:
      set(s.drawerPin3High, 0x04);
      set(s.offline, 0x08);
      set(s.waitingForOnlineRecovery, 0x20);
      set(s.feedButtonPressed, 0x40);
      break;
    case 2:
      set(s.coverOpen, 0x04);
      set(s.feedingByButton, 0x08);
      set(s.stoppedByPaperEnd, 0x20);
      set(s.errorOccurred, 0x40);
      break;
    case 3:
      set(s.mechanicalError, 0x04);
      set(s.autocutterError, 0x08);
      set(s.unrecoverableError, 0x20);
      set(s.autoRecoverableError, 0x40);
      break;
    case 4:
      set(s.paperNearEnd, 0x0c);
      set(s.paperEnd, 0x60);
      break;
  }
  return b;
}

// ---------------------------------------------------------------------------------------------
// Automatic Status Back (GS a): 4 bytes, sent unsolicited on every change once enabled

export type AsbStatus = {
  drawerPin3High: boolean;
  offline: boolean;
  coverOpen: boolean;
  feedButtonPressed: boolean;
  mechanicalError: boolean;
  autocutterError: boolean;
  unrecoverableError: boolean;
  autoRecoverableError: boolean;
  paperNearEnd: boolean;
  paperEnd: boolean;
};

export function decodeAsb(frame: Uint8Array): Decoded<AsbStatus> {
  if (frame.length !== 4) return { ok: false, error: `ASB frame is 4 bytes, got ${frame.length}` };
  const [b1, b2, b3, b4] = frame;
  if (!isAsbFirstByte(b1)) return { ok: false, error: `ASB byte 1 ${hex(b1)} does not match 0xx1xx00` };
  for (const [i, b] of [b2, b3, b4].entries()) {
    if (!isLowPatternByte(b)) return { ok: false, error: `ASB byte ${i + 2} ${hex(b)} does not match 0xx0xxxx` };
  }
  return {
    ok: true,
    value: {
      drawerPin3High: bit(b1, 0x04),
      offline: bit(b1, 0x08),
      coverOpen: bit(b1, 0x20),
      feedButtonPressed: bit(b1, 0x40),
      mechanicalError: bit(b2, 0x04),
      autocutterError: bit(b2, 0x08),
      unrecoverableError: bit(b2, 0x20),
      autoRecoverableError: bit(b2, 0x40),
      paperNearEnd: bit(b3, 0x03),
      paperEnd: bit(b3, 0x0c),
    },
  };
}

export function encodeAsb(s: AsbStatus): Uint8Array {
  const f = (on: boolean, mask: number) => (on ? mask : 0);
  return Uint8Array.of(
    0x10 | f(s.drawerPin3High, 0x04) | f(s.offline, 0x08) | f(s.coverOpen, 0x20) | f(s.feedButtonPressed, 0x40),
    f(s.mechanicalError, 0x04) | f(s.autocutterError, 0x08) | f(s.unrecoverableError, 0x20) | f(s.autoRecoverableError, 0x40),
    f(s.paperNearEnd, 0x03) | f(s.paperEnd, 0x0c),
    0x00,
  );
}

// ---------------------------------------------------------------------------------------------
// GS I and GS g 2 replies

export type PrinterTypeId = { multiByteCharacters: boolean; autocutter: boolean; raw: number };

/** GS I 2 type id: bit0 multi-byte characters, bit1 autocutter fitted (fixed bits `0xx0xxxx`). */
export function decodeTypeId(byte: number): Decoded<PrinterTypeId> {
  if (!isLowPatternByte(byte)) return { ok: false, error: `GS I 2 reply ${hex(byte)} does not match 0xx0xxxx` };
  return { ok: true, value: { multiByteCharacters: bit(byte, 0x01), autocutter: bit(byte, 0x02), raw: byte } };
}

/** One-byte GS I 1/3 replies (model id, ROM version id), after checking the fixed bits. */
export function decodeIdByte(byte: number): Decoded<number> {
  if (!isLowPatternByte(byte)) return { ok: false, error: `GS I reply ${hex(byte)} does not match 0xx0xxxx` };
  return { ok: true, value: byte };
}

const isBlockText = (b: number) => b >= 0x20 && b <= 0x7e;

/** A `5F` + printable ASCII + `00` block (GS I 65–69, GS g 2) → its text. */
export function decodeInfoBlock(block: Uint8Array): Decoded<string> {
  if (block.length < 2) return { ok: false, error: `block too short (${block.length} bytes)` };
  if (block[0] !== BLOCK_HEADER) return { ok: false, error: `block starts with ${hex(block[0])}, expected 0x5f` };
  if (block[block.length - 1] !== BLOCK_END) return { ok: false, error: 'block does not end with 0x00' };
  const body = block.subarray(1, block.length - 1);
  for (const b of body) if (!isBlockText(b)) return { ok: false, error: `non-ASCII byte ${hex(b)} inside block` };
  return { ok: true, value: Buffer.from(body).toString('latin1') };
}

/** GS g 2 reply `5F` + 1–10 ASCII digits + `00` → the counter value (`5F 31 32 30 00` → 120). */
export function decodeCounterReply(block: Uint8Array): Decoded<number> {
  const text = decodeInfoBlock(block);
  if (!text.ok) return text;
  if (!/^[0-9]{1,10}$/.test(text.value)) return { ok: false, error: `counter reply "${text.value}" is not 1–10 decimal digits` };
  return { ok: true, value: Number(text.value) };
}

/** Encodes text as a `5F … 00` block (simulator side). */
export function encodeInfoBlock(text: string): Uint8Array {
  const body = Buffer.from(text, 'latin1');
  for (const b of body) if (!isBlockText(b)) throw new RangeError(`block text must be printable ASCII: ${JSON.stringify(text)}`);
  return Uint8Array.from([BLOCK_HEADER, ...body, BLOCK_END]);
}

// ---------------------------------------------------------------------------------------------
// Stream splitter

export type EscposFrame =
  | { type: 'realtime-status'; byte: number }
  | { type: 'asb'; bytes: Uint8Array }
  | { type: 'block'; bytes: Uint8Array }
  | { type: 'id-byte'; byte: number }
  | { type: 'xon' }
  | { type: 'xoff' }
  | GarbageFrame;

export type SplitOptions = {
  /**
   * A one-byte `0xx0xxxx` reply (GS I 1..3) is pending. Such a byte is indistinguishable from
   * line noise, so it is a reply only while one is expected; otherwise it is garbage.
   */
  expectIdByte?: boolean;
  /** Longest block accepted before its header is treated as garbage (default 80). */
  maxBlockLength?: number;
};

export type SplitResult = {
  frames: EscposFrame[];
  /** Bytes that may be the start of an incomplete frame; prepend them to the next chunk. */
  rest: Uint8Array;
};

/**
 * Splits bytes from the printer into frames (Citizen appendix 5.3 rules):
 * `0xx1xx10` DLE EOT reply; `0xx1xx00` + 3 × `0xx0xxxx` ASB; `5F` printable… `00` block;
 * `11`/`13` XON/XOFF; `0xx0xxxx` id byte when one is expected. Anything else is garbage, and
 * scanning resumes at the next byte, so the splitter resynchronises on its own after noise. A
 * block or ASB frame interrupted by a byte that cannot belong to it is garbage up to that byte;
 * an incomplete one at the end is returned as `rest`. A new `5F` inside a block restarts the
 * block: a truncated reply followed by a complete one yields garbage then the complete block.
 */
export function splitEscposStream(buf: Uint8Array, opts: SplitOptions = {}): SplitResult {
  const maxBlock = opts.maxBlockLength ?? 80;
  const frames: EscposFrame[] = [];
  const garbage = garbageRuns(buf, frames);

  let i = 0;
  while (i < buf.length) {
    const b = buf[i];
    if (b === XON || b === XOFF) {
      garbage.flush(i);
      frames.push({ type: b === XON ? 'xon' : 'xoff' });
      i++;
    } else if (b === BLOCK_HEADER) {
      // Scan for the terminator; flow-control bytes may be interleaved and are passed through.
      let j = i + 1;
      const body: number[] = [BLOCK_HEADER];
      const flow: EscposFrame[] = [];
      let outcome: 'complete' | 'incomplete' | 'broken' | 'restart' = 'incomplete';
      for (; j < buf.length; j++) {
        const c = buf[j];
        if (c === BLOCK_END) {
          body.push(c);
          outcome = 'complete';
          break;
        }
        if (c === XON || c === XOFF) {
          flow.push({ type: c === XON ? 'xon' : 'xoff' });
          continue;
        }
        if (c === BLOCK_HEADER) {
          outcome = 'restart';
          break;
        }
        if (!isBlockText(c) || body.length >= maxBlock) {
          outcome = 'broken';
          break;
        }
        body.push(c);
      }
      if (outcome === 'complete') {
        garbage.flush(i);
        frames.push(...flow, { type: 'block', bytes: Uint8Array.from(body) });
        i = j + 1;
      } else if (outcome === 'incomplete') {
        if (body.length >= maxBlock) {
          garbage.mark(i);
          i++;
          continue;
        }
        return garbage.result(i);
      } else {
        // Everything from the header up to the offending byte is garbage; resume at that byte.
        garbage.mark(i);
        i = j;
      }
    } else if (isRealtimeStatusByte(b)) {
      garbage.flush(i);
      frames.push({ type: 'realtime-status', byte: b });
      i++;
    } else if (isAsbFirstByte(b)) {
      const have = buf.length - i;
      let ok = true;
      for (let k = 1; k < Math.min(4, have); k++) if (!isLowPatternByte(buf[i + k])) ok = false;
      if (!ok) {
        garbage.mark(i);
        i++;
        continue;
      }
      if (have < 4) {
        return garbage.result(i);
      }
      garbage.flush(i);
      frames.push({ type: 'asb', bytes: buf.slice(i, i + 4) });
      i += 4;
    } else if (opts.expectIdByte && isLowPatternByte(b)) {
      garbage.flush(i);
      frames.push({ type: 'id-byte', byte: b });
      i++;
    } else {
      garbage.mark(i);
      i++;
    }
  }
  return garbage.result();
}

// ---------------------------------------------------------------------------------------------
// Status → fault codes

export const escposFaultCodes = [
  'offline',
  'cover-open',
  'paper-near-end',
  'paper-end',
  'autocutter-error',
  'unrecoverable-error',
  'auto-recoverable-error',
  'mechanical-error',
  'feed-button',
] as const;
export type EscposFaultCode = (typeof escposFaultCodes)[number];

export type FullStatus = { printer: PrinterStatus; offlineCause: OfflineCauseStatus; errorCause: ErrorCauseStatus; paper: PaperSensorStatus };

/**
 * Active fault codes for a full DLE EOT 1..4 reading. One problem gives one code: `offline`
 * only when no more specific cause explains it (cover, paper end, an error), and
 * `paper-near-end` is dropped when the paper has ended — so one real problem opens one ticket.
 */
export function faultsFromStatus(s: FullStatus | AsbStatus): EscposFaultCode[] {
  const flat: AsbStatus =
    'printer' in s
      ? {
          drawerPin3High: s.printer.drawerPin3High,
          offline: s.printer.offline,
          coverOpen: s.offlineCause.coverOpen,
          feedButtonPressed: s.printer.feedButtonPressed,
          mechanicalError: s.errorCause.mechanicalError,
          autocutterError: s.errorCause.autocutterError,
          unrecoverableError: s.errorCause.unrecoverableError,
          autoRecoverableError: s.errorCause.autoRecoverableError,
          paperNearEnd: s.paper.paperNearEnd,
          paperEnd: s.paper.paperEnd || s.offlineCause.stoppedByPaperEnd,
        }
      : s;
  const out: EscposFaultCode[] = [];
  if (flat.coverOpen) out.push('cover-open');
  if (flat.paperEnd) out.push('paper-end');
  else if (flat.paperNearEnd) out.push('paper-near-end');
  if (flat.autocutterError) out.push('autocutter-error');
  if (flat.unrecoverableError) out.push('unrecoverable-error');
  if (flat.autoRecoverableError) out.push('auto-recoverable-error');
  if (flat.mechanicalError) out.push('mechanical-error');
  if (flat.feedButtonPressed) out.push('feed-button');
  const explained = flat.coverOpen || flat.paperEnd || flat.autocutterError || flat.unrecoverableError || flat.autoRecoverableError || flat.mechanicalError;
  if (flat.offline && !explained) out.push('offline');
  return out;
}
