// ESC/POS byte-level parsers and builders, checked against the byte examples of the manuals
// (docs/hardware.md: Epson TM-U220 pp. 54–55, Epson reference pp. 476–480, Citizen appendix 5.3).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  assertNoCounterReset,
  decodeAsb,
  decodeCounterReply,
  decodeIdByte,
  decodeInfoBlock,
  decodeTypeId,
  dleEnq,
  dleEot,
  encodeAsb,
  encodeInfoBlock,
  encodeRealtimeStatus,
  escposRealtimeStatus,
  faultsFromStatus,
  gsA,
  gsG2,
  gsI,
  maintenanceCounterNames,
  maintenanceCounters,
  readCumulativeCounter,
  splitEscposStream,
  type FullStatus,
} from '../../agent/drivers/escpos/codec.js';
import * as parse from '../../agent/drivers/escpos/codec.js';

const bytes = (...b: number[]) => Uint8Array.from(b);
const ok = <T>(d: { ok: true; value: T } | { ok: false; error: string }): T => {
  if (!d.ok) throw new Error(d.error);
  return d.value;
};

test('command builders produce the documented bytes', () => {
  assert.equal([...dleEot(1)], [0x10, 0x04, 0x01]);
  assert.equal([...dleEot(4)], [0x10, 0x04, 0x04]);
  assert.equal([...dleEnq(1)], [0x10, 0x05, 0x01]);
  assert.equal([...dleEnq(2)], [0x10, 0x05, 0x02]);
  assert.equal([...gsI(1)], [0x1d, 0x49, 0x01]);
  assert.equal([...gsI(67)], [0x1d, 0x49, 0x43]);
  assert.equal([...gsA(0x0f)], [0x1d, 0x61, 0x0f]);
  // GS g 2 m nL nH = 1D 67 32 00 nL nH; autocutter cuts (cumulative) = 178 = 0xB2
  assert.equal([...gsG2(178)], [0x1d, 0x67, 0x32, 0x00, 0xb2, 0x00]);
  assert.equal([...readCumulativeCounter('linesFed')], [0x1d, 0x67, 0x32, 0x00, 0x94, 0x00]);
  assert.equal([...readCumulativeCounter('headEnergizing')], [0x1d, 0x67, 0x32, 0x00, 0x95, 0x00]);
  assert.equal([...readCumulativeCounter('operatingHours')], [0x1d, 0x67, 0x32, 0x00, 0xc6, 0x00]);
  assert.throws(() => dleEot(5 as 1), /1\.\.4/);
  assert.throws(() => dleEot(0 as 1), /1\.\.4/);
  assert.throws(() => dleEnq(0 as 1), /1 or 2/);
  assert.throws(() => gsI(70 as 1), /GS I/);
  assert.throws(() => gsA(16), /0\.\.15/);
});

test('GS g 0 (reset counter) cannot be built and is refused on the write path', () => {
  // No builder for it is exported at all.
  for (const name of Object.keys(parse)) assert.not.match(name.toLowerCase(), /^(gsg0|reset)/, `exported ${name}`);
  // gsG2 accepts only known counter ids and always emits function 0x32, never 0x30.
  assert.throws(() => gsG2(0), /unknown maintenance counter/);
  assert.throws(() => gsG2(0x30), /unknown maintenance counter/);
  assert.throws(() => gsG2(999), /unknown maintenance counter/);
  for (const ids of Object.values(maintenanceCounters)) {
    for (const id of [ids.cumulative, ids.resettable]) {
      const cmd = gsG2(id);
      assert.is(cmd[2], 0x32);
      assertNoCounterReset(cmd);
    }
  }
  assert.throws(() => assertNoCounterReset(bytes(0x1d, 0x67, 0x30, 0x00, 0x32, 0x00)), /GS g 0/);
  assert.throws(() => assertNoCounterReset(bytes(0x10, 0x04, 0x01, 0x1d, 0x67, 0x30, 0x00, 0xb2, 0x00)), /GS g 0/);
  assert.equal(maintenanceCounterNames.sort(), ['autocutterCuts', 'headEnergizing', 'linesFed', 'operatingHours']);
});

