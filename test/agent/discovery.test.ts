// Discovery against a fake sysfs tree (USB-serial, CDC-ACM, a PnP UART, 8250 placeholders, a
// virtual console) and a fake USB bus: ports and devices found, matched to profiles, explicit
// config wins; on this real machine (no /sys/bus/usb, no udevadm) it finds what is there
// without crashing; and the agent logs what it found at start and, with `discovery.autoAdd`,
// polls a matched port (a virtual Star printer behind the fake tree's ttyACM0).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configForDiscovered, discoverPeripherals, discoveredId, listSerialPorts } from '../../agent/discovery.js';
import type { PeripheralConfig } from '../../agent/config.js';
import { starSerialConfigSchema } from '../../agent/drivers/star/index.js';
import { FakeUsb, FakeUsbPrinterDevice, deviceIdFixtures } from '../../sim/usb-printer-fake.js';
import { loadFirmwareProfiles, defaultFirmwareProfilesDir } from '../../firmware-profiles/loader.js';
import { agentConfigSchema } from '../../agent/config.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { PtyPair } from '../helpers/pty.js';
import { VirtualStarPrinter } from '../../sim/star-printer.js';
import { agentRig } from './support.js';
import { withTeardown } from '../helpers/rig.js';
import { captureLog } from '../helpers/log.js';

const profiles = loadFirmwareProfiles(defaultFirmwareProfilesDir());

/** An Epson TM-m30 on the (fake) USB bus, answering its IEEE 1284 device id. */
const epsonTmM30OnUsb = () =>
  new FakeUsbPrinterDevice({ vendorId: 0x04b8, productId: 0x0202, manufacturerName: 'EPSON', productName: 'TM-m30', deviceId: deviceIdFixtures.epsonTmM30 });

/** A sysfs tree the way Linux lays it out (real directories and symlinks). */
function fakeSysfs(root: string) {
  const sys = join(root, 'sys');
  const mk = (p: string) => mkdirSync(join(sys, p), { recursive: true });
  const file = (p: string, text: string) => writeFileSync(join(sys, p), text + '\n');
  const link = (target: string, p: string) => symlinkSync(join(sys, target), join(sys, p));
  for (const b of ['usb-serial', 'usb', 'platform', 'pnp']) mk(`bus/${b}`);
  mk('class/tty');
  // ttyUSB0: Prolific USB-serial adapter (ids two levels above the usb-serial device).
  const pl = 'devices/pci0000:00/0000:00:14.0/usb1/1-1';
  mk(`${pl}/1-1:1.0/ttyUSB0`);
  file(`${pl}/idVendor`, '067b');
  file(`${pl}/idProduct`, '2303');
  file(`${pl}/manufacturer`, 'Prolific Technology Inc.');
  file(`${pl}/product`, 'USB-Serial Controller');
  link('bus/usb-serial', `${pl}/1-1:1.0/ttyUSB0/subsystem`);
  mk('class/tty/ttyUSB0');
  link(`${pl}/1-1:1.0/ttyUSB0`, 'class/tty/ttyUSB0/device');
  // ttyACM0: a Star printer's CDC-ACM port (ids one level above the interface).
  const st = 'devices/pci0000:00/0000:00:14.0/usb1/1-2';
  mk(`${st}/1-2:1.0`);
  file(`${st}/idVendor`, '0519');
  file(`${st}/idProduct`, '0003');
  file(`${st}/product`, 'TSP143IIIU');
  file(`${st}/serial`, '2580318090600123');
  link('bus/usb', `${st}/1-2:1.0/subsystem`);
  mk('class/tty/ttyACM0');
  link(`${st}/1-2:1.0`, 'class/tty/ttyACM0/device');
  // ttyS0: an 8250 placeholder (platform) — not a port. ttyS4: a real PnP UART.
  mk('devices/platform/serial8250/tty/ttyS0');
  link('bus/platform', 'devices/platform/serial8250/tty/ttyS0/subsystem');
  mk('class/tty/ttyS0');
  link('devices/platform/serial8250/tty/ttyS0', 'class/tty/ttyS0/device');
  mk('devices/pnp0/00:05/tty/ttyS4');
  link('bus/pnp', 'devices/pnp0/00:05/tty/ttyS4/subsystem');
  mk('class/tty/ttyS4');
  link('devices/pnp0/00:05/tty/ttyS4', 'class/tty/ttyS4/device');
  // tty0: virtual console, no device link.
  mk('class/tty/tty0');
  return sys;
}

