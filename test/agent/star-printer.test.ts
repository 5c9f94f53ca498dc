// Star mode: ASB frames from the documented bits (header gives the length; byte 3 cover/offline,
// byte 4 head temperature/unrecoverable/cutter/mechanical), stream resync, and the driver against
// the virtual Star printer over a real PTY: identity, every fault raised and cleared, noise,
// silence, frames cut mid-way, slow replies.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { PtyPair } from '../helpers/pty.js';
import { sleep } from '../helpers/net.js';
import { VirtualStarPrinter } from '../../sim/star-printer.js';
import {
  createStarSerialDriver,
  decodeStarAsb,
  decodeStarVersion,
  encodeStarAsb,
  faultsFromStarStatus,
  splitStarStream,
  starAsbLength,
} from '../../agent/drivers/star/index.js';
import { loadFirmwareProfiles, defaultFirmwareProfilesDir } from '../../firmware-profiles/loader.js';
import { rejects } from './zk-support.js';
import { driverRig, using, usingOpened } from '../helpers/rig.js';

const log = pino({ level: 'silent' });
const profiles = loadFirmwareProfiles(defaultFirmwareProfilesDir());
const signal = () => AbortSignal.timeout(10_000);
const healthy = {
  coverOpen: false,
  offline: false,
  headOverTemperature: false,
  unrecoverableError: false,
  cutterError: false,
  mechanicalError: false,
  paperEnd: false,
  paperNearEnd: false,
};

test('ASB header: length in bits 1-3 and 5-6 (0x23 → 9, 0x0f → 7, 0x21 → 8)', () => {
  assert.is(starAsbLength(0x23), 9);
  assert.is(starAsbLength(0x0f), 7);
  assert.is(starAsbLength(0x21), 8);
  assert.is(encodeStarAsb(healthy)[0], 0x23);
});

test('ASB bytes: byte 3 bit5 cover, bit3 offline; byte 4 bit6 head temp, bit5 unrecoverable, bit3 cutter, bit2 mechanical', () => {
  const frame = Uint8Array.of(0x23, 0x02, 0x28, 0x6c, 0x00, 0x08, 0x00, 0x00, 0x00);
  const d = decodeStarAsb(frame);
  assert.ok(d.ok);
  if (!d.ok) return;
  assert.equal(
    { ...d.value, version: undefined },
    {
      version: undefined,
      coverOpen: true,
      offline: true,
      headOverTemperature: true,
      unrecoverableError: true,
      cutterError: true,
      mechanicalError: true,
      paperEnd: true,
      paperNearEnd: false,
    },
  );
  assert.is(decodeStarAsb(Uint8Array.of(0x23, 0, 0, 0, 0, 0, 0, 0)).ok, false, 'length mismatch');
  assert.is(decodeStarAsb(Uint8Array.of(0x23, 0, 0x80, 0, 0, 0, 0, 0, 0)).ok, false, 'fixed bit set');
  assert.equal(faultsFromStarStatus(d.value), ['cover-open', 'paper-end', 'autocutter-error', 'unrecoverable-error', 'mechanical-error', 'head-overheat']);
  assert.equal(faultsFromStarStatus({ ...healthy, version: 1, offline: true }), ['offline']);
  assert.equal(decodeStarVersion('TSP143 Ver3.2'), { ok: true, value: { model: 'TSP143', version: '3.2' } });
});

test('stream: noise, a cut frame then a whole one, and a text reply when expected', () => {
  const a = encodeStarAsb(healthy);
  const r = splitStarStream(Uint8Array.from([0xff, 0x41, ...a.subarray(0, 4), ...a, ...a.subarray(0, 3)]));
  assert.equal(
    r.frames.map((f) => f.type),
    ['garbage', 'asb'],
  );
  assert.is(r.rest.length, 3);
  const t = splitStarStream(Uint8Array.from([...Buffer.from('TSP143 Ver3.2'), 0x0a, 0x00, ...a]), { expectText: true });
  assert.equal(
    t.frames.map((f) => f.type),
    ['text', 'asb'],
  );
  assert.is((t.frames[0] as { text: string }).text, 'TSP143 Ver3.2');
});

