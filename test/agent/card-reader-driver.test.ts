// The serial MSR driver against the virtual reader over real socat PTYs: identity, UnifiedPOS
// statistics, the agent's own count of swipes equal to the reader's, tamper and battery, worn head
// → read-errors-high, line trouble, and swipe frames forwarded unchanged to the POS relay port.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { SerialPort } from 'serialport';
import { PtyPair } from '../helpers/pty.js';
import { waitFor } from '../helpers/net.js';
import { VirtualCardReader, type VirtualCardReaderOptions } from '../../sim/card-reader.js';
import {
  createMsrSerialDriver,
  msrSerialConfigSchema,
  splitMsrStream,
  msrStatisticNames,
  type MsrSerialConfigInput,
} from '../../agent/drivers/card-reader/index.js';
import { peripheralConfigSchema } from '../../agent/config.js';
import { loadFirmwareProfiles, defaultFirmwareProfilesDir } from '../../firmware-profiles/loader.js';
import { driverRig, using, usingOpened } from '../helpers/rig.js';

const log = pino({ level: 'silent' });
const profiles = loadFirmwareProfiles(defaultFirmwareProfilesDir());
const signal = () => AbortSignal.timeout(10_000);

async function rig(simOpts: VirtualCardReaderOptions = {}, config: Partial<MsrSerialConfigInput> = {}, set = profiles) {
  const pty = await PtyPair.create();
  const reader = await VirtualCardReader.start({
    path: pty.devicePath,
    profile: 'generic-serial-msr',
    profiles: set,
    serial: 'MSR778899',
    seed: 3,
    ...simOpts,
  });
  const driver = createMsrSerialDriver({ id: 'msr0', driver: 'msr-serial', path: pty.hostPath, replyTimeoutMs: 800, ...config }, { log, profiles: set });
  return { pty, ...driverRig('reader', reader, driver, pty) };
}

test('config: defaults, in the agent peripheral union, bad field refused by path', () => {
  const c = msrSerialConfigSchema.parse({ id: 'msr0', driver: 'msr-serial', path: '/dev/ttyS1' });
  assert.equal({ baudRate: c.baudRate, batteryLowPct: c.batteryLowPct, rateWindow: c.rateWindow }, { baudRate: 9600, batteryLowPct: 20, rateWindow: 100 });
  assert.is(peripheralConfigSchema.parse({ id: 'msr0', driver: 'msr-serial', path: '/dev/ttyS1' }).driver, 'msr-serial');
  const bad = msrSerialConfigSchema.safeParse({ id: 'msr0', driver: 'msr-serial', path: '/dev/ttyS1', batteryLowPct: 150 });
  assert.ok(!bad.success && bad.error.issues[0].path[0] === 'batteryLowPct');
});

test('open identifies the reader; statistics read; the agent counts swipes exactly as the reader does', () =>
  using(rig(), async (r) => {
    const id = await r.driver.open(signal());
    assert.equal(id, {
      port: `serial:${r.pty.hostPath}`,
      vendor: 'Generic',
      model: 'MSR-3T',
      serial: 'MSR778899',
      firmware: '1.04',
      profile: 'generic-serial-msr',
    });
    const before = await r.driver.poll(signal());
    assert.equal(before.faults, []);
    assert.is(before.metrics.tamper, 0);
    assert.is(before.metrics.batteryPct, 100);
    await r.reader.swipe(50);
    const after = await r.driver.poll(signal());
    assert.is(after.counters.swipes - before.counters.swipes, 50);
    assert.is(after.counters.goodReadCount, r.reader.statistics.GoodReadCount);
    for (const n of msrStatisticNames) {
      if (n === 'HoursPoweredCount' || n === 'CommunicationErrorCount') continue;
      assert.is(after.counters[`observed${n}`], r.reader.statistics[n], n);
    }
    assert.is(r.driver.stats().observed.GoodReadCount + r.driver.stats().observed.FailedReadCount, 50);
  }));

