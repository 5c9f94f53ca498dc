// ZKTeco-style codec from documented bytes (pyzk const.py / base.py): the CMD_CONNECT packet,
// the checksum quirks, the free-sizes layout, option replies, and stream resynchronisation.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  decodeZkTime,
  encodeZkTime,
  makeCommKey,
  decodeFreeSizes,
  decodeOptionReply,
  decodePacket,
  decodeVersionReply,
  encodeFreeSizes,
  encodeReply,
  encodeRequest,
  faultsFromFreeSizes,
  freeSizesLayout,
  optionRequest,
  splitZkStream,
  usedPct,
  zkChecksum,
  zkCommand,
  type ZkFreeSizes,
} from '../../agent/drivers/zk-clock/codec.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (h: string) => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

test('CMD_CONNECT as pyzk sends it first: 50 50 82 7D 08000000 E8 03 17 FC 0000 0000', () => {
  // session 0, reply id USHRT_MAX - 1: the checksum covers reply id 65534, the packet carries 0.
  const r = encodeRequest(zkCommand.CMD_CONNECT, new Uint8Array(0), 0, 65534);
  assert.is(hex(r.bytes), '5050827d08000000e80317fc00000000');
  assert.is(r.replyId, 0);
});

test('checksum: 16-bit LE words folded by 65535, odd byte added, complemented into range', () => {
  assert.is(zkChecksum(bytes('e803 0000 0000 feff')), 0xfc17);
  // An odd trailing byte is added as is: words 0x0001, then byte 0x02 → ~3 + 65535.
  assert.is(zkChecksum(bytes('0100 02')), 65535 - 4 + 0);
  assert.is(zkChecksum(new Uint8Array(0)), 65534); // ~0 = -1 → 65534
  // Reply ids wrap at 65535 (pyzk: reply_id >= USHRT_MAX → -= USHRT_MAX).
  assert.is(encodeRequest(1100, new Uint8Array(0), 7, 65533).replyId, 65534);
});

test('a request with data: CMD_OPTIONS_RRQ ~SerialNumber\\0 carries its payload after the header', () => {
  const r = encodeRequest(zkCommand.CMD_OPTIONS_RRQ, optionRequest('serialNumber'), 0x1234, 5);
  const { frames, rest } = splitZkStream(r.bytes);
  assert.is(rest.length, 0);
  assert.is(frames.length, 1);
  const p = decodePacket((frames[0] as { body: Uint8Array }).body);
  assert.ok(p.ok);
  if (!p.ok) return;
  assert.equal({ command: p.value.command, session: p.value.sessionId, reply: p.value.replyId }, { command: 11, session: 0x1234, reply: 6 });
  assert.is(Buffer.from(p.value.data).toString('latin1'), '~SerialNumber\0');
  assert.is(new DataView(r.bytes.buffer).getUint32(4, true), 8 + 14);
});

test('replies: checksum verifies, option and version strings decode', () => {
  const reply = encodeReply(zkCommand.CMD_ACK_OK, Buffer.from('~SerialNumber=CKJ1234567890\0', 'latin1'), 0x1a2b, 3);
  const p = decodePacket(reply.subarray(8));
  assert.ok(p.ok && p.value.checksumOk && p.value.command === 2000 && p.value.sessionId === 0x1a2b && p.value.replyId === 3);
  if (!p.ok) return;
  assert.equal(decodeOptionReply(p.value.data, 'serialNumber'), { ok: true, value: 'CKJ1234567890' });
  assert.is(decodeOptionReply(p.value.data, 'platform').ok, false);
  assert.is(decodeOptionReply(Buffer.from('garbage\0'), 'serialNumber').ok, false);
  assert.equal(decodeVersionReply(Buffer.from('Ver 6.60 Apr 28 2017\0', 'latin1')), { ok: true, value: 'Ver 6.60 Apr 28 2017' });
  assert.is(decodeVersionReply(Buffer.from('\0')).ok, false);
  const tampered = reply.slice();
  tampered[20] ^= 0xff;
  const t = decodePacket(tampered.subarray(8));
  assert.ok(t.ok && !t.value.checksumOk);
});

test('free sizes: 20 little-endian int32, [4] users [6] fingers [8] records … [19] records available', () => {
  const ints = new Int32Array(20);
  ints[4] = 120;
  ints[6] = 240;
  ints[8] = 95_000;
  ints[12] = 30;
  ints[14] = 3000;
  ints[15] = 3000;
  ints[16] = 100_000;
  ints[17] = 2760;
  ints[18] = 2880;
  ints[19] = 5000;
  const data = new Uint8Array(ints.buffer.slice(0));
  const d = decodeFreeSizes(data);
  assert.ok(d.ok);
  if (!d.ok) return;
  assert.equal(d.value, {
    users: 120,
    fingers: 240,
    records: 95_000,
    cards: 30,
    fingerCapacity: 3000,
    userCapacity: 3000,
    recordCapacity: 100_000,
    fingersAvailable: 2760,
    usersAvailable: 2880,
    recordsAvailable: 5000,
  });
  assert.equal(decodeFreeSizes(encodeFreeSizes(d.value)), d);
  assert.is(decodeFreeSizes(data.subarray(0, 79)).ok, false);
  assert.is(freeSizesLayout.recordCapacity, 16);
  assert.is(usedPct(95_000, 100_000), 95);
  assert.is(usedPct(5, 0), 0);
});