async function rig() {
  const pty = await PtyPair.create();
  const printer = await VirtualStarPrinter.start({ path: pty.devicePath });
  const driver = createStarSerialDriver({ id: 'star0', driver: 'star-serial', path: pty.hostPath, replyTimeoutMs: 600 }, { log, profiles });
  return { pty, ...driverRig('printer', printer, driver, pty) };
}

test('open identifies the printer and matches star-tsp143; each fault appears and clears', () =>
  using(rig(), async (r) => {
    const id = await r.driver.open(signal());
    assert.equal(id, { port: `serial:${r.pty.hostPath}`, vendor: 'Star Micronics', model: 'TSP143', firmware: '3.2', profile: 'star-tsp143' });
    assert.equal((await r.driver.poll(signal())).faults, []);
    const cases: Array<[string, () => void, () => void]> = [
      ['cover-open', () => r.printer.setCoverOpen(true), () => r.printer.setCoverOpen(false)],
      ['paper-near-end', () => r.printer.setPaper('near-end'), () => r.printer.setPaper('ok')],
      ['paper-end', () => r.printer.setPaper('end'), () => r.printer.setPaper('ok')],
      ['autocutter-error', () => r.printer.setCutterJam(true), () => r.printer.setCutterJam(false)],
      ['head-overheat', () => r.printer.setHeadOverTemperature(true), () => r.printer.setHeadOverTemperature(false)],
      ['unrecoverable-error', () => r.printer.setUnrecoverableError(true), () => r.printer.setUnrecoverableError(false)],
      ['mechanical-error', () => r.printer.setMechanicalError(true), () => r.printer.setMechanicalError(false)],
      ['offline', () => r.printer.setOffline(true), () => r.printer.setOffline(false)],
    ];
    for (const [code, raise, clear] of cases) {
      raise();
      const on = await r.driver.poll(signal());
      assert.equal(on.faults, [code], code);
      assert.is.not(on.health, 'ok');
      clear();
      const off = await r.driver.poll(signal());
      assert.equal(off.faults, [], `${code} cleared`);
      assert.is(off.health, 'ok');
    }
  }));

test('noise, silence, a frame cut mid-way and slow replies: each fails or passes and the line recovers', () =>
  usingOpened(rig(), async (r) => {
    r.printer.setGarbageBeforeReplies(Uint8Array.of(0xff, 0x80, 0x13));
    assert.is((await r.driver.poll(signal())).health, 'ok');
    assert.ok(r.driver.stats().garbageBytes >= 3);
    r.printer.setGarbageBeforeReplies(null);
    r.printer.setSilent(true);
    await rejects(() => r.driver.poll(signal()), /no reply to ESC ACK SOH/);
    r.printer.setSilent(false);
    assert.is((await r.driver.poll(signal())).health, 'ok');
    r.printer.stopMidFrame(1);
    await rejects(() => r.driver.poll(signal()), /no reply/);
    assert.is((await r.driver.poll(signal())).health, 'ok');
    r.printer.setReplyDelay(100);
    const slow = await r.driver.poll(signal());
    assert.ok(slow.metrics.replyLatencyMs >= 80);
    r.printer.setReplyDelay(0);
    assert.ok(r.driver.stats().commErrors >= 2);
  }));

test('unsolicited ASB frames on status change are taken in (lastStatus) without upsetting requests', () =>
  usingOpened(rig(), async (r) => {
    r.printer.setCoverOpen(true);
    await sleep(200);
    assert.ok(r.driver.lastStatus?.coverOpen);
    r.printer.setCoverOpen(false);
    assert.equal((await r.driver.poll(signal())).faults, []);
  }));

test.run();
