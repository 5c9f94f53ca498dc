// The ESC/POS serial driver against the virtual printer over a real socat PTY pair: identity,
// counters, every scripted fault raised and cleared, and the ways a serial line goes wrong
// (noise, silence, a reply cut off mid-frame, slow replies, closing and reopening).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { PtyPair } from '../helpers/pty.js';
import { sleep, waitFor } from '../helpers/net.js';
import { VirtualEscposPrinter, type VirtualEscposPrinterOptions } from '../../sim/escpos-printer.js';
import { createEscposSerialDriver, escposSerialConfigSchema, type EscposSerialConfigInput } from '../../agent/drivers/escpos/index.js';
import { isTimeout } from '../../protocol/errors.js';
import { loadFirmwareProfiles, defaultFirmwareProfilesDir } from '../../firmware-profiles/loader.js';
import { driverRig, using, usingOpened } from '../helpers/rig.js';

/** The printer's maintenance counters, without the link error counts every poll carries. */
const maintenanceCounters = ({ commErrors: _c, garbageBytes: _g, ...rest }: Record<string, number>) => rest;

const log = pino({ level: 'silent' });
const profiles = loadFirmwareProfiles(defaultFirmwareProfilesDir());
// Generous: a loaded CI machine must not turn a healthy reply into a timeout.
const REPLY_TIMEOUT = 800;
const signal = () => AbortSignal.timeout(10_000);

async function rig(printerOpts: VirtualEscposPrinterOptions = {}, config: Partial<EscposSerialConfigInput> = {}) {
  const pty = await PtyPair.create();
  const printer = await VirtualEscposPrinter.start({ path: pty.devicePath, profile: 'epson-tm-t88vi', profiles, serial: 'X3TK012345', ...printerOpts });
  const driver = createEscposSerialDriver(
    { id: 'printer0', driver: 'escpos-serial', path: pty.hostPath, replyTimeoutMs: REPLY_TIMEOUT, ...config },
    { log, profiles },
  );
  return { pty, ...driverRig('printer', printer, driver, pty) };
}

test('config schema: defaults, and a wrong type is refused with its field', () => {
  const c = escposSerialConfigSchema.parse({ id: 'printer0', driver: 'escpos-serial', path: '/dev/ttyS0' });
  assert.equal(
    { baudRate: c.baudRate, intervalMs: c.intervalMs, timeoutMs: c.timeoutMs, readCounters: c.readCounters },
    { baudRate: 9600, intervalMs: 5000, timeoutMs: 2000, readCounters: true },
  );
  const bad = escposSerialConfigSchema.safeParse({ id: 'printer0', driver: 'escpos-serial', path: '/dev/ttyS0', baudRate: 12345 });
  assert.is(bad.success, false);
  if (!bad.success) assert.equal(bad.error.issues[0].path, ['baudRate']);
  const typo = escposSerialConfigSchema.safeParse({ id: 'printer0', driver: 'escpos-serial', path: '/dev/ttyS0', timeoutMS: 5 });
  assert.is(typo.success, false);
});

test('open identifies the printer and matches its firmware profile; poll reads status and counters', () =>
  using(rig({ counters: { linesFed: 123_456, autocutterCuts: 7_890, headEnergizing: 3_000_000, operatingHours: 1_234 } }), async (r) => {
    const id = await r.driver.open(signal());
    assert.equal(id, {
      port: `serial:${r.pty.hostPath}`,
      vendor: 'EPSON',
      model: 'TM-T88VI',
      serial: 'X3TK012345',
      firmware: '30.01 ESC/POS',
      profile: 'epson-tm-t88vi',
    });
    const reading = await r.driver.poll(signal());
    assert.is(reading.health, 'ok');
    assert.equal(reading.faults, []);
    assert.equal(maintenanceCounters(reading.counters), { linesFed: 123_456, headEnergizing: 3_000_000, autocutterCuts: 7_890, operatingHours: 1_234 });
    assert.ok(reading.metrics.replyLatencyMs >= 0);
    assert.is(reading.counters.commErrors, 0);
    assert.is(reading.counters.garbageBytes, 0);
    assert.is(r.printer.stats.counterResetAttempts, 0);
  }));

