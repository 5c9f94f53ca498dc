// Serial MSR codec: frame LRC, stream resync, UnifiedPOS statistics, raw track checks (sentinels,
// character set, LRC) and swipe classification shared by the reader simulator and the driver.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  FS,
  NAK,
  checkTrack,
  classifySwipe,
  countSwipe,
  decodeIdentity,
  decodeStatistics,
  emptyStatistics,
  encodeFrame,
  encodeStatistics,
  encodeTrack,
  frameLrc,
  splitMsrStream,
  trackLrc,
} from '../../agent/drivers/card-reader/codec.js';
import { msrFaultCodes } from '../../agent/drivers/card-reader/index.js';
import { loadFirmwareProfiles, defaultFirmwareProfilesDir } from '../../firmware-profiles/loader.js';

const fs = String.fromCharCode(FS);

test('frames: STX payload ETX LRC; LRC is the XOR of payload and ETX', () => {
  assert.equal([...encodeFrame('S')], [0x02, 0x53, 0x03, 0x53 ^ 0x03]);
  assert.is(frameLrc(Buffer.from('I')), 0x49 ^ 0x03);
  assert.throws(() => encodeFrame('a\u0001b'), /printable/);
});

test('splitter: frames, NAK, noise and bad LRC resynchronise; cut-off frame is rest or garbage', () => {
  const s = encodeFrame('S' + 'GoodReadCount=1');
  const bad = encodeFrame('Ixx');
  bad[bad.length - 1] ^= 0x01;
  const r = splitMsrStream(Uint8Array.from([0xff, 0x00, ...bad, NAK, ...s]));
  assert.equal(
    r.frames.map((f) => f.type),
    ['garbage', 'nak', 'frame'],
  );
  assert.is((r.frames[2] as { payload: string }).payload, 'SGoodReadCount=1');
  const half = s.slice(0, 6);
  const r2 = splitMsrStream(half);
  assert.equal(r2.frames, []);
  assert.is(r2.rest.length, 6);
  const r3 = splitMsrStream(Uint8Array.from([...half, ...s]));
  assert.equal(
    r3.frames.map((f) => f.type),
    ['garbage', 'frame'],
  );
  assert.is(r3.rest.length, 0);
});

test('tracks: sentinels and LRC as the ISO 7811 character arithmetic gives them', () => {
  const t2 = encodeTrack(2, '4111111111111111=28121010000000000');
  assert.ok(t2.startsWith(';4111') && t2.at(-2) === '?');
  assert.is(t2.at(-1), trackLrc(2, t2.slice(0, -1)));
  assert.is(checkTrack(2, t2), 'ok');
  const t1 = encodeTrack(1, 'B4111111111111111^TEST/CARDHOLDER^2812101');
  assert.is(checkTrack(1, t1), 'ok');
  assert.is(checkTrack(1, ''), 'empty');
  assert.is(checkTrack(1, t1.slice(1)), 'missing-start-sentinel');
  assert.is(checkTrack(2, t2.slice(0, 10)), 'missing-end-sentinel');
  assert.is(checkTrack(2, t2.slice(0, -1)), 'lrc-error');
  assert.is(checkTrack(2, t2.replace('4111', '4112')), 'lrc-error');
  assert.is(checkTrack(2, t2.replace('4111', '4a11')), 'parity-error');
  // Hand-computed: ";1?" → 0xB ^ 0x1 ^ 0xF = 0x5 → '5'.
  assert.is(trackLrc(2, ';1?'), '5');
});

test('swipe classification and UnifiedPOS counting', () => {
  const t1 = encodeTrack(1, 'B5555555555554444^TEST/CARDHOLDER^2812');
  const t2 = encodeTrack(2, '5555555555554444=2812');
  const s = emptyStatistics();
  const good = classifySwipe(t1 + fs + t2 + fs);
  assert.ok(good.good && !good.unreadable);
  countSwipe(s, good);
  const oneTrack = classifySwipe(t1.slice(1) + fs + t2 + fs);
  assert.ok(oneTrack.good);
  countSwipe(s, oneTrack);
  const failed = classifySwipe(t1.slice(0, -1) + 'X' + fs + t2.slice(1) + fs);
  assert.ok(!failed.good && !failed.unreadable);
  countSwipe(s, failed);
  const blank = classifySwipe(fs + fs);
  assert.ok(blank.unreadable);
  countSwipe(s, blank);
  assert.equal(
    {
      g: s.GoodReadCount,
      f: s.FailedReadCount,
      u: s.UnreadableCardCount,
      ms1: s.MissingStartSentinelTrack1Count,
      ms2: s.MissingStartSentinelTrack2Count,
      lrc1: s.ParityLRCErrorTrack1Count,
    },
    { g: 2, f: 2, u: 1, ms1: 1, ms2: 1, lrc1: 1 },
  );
});

test('statistics and identity replies: round trip, missing or bad fields refused', () => {
  const s = { ...emptyStatistics(), GoodReadCount: 1234, FailedReadCount: 56, HoursPoweredCount: 789, tamper: false, batteryPct: 64 };
  const text = encodeStatistics(s);
  assert.ok(text.startsWith('SGoodReadCount=1234;FailedReadCount=56;'));
  assert.equal(decodeStatistics(text.slice(1)), { ok: true, value: s });
  const missing = decodeStatistics('GoodReadCount=1');
  assert.ok(!missing.ok && /lacks FailedReadCount/.test(missing.error));
  assert.not.ok(decodeStatistics(text.slice(1).replace('=1234', '=12x4')).ok);
  assert.not.ok(decodeStatistics(text.slice(1).replace('TamperState=0', 'TamperState=2')).ok);
  assert.not.ok(decodeStatistics(text.slice(1).replace('BatteryPct=64', 'BatteryPct=140')).ok);
  assert.equal(decodeIdentity('ManufacturerName=Generic;ModelName=MSR-3T;SerialNumber=A1;FirmwareRevision=1.04'), {
    ok: true,
    value: { manufacturer: 'Generic', model: 'MSR-3T', serial: 'A1', firmware: '1.04' },
  });
});

test('profile generic-serial-msr maps every fault code the driver emits; head life marked unverified', () => {
  const p = loadFirmwareProfiles(defaultFirmwareProfilesDir()).find((x) => x.id === 'generic-serial-msr')!;
  assert.ok(p);
  assert.equal(Object.keys(p.faults).sort(), [...msrFaultCodes].sort());
  assert.is(p.kind, 'card-reader');
  assert.ok(p.ratedLife.length === 1 && 'unverified' in p.ratedLife[0].source);
});

test.run();
