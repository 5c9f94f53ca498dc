// A fake of the WebUSB-style device interface of `usb` 3 (node-usb-rs) for a USB printer: no
// USB can be emulated on these machines, so the USB driver is tested against this. It follows the
// real API's rules — a control or bulk transfer needs a claimed interface, claiming fails while
// the kernel's usblp holds it, errors are thrown as node-usb-rs throws them ("controlTransferIn
// error: endpoint stalled", "… device disconnected", "… invalid state") — and replays real
// replies: an IEEE 1284 device id, the port-status byte, ESC/POS DLE EOT bytes on the bulk pipe.
import { encodeDeviceId, encodePortStatus, GET_DEVICE_ID, GET_PORT_STATUS, USB_CLASS_PRINTER } from '../agent/drivers/usb-printer/codec.js';
import type { UsbApi, UsbConfigurationLike, UsbDeviceLike, UsbInResult } from '../agent/drivers/usb-printer/bus.js';
import { encodeRealtimeStatus } from '../agent/drivers/escpos/codec.js';

/** Device-id strings as printers send them (fixtures: field order and short keys as seen in the wild). */
export const deviceIdFixtures = {
  epsonTmM30: 'MFG:EPSON;CMD:ESC/POS;MDL:TM-m30;CLS:PRINTER;DES:TM-m30;SERN:X4SK123456;',
  starTsp143: 'MFG:STAR;CMD:STAR;MDL:TSP143IIIU (STR_T-001);CLS:PRINTER;SERN:2580318090600123;',
  generic: 'MANUFACTURER:ACME;COMMAND SET:PCL,PJL;MODEL:LaserThing 9;CLASS:PRINTER;',
} as const;

export type FakeUsbPrinterOptions = {
  vendorId: number;
  productId: number;
  manufacturerName?: string;
  productName?: string;
  serialNumber?: string;
  /** IEEE 1284 string (without the length prefix). */
  deviceId: string;
  /** Interface number of the printer-class interface (non-zero on composite devices). */
  interfaceNumber?: number;
  alternateSetting?: number;
  /** usblp bound to the interface at start (default true, as on Linux). */
  kernelDriverAttached?: boolean;
  /** Answer DLE EOT on the bulk endpoints (ESC/POS printers). */
  escpos?: boolean;
};

function napiError(message: string): Error {
  // napi-rs errors carry code 'GenericFailure' and the Rust message.
  return Object.assign(new Error(message), { code: 'GenericFailure' });
}

export type FakeUsbPrinterState = { paperEmpty: boolean; paperNearEnd: boolean; selected: boolean; error: boolean; coverOpen: boolean };

export class FakeUsbPrinterDevice implements UsbDeviceLike {
  readonly vendorId: number;
  readonly productId: number;
  readonly manufacturerName: string | null;
  readonly productName: string | null;
  readonly serialNumber: string | null;
  private isOpen = false;
  private claimed = new Set<number>();
  private kernelDriver: boolean;
  private disconnected = false;
  private stallNext = 0;
  private bulkReply: number[] = [];
  readonly state: FakeUsbPrinterState = { paperEmpty: false, paperNearEnd: false, selected: true, error: false, coverOpen: false };
  /** Every control setup received (to check wIndex layouts). */
  readonly controlLog: Array<{ request: number; value: number; index: number; length: number }> = [];
  readonly calls = { detach: 0, attach: 0, claim: 0, release: 0, open: 0, close: 0 };
  private readonly iface: number;
  private readonly alt: number;

  constructor(private readonly o: FakeUsbPrinterOptions) {
    this.vendorId = o.vendorId;
    this.productId = o.productId;
    this.manufacturerName = o.manufacturerName ?? null;
    this.productName = o.productName ?? null;
    this.serialNumber = o.serialNumber ?? null;
    this.kernelDriver = o.kernelDriverAttached ?? true;
    this.iface = o.interfaceNumber ?? 0;
    this.alt = o.alternateSetting ?? 0;
  }

