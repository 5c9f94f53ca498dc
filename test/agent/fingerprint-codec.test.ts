// R30x packet codec from the manuals' byte examples, stream resync after noise and truncated
// packets, reply decoders, and the capture tally that turns relayed confirmation codes into rates.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ack,
  checksum,
  commands,
  command,
  confirmationName,
  decodeAck,
  decodeProductInfo,
  decodeSystemParameters,
  decodeTemplateCount,
  encodePacket,
  encodeProductInfo,
  encodeSystemParameters,
  instruction,
  pid,
  splitFingerprintStream,
} from '../../agent/drivers/fingerprint/codec.js';
import { CaptureTally } from '../../agent/drivers/fingerprint/usage.js';
import { fingerprintFaultCodes } from '../../agent/drivers/fingerprint/index.js';
import { loadFirmwareProfiles, defaultFirmwareProfilesDir } from '../../firmware-profiles/loader.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex').toUpperCase();
const bytes = (h: string) => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

test('command packets equal the manual examples (docs/hardware.md, R503 manual v1.4.1)', () => {
  assert.is(hex(commands.genImg()), 'EF01FFFFFFFF010003010005');
  assert.is(hex(commands.templateNum()), 'EF01FFFFFFFF0100031D0021');
  assert.is(hex(commands.readSysPara()), 'EF01FFFFFFFF0100030F0013');
  assert.is(hex(commands.handShake()), 'EF01FFFFFFFF010003400044');
  assert.is(hex(commands.vfyPwd(0)), 'EF01FFFFFFFF0100071300000000001B');
  assert.is(hex(commands.checkSensor()), 'EF01FFFFFFFF01000336003A');
  assert.is(hex(commands.readProdInfo()), 'EF01FFFFFFFF0100033C0040');
  // AuraLedConfig example, R503 manual p. 28: send and the module's reply.
  assert.is(hex(command(instruction.auraLed, [0x01, 0x50, 0x06, 0x00])), 'EF01FFFFFFFF01000735015006000094');
  assert.is(hex(ack(0x00)), 'EF01FFFFFFFF07000300000A');
  assert.is(checksum(0x01, 3, Uint8Array.of(0x01)), 0x0005);
  assert.is(hex(commands.genImg(0x12345678)), 'EF0112345678010003010005');
  assert.throws(() => command(0x01, [256]), /out of range/);
  assert.throws(() => encodePacket({ pid: 0x05 as never, payload: [1] }), /packet identifier/);
});

test('splitter: packets, ready byte, checksum and header errors become garbage, nothing lost', () => {
  const a = ack(0x00, [0x00, 0x2a]);
  const { frames, rest } = splitFingerprintStream(Uint8Array.from([0x55, ...a, 0x13, 0xef, 0x02, ...commands.genImg()]));
  assert.is(rest.length, 0);
  assert.equal(
    frames.map((f) => f.type),
    ['ready', 'packet', 'garbage', 'packet'],
  );
  const p = frames[1] as Extract<(typeof frames)[number], { type: 'packet' }>;
  assert.equal({ address: p.packet.address, pid: p.packet.pid, payload: [...p.packet.payload] }, { address: 0xffffffff, pid: pid.ack, payload: [0, 0, 0x2a] });
  assert.equal([...(frames[2] as { bytes: Uint8Array }).bytes], [0x13, 0xef, 0x02]);
  // A flipped checksum byte: the whole packet is garbage, the next one still decodes.
  const bad = ack(0x00);
  bad[bad.length - 1] ^= 0xff;
  const r2 = splitFingerprintStream(Uint8Array.from([...bad, ...ack(0x02)]));
  assert.equal(
    r2.frames.map((f) => f.type),
    ['garbage', 'packet'],
  );
  assert.is((r2.frames[0] as { bytes: Uint8Array }).bytes.length, bad.length);
});

test('splitter: a truncated packet waits as rest, and is dropped when a complete packet follows it', () => {
  const full = ack(0x00, [0x00, 0x05]);
  const half = full.slice(0, 7);
  const r1 = splitFingerprintStream(half);
  assert.equal(r1.frames, []);
  assert.is(r1.rest.length, 7);
  // Byte by byte: nothing until the last byte, then exactly one packet.
  let buf: Uint8Array = new Uint8Array(0);
  let got = 0;
  for (const b of full) {
    const r = splitFingerprintStream(Uint8Array.from([...buf, b]));
    got += r.frames.filter((f) => f.type === 'packet').length;
    buf = r.rest;
  }
  assert.is(got, 1);
  // Half a reply (its length field promises more), then a whole one: resync on the second header.
  const cut = ack(0x00, new Uint8Array(16)).slice(0, 12);
  const r3 = splitFingerprintStream(Uint8Array.from([...cut, ...full]));
  assert.equal(
    r3.frames.map((f) => f.type),
    ['garbage', 'packet'],
  );
  assert.is(r3.rest.length, 0);
  // An absurd length is garbage at once rather than a wait for 65 kB.
  const r4 = splitFingerprintStream(bytes('EF01FFFFFFFF07FFFF00'));
  assert.ok(r4.frames.every((f) => f.type === 'garbage'));
});

