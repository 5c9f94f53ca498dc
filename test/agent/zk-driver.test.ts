// The ZKTeco-style clock driver against the virtual clock over real loopback TCP: identity,
// store counts against capacity, the record store filling up (near-full, full, cleared), and the
// ways a LAN device fails (refused, silent, noise, slow, cut mid-frame), the comm key (right,
// wrong, missing), and the clock's own time (offset, sync-clock-time).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { VirtualZkClock, type VirtualZkClockOptions } from '../../sim/zk-clock.js';
import { createZkClockDriver, zkClockConfigSchema, type ZkClockConfigInput } from '../../agent/drivers/zk-clock/index.js';
import { loadFirmwareProfiles, defaultFirmwareProfilesDir } from '../../firmware-profiles/loader.js';
import { freePort } from '../helpers/net.js';
import { rejects } from './zk-support.js';
import { driverRig, using, usingOpened } from '../helpers/rig.js';

const log = pino({ level: 'silent' });
const profiles = loadFirmwareProfiles(defaultFirmwareProfilesDir());
const signal = (ms = 10_000) => AbortSignal.timeout(ms);

async function rig(clockOpts: VirtualZkClockOptions = {}, config: Partial<ZkClockConfigInput> = {}) {
  const clock = await VirtualZkClock.start({ capacity: { records: 1000 }, ...clockOpts });
  const driver = createZkClockDriver(
    { id: 'clock0', driver: 'zk-clock-tcp', host: clock.host, port: clock.port, replyTimeoutMs: 800, ...config },
    { log, profiles },
  );
  return driverRig('clock', clock, driver);
}

test('config schema: defaults, and an unknown field or bad port is refused with its path', () => {
  const c = zkClockConfigSchema.parse({ id: 'clock0', driver: 'zk-clock-tcp', host: '10.0.0.5' });
  assert.equal({ port: c.port, intervalMs: c.intervalMs, nearFullPct: c.nearFullPct }, { port: 4370, intervalMs: 60_000, nearFullPct: 90 });
  const bad = zkClockConfigSchema.safeParse({ id: 'clock0', driver: 'zk-clock-tcp', host: 'x', port: 70000 });
  assert.ok(!bad.success && bad.error.issues[0].path[0] === 'port');
  assert.is(zkClockConfigSchema.safeParse({ id: 'clock0', driver: 'zk-clock-tcp', host: 'x', hots: 1 }).success, false);
  // A comm key is what the clock's menu accepts: 0–999999, a whole number.
  for (const commKey of [1_000_000, -1, 1.5, '1234']) {
    const r = zkClockConfigSchema.safeParse({ id: 'clock0', driver: 'zk-clock-tcp', host: 'x', commKey });
    assert.ok(!r.success && r.error.issues[0].path[0] === 'commKey', `commKey ${commKey} refused`);
  }
  assert.is(zkClockConfigSchema.parse({ id: 'clock0', driver: 'zk-clock-tcp', host: 'x', commKey: 999_999 }).commKey, 999_999);
});

/** A K40 with part of its store used. */
const k40 = { serial: 'CKJ5190360035', deviceName: 'K40', firmware: 'Ver 6.60 Apr 28 2017', stored: { users: 150, fingers: 300, records: 420, cards: 12 } };

test('open reads identity and matches the profile; poll reports store use against capacity', () =>
  using(rig(k40), async (r) => {
    const id = await r.driver.open(signal());
    assert.equal(id, {
      port: `tcp:127.0.0.1:${r.clock.port}`,
      vendor: 'ZKTeco',
      model: 'K40',
      serial: 'CKJ5190360035',
      firmware: 'Ver 6.60 Apr 28 2017',
      profile: 'zkteco-k40',
    });
    const reading = await r.driver.poll(signal());
    assert.is(reading.health, 'ok');
    assert.equal(reading.faults, []);
    assert.is(reading.metrics.records, 420);
    assert.is(reading.metrics.recordCapacity, 1000);
    assert.is(reading.metrics.recordsUsedPct, 42);
    assert.is(reading.metrics.users, 150);
    assert.is(reading.metrics.fingers, 300);
    assert.is(reading.metrics.usersUsedPct, 5);
    assert.is(reading.counters.commErrors, 0);
    assert.is(r.clock.stats.badChecksums, 0, 'every request carries the checksum pyzk computes');
  }));

test('the record store fills as staff punch: near-full warning, full is critical, clearing ends both', () =>
  usingOpened(rig({ stored: { records: 880 } }), async (r) => {
    assert.equal((await r.driver.poll(signal())).faults, []);
    r.clock.punch(30);
    let reading = await r.driver.poll(signal());
    assert.equal(reading.faults, ['log-memory-near-full']);
    assert.is(reading.health, 'warning');
    r.clock.punch(200);
    reading = await r.driver.poll(signal());
    assert.equal(reading.faults, ['log-memory-full']);
    assert.is(reading.health, 'critical');
    assert.is(reading.metrics.recordsUsedPct, 100);
    assert.is(r.clock.stats.punchesLostStoreFull, 110, 'a full store loses attendance: the failure this fault is about');
    r.clock.clearRecords();
    reading = await r.driver.poll(signal());
    assert.equal(reading.faults, []);
    assert.is(reading.health, 'ok');
  }));

