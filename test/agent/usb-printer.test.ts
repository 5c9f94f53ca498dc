// USB printer class: the 1284 id and port-status parsers from documented bytes, and the driver
// against the fake WebUSB device (identity, interface in the HIGH byte of wIndex, faults raised
// and cleared, ESC/POS over bulk where the profile says so, stall, unplug, kernel driver given
// back), plus the real `usb` module on this bus-less machine: "no USB devices", not a crash.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  createUsbPrinterDriver,
  decodePortStatus,
  encodeDeviceId,
  faultsFromPortStatus,
  getDeviceIdSetup,
  getPortStatusSetup,
  listUsbDevices,
  parseDeviceId,
  usbPrinterConfigSchema,
} from '../../agent/drivers/usb-printer/index.js';
import { FakeUsb, FakeUsbPrinterDevice, deviceIdFixtures, type FakeUsbPrinterOptions } from '../../sim/usb-printer-fake.js';
import { loadFirmwareProfiles, defaultFirmwareProfilesDir } from '../../firmware-profiles/loader.js';
import { tempDir } from '../helpers/tmp.js';
import { rejects } from './zk-support.js';

const log = pino({ level: 'silent' });
const profiles = loadFirmwareProfiles(defaultFirmwareProfilesDir());
const signal = () => AbortSignal.timeout(5000);

test('IEEE 1284 id: 2-byte big-endian length, then KEY:value; pairs (short and long keys)', () => {
  const bytes = encodeDeviceId(deviceIdFixtures.epsonTmM30);
  assert.is((bytes[0] << 8) | bytes[1], deviceIdFixtures.epsonTmM30.length + 2);
  const d = parseDeviceId(bytes);
  assert.ok(d.ok);
  if (!d.ok) return;
  assert.equal(
    { mfg: d.value.manufacturer, mdl: d.value.model, cmd: d.value.commandSets, cls: d.value.class, sern: d.value.serial },
    { mfg: 'EPSON', mdl: 'TM-m30', cmd: ['ESC/POS'], cls: 'PRINTER', sern: 'X4SK123456' },
  );
  const long = parseDeviceId(encodeDeviceId(deviceIdFixtures.generic));
  assert.ok(long.ok && long.value.manufacturer === 'ACME' && long.value.model === 'LaserThing 9' && long.value.commandSets.join() === 'PCL,PJL');
  // Length larger than the bytes received: cut at what arrived. Length counting without itself: still parsed.
  const raw = Uint8Array.from([0x01, 0x00, ...Buffer.from('MFG:X;MDL:Y;')]);
  assert.ok(parseDeviceId(raw).ok);
  assert.is(parseDeviceId(Uint8Array.of(0x00)).ok, false);
  assert.is(parseDeviceId(Uint8Array.from([0x00, 0x08, ...Buffer.from('nothing')])).ok, false);
});

test('port status: 0x20 paper empty, 0x10 selected, 0x08 not error → faults', () => {
  assert.equal(decodePortStatus(0x18), { paperEmpty: false, selected: true, notError: true, raw: 0x18 });
  assert.equal(faultsFromPortStatus(decodePortStatus(0x18)), []);
  assert.equal(faultsFromPortStatus(decodePortStatus(0x20)), ['paper-end']);
  assert.equal(faultsFromPortStatus(decodePortStatus(0x08)), ['offline']);
  assert.equal(faultsFromPortStatus(decodePortStatus(0x10)), ['printer-error']);
});

test('setups: GET_DEVICE_ID puts the interface in the HIGH byte of wIndex, GET_PORT_STATUS in the low byte', () => {
  assert.equal(getDeviceIdSetup(0, 0, 0), { requestType: 'class', recipient: 'interface', request: 0, value: 0, index: 0 });
  assert.equal(getDeviceIdSetup(0, 2, 1).index, 0x0201);
  assert.equal(getPortStatusSetup(2), { requestType: 'class', recipient: 'interface', request: 1, value: 0, index: 2 });
  assert.throws(() => getDeviceIdSetup(0, 256, 0));
});

test('config schema: vid/pid are 4 hex digits', () => {
  assert.ok(usbPrinterConfigSchema.safeParse({ id: 'p', driver: 'usb-printer', vid: '04b8', pid: '0202' }).success);
  const bad = usbPrinterConfigSchema.safeParse({ id: 'p', driver: 'usb-printer', vid: '4b8', pid: '0202' });
  assert.ok(!bad.success && bad.error.issues[0].path[0] === 'vid');
});

function rig(opts: Partial<FakeUsbPrinterOptions> = {}) {
  const device = new FakeUsbPrinterDevice({
    vendorId: 0x04b8,
    productId: 0x0202,
    manufacturerName: 'EPSON',
    productName: 'TM-m30',
    deviceId: deviceIdFixtures.epsonTmM30,
    escpos: true,
    ...opts,
  });
  const usb = new FakeUsb([device]);
  const driver = createUsbPrinterDriver({ id: 'usbprinter0', driver: 'usb-printer', vid: '04b8', pid: '0202' }, { log, profiles, usb });
  return { device, usb, driver };
}

