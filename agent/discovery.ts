// Discovery: what is plugged into this POS box, matched to firmware profiles.
// Serial ports come from sysfs (/sys/class/tty, the way pyserial's list_ports_linux reads it) —
// never SerialPort.list(), which spawns udevadm and crashes the process where it is missing.
// USB devices come from `usb` 3 when a USB bus exists. Nothing is opened or probed here: drivers
// identify a device when they open it. Explicit config wins: a discovered device that a
// configured peripheral already covers is reported as such and gets no suggestion.
import { readFileSync, readdirSync, realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { defaultFirmwareProfilesDir, loadFirmwareProfiles, matchProfile } from '../firmware-profiles/loader.js';
import type { FirmwareProfile } from '../firmware-profiles/schema.js';
import { formatZodError } from '../protocol/index.js';
import { peripheralConfigSchema, type PeripheralConfig } from './config.js';
import { hex4, listUsbDevices, type UsbApi, type UsbDeviceLike } from './drivers/usb-printer/bus.js';

export type UsbIds = { vid: string; pid: string; manufacturer?: string; product?: string; serial?: string };

export type DiscoveredPeripheral = {
  source: 'serial' | 'usb';
  /** `serial:/dev/ttyUSB0` or `usb:04b8:0202` (as drivers report `port`). */
  port: string;
  /** Serial device path. */
  path?: string;
  /** USB ids (of the adapter, for a USB-serial port). */
  usb?: UsbIds;
  /** Best firmware profile, if any, and what matched. */
  profile?: string;
  matchedBy?: string[];
  /** Driver the profile names (or `usb-printer` for a printer-class USB device). */
  driver?: string;
  /** Id of the configured peripheral that covers this device (explicit config wins). */
  configuredAs?: string;
};

export type DiscoveryResult = {
  peripherals: DiscoveredPeripheral[];
  /** Why a source found nothing (no USB bus, no sysfs), for the log. */
  notes: string[];
};

export type DiscoveryOptions = {
  /** sysfs root (default `/sys`); tests pass a fake tree. */
  sysRoot?: string;
  /** Where device nodes live (default `/dev`). */
  devRoot?: string;
  /** WebUSB-style API (default: the `usb` module, loaded only when a bus exists). */
  usb?: UsbApi;
  profiles?: readonly FirmwareProfile[];
  /** Configured peripherals; they win over discovery. */
  configured?: readonly PeripheralConfig[];
  log?: Logger;
};

const readText = (p: string): string | undefined => {
  try {
    const t = readFileSync(p, 'utf8').trim();
    return t || undefined;
  } catch {
    return undefined;
  }
};

const realpath = (p: string): string | undefined => {
  try {
    return realpathSync(p);
  } catch {
    return undefined;
  }
};

function usbIdsAt(dir: string): UsbIds | undefined {
  const vid = readText(join(dir, 'idVendor'));
  const pid = readText(join(dir, 'idProduct'));
  if (!vid || !pid || !/^[0-9a-f]{4}$/i.test(vid) || !/^[0-9a-f]{4}$/i.test(pid)) return undefined;
  const ids: UsbIds = { vid: vid.toLowerCase(), pid: pid.toLowerCase() };
  const manufacturer = readText(join(dir, 'manufacturer'));
  const product = readText(join(dir, 'product'));
  const serial = readText(join(dir, 'serial'));
  if (manufacturer) ids.manufacturer = manufacturer;
  if (product) ids.product = product;
  if (serial) ids.serial = serial;
  return ids;
}

export type SerialPortInfo = { name: string; path: string; subsystem: string; usb?: UsbIds };

/**
 * Serial ports under `<sysRoot>/class/tty`: entries with a `device` link whose subsystem is not
 * `platform` (the always-present 8250 placeholders), with USB ids for USB-serial (`usb-serial`:
 * ids two levels up) and CDC-ACM (`usb`: one level up) ports. Never throws.
 */
export function listSerialPorts(sysRoot = '/sys', devRoot = '/dev'): { ports: SerialPortInfo[]; note?: string } {
  const classDir = join(sysRoot, 'class', 'tty');
  let names: string[];
  try {
    names = readdirSync(classDir).sort();
  } catch (err) {
    return { ports: [], note: `no serial ports: ${classDir} not readable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
  }
  const ports: SerialPortInfo[] = [];
  for (const name of names) {
    const devicePath = realpath(join(classDir, name, 'device'));
    if (!devicePath) continue; // virtual tty (console, pty, vt): no hardware behind it
    const subsystemPath = realpath(join(devicePath, 'subsystem'));
    const subsystem = subsystemPath ? basename(subsystemPath) : 'unknown';
    if (subsystem === 'platform') continue;
    let usbInterface: string | undefined;
    if (subsystem === 'usb-serial') usbInterface = dirname(devicePath);
    else if (subsystem === 'usb') usbInterface = devicePath;
    const info: SerialPortInfo = { name, path: join(devRoot, name), subsystem };
    const ids = usbInterface ? usbIdsAt(dirname(usbInterface)) : undefined;
    if (ids) info.usb = ids;
    ports.push(info);
  }
  return { ports };
}

const safe = <T>(get: () => T): T | undefined => {
  try {
    return get() ?? undefined;
  } catch {
    return undefined; // node-usb-rs opens the device to read strings; that can fail (permissions)
  }
};

function usbIdsOf(d: UsbDeviceLike): UsbIds {
  const ids: UsbIds = { vid: hex4(d.vendorId), pid: hex4(d.productId) };
  const manufacturer = safe(() => d.manufacturerName);
  const product = safe(() => d.productName);
  const serial = safe(() => d.serialNumber);
  if (manufacturer) ids.manufacturer = manufacturer;
  if (product) ids.product = product;
  if (serial) ids.serial = serial;
  return ids;
}

const PRINTER_CLASS = 7;
function hasPrinterInterface(d: UsbDeviceLike): boolean {
  const ifaces = safe(() => d.configuration?.interfaces) ?? [];
  return ifaces.some((i) => i.alternate?.interfaceClass === PRINTER_CLASS);
}

function coveredBy(found: DiscoveredPeripheral, configured: readonly PeripheralConfig[]): string | undefined {
  for (const c of configured) {
    const cfg = c as { id: string; path?: string; vid?: string; pid?: string; serial?: string };
    if (found.path && cfg.path && realpath(cfg.path) === (realpath(found.path) ?? found.path)) return cfg.id;
    if (found.path && cfg.path === found.path) return cfg.id;
    if (
      found.source === 'usb' &&
      found.usb &&
      cfg.vid &&
      cfg.pid &&
      cfg.vid.toLowerCase() === found.usb.vid &&
      cfg.pid.toLowerCase() === found.usb.pid &&
      (!cfg.serial || cfg.serial === found.usb.serial)
    )
      return cfg.id;
  }
  return undefined;
}

/** Serial ports and USB devices, each matched to a firmware profile. Never throws. */
export async function discoverPeripherals(opts: DiscoveryOptions = {}): Promise<DiscoveryResult> {
  const sysRoot = opts.sysRoot ?? '/sys';
  const notes: string[] = [];
  let profiles = opts.profiles;
  if (!profiles) {
    try {
      profiles = loadFirmwareProfiles(defaultFirmwareProfilesDir());
    } catch (err) {
      notes.push(`firmware profiles not loaded: ${(err as Error).message}`);
      profiles = [];
    }
  }
  const configured = opts.configured ?? [];
  const out: DiscoveredPeripheral[] = [];

  const serial = listSerialPorts(sysRoot, opts.devRoot ?? '/dev');
  if (serial.note) notes.push(serial.note);
  for (const p of serial.ports) {
    const d: DiscoveredPeripheral = { source: 'serial', port: `serial:${p.path}`, path: p.path };
    if (p.usb) {
      d.usb = p.usb;
      // A USB-serial adapter's ids identify the adapter, rarely the printer: a weak match, but
      // a printer with a built-in USB-serial bridge (e.g. a CDC-ACM port) is found this way.
      const m = matchProfile(
        { usb: { vid: parseInt(p.usb.vid, 16), pid: parseInt(p.usb.pid, 16) }, modelName: p.usb.product, maker: p.usb.manufacturer },
        profiles.filter((x) => x.driver !== 'usb-printer'),
      );
      if (m) {
        d.profile = m.profile.id;
        d.matchedBy = m.by;
        d.driver = m.profile.driver;
      }
    }
    const cfg = coveredBy(d, configured);
    if (cfg) d.configuredAs = cfg;
    out.push(d);
  }

  const usb = await listUsbDevices({ api: opts.usb, sysRoot });
  if (usb.note) notes.push(usb.note);
  const serialAdapters = new Set(serial.ports.filter((p) => p.usb).map((p) => `${p.usb!.vid}:${p.usb!.pid}:${p.usb!.serial ?? ''}`));
  for (const dev of usb.devices) {
    const ids = usbIdsOf(dev);
    // Reached through its tty already.
    if (serialAdapters.has(`${ids.vid}:${ids.pid}:${ids.serial ?? ''}`)) continue;
    const printer = hasPrinterInterface(dev);
    const m = matchProfile({ usb: { vid: dev.vendorId, pid: dev.productId }, modelName: ids.product, maker: ids.manufacturer }, profiles);
    if (!printer && !m) continue; // hubs, keyboards, the POS box's own devices
    const d: DiscoveredPeripheral = { source: 'usb', port: `usb:${ids.vid}:${ids.pid}`, usb: ids };
    if (m) {
      d.profile = m.profile.id;
      d.matchedBy = m.by;
    }
    // Over USB a printer is reached through the printer class, whatever its command set.
    d.driver = printer ? 'usb-printer' : m?.profile.driver;
    const cfg = coveredBy(d, configured);
    if (cfg) d.configuredAs = cfg;
    out.push(d);
  }
  opts.log?.info(
    { found: out.length, notes, peripherals: out.map((p) => ({ port: p.port, profile: p.profile, driver: p.driver, configuredAs: p.configuredAs })) },
    'peripheral discovery',
  );
  return { peripherals: out, notes };
}

/**
 * The config that polls a discovered device with the driver its profile names (the driver still
 * identifies the device itself when it opens it), or why there is none: no profile matched, a
 * configured peripheral covers it, or the driver needs more than a port (a TCP clock).
 */
export function configForDiscovered(d: DiscoveredPeripheral, id: string): { ok: true; config: PeripheralConfig } | { ok: false; reason: string } {
  if (d.configuredAs) return { ok: false, reason: `configured as ${d.configuredAs}` };
  if (!d.profile || !d.driver) return { ok: false, reason: 'no firmware profile matched' };
  const where = d.source === 'usb' && d.usb ? { vid: d.usb.vid, pid: d.usb.pid, ...(d.usb.serial ? { serial: d.usb.serial } : {}) } : { path: d.path };
  const r = peripheralConfigSchema.safeParse({ id, driver: d.driver, ...where });
  return r.success ? { ok: true, config: r.data } : { ok: false, reason: `driver ${d.driver}: ${formatZodError(r.error)}` };
}

/** A peripheral id for a discovered device (`auto-ttyACM0`, `auto-usb-04b8-0202`), unique among `taken`. */
export function discoveredId(d: DiscoveredPeripheral, taken: ReadonlySet<string>): string {
  const base = `auto-${d.source === 'usb' && d.usb ? `usb-${d.usb.vid}-${d.usb.pid}` : basename(d.path ?? d.port)}`.replace(/[^A-Za-z0-9._-]/g, '-');
  let id = base;
  for (let n = 2; taken.has(id); n++) id = `${base}-${n}`;
  return id;
}