test('refused connection: open rejects; the clock coming back is found again', () =>
  using(rig(), async (r) => {
    await r.clock.setRefusing(true);
    await rejects(() => r.driver.open(signal()), /ECONNREFUSED|cannot connect/);
    await r.clock.setRefusing(false);
    const id = await r.driver.open(signal());
    assert.is(id.serial, 'CKJ1234567890');
    // Dropped mid-session (clock rebooted): the next poll opens a new session by itself.
    await r.clock.setRefusing(true);
    await r.clock.setRefusing(false);
    const reading = await r.driver.poll(signal());
    assert.is(reading.health, 'ok');
    assert.is(r.driver.stats().connects, 2, 'a new session after the drop');
  }));

test('nothing listening at all: open rejects with the reason, never throws elsewhere', async () => {
  const port = await freePort();
  const driver = createZkClockDriver({ id: 'clock0', driver: 'zk-clock-tcp', host: '127.0.0.1', port, replyTimeoutMs: 300 }, { log, profiles });
  await rejects(() => driver.open(signal()), /cannot connect/);
  await rejects(() => driver.poll(signal()), /cannot connect/);
  await driver.close();
});

test('silence: poll times out and counts a comm error; answering again recovers', () =>
  usingOpened(rig(), async (r) => {
    r.clock.setSilent(true);
    await rejects(() => r.driver.poll(signal()), /no reply to CMD_GET_FREE_SIZES/);
    assert.ok(r.driver.stats().commErrors >= 1);
    r.clock.setSilent(false);
    const reading = await r.driver.poll(signal());
    assert.is(reading.health, 'ok');
  }));

test('garbage before replies and injected noise are skipped; the reply still decodes', () =>
  usingOpened(rig({ stored: { records: 10 } }), async (r) => {
    r.clock.setGarbageBeforeReplies(Uint8Array.of(0x00, 0xff, 0x50, 0x50, 0x13, 0x50, 0x50, 0x82));
    r.clock.injectGarbage(Uint8Array.of(0x41, 0x42, 0x43));
    const reading = await r.driver.poll(signal());
    assert.is(reading.metrics.records, 10);
    assert.ok(reading.counters.garbageBytes >= 8);
    r.clock.setGarbageBeforeReplies(null);
  }));

test('a reply cut off mid-frame: that poll fails, the next one resynchronises', () =>
  usingOpened(rig({ stored: { records: 33 } }), async (r) => {
    r.clock.stopMidFrame(1);
    await rejects(() => r.driver.poll(signal()));
    const reading = await r.driver.poll(signal());
    assert.is(reading.metrics.records, 33);
  }));

test('slow replies within the deadline are fine and show as latency; beyond it they time out', () =>
  usingOpened(rig(), async (r) => {
    r.clock.setReplyDelay(150);
    const reading = await r.driver.poll(signal());
    assert.ok(reading.metrics.replyLatencyMs >= 100, `latency ${reading.metrics.replyLatencyMs}`);
    r.clock.setReplyDelay(1500);
    await rejects(() => r.driver.poll(signal()), /no reply/);
    r.clock.setReplyDelay(0);
    // The late reply of the timed-out request must not be taken for the next one.
    await new Promise((res) => setTimeout(res, 1600));
    assert.is((await r.driver.poll(signal())).health, 'ok');
  }));

test('a clock with a comm key and none configured: open rejects naming the missing setting', () =>
  using(rig({ commKey: 12345 }), async (r) => {
    const err = await rejects(() => r.driver.open(signal()), /requires a comm key .*set "commKey"/);
    assert.is((err as Error & { code?: string }).code, 'auth-required');
  }));

test('a comm-key clock: the right key opens the session (CMD_AUTH), and the clock is polled', () =>
  using(rig({ commKey: 12345, stored: { records: 10 } }, { commKey: 12345 }), async (r) => {
    const id = await r.driver.open(signal());
    assert.is(id.model, 'K40');
    assert.is((await r.driver.poll(signal())).metrics.records, 10);
    assert.is(r.clock.stats.authRejected, 0);
    assert.is(r.clock.stats.badChecksums, 0);
  }));

