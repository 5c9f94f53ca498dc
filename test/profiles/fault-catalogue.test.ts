// The fault catalogue: every fault code every driver can emit has one definition (health = event
// severity, priority, issue type, runbook) in the profiles its driver uses, the same everywhere;
// and what the agent publishes for a fault — the raised event and the sample — agrees with it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { faultLevels, shippedFirmwareProfiles, type FirmwareProfile, type ProfileDriver } from '../../firmware-profiles/index.js';
import { escposFaultCodes } from '../../agent/drivers/escpos/codec.js';
import { starFaultCodes } from '../../agent/drivers/star/codec.js';
import { usbPortFaultCodes } from '../../agent/drivers/usb-printer/codec.js';
import { zkFaultCodes } from '../../agent/drivers/zk-clock/codec.js';
import { msrFaultCodes } from '../../agent/drivers/card-reader/index.js';
import { fingerprintFaultCodes } from '../../agent/drivers/fingerprint/index.js';
import { createEscposSerialDriver } from '../../agent/drivers/escpos/index.js';
import { hostFaultCodes } from '../../agent/drivers/host.js';
import { healthOfFaults } from '../../agent/drivers/common.js';
import { Poller, type PollerEvent } from '../../agent/poller.js';
import { runbookText } from '../../collector/incidents/ticket-text.js';
import type { Sample } from '../../protocol/index.js';
import { VirtualEscposPrinter } from '../../sim/escpos-printer.js';
import { PtyPair } from '../helpers/pty.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { FakeCollector } from '../agent/support.js';
import { TestBroker } from '../helpers/broker.js';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const profiles = shippedFirmwareProfiles();
const levels = faultLevels(profiles);

/** Every code each driver can emit, and the profiles it reads definitions from. */
const drivers: Record<ProfileDriver | 'usb-printer+escpos', { codes: readonly string[]; uses: (p: FirmwareProfile) => boolean }> = {
  'escpos-serial': { codes: escposFaultCodes, uses: (p) => p.driver === 'escpos-serial' },
  'star-serial': { codes: starFaultCodes, uses: (p) => p.driver === 'star-serial' },
  // The USB printer class driver matches any printer profile, and reads ESC/POS status where the profile says it can.
  'usb-printer': { codes: usbPortFaultCodes, uses: (p) => p.kind === 'printer' },
  'usb-printer+escpos': { codes: escposFaultCodes, uses: (p) => p.kind === 'printer' && p.capabilities.escposOverUsb },
  'zk-clock-tcp': { codes: zkFaultCodes, uses: (p) => p.driver === 'zk-clock-tcp' },
  'r30x-serial': { codes: fingerprintFaultCodes, uses: (p) => p.driver === 'r30x-serial' },
  'msr-serial': { codes: msrFaultCodes, uses: (p) => p.driver === 'msr-serial' },
  host: { codes: hostFaultCodes, uses: (p) => p.driver === 'host' },
};

test('every fault code every driver emits has one consistent definition in the profiles it uses', () => {
  const seen = new Map<string, string>();
  for (const [driver, { codes, uses }] of Object.entries(drivers)) {
    const used = profiles.filter(uses);
    assert.ok(used.length > 0, `${driver}: no profile defines its faults`);
    for (const code of codes) {
      const level = levels.get(code);
      assert.ok(level, `${driver}: ${code} is in no profile`);
      for (const p of used) {
        const f = p.faults[code];
        assert.ok(f, `${p.id}: no definition of ${code} (${driver} emits it)`);
        assert.is(f.health, level, `${p.id}: ${code} health`);
        // Priority and issue type may differ between kinds of device, never between models of one driver.
        const def = `${f.priority}/${f.issueType}`;
        const key = `${driver}:${code}`;
        assert.is(seen.get(key) ?? def, def, `${p.id}: ${code} priority/issue type differ from another ${driver} profile`);
        seen.set(key, def);
        for (const lang of ['en', 'ar', 'fa', 'zh'] as const) assert.ok(p.runbook[code]?.[lang]?.length > 10, `${p.id}: runbook.${code}.${lang}`);
      }
    }
  }
  // No definition is dead: each profile's faults are codes a driver that uses it can emit.
  for (const p of profiles) {
    const emitted = new Set(
      Object.values(drivers)
        .filter((d) => d.uses(p))
        .flatMap((d) => d.codes),
    );
    for (const code of Object.keys(p.faults)) assert.ok(emitted.has(code), `${p.id}: ${code} is emitted by no driver using this profile`);
  }
  // The levels the agent uses for a peripheral no profile matched are the profiles' own.
  assert.is(healthOfFaults(['cover-open'], null, profiles), 'critical');
  assert.is(healthOfFaults(['paper-near-end'], null, profiles), 'warning');
  assert.is(healthOfFaults(['printer-error'], null, profiles), 'critical');
  assert.is(healthOfFaults(['disk-critical'], null, profiles), 'critical');
});