test('counters advance while the printer prints; GS g 0 is never sent', () =>
  usingOpened(rig(), async (r) => {
    const before = (await r.driver.poll(signal())).counters;
    assert.ok(r.printer.print(100, 3));
    const after = (await r.driver.poll(signal())).counters;
    assert.is(after.linesFed - before.linesFed, 100);
    assert.is(after.autocutterCuts - before.autocutterCuts, 3);
    assert.is(after.headEnergizing - before.headEnergizing, 3000);
    await r.driver.selfTest(signal());
    assert.is(r.printer.stats.counterResetAttempts, 0);
  }));

test('each scripted fault appears as its fault code and clears', () =>
  using(rig(), async (r) => {
    const p = r.printer;
    const cases: Array<[string, () => void, () => void, string[], string]> = [
      ['cover open', () => p.setCoverOpen(true), () => p.setCoverOpen(false), ['cover-open'], 'critical'],
      ['paper near end', () => p.setPaper('near-end'), () => p.setPaper('ok'), ['paper-near-end'], 'warning'],
      ['paper out', () => p.setPaper('end'), () => p.setPaper('ok'), ['paper-end'], 'critical'],
      ['cutter jam', () => p.setCutterJam(true), () => p.setCutterJam(false), ['autocutter-error'], 'critical'],
      ['unrecoverable error', () => p.setUnrecoverableError(true), () => p.setUnrecoverableError(false), ['unrecoverable-error'], 'critical'],
      ['head overheat', () => p.setAutoRecoverableError(true), () => p.setAutoRecoverableError(false), ['auto-recoverable-error'], 'warning'],
      ['mechanical error', () => p.setMechanicalError(true), () => p.setMechanicalError(false), ['mechanical-error'], 'critical'],
      ['offline', () => p.setOffline(true), () => p.setOffline(false), ['offline'], 'critical'],
      ['feed button stuck', () => p.setFeedButton(true), () => p.setFeedButton(false), ['feed-button'], 'warning'],
    ];
    await r.driver.open(signal());
    for (const [what, raise, clear, faults, health] of cases) {
      raise();
      const bad = await r.driver.poll(signal());
      assert.equal(bad.faults, faults, what);
      assert.is(bad.health, health, what);
      clear();
      const good = await r.driver.poll(signal());
      assert.equal(good.faults, [], `${what} cleared`);
      assert.is(good.health, 'ok', `${what} cleared`);
    }
    // Two problems at once are both reported.
    p.setCoverOpen(true);
    p.setPaper('end');
    assert.equal((await r.driver.poll(signal())).faults.sort(), ['cover-open', 'paper-end']);
  }));

test('garbage mid-stream is counted and skipped; replies still decode', () =>
  usingOpened(rig(), async (r) => {
    const base = (await r.driver.poll(signal())).counters.garbageBytes;
    // Noise before every reply, including the start of a block that never ends.
    r.printer.setGarbageBeforeReplies(Uint8Array.of(0xff, 0x80, 0x5f, 0x41));
    r.printer.setPaper('near-end');
    const reading = await r.driver.poll(signal());
    assert.equal(reading.faults, ['paper-near-end']);
    assert.equal(Object.keys(maintenanceCounters(reading.counters)).sort(), ['autocutterCuts', 'headEnergizing', 'linesFed', 'operatingHours']);
    // 4 status + 4 counter replies, 4 bytes of noise each.
    assert.is(reading.counters.garbageBytes - base, 32);
    assert.is(reading.counters.commErrors, 0);
    // Unasked bytes between polls are dropped too.
    r.printer.setGarbageBeforeReplies(null);
    r.printer.injectGarbage(Uint8Array.of(0x00, 0x01, 0x02, 0xfe));
    await waitFor('noise sent', () => r.printer.stats.bytesSent > 0);
    await sleep(50);
    const next = await r.driver.poll(signal());
    assert.equal(next.faults, ['paper-near-end']);
    assert.is(next.counters.garbageBytes - reading.counters.garbageBytes, 4);
  }));

test('silence: the poll times out, and the next poll after the printer is back works', () =>
  usingOpened(rig(), async (r) => {
    r.printer.setSilent(true);
    const err = await r.driver.poll(signal()).then(
      () => null,
      (e) => e,
    );
    assert.ok(isTimeout(err), String(err));
    assert.is((err as { code?: string }).code, 'timeout');
    assert.match(err.message, /DLE EOT 1/);
    r.printer.setSilent(false);
    const reading = await r.driver.poll(signal());
    assert.is(reading.health, 'ok');
    assert.is(reading.counters.commErrors, 1);
  }));