  get opened(): boolean {
    return this.isOpen;
  }

  get kernelDriverAttached(): boolean {
    return this.kernelDriver;
  }

  get configuration(): UsbConfigurationLike {
    const other =
      this.iface === 0
        ? []
        : [
            {
              interfaceNumber: 0,
              claimed: this.claimed.has(0),
              alternate: { alternateSetting: 0, interfaceClass: 0xff, interfaceSubclass: 0, interfaceProtocol: 0, endpoints: [] },
            },
          ];
    return {
      configurationValue: 1,
      interfaces: [
        ...other,
        {
          interfaceNumber: this.iface,
          claimed: this.claimed.has(this.iface),
          alternate: {
            alternateSetting: this.alt,
            interfaceClass: USB_CLASS_PRINTER,
            interfaceSubclass: 1,
            interfaceProtocol: 2, // bidirectional
            endpoints: [
              { endpointNumber: 1, direction: 'out', type: 'bulk', packetSize: 64 },
              { endpointNumber: 2, direction: 'in', type: 'bulk', packetSize: 64 },
            ],
          },
        },
      ],
    };
  }

  // --- scripting
  /** The cable is pulled: every call fails with "device disconnected" until `reconnect()`. */
  disconnect(): void {
    this.disconnected = true;
    this.isOpen = false;
    this.claimed.clear();
    this.kernelDriver = false;
  }
  reconnect(): void {
    this.disconnected = false;
    this.kernelDriver = this.o.kernelDriverAttached ?? true;
  }
  /** The next `n` transfers stall. */
  stall(n = 1): void {
    this.stallNext += n;
  }
  set(s: Partial<FakeUsbPrinterState>): void {
    Object.assign(this.state, s);
  }

  // --- the API
  private check(what: string, needClaim = true): void {
    if (this.disconnected) throw napiError(`${what} error: device disconnected`);
    if (!this.isOpen) throw napiError(`${what} error: invalid state`);
    if (needClaim && this.claimed.size === 0) throw napiError(`${what} error: invalid state`);
  }

  async open(): Promise<void> {
    if (this.disconnected) throw napiError('open error: device disconnected');
    this.calls.open++;
    this.isOpen = true;
  }

  async close(): Promise<void> {
    this.calls.close++;
    this.isOpen = false;
    this.claimed.clear();
  }

  async detachKernelDriver(n: number): Promise<void> {
    this.check('detachKernelDriver', false);
    if (n !== this.iface || !this.kernelDriver) throw napiError('detachKernelDriver error: No data available (os error 61)');
    this.calls.detach++;
    this.kernelDriver = false;
  }

  async attachKernelDriver(n: number): Promise<void> {
    this.check('attachKernelDriver', false);
    if (n !== this.iface || this.kernelDriver || this.claimed.has(n)) throw napiError('attachKernelDriver error: Device or resource busy (os error 16)');
    this.calls.attach++;
    this.kernelDriver = true;
  }

  async claimInterface(n: number): Promise<void> {
    this.check('claimInterface', false);
    if (n === this.iface && this.kernelDriver) throw napiError('claimInterface error: Device or resource busy (os error 16)');
    if (!this.configuration.interfaces.some((i) => i.interfaceNumber === n)) throw napiError('claimInterface error: Invalid argument (os error 22)');
    this.calls.claim++;
    this.claimed.add(n);
  }

  async releaseInterface(n: number): Promise<void> {
    this.check('releaseInterface', false);
    if (!this.claimed.delete(n)) throw napiError('releaseInterface error: not claimed');
    this.calls.release++;
  }

  private stalled(what: string): void {
    if (this.stallNext > 0) {
      this.stallNext--;
      throw napiError(`${what} error: endpoint stalled`);
    }
  }