test('a comm-key clock: a wrong key is refused with a clear error, and never appears in the logs', async () => {
  const lines: string[] = [];
  // No timestamps or pid in the lines: only what the driver logs is searched for the key.
  const capture = pino({ level: 'trace', timestamp: false, base: null }, { write: (l: string) => void lines.push(l) });
  const clock = await VirtualZkClock.start({ commKey: 731904 });
  const driver = createZkClockDriver(
    { id: 'clock0', driver: 'zk-clock-tcp', host: clock.host, port: clock.port, replyTimeoutMs: 800, commKey: 268413 },
    { log: capture, profiles },
  );
  try {
    const err = await rejects(() => driver.open(signal()), /refused the configured comm key \(CMD_AUTH answered CMD_ACK_UNAUTH\)/);
    assert.is((err as Error & { code?: string }).code, 'comm-key-rejected');
    assert.is(clock.stats.authRejected, 1);
    // A later poll tries again (the key may have been changed on the clock) and fails the same way.
    await rejects(() => driver.poll(signal()), /refused the configured comm key/);
    clock.setCommKey(268413);
    await driver.open(signal());
    assert.ok(lines.length > 0);
    const logged = lines.join('\n');
    assert.not.match(logged, /268413|731904/, logged.slice(0, 2000));
  } finally {
    await driver.close();
    await clock.close();
  }
});

test('clock time: the offset against this host is reported, and sync-clock-time sets it (CMD_SET_TIME)', () =>
  usingOpened(rig({ clockOffsetSec: -754, clockDriftPpm: 40 }), async (r) => {
    const before = await r.driver.poll(signal());
    // The clock answers whole seconds: within ±0.5 s plus the round trip.
    assert.ok(Math.abs(before.metrics.clockOffsetSec - -754) <= 1, `offset ${before.metrics.clockOffsetSec}`);
    const run = r.driver.commands?.['sync-clock-time'];
    assert.ok(run, 'the clock driver offers sync-clock-time');
    const res = (await run!(signal(), {})) as { offsetBeforeSec: number; offsetAfterSec: number; setTo: string };
    assert.ok(Math.abs(res.offsetBeforeSec + 754) <= 1);
    assert.ok(Math.abs(res.offsetAfterSec) <= 1, `after ${res.offsetAfterSec}`);
    assert.match(res.setTo, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    assert.is(r.clock.stats.timeSets, 1);
    assert.ok(Math.abs(r.clock.clockOffsetSec()) <= 1, `clock now ${r.clock.clockOffsetSec()} s from host`);
    const after = await r.driver.poll(signal());
    assert.ok(Math.abs(after.metrics.clockOffsetSec) <= 1);
  }));

test('clock-drift: raised beyond the profile limit, held until the clock is well within it (hysteresis), cleared by a sync', () =>
  usingOpened(rig({ deviceName: 'K40', clockOffsetSec: 0 }), async (r) => {
    const k40 = profiles.find((p) => p.id === 'zkteco-k40')!.thresholds;
    const warn = k40.clockOffsetWarningSec!;
    const clear = k40.clockOffsetClearSec!;
    const faultsAt = async (offsetSec: number) => {
      r.clock.setClock(offsetSec, 0);
      const reading = await r.driver.poll(signal());
      return { faults: reading.faults, health: reading.health };
    };
    assert.equal(await faultsAt(warn / 2), { faults: [], health: 'ok' }, 'under the limit, never raised');
    assert.equal(await faultsAt(-(warn + 30)), { faults: ['clock-drift'], health: 'warning' }, 'behind by more than the limit');
    assert.equal(await faultsAt(warn / 2), { faults: ['clock-drift'], health: 'warning' }, 'back under the limit but not well under: still active');
    assert.equal(await faultsAt(clear / 2), { faults: [], health: 'ok' }, 'within the clear limit: cleared');
    assert.equal(await faultsAt(warn + 30), { faults: ['clock-drift'], health: 'warning' }, 'ahead counts too');
    await r.driver.syncClockTime(signal());
    assert.equal((await r.driver.poll(signal())).faults, [], 'a sync clears it on the next poll');
  }));

test('sync-clock-time while a poll runs, both after the clock dropped the session: both succeed', () =>
  usingOpened(rig({ clockOffsetSec: 42 }), async (r) => {
    await r.clock.setRefusing(true);
    await r.clock.setRefusing(false);
    // Whether or not the driver has seen the close yet, both find their way to a new session.
    const [reading, sync] = await Promise.all([r.driver.poll(signal()), r.driver.syncClockTime(signal())]);
    assert.is(reading.health, 'ok');
    assert.ok(Math.abs(sync.offsetBeforeSec! - 42) <= 1);
    assert.ok(Math.abs(sync.offsetAfterSec!) <= 1);
    assert.ok(Math.abs(r.clock.clockOffsetSec()) <= 1);
  }));

test('close sends CMD_EXIT', async () => {
  const r = await rig();
  await r.driver.open(signal());
  const before = r.clock.stats.commandsReceived;
  await r.driver.close();
  assert.is(r.clock.stats.commandsReceived, before + 1);
  await r.clock.close();
});

test.run();