test('DLE EOT: healthy 0x12, drawer 0x16, and the fixed-bit check', () => {
  assert.equal(ok(escposRealtimeStatus(1, 0x12)), { n: 1, drawerPin3High: false, offline: false, waitingForOnlineRecovery: false, feedButtonPressed: false });
  assert.equal(ok(escposRealtimeStatus(1, 0x16)).drawerPin3High, true);
  assert.equal(ok(escposRealtimeStatus(1, 0x1a)).offline, true);
  assert.equal(ok(escposRealtimeStatus(1, 0x52)).feedButtonPressed, true);
  assert.equal(ok(escposRealtimeStatus(1, 0x32)).waitingForOnlineRecovery, true);
  // 0xx1xx10: bit 7 clear, bit 4 set, bit 1 set, bit 0 clear
  for (const bad of [0x00, 0x10, 0x13, 0x02, 0x92, 0xff, 0x5f, 0x11]) {
    const d = escposRealtimeStatus(1, bad);
    assert.is(d.ok, false, `0x${bad.toString(16)}`);
    if (!d.ok) assert.match(d.error, /0xx1xx10/);
  }
  assert.is(escposRealtimeStatus(1, 256).ok, false);
});

test('DLE EOT 2 and 3: offline and error causes', () => {
  assert.equal(ok(escposRealtimeStatus(2, 0x16)), { n: 2, coverOpen: true, feedingByButton: false, stoppedByPaperEnd: false, errorOccurred: false });
  assert.equal(ok(escposRealtimeStatus(2, 0x32)).stoppedByPaperEnd, true);
  assert.equal(ok(escposRealtimeStatus(2, 0x52)).errorOccurred, true);
  assert.equal(ok(escposRealtimeStatus(2, 0x1a)).feedingByButton, true);
  assert.equal(ok(escposRealtimeStatus(3, 0x1a)), {
    n: 3,
    mechanicalError: false,
    autocutterError: true,
    unrecoverableError: false,
    autoRecoverableError: false,
  });
  assert.equal(ok(escposRealtimeStatus(3, 0x16)).mechanicalError, true);
  assert.equal(ok(escposRealtimeStatus(3, 0x32)).unrecoverableError, true);
  assert.equal(ok(escposRealtimeStatus(3, 0x52)).autoRecoverableError, true);
});

test('DLE EOT 4: paper near-end 0x0C and paper end 0x60 bit patterns', () => {
  assert.equal(ok(escposRealtimeStatus(4, 0x12)), { n: 4, paperNearEnd: false, paperEnd: false });
  assert.equal(ok(escposRealtimeStatus(4, 0x12 | 0x0c)), { n: 4, paperNearEnd: true, paperEnd: false });
  assert.equal(ok(escposRealtimeStatus(4, 0x12 | 0x60)), { n: 4, paperNearEnd: false, paperEnd: true });
  assert.equal(ok(escposRealtimeStatus(4, 0x7e)), { n: 4, paperNearEnd: true, paperEnd: true });
});

test('encodeRealtimeStatus is the inverse of the decoder for every valid byte', () => {
  for (let b = 0; b < 256; b++) {
    for (const n of [1, 2, 3, 4] as const) {
      const d = escposRealtimeStatus(n, b);
      if (!d.ok) continue;
      // n=4 collapses each bit pair to one flag; compare the re-decoded value instead.
      assert.equal(ok(escposRealtimeStatus(n, encodeRealtimeStatus(d.value))), d.value);
      if (n !== 4) assert.is(encodeRealtimeStatus(d.value), b);
    }
  }
});

test('ASB frames decode and round-trip; wrong fixed bits are refused', () => {
  const healthy = ok(decodeAsb(bytes(0x10, 0x00, 0x00, 0x00)));
  assert.equal(Object.values(healthy).some(Boolean), false);
  const s = ok(decodeAsb(bytes(0x10 | 0x08 | 0x20, 0x08, 0x0c, 0x00)));
  assert.ok(s.offline && s.coverOpen && s.autocutterError && s.paperEnd);
  assert.not.ok(s.paperNearEnd || s.feedButtonPressed || s.unrecoverableError);
  assert.ok(ok(decodeAsb(bytes(0x10, 0x00, 0x03, 0x00))).paperNearEnd);
  assert.ok(ok(decodeAsb(bytes(0x14, 0x00, 0x00, 0x00))).drawerPin3High);
  assert.ok(ok(decodeAsb(bytes(0x10, 0x20, 0x00, 0x00))).unrecoverableError);
  assert.equal([...encodeAsb(s)], [0x38, 0x08, 0x0c, 0x00]);
  assert.is(decodeAsb(bytes(0x12, 0, 0, 0)).ok, false); // a DLE EOT byte, not ASB
  assert.is(decodeAsb(bytes(0x10, 0x10, 0, 0)).ok, false);
  assert.is(decodeAsb(bytes(0x10, 0, 0)).ok, false);
});