  async controlTransferIn(
    setup: { requestType: string; recipient: string; request: number; value: number; index: number },
    length: number,
  ): Promise<UsbInResult> {
    this.check('controlTransferIn');
    this.controlLog.push({ request: setup.request, value: setup.value, index: setup.index, length });
    this.stalled('controlTransferIn');
    if (setup.requestType !== 'class' || setup.recipient !== 'interface') throw napiError('controlTransferIn error: endpoint stalled');
    let reply: Uint8Array;
    if (setup.request === GET_DEVICE_ID) {
      // usblp.c: interface in the high byte, altsetting in the low byte. A wrong layout stalls.
      if (setup.index !== ((this.iface << 8) | this.alt)) throw napiError('controlTransferIn error: endpoint stalled');
      reply = encodeDeviceId(this.o.deviceId);
    } else if (setup.request === GET_PORT_STATUS) {
      if ((setup.index & 0xff) !== this.iface) throw napiError('controlTransferIn error: endpoint stalled');
      const s = this.state;
      reply = Uint8Array.of(
        encodePortStatus({
          paperEmpty: s.paperEmpty,
          selected: s.selected && !s.error && !s.coverOpen && !s.paperEmpty,
          notError: !s.error && !s.coverOpen && !s.paperEmpty,
        }),
      );
    } else {
      throw napiError('controlTransferIn error: endpoint stalled');
    }
    const out = reply.slice(0, length);
    return { data: new DataView(out.buffer, out.byteOffset, out.byteLength), status: 'ok' };
  }

  async transferOut(endpointNumber: number, data: Uint8Array): Promise<{ bytesWritten: number; status: 'ok' }> {
    this.check('transferOut');
    if (endpointNumber !== 1) throw napiError('transferOut error: endpoint not found');
    this.stalled('transferOut');
    for (let i = 0; i + 2 < data.length; i++) {
      if (data[i] === 0x10 && data[i + 1] === 0x04 && this.o.escpos) this.bulkReply.push(this.dleEot(data[i + 2]));
    }
    return { bytesWritten: data.length, status: 'ok' };
  }

  async transferIn(endpointNumber: number, length: number): Promise<UsbInResult> {
    this.check('transferIn');
    if (endpointNumber !== 2) throw napiError('transferIn error: endpoint not found');
    this.stalled('transferIn');
    // A printer with nothing to say lets the bulk-in transfer time out (nusb: Cancelled).
    if (this.bulkReply.length === 0) throw napiError('transferIn error: Cancelled');
    const out = Uint8Array.from(this.bulkReply.splice(0, length));
    return { data: new DataView(out.buffer), status: 'ok' };
  }

  private dleEot(n: number): number {
    const s = this.state;
    const offline = s.coverOpen || s.paperEmpty || s.error || !s.selected;
    switch (n) {
      case 1:
        return encodeRealtimeStatus({ n: 1, drawerPin3High: false, offline, waitingForOnlineRecovery: false, feedButtonPressed: false });
      case 2:
        return encodeRealtimeStatus({ n: 2, coverOpen: s.coverOpen, feedingByButton: false, stoppedByPaperEnd: s.paperEmpty, errorOccurred: s.error });
      case 3:
        return encodeRealtimeStatus({ n: 3, mechanicalError: false, autocutterError: s.error, unrecoverableError: false, autoRecoverableError: false });
      default:
        return encodeRealtimeStatus({ n: 4, paperNearEnd: s.paperNearEnd || s.paperEmpty, paperEnd: s.paperEmpty });
    }
  }
}

/** A fake `usb` object: `getDevices()` over a changeable list (plug and unplug in tests). */
export class FakeUsb implements UsbApi {
  constructor(readonly devices: FakeUsbPrinterDevice[] = []) {}
  async getDevices(): Promise<UsbDeviceLike[]> {
    return [...this.devices];
  }
  unplug(d: FakeUsbPrinterDevice): void {
    const i = this.devices.indexOf(d);
    if (i >= 0) this.devices.splice(i, 1);
    d.disconnect();
  }
  plug(d: FakeUsbPrinterDevice): void {
    d.reconnect();
    if (!this.devices.includes(d)) this.devices.push(d);
  }
}