test('half a frame: the cut-off reply is dropped and the next poll is complete', () =>
  usingOpened(rig({ counters: { linesFed: 120 } }), async (r) => {
    const before = r.driver.stats();
    // The first multi-byte reply of the next poll (linesFed, `5F 31 32 30 00`) stops after 3 bytes.
    r.printer.stopMidFrame(1);
    const partial = await r.driver.poll(signal());
    assert.is(partial.health, 'ok'); // status was read in full
    assert.equal(maintenanceCounters(partial.counters), {});
    assert.is(partial.counters.commErrors, before.commErrors + 1);
    const full = await r.driver.poll(signal());
    assert.is(full.counters.linesFed, 120);
    assert.is(Object.keys(maintenanceCounters(full.counters)).length, 4);
    assert.is(full.counters.garbageBytes - before.garbageBytes, 3);
  }));

test('a printer that stops answering mid-frame: timeout error, resync, and the next poll works', () =>
  usingOpened(rig({ counters: { linesFed: 120 } }), async (r) => {
    r.printer.stopMidFrame(1, { thenSilent: true });
    const partial = await r.driver.poll(signal());
    assert.equal(maintenanceCounters(partial.counters), {});
    const err = await r.driver.poll(signal()).then(
      () => null,
      (e) => e,
    );
    assert.ok(isTimeout(err), String(err));
    r.printer.setSilent(false);
    r.printer.setCoverOpen(true);
    const next = await r.driver.poll(signal());
    assert.equal(next.faults, ['cover-open']);
    assert.is(next.counters.linesFed, 120);
  }));

test('slow replies: within the deadline they are used, over it the poll fails and the late reply is dropped', () =>
  usingOpened(rig(), async (r) => {
    r.printer.setReplyDelay(REPLY_TIMEOUT / 8);
    const slow = await r.driver.poll(signal());
    assert.is(slow.health, 'ok');
    assert.is(Object.keys(maintenanceCounters(slow.counters)).length, 4);
    assert.ok(slow.metrics.replyLatencyMs >= REPLY_TIMEOUT / 8 - 5);

    const sentBefore = r.printer.stats.bytesSent;
    const garbageBefore = r.driver.stats().garbageBytes;
    // Late by a quarter of the timeout: the poll fails, and the late reply lands well inside the
    // quiet time the driver waits for before its next request (one reply timeout). Late by 2×
    // the timeout, it landed right at the end of that wait: whether it arrived before or after
    // the next request was sent was a race the transit through socat decided.
    r.printer.setReplyDelay(REPLY_TIMEOUT * 1.25);
    r.printer.setCoverOpen(true);
    const err = await r.driver.poll(signal()).then(
      () => null,
      (e) => e,
    );
    assert.ok(isTimeout(err), String(err));
    r.printer.setReplyDelay(0);
    r.printer.setCoverOpen(false);
    // The late answer to DLE EOT 1 (offline, from the cover) arrives after the failure...
    await waitFor('late reply sent', () => r.printer.stats.bytesSent > sentBefore);
    // ...and must not be taken as the answer to the next poll's DLE EOT 1.
    const next = await r.driver.poll(signal());
    assert.equal(next.faults, []);
    assert.is(r.driver.stats().garbageBytes - garbageBefore, 1);
  }));

test('the AbortSignal ends a request at once and the next poll works', () =>
  usingOpened(rig({}, { replyTimeoutMs: 5000 }), async (r) => {
    r.printer.setReplyDelay(2000);
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('poll deadline')), 100);
    const started = Date.now();
    const err = await r.driver.poll(ac.signal).then(
      () => null,
      (e) => e,
    );
    assert.ok(err instanceof Error);
    assert.match(err.message, /poll deadline/);
    assert.ok(Date.now() - started < 1500, 'abort was not honoured promptly');
    r.printer.setReplyDelay(0);
    const next = await r.driver.poll(signal());
    assert.is(next.health, 'ok');
  }));

test('Automatic Status Back frames in the stream do not disturb replies', () =>
  usingOpened(rig(), async (r) => {
    r.printer.setAsb(true);
    r.printer.setCoverOpen(true); // an ASB frame on every change
    const reading = await r.driver.poll(signal());
    assert.equal(reading.faults, ['cover-open']);
    r.printer.setCoverOpen(false);
    r.printer.setPaper('end');
    const next = await r.driver.poll(signal());
    assert.equal(next.faults, ['paper-end']);
    assert.ok(r.driver.stats().asbFrames >= 3);
    assert.is(next.counters.garbageBytes, 0);
    const st = await r.driver.selfTest(signal());
    assert.equal((st.lastAsb as { paperEnd: boolean }).paperEnd, true);
  }));

