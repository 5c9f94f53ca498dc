// Reaching USB devices through `usb` 3 (node-usb-rs, WebUSB-style API) without ever crashing a
// machine that has no USB bus: the native module is imported lazily, only when
// `<sysRoot>/bus/usb` exists, and its "/sys/bus/usb/devices/ not found" error becomes an empty
// list with a reason. Tests pass a fake `UsbApi` (sim/usb-printer-fake.ts).
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The parts of a WebUSB `USBDevice` (plus node-usb's kernel-driver calls) the agent uses. */
export interface UsbDeviceLike {
  readonly vendorId: number;
  readonly productId: number;
  readonly manufacturerName?: string | null;
  readonly productName?: string | null;
  readonly serialNumber?: string | null;
  readonly opened: boolean;
  readonly configuration: UsbConfigurationLike | null | undefined;
  open(): Promise<void>;
  close(): Promise<void>;
  claimInterface(n: number): Promise<void>;
  releaseInterface(n: number): Promise<void>;
  detachKernelDriver?(n: number): Promise<void>;
  attachKernelDriver?(n: number): Promise<void>;
  controlTransferIn(
    setup: {
      requestType: 'standard' | 'class' | 'vendor';
      recipient: 'device' | 'interface' | 'endpoint' | 'other';
      request: number;
      value: number;
      index: number;
    },
    length: number,
  ): Promise<UsbInResult>;
  transferIn(endpointNumber: number, length: number): Promise<UsbInResult>;
  transferOut(endpointNumber: number, data: Uint8Array): Promise<{ bytesWritten: number; status?: string }>;
}
export type UsbInResult = { data?: DataView | null; status?: 'ok' | 'stall' | 'babble' | string };
export type UsbEndpointLike = { endpointNumber: number; direction: 'in' | 'out' | string; type: string; packetSize?: number };
export type UsbInterfaceLike = {
  interfaceNumber: number;
  claimed?: boolean;
  alternate: { alternateSetting: number; interfaceClass: number; interfaceSubclass: number; interfaceProtocol: number; endpoints: UsbEndpointLike[] };
};
export type UsbConfigurationLike = { configurationValue: number; interfaces: UsbInterfaceLike[] };

export interface UsbApi {
  getDevices(): Promise<UsbDeviceLike[]>;
}

export type UsbListing = { devices: UsbDeviceLike[]; note?: string };

export type UsbBusOptions = {
  /** Injected API (tests, fakes). Without it, `usb` is imported when a bus exists. */
  api?: UsbApi;
  /** Root of sysfs (default `/sys`); a missing `<root>/bus/usb` means no USB bus. */
  sysRoot?: string;
};

/** Every USB device, or none with the reason. Never throws. */
export async function listUsbDevices(opts: UsbBusOptions = {}): Promise<UsbListing> {
  let api = opts.api;
  if (!api) {
    const root = opts.sysRoot ?? '/sys';
    if (!existsSync(join(root, 'bus', 'usb'))) return { devices: [], note: `no USB bus (${join(root, 'bus', 'usb')} missing)` };
    try {
      api = (await import('usb')).usb as unknown as UsbApi;
    } catch (err) {
      return { devices: [], note: `usb module not loadable: ${(err as Error).message}` };
    }
  }
  try {
    return { devices: await api.getDevices() };
  } catch (err) {
    // node-usb-rs: "getDevices error: /sys/bus/usb/devices/ not found (errno 2)" on a bus-less VM.
    return { devices: [], note: `no USB devices: ${(err as Error).message}` };
  }
}

/** What a failed transfer means: node-usb-rs throws `… error: endpoint stalled` / `device disconnected`. */
export function usbErrorKind(err: unknown): 'stall' | 'disconnected' | 'timeout' | 'other' {
  const m = err instanceof Error ? err.message : String(err);
  if (/stall/i.test(m)) return 'stall';
  if (/disconnected|no such device|not found|ENODEV/i.test(m)) return 'disconnected';
  if (/timed? ?out|cancelled/i.test(m)) return 'timeout';
  return 'other';
}

export const hex4 = (n: number) => n.toString(16).padStart(4, '0');
