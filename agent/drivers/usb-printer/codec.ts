// USB printer class (0x07) requests as pure functions (Linux drivers/usb/class/usblp.c, IEEE
// 1284): the control-transfer setups for GET_DEVICE_ID and GET_PORT_STATUS, the device-id string
// parser and the port-status decoder. No I/O: the driver, the fake device and the tests share them.

export const USB_CLASS_PRINTER = 0x07;
export const GET_DEVICE_ID = 0x00;
export const GET_PORT_STATUS = 0x01;
export const SOFT_RESET = 0x02;

/** The WebUSB-style setup `usb` 3 takes (requestType 'class' + recipient 'interface' = bmRequestType 0xA1 for IN). */
export type ClassSetup = { requestType: 'class'; recipient: 'interface'; request: number; value: number; index: number };

/**
 * GET_DEVICE_ID: wValue = configuration index, wIndex = `(interface << 8) | altsetting`. WebUSB
 * callers usually put the interface in the low byte; the printer class wants it in the HIGH byte.
 */
export function getDeviceIdSetup(configIndex: number, iface: number, altSetting: number): ClassSetup {
  for (const [n, v] of [
    ['config index', configIndex],
    ['interface', iface],
    ['altsetting', altSetting],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new RangeError(`${n} must be 0..255, got ${v}`);
  }
  return { requestType: 'class', recipient: 'interface', request: GET_DEVICE_ID, value: configIndex, index: (iface << 8) | altSetting };
}

/** GET_PORT_STATUS: wValue 0, wIndex = interface (low byte here), one byte back. */
export function getPortStatusSetup(iface: number): ClassSetup {
  if (!Number.isInteger(iface) || iface < 0 || iface > 255) throw new RangeError(`interface must be 0..255, got ${iface}`);
  return { requestType: 'class', recipient: 'interface', request: GET_PORT_STATUS, value: 0, index: iface };
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

export type Ieee1284Id = {
  manufacturer?: string;
  model?: string;
  commandSets: string[];
  class?: string;
  serial?: string;
  description?: string;
  /** Every key as sent (long and short forms, e.g. MANUFACTURER and MFG). */
  fields: Record<string, string>;
};

/**
 * Reply to GET_DEVICE_ID: 2-byte big-endian length (including those two bytes), then
 * `KEY:value;` pairs. The length is trusted only within the bytes received (some printers
 * count without the length bytes, some pad): the string is cut at the shorter of the two.
 */
export function parseDeviceId(reply: Uint8Array): Decoded<Ieee1284Id> {
  if (reply.length < 2) return { ok: false, error: `device id reply is ${reply.length} bytes` };
  const declared = (reply[0] << 8) | reply[1];
  if (declared < 2) return { ok: false, error: `device id length ${declared} is below 2` };
  const end = Math.min(declared, reply.length);
  const text = Buffer.from(reply.subarray(2, end)).toString('latin1').replace(/\0+$/, '');
  if (!/^[\x20-\x7e\r\n\t]*$/.test(text)) return { ok: false, error: 'device id has non-ASCII bytes' };
  const fields: Record<string, string> = {};
  for (const part of text.split(';')) {
    const i = part.indexOf(':');
    if (i <= 0) continue;
    const key = part.slice(0, i).trim().toUpperCase();
    if (!(key in fields)) fields[key] = part.slice(i + 1).trim();
  }
  if (Object.keys(fields).length === 0) return { ok: false, error: `device id "${text.slice(0, 40)}" has no KEY:value pairs` };
  const pick = (...keys: string[]) => keys.map((k) => fields[k]).find((v) => v !== undefined && v !== '');
  const cmd = pick('CMD', 'COMMAND SET');
  return {
    ok: true,
    value: {
      manufacturer: pick('MFG', 'MANUFACTURER'),
      model: pick('MDL', 'MODEL'),
      commandSets: cmd
        ? cmd
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : [],
      class: pick('CLS', 'CLASS'),
      serial: pick('SERN', 'SN', 'SERIALNUMBER'),
      description: pick('DES', 'DESCRIPTION'),
      fields,
    },
  };
}

/** The reply bytes for a device-id string (fake device side): length prefix included. */
export function encodeDeviceId(text: string): Uint8Array {
  const body = Buffer.from(text, 'latin1');
  const len = body.length + 2;
  if (len > 0xffff) throw new RangeError('device id too long');
  return Uint8Array.from([len >> 8, len & 0xff, ...body]);
}

export type PortStatus = { paperEmpty: boolean; selected: boolean; notError: boolean; raw: number };

/** GET_PORT_STATUS byte: 0x20 paper empty, 0x10 selected, 0x08 not error (usblp.c). */
export function decodePortStatus(byte: number): PortStatus {
  return { paperEmpty: (byte & 0x20) !== 0, selected: (byte & 0x10) !== 0, notError: (byte & 0x08) !== 0, raw: byte & 0xff };
}

export function encodePortStatus(s: Omit<PortStatus, 'raw'>): number {
  return (s.paperEmpty ? 0x20 : 0) | (s.selected ? 0x10 : 0) | (s.notError ? 0x08 : 0);
}

export const usbPortFaultCodes = ['paper-end', 'offline', 'printer-error'] as const;
export type UsbPortFaultCode = (typeof usbPortFaultCodes)[number];

/**
 * Faults from the port status. Paper end explains both "not selected" and "error" on most
 * printers, so it is reported alone; otherwise an error line, then deselection.
 */
export function faultsFromPortStatus(s: PortStatus): UsbPortFaultCode[] {
  if (s.paperEmpty) return ['paper-end'];
  if (!s.notError) return ['printer-error'];
  if (!s.selected) return ['offline'];
  return [];
}