test('serial ports from sysfs: USB-serial and CDC-ACM with their USB ids, PnP UART; placeholders and consoles skipped', () =>
  withTeardown(async (later) => {
    const tmp = later(tempDir('fleetcare-sysfs-'), (t) => t.remove());
    const sys = fakeSysfs(tmp.path);
    const { ports, note } = listSerialPorts(sys, '/dev');
    assert.is(note, undefined);
    assert.equal(
      ports.map((p) => [p.name, p.subsystem, p.usb?.vid, p.usb?.pid]),
      [
        ['ttyACM0', 'usb', '0519', '0003'],
        ['ttyS4', 'pnp', undefined, undefined],
        ['ttyUSB0', 'usb-serial', '067b', '2303'],
      ],
    );
    assert.is(ports[0].path, '/dev/ttyACM0');
    assert.is(ports[0].usb!.serial, '2580318090600123');
    assert.is(ports[2].usb!.manufacturer, 'Prolific Technology Inc.');
  }));

test('discovery matches profiles, finds USB printers through the printer class, and explicit config wins', () =>
  withTeardown(async (later) => {
    const tmp = later(tempDir('fleetcare-sysfs-'), (t) => t.remove());
    const sys = fakeSysfs(tmp.path);
    const tmM30 = epsonTmM30OnUsb();
    const adapterOnBus = new FakeUsbPrinterDevice({ vendorId: 0x067b, productId: 0x2303, deviceId: 'MFG:X;' });
    const config = agentConfigSchema.parse({
      device: { id: 'pos-1', token: 't' },
      broker: { url: 'mqtt://127.0.0.1:1883' },
      dataDir: '/tmp/x',
      peripherals: [{ id: 'receipt', driver: 'escpos-serial', path: '/dev/ttyUSB0' }],
    });
    const r = await discoverPeripherals({
      sysRoot: sys,
      devRoot: '/dev',
      usb: new FakeUsb([tmM30, adapterOnBus]),
      profiles,
      configured: config.peripherals,
      log: pino({ level: 'silent' }),
    });
    assert.equal(r.notes, []);
    const by = Object.fromEntries(r.peripherals.map((p) => [p.port, p]));
    assert.equal(Object.keys(by).sort(), ['serial:/dev/ttyACM0', 'serial:/dev/ttyS4', 'serial:/dev/ttyUSB0', 'usb:04b8:0202']);
    assert.is(by['serial:/dev/ttyACM0'].profile, 'star-tsp143');
    assert.is(by['serial:/dev/ttyACM0'].driver, 'star-serial');
    assert.is(by['serial:/dev/ttyUSB0'].configuredAs, 'receipt');
    assert.is(by['serial:/dev/ttyUSB0'].profile, undefined, 'an adapter chip names no printer');
    assert.equal({ profile: by['usb:04b8:0202'].profile, driver: by['usb:04b8:0202'].driver }, { profile: 'epson-tm-m30', driver: 'usb-printer' });
    assert.ok(by['usb:04b8:0202'].matchedBy!.includes('usb'));
    assert.is(by['usb:04b8:0202'].configuredAs, undefined);
  }));

test('no sysfs at all: empty result with the reasons, no throw', () =>
  withTeardown(async (later) => {
    const tmp = later(tempDir('fleetcare-sysfs-'), (t) => t.remove());
    const r = await discoverPeripherals({ sysRoot: join(tmp.path, 'nothing'), profiles });
    assert.equal(r.peripherals, []);
    assert.is(r.notes.length, 2);
    assert.ok(r.notes.some((n) => /no USB bus/.test(n)));
  }));

test('this machine (no /sys/bus/usb, no udevadm): discovery runs and reports "no USB bus"', async () => {
  const r = await discoverPeripherals({ profiles });
  assert.ok(Array.isArray(r.peripherals));
  assert.ok(
    r.notes.some((n) => /USB/.test(n)),
    r.notes.join('; '),
  );
});

/** The fake tree's ports as device nodes: `ttyACM0` leads to a virtual Star printer's PTY. */
async function starBehindTtyACM0(root: string) {
  const sys = fakeSysfs(root);
  const dev = join(root, 'dev');
  mkdirSync(dev);
  const pty = await PtyPair.create();
  symlinkSync(pty.hostPath, join(dev, 'ttyACM0'));
  const printer = await VirtualStarPrinter.start({ path: pty.devicePath });
  return {
    where: { sysRoot: sys, devRoot: dev, usb: new FakeUsb([]), profiles },
    async close() {
      await printer.close();
      await pty.close();
    },
  };
}