test('tamper and battery faults appear and clear', () =>
  usingOpened(rig(), async (r) => {
    r.reader.setTamper(true);
    let x = await r.driver.poll(signal());
    assert.equal(x.faults, ['tamper']);
    assert.is(x.health, 'critical');
    r.reader.setTamper(false);
    r.reader.setBattery(12);
    x = await r.driver.poll(signal());
    assert.equal(x.faults, ['battery-low']);
    assert.is(x.health, 'warning');
    r.reader.setBattery(80);
    assert.equal((await r.driver.poll(signal())).faults, []);
  }));

// The shipped profile rates the head at 1 M swipes; a copy rated at 2000 keeps the test short.
const short = profiles.map((p) => (p.id === 'generic-serial-msr' ? { ...p, ratedLife: p.ratedLife.map((x) => ({ ...x, value: 2000 })) } : p));

test('a worn head: failed-read rate over the last swipes raises read-errors-high and read-head-worn', () =>
  usingOpened(rig({ ageFraction: 0.97 }, {}, short), async (r) => {
    await r.driver.poll(signal());
    await r.reader.swipe(120);
    const x = await r.driver.poll(signal());
    assert.ok(x.metrics.failedReadRate > 0.15, `rate ${x.metrics.failedReadRate}`);
    assert.ok(x.faults.includes('read-errors-high'), x.faults.join());
    assert.ok(x.faults.includes('read-head-worn'), x.faults.join());
    assert.ok(x.metrics.readHeadLifeUsedPct >= 97, String(x.metrics.readHeadLifeUsedPct));
    // A young head, same number of swipes: no fault.
    await usingOpened(rig({ ageFraction: 0, seed: 4 }, {}, short), async (y) => {
      await y.driver.poll(signal());
      await y.reader.swipe(120);
      const z = await y.driver.poll(signal());
      assert.ok(z.metrics.failedReadRate < 0.1, `young rate ${z.metrics.failedReadRate}`);
      assert.equal(z.faults, []);
    });
  }));

test('line trouble: noise dropped, cut-off reply then comm-error, silence rejects, slow replies fine', () =>
  usingOpened(rig(), async (r) => {
    r.reader.setGarbageBeforeReplies(Uint8Array.of(0xff, 0x02, 0x41, 0x00));
    let x = await r.driver.poll(signal());
    assert.equal(x.faults, []);
    assert.ok(x.counters.garbageBytes > 0);
    r.reader.setGarbageBeforeReplies(null);
    r.reader.stopMidFrame(1);
    assert.instance(await r.driver.poll(signal()).catch((e) => e), Error);
    x = await r.driver.poll(signal());
    assert.ok(x.faults.includes('comm-error'));
    assert.equal((await r.driver.poll(signal())).faults, []);
    r.reader.setReplyDelay(150);
    x = await r.driver.poll(signal());
    assert.ok(x.metrics.replyLatencyMs >= 100);
    r.reader.setReplyDelay(0);
    r.reader.setSilent(true);
    assert.match(String((await r.driver.poll(signal()).catch((e) => e)).message), /no reply to statistics/);
    r.reader.setSilent(false);
    await r.driver.poll(signal());
    assert.equal((await r.driver.poll(signal())).faults, []);
  }));

test('relay: swipe frames reach the POS port unchanged', async () => {
  const pos = await PtyPair.create();
  const r = await rig({}, { relay: { path: pos.hostPath } });
  const port = new SerialPort({ path: pos.devicePath, baudRate: 9600, autoOpen: false });
  try {
    await r.driver.open(signal());
    await new Promise<void>((res, rej) => port.open((e) => (e ? rej(e) : res())));
    let got: Uint8Array = new Uint8Array(0);
    port.on('data', (b: Buffer) => (got = Uint8Array.from([...got, ...b])));
    await r.reader.swipe(3);
    await waitFor('3 swipes at the POS port', () => splitMsrStream(got).frames.filter((f) => f.type === 'frame').length === 3, 5000, 20);
    const frames = splitMsrStream(got).frames;
    assert.ok(frames.every((f) => f.type === 'frame' && f.payload.startsWith('T')));
    assert.is(r.driver.stats().forwardedSwipes, 3);
  } finally {
    await new Promise<void>((res) => (port.isOpen ? port.close(() => res()) : res()));
    await r.close();
    await pos.close();
  }
});

test.run();