test('closing and reopening the driver', () =>
  using(rig(), async (r) => {
    const first = await r.driver.open(signal());
    await r.driver.poll(signal());
    await r.driver.close();
    await r.driver.close(); // twice is fine
    const err = await r.driver.poll(signal()).then(
      () => null,
      (e) => e,
    );
    assert.match(err?.message ?? '', /not open/);
    const again = await r.driver.open(signal());
    assert.equal(again, first);
    r.printer.print(10, 1);
    const reading = await r.driver.poll(signal());
    assert.is(reading.health, 'ok');
    assert.is(reading.counters.autocutterCuts, 1);
  }));

test('profiles: forced profile, unknown model without counters, unknown forced profile refused', async () => {
  let r = await rig({}, { profile: 'epson-tm-t90' });
  try {
    assert.is((await r.driver.open(signal())).profile, 'epson-tm-t90');
  } finally {
    await r.close();
  }
  r = await rig({ profile: undefined, identity: { modelName: 'XP-58', maker: 'NONAME', counters: false } });
  try {
    const id = await r.driver.open(signal());
    assert.is(id.profile, undefined);
    assert.is(id.model, 'XP-58');
    r.printer.setPaper('end');
    const reading = await r.driver.poll(signal());
    assert.equal(maintenanceCounters(reading.counters), {}); // no profile says it has counters: none asked for
    assert.is(reading.health, 'critical');
    assert.is(reading.counters.commErrors, 0);
  } finally {
    await r.close();
  }
  r = await rig({}, { profile: 'no-such-printer' });
  try {
    const err = await r.driver.open(signal()).then(
      () => null,
      (e) => e,
    );
    assert.match(err?.message ?? '', /no-such-printer/);
  } finally {
    await r.close();
  }
});

test('an unanswered optional GS I query (no serial number) is tolerated and is no comm error', () =>
  using(rig({ identity: { serial: undefined } }), async (r) => {
    const id = await r.driver.open(signal());
    assert.is(id.serial, undefined);
    assert.is(id.model, 'TM-T88VI');
    const reading = await r.driver.poll(signal());
    assert.is(reading.counters.commErrors, 0);
    assert.is(Object.keys(maintenanceCounters(reading.counters)).length, 4);
  }));

test('firmware without GS I 65/68: open within a short deadline still identifies, and they are not asked again', () =>
  using(rig({ identity: { firmware: undefined, serial: undefined } }, { timeoutMs: 1000, replyTimeoutMs: undefined }), async (r) => {
    const id = await r.driver.open(AbortSignal.timeout(1000));
    assert.is(id.model, 'TM-T88VI');
    assert.is(id.profile, 'epson-tm-t88vi');
    assert.is(id.serial, undefined);
    assert.is(id.firmware, 'rom-0x01'); // from GS I 3 when GS I 65 is not answered
    const reading = await r.driver.poll(AbortSignal.timeout(1000));
    assert.is(reading.health, 'ok');
    assert.is(r.printer.stats.gsIRequests[65], 1);
    await r.driver.close();
    await sleep(600); // let a possibly pending GS I 68 timeout pass its quiet period
    const again = await r.driver.open(AbortSignal.timeout(1000));
    assert.is(again.model, 'TM-T88VI');
    assert.is(r.printer.stats.gsIRequests[65], 1, 'GS I 65 asked again');
    assert.is(r.printer.stats.gsIRequests[67], 2);
  }));

test('open fails clearly on a silent printer and on a missing port', async () => {
  const r = await rig();
  try {
    r.printer.setSilent(true);
    const err = await r.driver.open(signal()).then(
      () => null,
      (e) => e,
    );
    assert.match(err?.message ?? '', /does not answer DLE EOT 1/);
    r.printer.setSilent(false);
    assert.is((await r.driver.open(signal())).model, 'TM-T88VI');
  } finally {
    await r.close();
  }
  const missing = createEscposSerialDriver({ id: 'p', driver: 'escpos-serial', path: '/nonexistent/ttyX' }, { log, profiles });
  const err = await missing.open(signal()).then(
    () => null,
    (e) => e,
  );
  assert.match(err?.message ?? '', /cannot open \/nonexistent\/ttyX/);
  await missing.close();
});

test.run();