test('device- and site-wide runbooks come from the host profile', () => {
  const byId = new Map(profiles.map((p) => [p.id, p]));
  for (const code of ['device-offline', 'clock-drift', 'site-offline', 'disk-low', 'disk-critical']) {
    assert.is(runbookText({ code }, byId, 'en'), byId.get('host')!.runbook[code].en, code);
  }
  assert.match(runbookText({ code: 'device-offline' }, byId, 'zh'), /NTP|网络/);
  assert.is(runbookText({ code: 'no-such-thing' }, byId, 'en'), byId.get('host')!.runbook.general.en);
  assert.is(runbookText({ profile: 'epson-tm-t90', code: 'cover-open' }, byId, 'fa'), byId.get('epson-tm-t90')!.runbook['cover-open'].fa);
});

test('a cover-open on a real ESC/POS line: the raised event and the sample agree (critical)', async () => {
  const pty = await PtyPair.create();
  const printer = await VirtualEscposPrinter.start({ path: pty.devicePath, profile: 'epson-tm-t20iii', profiles, serial: 'X4AB000001' });
  const log = pino({ level: 'silent' });
  const driver = createEscposSerialDriver({ id: 'printer0', driver: 'escpos-serial', path: pty.hostPath, replyTimeoutMs: 800 }, { log, profiles });
  const samples: Sample[] = [];
  const events: PollerEvent[] = [];
  const poller = new Poller([{ driver, intervalMs: 30, timeoutMs: 3000 }], {
    log,
    onSample: (s) => samples.push(s),
    onEvent: (e) => events.push(e),
    onIdentity: () => {},
  });
  try {
    poller.start();
    await waitFor('a healthy sample', () => samples.find((s) => s.health === 'ok'));
    printer.setCoverOpen(true);
    const raised = await waitFor('cover-open raised', () => events.find((e) => e.type === 'fault-raised' && e.code === 'cover-open'));
    const sample = await waitFor('cover-open sample', () => samples.find((s) => s.faults.includes('cover-open')));
    assert.is(raised.severity, 'critical');
    assert.is(sample.health, 'critical');
    assert.is(profiles.find((p) => p.id === 'epson-tm-t20iii')!.faults['cover-open'].health, 'critical');
  } finally {
    await poller.stop();
    await printer.close();
    await pty.close();
  }
});

test('the production agent bundle finds the shipped profiles and their templates: the host reports its profile', async () => {
  const bundle = fileURLToPath(new URL('../../bundle/agent.mjs', import.meta.url));
  const broker = await TestBroker.create();
  const collector = await FakeCollector.connect(broker.url);
  const dir = tempDir();
  writeFileSync(
    join(dir.path, 'agent.json'),
    JSON.stringify({ device: { id: 'pos-9', token: 'x' }, broker: { url: broker.url }, dataDir: 'data', peripherals: [{ driver: 'host', intervalMs: 100 }] }),
  );
  const child = spawn(process.execPath, [bundle, '--config', join(dir.path, 'agent.json')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b) => (out += b));
  child.stderr.on('data', (b) => (out += b));
  const exited = new Promise((r) => child.on('exit', r));
  try {
    const inv = await waitFor(
      'inventory with the host profile',
      () =>
        collector
          .on('inventory', 'pos-9')
          .find((r) => r.msg.peripherals.some((p: { id: string; profile?: string }) => p.id === 'host' && p.profile === 'host')),
      15_000,
    );
    assert.ok(inv, out.slice(-2000));
    assert.not.match(out, 'firmware profiles not loaded');
  } finally {
    child.kill('SIGTERM');
    await exited;
    await collector.close();
    await broker.stop();
    dir.remove();
  }
});

test.run();