test('GS I replies: one-byte ids and printer information B blocks', () => {
  assert.is(ok(decodeIdByte(0x20)), 0x20);
  assert.is(decodeIdByte(0x12).ok, false);
  assert.equal(ok(decodeTypeId(0x02)), { multiByteCharacters: false, autocutter: true, raw: 2 });
  assert.equal(ok(decodeTypeId(0x03)).multiByteCharacters, true);
  // GS I 67 on a TM-T88VI: 5F "TM-T88VI" 00
  assert.is(ok(decodeInfoBlock(bytes(0x5f, 0x54, 0x4d, 0x2d, 0x54, 0x38, 0x38, 0x56, 0x49, 0x00))), 'TM-T88VI');
  assert.is(ok(decodeInfoBlock(encodeInfoBlock('EPSON'))), 'EPSON');
  assert.is(decodeInfoBlock(bytes(0x5f, 0x41)).ok, false);
  assert.is(decodeInfoBlock(bytes(0x41, 0x00)).ok, false);
  assert.is(decodeInfoBlock(bytes(0x5f, 0x41, 0x01, 0x00)).ok, false);
});

test('GS g 2 counter reply 5F 31 32 30 00 is 120', () => {
  assert.is(ok(decodeCounterReply(bytes(0x5f, 0x31, 0x32, 0x30, 0x00))), 120);
  assert.is(ok(decodeCounterReply(bytes(0x5f, 0x30, 0x00))), 0);
  assert.is(ok(decodeCounterReply(encodeInfoBlock('4294967295'))), 4294967295);
  assert.is(decodeCounterReply(bytes(0x5f, 0x00)).ok, false); // no digits
  assert.is(decodeCounterReply(encodeInfoBlock('12345678901')).ok, false); // 11 digits
  assert.is(decodeCounterReply(encodeInfoBlock('12a')).ok, false);
});

test('splitter tells ASB, DLE EOT replies, blocks, XON/XOFF and id bytes apart in one stream', () => {
  const stream = bytes(
    0x11, // XON
    0x12, // DLE EOT reply
    0x18,
    0x00,
    0x0c,
    0x00, // ASB: offline, paper end
    0x5f,
    0x31,
    0x32,
    0x30,
    0x00, // counter 120
    0x13, // XOFF
    0x16, // DLE EOT reply, drawer
  );
  const { frames, rest } = splitEscposStream(stream);
  assert.is(rest.length, 0);
  assert.equal(
    frames.map((f) => f.type),
    ['xon', 'realtime-status', 'asb', 'block', 'xoff', 'realtime-status'],
  );
  assert.equal(frames[2].type === 'asb' && [...frames[2].bytes], [0x18, 0x00, 0x0c, 0x00]);
  assert.is(frames[3].type === 'block' && ok(decodeCounterReply(frames[3].bytes)), 120);
  // A one-byte id reply (0xx0xxxx) is a reply only when one is expected.
  assert.equal(
    splitEscposStream(bytes(0x20)).frames.map((f) => f.type),
    ['garbage'],
  );
  assert.equal(splitEscposStream(bytes(0x20), { expectIdByte: true }).frames, [{ type: 'id-byte', byte: 0x20 }]);
  // Digits inside a block look like DLE EOT replies ('2' = 0x32) but stay in the block.
  assert.equal(
    splitEscposStream(encodeInfoBlock('2222')).frames.map((f) => f.type),
    ['block'],
  );
});

