// The virtual MSR over its own PTY pair: framed replies, NAK on a damaged frame, swipes sent as
// raw tracks, head wear and ground truth.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SerialPort } from 'serialport';
import { VirtualCardReader } from '../../sim/card-reader.js';
import { encodeFrame, splitMsrStream, decodeStatistics, NAK } from '../../agent/drivers/card-reader/codec.js';
import { waitFor } from '../helpers/net.js';

test('start() with own PTY: I/S replies, NAK for a bad frame, swipes arrive as T frames', async () => {
  const r = await VirtualCardReader.start({ profile: 'generic-serial-msr', seed: 2, serial: 'S1' });
  const port = new SerialPort({ path: r.hostPath!, baudRate: 9600, autoOpen: false });
  await new Promise<void>((res, rej) => port.open((e) => (e ? rej(e) : res())));
  let got: Uint8Array = new Uint8Array(0);
  port.on('data', (b: Buffer) => (got = Uint8Array.from([...got, ...b])));
  const frames = () => splitMsrStream(got).frames;
  try {
    port.write(Buffer.from(encodeFrame('I')));
    await waitFor('identity', () => frames().length === 1, 3000, 5);
    assert.is((frames()[0] as { payload: string }).payload, 'IManufacturerName=Generic;ModelName=MSR-3T;SerialNumber=S1;FirmwareRevision=1.04');
    got = new Uint8Array(0);
    const bad = encodeFrame('S');
    bad[3] ^= 1;
    port.write(Buffer.from(bad));
    await waitFor('NAK', () => got.includes(NAK), 3000, 5);
    assert.is(r.statistics.CommunicationErrorCount, 1);
    got = new Uint8Array(0);
    await r.swipe(2);
    port.write(Buffer.from(encodeFrame('S')));
    await waitFor('2 swipes and stats', () => frames().length === 3, 3000, 5);
    const f = frames() as Array<{ payload: string }>;
    assert.ok(f[0].payload.startsWith('T%B') && f[1].payload.startsWith('T'));
    const s = decodeStatistics(f[2].payload.slice(1));
    assert.ok(s.ok && s.value.GoodReadCount + s.value.FailedReadCount === 2 && s.value.tamper === false && s.value.batteryPct === 100);
  } finally {
    await new Promise<void>((res) => port.close(() => res()));
    await r.close();
  }
});

test('head wear: failures rise near end of life, ground truth recorded once', async () => {
  const r = await VirtualCardReader.start({ profile: 'generic-serial-msr', seed: 9, ratedSwipes: 1000, ageFraction: 0.9, device: 'pos-002' });
  try {
    const results = await r.swipe(400);
    assert.ok(r.head.failed);
    const gt = r.groundTruth();
    assert.is(gt.length, 1);
    assert.is(gt[0].part, 'read-head');
    assert.ok(results.slice(-20).every((x) => !x.good && x.unreadable));
  } finally {
    await r.close();
  }
});

test.run();