for (const iface of [0, 2]) {
  test(`open on interface ${iface}: kernel driver detached, id read with wIndex ${(iface << 8) | 0}, profile matched; close gives it back`, async () => {
    const { device, driver } = rig({ interfaceNumber: iface });
    const id = await driver.open(signal());
    assert.equal(id, { port: 'usb:04b8:0202', vendor: 'EPSON', model: 'TM-m30', serial: 'X4SK123456', profile: 'epson-tm-m30' });
    const getId = device.controlLog.find((c) => c.request === 0)!;
    assert.is(getId.index, iface << 8);
    assert.is(device.kernelDriverAttached, false);
    const r = await driver.poll(signal());
    assert.is(r.health, 'ok');
    assert.equal(r.faults, []);
    assert.is(device.controlLog.find((c) => c.request === 1)!.index, iface);
    await driver.close();
    assert.is(device.kernelDriverAttached, true, 'usblp gets the interface back');
    assert.equal(
      { claim: device.calls.claim, release: device.calls.release, detach: device.calls.detach, attach: device.calls.attach },
      { claim: 1, release: 1, detach: 1, attach: 1 },
    );
    assert.is(device.opened, false);
  });
}

test('faults over port status and ESC/POS bulk status appear and clear', async () => {
  const { device, driver } = rig();
  await driver.open(signal());
  try {
    device.set({ paperEmpty: true });
    let r = await driver.poll(signal());
    assert.equal(r.faults, ['paper-end']);
    assert.is(r.health, 'critical');
    device.set({ paperEmpty: false, paperNearEnd: true });
    r = await driver.poll(signal());
    assert.equal(r.faults, ['paper-near-end'], 'near end is only visible through ESC/POS status');
    device.set({ paperNearEnd: false, coverOpen: true });
    r = await driver.poll(signal());
    assert.equal(r.faults, ['cover-open']);
    device.set({ coverOpen: false, error: true });
    r = await driver.poll(signal());
    assert.equal(r.faults, ['autocutter-error']);
    device.set({ error: false });
    r = await driver.poll(signal());
    assert.equal(r.faults, []);
    assert.is(r.health, 'ok');
  } finally {
    await driver.close();
  }
});

test('a model without ESC/POS over USB: port status only', async () => {
  const device = new FakeUsbPrinterDevice({
    vendorId: 0x1234,
    productId: 0x5678,
    deviceId: deviceIdFixtures.generic,
    escpos: false,
    kernelDriverAttached: false,
  });
  const driver = createUsbPrinterDriver({ id: 'p', driver: 'usb-printer', vid: '1234', pid: '5678' }, { log, profiles, usb: new FakeUsb([device]) });
  const id = await driver.open(signal());
  assert.equal(id, { port: 'usb:1234:5678', vendor: 'ACME', model: 'LaserThing 9' });
  device.set({ selected: false });
  assert.equal((await driver.poll(signal())).faults, ['offline']);
  await driver.close();
  assert.is(device.calls.attach, 0, 'no kernel driver was detached, none is attached');
});

test('a stall fails that poll and counts; the next poll works', async () => {
  const { device, driver } = rig();
  await driver.open(signal());
  try {
    device.stall(1);
    await rejects(() => driver.poll(signal()), /stalled/);
    assert.is(driver.stats().stalls, 1);
    const r = await driver.poll(signal());
    assert.is(r.health, 'ok');
    assert.is(r.counters.stalls, 1);
  } finally {
    await driver.close();
  }
});

test('unplugged: poll rejects as disconnected, open says the device is gone; plugged back it opens', async () => {
  const { device, usb, driver } = rig();
  await driver.open(signal());
  usb.unplug(device);
  await rejects(() => driver.poll(signal()), /disconnected/);
  await rejects(() => driver.poll(signal()), /not open/);
  await rejects(() => driver.open(signal()), /no USB device 04b8:0202/);
  usb.plug(device);
  const id = await driver.open(signal());
  assert.is(id.serial, 'X4SK123456');
  await driver.close();
});

test('the real usb module on a machine without /sys/bus/usb: no USB devices, not a crash', async () => {
  // Through the real module (its getDevices throws "/sys/bus/usb/devices/ not found" here) …
  const realUsb = (await import('usb')).usb;
  const viaModule = await listUsbDevices({ api: realUsb as never });
  assert.equal(viaModule.devices, []);
  assert.ok(viaModule.note && /no USB devices/.test(viaModule.note), viaModule.note);
  // … and without loading it at all when the sysfs root has no bus/usb.
  const root = tempDir('fleetcare-sys-');
  try {
    const none = await listUsbDevices({ sysRoot: root.path });
    assert.equal(none.devices, []);
    assert.match(none.note!, /no USB bus/);
    mkdirSync(join(root.path, 'bus', 'usb'), { recursive: true });
    const driver = createUsbPrinterDriver({ id: 'p', driver: 'usb-printer', vid: '04b8', pid: '0202' }, { log, profiles, sysRoot: root.path });
    await rejects(() => driver.open(signal()), /no USB devices|usb:04b8:0202/);
    await driver.close();
  } finally {
    root.remove();
  }
});

test.run();