test('confirmation codes and reply decoders', () => {
  assert.is(confirmationName(0x00), 'ok');
  assert.is(confirmationName(0x03), 'image-fail');
  assert.is(confirmationName(0x07), 'too-few-features');
  assert.is(confirmationName(0x09), 'not-found');
  assert.is(confirmationName(0x13), 'wrong-password');
  assert.is(confirmationName(0x29), 'sensor-abnormal');
  assert.is(confirmationName(0x77), 'unknown-0x77');
  const sys = { statusRegister: 0, systemId: 9, capacity: 200, securityLevel: 3, address: 0xffffffff, packetSize: 128, baudRate: 57600 };
  const enc = encodeSystemParameters(sys);
  assert.is(hex(enc), '0000000900C80003FFFFFFFF00020006');
  const d = decodeSystemParameters(enc);
  assert.ok(d.ok);
  if (d.ok) assert.equal(d.value, sys);
  assert.not.ok(decodeSystemParameters(enc.slice(0, 10)).ok);
  const badSize = enc.slice();
  badSize[13] = 7;
  assert.not.ok(decodeSystemParameters(badSize).ok);
  assert.equal(decodeTemplateCount(Uint8Array.of(0x00, 0xc7)), { ok: true, value: 199 });
  const info = {
    moduleModel: 'R503',
    batch: 'B001',
    serial: 'SN123456',
    hardwareVersion: '1.2',
    sensorModel: 'FPC1021',
    imageWidth: 192,
    imageHeight: 192,
    templateSize: 1536,
    capacity: 200,
  };
  const pi = decodeProductInfo(encodeProductInfo(info));
  assert.equal(pi, { ok: true, value: info });
  const a = splitFingerprintStream(ack(0x00, encodeProductInfo(info))).frames[0] as { type: 'packet'; packet: Parameters<typeof decodeAck>[0] };
  const decoded = decodeAck(a.packet);
  assert.ok(decoded.ok && decoded.value.code === 0 && decoded.value.data.length === 46);
  // ReadProdInfo ack length from the manual: 0x0031 = code + 46 bytes + checksum.
  assert.is(hex(ack(0x00, encodeProductInfo(info)).slice(7, 9)), '0031');
  assert.not.ok(decodeAck({ address: 0, pid: pid.command, payload: Uint8Array.of(1) }).ok);
});

test('capture tally: image failures, rejections and quick accepted retries (false-reject proxy)', () => {
  const t = new CaptureTally({ window: 10, retryWindowMs: 10_000 });
  t.observe(instruction.genImg, 0x02, 0); // nobody pressed
  t.observe(instruction.genImg, 0x00, 1);
  t.observe(instruction.genImg, 0x03, 2);
  t.observe(instruction.img2Tz, 0x07, 3);
  t.observe(instruction.search, 0x09, 1000);
  t.observe(instruction.search, 0x00, 3000); // retry accepted within 10 s
  t.observe(instruction.search, 0x00, 60_000);
  t.observe(instruction.search, 0x09, 70_000);
  t.observe(instruction.search, 0x00, 90_000); // too late to be a retry
  assert.equal(t.counters, {
    captures: 2,
    noFinger: 1,
    imageFailures: 2,
    featureExtractions: 1,
    matchAttempts: 5,
    matchFound: 3,
    matchRejected: 2,
    rejectThenAccept: 1,
    otherErrors: 0,
  });
  const r = t.rates();
  assert.is(r.windowCaptures, 3);
  assert.ok(Math.abs(r.imageFailRate - 2 / 3) < 1e-9);
  assert.ok(Math.abs(r.falseRejectProxyRate - 1 / 3) < 1e-9);
  assert.ok(Math.abs(r.matchRejectRate - 2 / 5) < 1e-9);
  for (let i = 0; i < 20; i++) t.observe(instruction.genImg, 0x00, 100_000 + i);
  assert.is(t.rates().imageFailRate, 0); // the window slid past the failures
});

test('profile grow-r503 maps every fault code the driver emits, and nothing else', () => {
  const p = loadFirmwareProfiles(defaultFirmwareProfilesDir()).find((x) => x.id === 'grow-r503')!;
  assert.ok(p);
  assert.equal(Object.keys(p.faults).sort(), [...fingerprintFaultCodes].sort());
  assert.is(p.driver, 'r30x-serial');
  assert.is(p.kind, 'fingerprint');
  assert.ok(
    p.ratedLife.every((r) => 'unverified' in r.source),
    'the window life figure has no primary source: must stay unverified',
  );
});

test.run();