test('agent start: discovered ports are logged, and not polled without autoAdd', () =>
  withTeardown(async (later) => {
    const tmp = later(tempDir('fleetcare-sysfs-'), (t) => t.remove());
    const starPrinter = later(await starBehindTtyACM0(tmp.path), (s) => s.close());
    const cap = captureLog();
    const { agent } = later(await agentRig({}, { log: cap.log, discovery: starPrinter.where }), (r) => r.close());
    const line = cap.lines.find((l) => l.msg === 'discovered peripherals');
    assert.ok(line, 'discovery logged at start');
    const acm = (line.peripherals as any[]).find((p: any) => p.port === `serial:${join(tmp.path, 'dev', 'ttyACM0')}`);
    assert.equal({ source: acm.source, profile: acm.profile, driver: acm.driver }, { source: 'serial', profile: 'star-tsp143', driver: 'star-serial' });
    assert.equal(
      agent.stats().peripherals.map((p) => p.id),
      ['host'],
    );
  }));

test('agent start with discovery.autoAdd: the matched port is polled with the driver its profile names', () =>
  withTeardown(async (later) => {
    const tmp = later(tempDir('fleetcare-sysfs-'), (t) => t.remove());
    const starPrinter = later(await starBehindTtyACM0(tmp.path), (s) => s.close());
    const { agent, collector } = later(await agentRig({ discovery: { autoAdd: true } }, { discovery: starPrinter.where }), (r) => r.close());
    const star = await waitFor(
      'discovered printer polled',
      () => agent.stats().peripherals.find((p) => p.id === 'auto-ttyACM0' && p.polls >= 2 && p.state === 'present'),
      10_000,
    );
    assert.equal(star.faults, []);
    assert.equal(
      agent
        .stats()
        .peripherals.map((p) => p.id)
        .sort(),
      ['auto-ttyACM0', 'host'],
    );
    const inv = await waitFor(
      'inventory with the printer identified',
      () =>
        collector
          .on('inventory')
          .map((r) => r.msg.peripherals.find((p: any) => p.id === 'auto-ttyACM0' && p.profile))
          .find(Boolean),
      10_000,
    );
    assert.equal({ profile: inv.profile, model: inv.model }, { profile: 'star-tsp143', model: 'TSP143' });
  }));

test("autoAdd configs: matched devices get their profile's driver; unmatched and configured ones none", () =>
  withTeardown(async (later) => {
    const tmp = later(tempDir('fleetcare-sysfs-'), (t) => t.remove());
    const sys = fakeSysfs(tmp.path);
    const tmM30 = epsonTmM30OnUsb();
    const found = async (configured: PeripheralConfig[]) => {
      const r = await discoverPeripherals({ sysRoot: sys, devRoot: '/dev', usb: new FakeUsb([tmM30]), profiles, configured });
      return Object.fromEntries(r.peripherals.map((p) => [p.port, p]));
    };
    const free = await found([]);
    const taken = new Set(['host']);
    assert.equal(configForDiscovered(free['serial:/dev/ttyACM0'], discoveredId(free['serial:/dev/ttyACM0'], taken)), {
      ok: true,
      config: starSerialConfigSchema.parse({ id: 'auto-ttyACM0', driver: 'star-serial', path: '/dev/ttyACM0' }),
    });
    const usb = configForDiscovered(free['usb:04b8:0202'], discoveredId(free['usb:04b8:0202'], taken));
    assert.ok(
      usb.ok && usb.config.driver === 'usb-printer' && usb.config.id === 'auto-usb-04b8-0202' && usb.config.vid === '04b8' && usb.config.pid === '0202',
    );
    assert.equal(configForDiscovered(free['serial:/dev/ttyUSB0'], 'x'), { ok: false, reason: 'no firmware profile matched' });
    assert.is(discoveredId(free['serial:/dev/ttyACM0'], new Set(['auto-ttyACM0'])), 'auto-ttyACM0-2');
    // Explicit config wins: the same port configured by hand is not added again.
    const covered = await found([starSerialConfigSchema.parse({ id: 'star0', driver: 'star-serial', path: '/dev/ttyACM0' })]);
    assert.equal(configForDiscovered(covered['serial:/dev/ttyACM0'], 'x'), { ok: false, reason: 'configured as star0' });
  }));

test('discovery: false turns it off; the agent config defaults to on without autoAdd', () => {
  const base = { device: { id: 'pos-1', token: 't' }, broker: { url: 'mqtt://127.0.0.1:1883' }, dataDir: '/tmp/x' };
  assert.equal(agentConfigSchema.parse(base).discovery, { enabled: true, autoAdd: false });
  assert.equal(agentConfigSchema.parse({ ...base, discovery: false }).discovery, { enabled: false, autoAdd: false });
  assert.equal(agentConfigSchema.parse({ ...base, discovery: { autoAdd: true } }).discovery, { enabled: true, autoAdd: true });
  assert.not.ok(agentConfigSchema.safeParse({ ...base, discovery: { autoadd: true } }).success, 'typos are refused');
});

test.run();
