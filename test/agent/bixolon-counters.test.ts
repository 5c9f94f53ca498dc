// Bixolon counters are a profile capability of the ESC/POS driver: the SRP-350 profile selects
// the `BS SO S # RS` reader, so the same driver reads cuts and feed length with Bixolon's bytes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { PtyPair } from '../helpers/pty.js';
import { VirtualEscposPrinter } from '../../sim/escpos-printer.js';
import { bixolonCounter, counterCommand, createEscposSerialDriver, decodeCounterReply } from '../../agent/drivers/escpos/index.js';
import { loadFirmwareProfiles, defaultFirmwareProfilesDir } from '../../firmware-profiles/loader.js';

/** The printer's maintenance counters, without the link error counts every poll carries. */
const maintenanceCounters = ({ commErrors: _c, garbageBytes: _g, ...rest }: Record<string, number>) => rest;

const log = pino({ level: 'silent' });
const profiles = loadFirmwareProfiles(defaultFirmwareProfilesDir());
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('BS SO S # RS m n = 08 0E 53 23 1E 01 n; reply 5F … 00', () => {
  assert.is(hex(bixolonCounter(99)), '080e53231e0163');
  assert.is(hex(bixolonCounter(104)), '080e53231e0168');
  assert.throws(() => bixolonCounter(1));
  assert.equal(decodeCounterReply(Uint8Array.of(0x5f, 0x34, 0x32, 0x00)), { ok: true, value: 42 });
  assert.is(hex(counterCommand('bixolon-bs-so', 'autocutterCuts')!.bytes), '080e53231e0163');
  assert.is(counterCommand('bixolon-bs-so', 'linesFed'), null);
  assert.is(hex(counterCommand('epson-gs-g2', 'autocutterCuts')!.bytes), '1d673200b200');
});

test('the ESC/POS driver reads Bixolon counters when the profile says so, and never resets them', async () => {
  const pty = await PtyPair.create();
  const printer = await VirtualEscposPrinter.start({
    path: pty.devicePath,
    profile: 'bixolon-srp-350',
    profiles,
    counters: { autocutterCuts: 12_345, linesFed: 8_000_000 },
  });
  const driver = createEscposSerialDriver({ id: 'bix0', driver: 'escpos-serial', path: pty.hostPath, replyTimeoutMs: 500 }, { log, profiles });
  try {
    const id = await driver.open(AbortSignal.timeout(10_000));
    assert.is(id.profile, 'bixolon-srp-350');
    assert.is(id.model, 'SRP-350');
    const r = await driver.poll(AbortSignal.timeout(10_000));
    assert.equal(maintenanceCounters(r.counters), { autocutterCuts: 12_345, paperFedKm: 30 });
    printer.print(0, 5);
    assert.is((await driver.poll(AbortSignal.timeout(10_000))).counters.autocutterCuts, 12_350);
    assert.is(printer.stats.counterResetAttempts, 0);
  } finally {
    await driver.close();
    await printer.close();
    await pty.close();
  }
});

test.run();