test('faults: near-full at the threshold, full when no record is available (near-full dropped)', () => {
  const base: ZkFreeSizes = {
    users: 10,
    fingers: 10,
    records: 0,
    cards: 0,
    fingerCapacity: 3000,
    userCapacity: 3000,
    recordCapacity: 1000,
    fingersAvailable: 2990,
    usersAvailable: 2990,
    recordsAvailable: 1000,
  };
  assert.equal(faultsFromFreeSizes(base, 90), []);
  assert.equal(faultsFromFreeSizes({ ...base, records: 900, recordsAvailable: 100 }, 90), ['log-memory-near-full']);
  assert.equal(faultsFromFreeSizes({ ...base, records: 1000, recordsAvailable: 0 }, 90), ['log-memory-full']);
  assert.equal(faultsFromFreeSizes({ ...base, records: 10, recordsAvailable: 0 }, 90), ['log-memory-full']);
  assert.equal(faultsFromFreeSizes({ ...base, users: 2990, fingers: 2999 }, 90), ['user-storage-near-full', 'fingerprint-storage-near-full']);
});

test('stream: garbage before a frame, a bogus length, a split frame and a truncated prefix resync', () => {
  const a = encodeReply(2000, new Uint8Array(0), 1, 1);
  const b = encodeReply(2000, Uint8Array.of(1, 2, 3), 1, 2);
  const bogus = bytes('5050827d ffffffff');
  const stream = Uint8Array.from([0x00, 0x13, 0x50, ...bogus, ...a, 0x41, ...b.subarray(0, 10)]);
  const r1 = splitZkStream(stream);
  assert.equal(
    r1.frames.map((f) => f.type),
    ['garbage', 'packet', 'garbage'],
  );
  assert.is((r1.frames[0] as { bytes: Uint8Array }).bytes.length, 3 + bogus.length);
  assert.is(hex(r1.rest), hex(b.subarray(0, 10)));
  const r2 = splitZkStream(Uint8Array.from([...r1.rest, ...b.subarray(10)]));
  assert.equal(
    r2.frames.map((f) => f.type),
    ['packet'],
  );
  assert.is(r2.rest.length, 0);
  // A partial magic at the end waits for more bytes.
  assert.is(splitZkStream(bytes('41 5050 82')).rest.length, 3);
});

test('comm key (CMD_AUTH payload) matches pyzk make_commkey(key, session, ticks=50) byte for byte', () => {
  // Reference values: pyzk zk/base.py make_commkey run on these inputs.
  assert.is(hex(makeCommKey(12345, 0x1a2b)), '6de13263');
  assert.is(hex(makeCommKey(0, 0)), '617d3279');
  assert.is(hex(makeCommKey(999999, 65535)), '22813296');
  assert.is(hex(makeCommKey(1, 7)), '61fd3279');
  assert.throws(() => makeCommKey(-1, 0), /comm key/);
});

test('clock time: pyzk __encode_time / __decode_time (31-day months from 2000)', () => {
  // Reference values: pyzk's formula on these dates.
  assert.is(hex(encodeZkTime({ year: 2026, month: 12, day: 4, hour: 5, minute: 10, second: 0 })), 'a8f89433');
  assert.is(hex(encodeZkTime({ year: 2099, month: 12, day: 31, hour: 23, minute: 59, second: 59 })), 'fff792bf');
  assert.equal(decodeZkTime(bytes('a8f89433')), { ok: true, value: { year: 2026, month: 12, day: 4, hour: 5, minute: 10, second: 0 } });
  assert.equal(decodeZkTime(bytes('00000000')), { ok: true, value: { year: 2000, month: 1, day: 1, hour: 0, minute: 0, second: 0 } });
  // day 31 of February exists in the clock's arithmetic, not in a calendar
  const feb31 = encodeZkTime({ year: 2026, month: 2, day: 31, hour: 0, minute: 0, second: 0 });
  assert.match(String((decodeZkTime(feb31) as { error: string }).error), /not a calendar date/);
  assert.is(decodeZkTime(bytes('0102')).ok, false);
  assert.throws(() => encodeZkTime({ year: 1999, month: 1, day: 1, hour: 0, minute: 0, second: 0 }), /2000\.\.2099/);
});

test.run();