test('splitter resynchronises after garbage and truncated frames', () => {
  // Noise (0xFF, 0x80, 0x01) before a valid reply.
  let r = splitEscposStream(bytes(0xff, 0x80, 0x01, 0x12));
  assert.equal(
    r.frames.map((f) => f.type),
    ['garbage', 'realtime-status'],
  );
  assert.is(r.frames[0].type === 'garbage' && r.frames[0].bytes.length, 3);
  // A block cut off and followed by a complete one: garbage, then the complete block.
  r = splitEscposStream(bytes(0x5f, 0x31, 0x32, 0x5f, 0x31, 0x32, 0x30, 0x00));
  assert.equal(
    r.frames.map((f) => f.type),
    ['garbage', 'block'],
  );
  assert.is(r.frames[1].type === 'block' && ok(decodeCounterReply(r.frames[1].bytes)), 120);
  // A block broken by a non-ASCII byte that is itself a reply: the reply survives.
  r = splitEscposStream(bytes(0x5f, 0x54, 0x4d, 0x12));
  assert.equal(
    r.frames.map((f) => f.type),
    ['garbage', 'realtime-status'],
  );
  // An ASB frame whose byte 2 breaks the pattern: its first byte is garbage, scanning resumes.
  r = splitEscposStream(bytes(0x10, 0x92, 0x12));
  assert.equal(
    r.frames.map((f) => f.type),
    ['garbage', 'realtime-status'],
  );
  assert.is(r.frames[0].type === 'garbage' && r.frames[0].bytes.length, 2);
  // Incomplete frames at the end are kept for the next chunk, not dropped.
  r = splitEscposStream(bytes(0x12, 0x5f, 0x31, 0x32));
  assert.equal(
    r.frames.map((f) => f.type),
    ['realtime-status'],
  );
  assert.equal([...r.rest], [0x5f, 0x31, 0x32]);
  const next = splitEscposStream(Uint8Array.from([...r.rest, 0x30, 0x00]));
  assert.is(next.frames[0].type === 'block' && ok(decodeCounterReply(next.frames[0].bytes)), 120);
  r = splitEscposStream(bytes(0x10, 0x00));
  assert.equal(r.frames, []);
  assert.equal([...r.rest], [0x10, 0x00]);
  // An endless "block" is given up after maxBlockLength and scanning resumes.
  r = splitEscposStream(Uint8Array.from([0x5f, ...new Array(100).fill(0x41), 0x12]), { maxBlockLength: 80 });
  assert.equal(
    r.frames.map((f) => f.type),
    ['garbage', 'realtime-status'],
  );
  // XON/XOFF inside a block are flow control, not block content.
  r = splitEscposStream(bytes(0x5f, 0x31, 0x13, 0x32, 0x11, 0x30, 0x00));
  assert.equal(
    r.frames.map((f) => f.type),
    ['xoff', 'xon', 'block'],
  );
  assert.is(r.frames[2].type === 'block' && ok(decodeCounterReply(r.frames[2].bytes)), 120);
});

test('splitter never loses or invents bytes on random input', () => {
  let seed = 42;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let round = 0; round < 500; round++) {
    const buf = Uint8Array.from({ length: Math.floor(rnd() * 40) }, () => Math.floor(rnd() * 256));
    const { frames, rest } = splitEscposStream(buf, { expectIdByte: rnd() < 0.5 });
    const size = frames.reduce((n, f) => n + (f.type === 'garbage' || f.type === 'asb' || f.type === 'block' ? f.bytes.length : 1), 0);
    assert.is(size + rest.length, buf.length);
  }
});

test('faults from a full status: one code per problem', () => {
  const full = (p: number, o: number, e: number, s: number): FullStatus => ({
    printer: ok(escposRealtimeStatus(1, p)),
    offlineCause: ok(escposRealtimeStatus(2, o)),
    errorCause: ok(escposRealtimeStatus(3, e)),
    paper: ok(escposRealtimeStatus(4, s)),
  });
  assert.equal(faultsFromStatus(full(0x12, 0x12, 0x12, 0x12)), []);
  assert.equal(faultsFromStatus(full(0x16, 0x12, 0x12, 0x12)), []); // drawer open is no fault
  assert.equal(faultsFromStatus(full(0x1a, 0x16, 0x12, 0x12)), ['cover-open']);
  assert.equal(faultsFromStatus(full(0x1a, 0x32, 0x12, 0x7e)), ['paper-end']);
  assert.equal(faultsFromStatus(full(0x12, 0x12, 0x12, 0x1e)), ['paper-near-end']);
  assert.equal(faultsFromStatus(full(0x3a, 0x52, 0x1a, 0x12)), ['autocutter-error']);
  assert.equal(faultsFromStatus(full(0x1a, 0x52, 0x32, 0x12)), ['unrecoverable-error']);
  assert.equal(faultsFromStatus(full(0x1a, 0x52, 0x52, 0x12)), ['auto-recoverable-error']);
  assert.equal(faultsFromStatus(full(0x1a, 0x52, 0x16, 0x12)), ['mechanical-error']);
  assert.equal(faultsFromStatus(full(0x52, 0x1a, 0x12, 0x12)), ['feed-button']);
  assert.equal(faultsFromStatus(full(0x1a, 0x12, 0x12, 0x12)), ['offline']);
  assert.equal(faultsFromStatus(ok(decodeAsb(bytes(0x38, 0x00, 0x00, 0x00)))), ['cover-open']);
});

test.run();
