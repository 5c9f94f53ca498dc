// A printer on USB, through the printer class (0x07): identity from GET_DEVICE_ID (IEEE 1284
// MFG/MDL/SERN), paper/selected/error lines from GET_PORT_STATUS, and — where the firmware
// profile says the model answers it — ESC/POS real-time status (DLE EOT 1..4) over the bulk
// endpoints, decoded by the ESC/POS parser. The kernel's usblp driver is detached only while we
// hold the interface and re-attached on close, so the print spooler keeps working.
import type { PeripheralIdentity, PeripheralReading } from '../driver.js';
import { FleetcareError } from '../../../protocol/errors.js';
import { matchProfile } from '../../../firmware-profiles/loader.js';
import { configuredDriver, healthOfFaults, identityOf, lazyProfiles, profiledDriver, resolveProfile } from '../common.js';
import type { ProfiledDriver, ProfiledDriverContext } from '../common.js';
import type { FirmwareProfile } from '../../../firmware-profiles/schema.js';
import { dleEot, escposRealtimeStatus, faultsFromStatus, type FullStatus, type RealtimeStatusRequest } from '../escpos/codec.js';
import { hex4, listUsbDevices, usbErrorKind, type UsbApi, type UsbDeviceLike, type UsbInResult, type UsbInterfaceLike } from './bus.js';
import { usbPrinterConfigSchema, type UsbPrinterConfigInput } from './config.js';
import { decodePortStatus, faultsFromPortStatus, getDeviceIdSetup, getPortStatusSetup, parseDeviceId, USB_CLASS_PRINTER, type Ieee1284Id } from './codec.js';

export * from './codec.js';
export * from './config.js';
export { listUsbDevices, usbErrorKind, type UsbApi, type UsbDeviceLike } from './bus.js';

export type UsbPrinterDriverContext = ProfiledDriverContext & {
  /** WebUSB-style API; the real `usb` module when not given. */
  usb?: UsbApi;
  /** sysfs root (default `/sys`), to tell "no USB bus" from "printer absent". */
  sysRoot?: string;
};

export type UsbPrinterStats = {
  commErrors: number;
  stalls: number;
  disconnects: number;
  transfers: number;
  kernelDriverDetached: number;
  kernelDriverReattached: number;
};

export type UsbPrinterDriver = ProfiledDriver & {
  readonly deviceId: Ieee1284Id | null;
  stats(): UsbPrinterStats;
};

export function createUsbPrinterDriver(configInput: UsbPrinterConfigInput, ctx: UsbPrinterDriverContext): UsbPrinterDriver {
  const { config, log } = configuredDriver(usbPrinterConfigSchema, configInput, ctx);
  const vid = parseInt(config.vid, 16);
  const pid = parseInt(config.pid, 16);
  const where = `usb:${hex4(vid)}:${hex4(pid)}`;
  const stats: UsbPrinterStats = { commErrors: 0, stalls: 0, disconnects: 0, transfers: 0, kernelDriverDetached: 0, kernelDriverReattached: 0 };
  let profile: FirmwareProfile | null = null;
  let identity: PeripheralIdentity | null = null;
  let deviceId: Ieee1284Id | null = null;
  let device: UsbDeviceLike | null = null;
  let iface: UsbInterfaceLike | null = null;
  let detached = false;

  const getProfiles = lazyProfiles(ctx.profiles, log);

  /** Runs one transfer, turning node-usb's thrown errors and WebUSB's `status` into typed errors. */
  async function transfer<T extends UsbInResult | { bytesWritten: number; status?: string }>(
    what: string,
    signal: AbortSignal,
    fn: () => Promise<T>,
  ): Promise<T> {
    signal.throwIfAborted();
    stats.transfers++;
    let r: T;
    try {
      r = await fn();
    } catch (err) {
      stats.commErrors++;
      const kind = usbErrorKind(err);
      if (kind === 'stall') {
        stats.stalls++;
        throw new FleetcareError('usb-stall', `${what} stalled on ${where}: ${(err as Error).message}`);
      }
      if (kind === 'disconnected') {
        stats.disconnects++;
        forget();
        throw new FleetcareError('usb-disconnected', `${where} disconnected during ${what}: ${(err as Error).message}`);
      }
      throw new Error(`${what} failed on ${where}: ${(err as Error).message}`);
    }
    if (r.status === 'stall') {
      stats.commErrors++;
      stats.stalls++;
      throw new FleetcareError('usb-stall', `${what} stalled on ${where}`);
    }
    if (r.status && r.status !== 'ok') {
      stats.commErrors++;
      throw new Error(`${what} on ${where}: status ${r.status}`);
    }
    signal.throwIfAborted();
    return r;
  }

  const bytesOf = (r: UsbInResult) => (r.data ? new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength) : new Uint8Array(0));

  /** Drops our handle without touching the (gone) device. */
  function forget(): void {
    device = null;
    iface = null;
    detached = false;
  }

  async function find(): Promise<UsbDeviceLike> {
    const listing = await listUsbDevices({ api: ctx.usb, sysRoot: ctx.sysRoot });
    if (listing.note) throw new Error(`${where}: ${listing.note}`);
    const found = listing.devices.find((d) => d.vendorId === vid && d.productId === pid && (!config.serial || d.serialNumber === config.serial));
    if (!found)
      throw new Error(
        `no USB device ${hex4(vid)}:${hex4(pid)}${config.serial ? ` with serial ${config.serial}` : ''} (${listing.devices.length} devices on the bus)`,
      );
    return found;
  }

  function printerInterface(d: UsbDeviceLike): UsbInterfaceLike {
    const ifaces = d.configuration?.interfaces ?? [];
    const chosen =
      config.interface !== undefined
        ? ifaces.find((i) => i.interfaceNumber === config.interface)
        : ifaces.find((i) => i.alternate.interfaceClass === USB_CLASS_PRINTER);
    if (!chosen) throw new Error(`${where} has no ${config.interface !== undefined ? `interface ${config.interface}` : 'printer-class interface'}`);
    return chosen;
  }

  async function release(): Promise<void> {
    const d = device;
    const i = iface;
    const wasDetached = detached;
    forget();
    if (!d) return;
    try {
      if (i) await d.releaseInterface(i.interfaceNumber);
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'releaseInterface failed');
    }
    if (wasDetached && i && d.attachKernelDriver) {
      try {
        await d.attachKernelDriver(i.interfaceNumber);
        stats.kernelDriverReattached++;
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'could not give the interface back to the kernel printer driver');
      }
    }
    try {
      await d.close();
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'close failed');
    }
  }

  async function readStatus(signal: AbortSignal): Promise<{ faults: string[]; escpos: FullStatus | null; portStatus: number }> {
    const d = device!;
    const i = iface!;
    const r = await transfer('GET_PORT_STATUS', signal, () => d.controlTransferIn(getPortStatusSetup(i.interfaceNumber), 1));
    const raw = bytesOf(r);
    if (raw.length < 1) {
      stats.commErrors++;
      throw new Error(`GET_PORT_STATUS on ${where} returned no byte`);
    }
    const port = decodePortStatus(raw[0]);
    const faults: string[] = faultsFromPortStatus(port);
    let escpos: FullStatus | null = null;
    const epOut = i.alternate.endpoints.find((e) => e.type === 'bulk' && e.direction === 'out');
    const epIn = i.alternate.endpoints.find((e) => e.type === 'bulk' && e.direction === 'in');
    if (config.escposStatus && profile?.capabilities.escposOverUsb && epOut && epIn) {
      const out: Partial<Record<RealtimeStatusRequest, unknown>> = {};
      for (const n of [1, 2, 3, 4] as const) {
        await transfer(`DLE EOT ${n}`, signal, () => d.transferOut(epOut.endpointNumber, dleEot(n)));
        const reply = bytesOf(await transfer(`DLE EOT ${n} reply`, signal, () => d.transferIn(epIn.endpointNumber, epIn.packetSize ?? 64)));
        // The last byte is the newest status if the printer sent more than one.
        const st = reply.length ? escposRealtimeStatus(n, reply[reply.length - 1]) : { ok: false as const, error: 'empty reply' };
        if (!st.ok) {
          stats.commErrors++;
          throw new Error(`DLE EOT ${n} over USB: ${st.error}`);
        }
        out[n] = st.value;
      }
      escpos = { printer: out[1], offlineCause: out[2], errorCause: out[3], paper: out[4] } as FullStatus;
      // ESC/POS status is the more specific reading: port-level codes it already explains go.
      const fine = faultsFromStatus(escpos);
      const merged = new Set<string>(fine);
      for (const f of faults) if (!(f === 'offline' && fine.length) && !(f === 'printer-error' && fine.length)) merged.add(f);
      return { faults: [...merged], escpos, portStatus: port.raw };
    }
    return { faults, escpos, portStatus: port.raw };
  }

  const healthOf = (faults: string[]) => healthOfFaults(faults, profile, getProfiles(), 'critical');

  const driver = profiledDriver<UsbPrinterDriver>(
    { id: config.id, kind: 'printer', profile: () => profile, identity: () => identity },
    {
      get deviceId() {
        return deviceId;
      },
      stats: () => ({ ...stats }),

      async open(signal) {
        await release();
        const d = await find();
        signal.throwIfAborted();
        await d.open();
        try {
          const i = printerInterface(d);
          if (d.detachKernelDriver) {
            try {
              await d.detachKernelDriver(i.interfaceNumber);
              detached = true;
              stats.kernelDriverDetached++;
            } catch (err) {
              // No kernel driver bound (or not Linux): nothing to give back later.
              log.debug({ err: (err as Error).message }, 'no kernel driver detached');
            }
          }
          device = d;
          iface = i;
          await d.claimInterface(i.interfaceNumber);
          const configIndex = 0; // usblp asks for the first (index 0) configuration
          const r = await transfer('GET_DEVICE_ID', signal, () =>
            d.controlTransferIn(getDeviceIdSetup(configIndex, i.interfaceNumber, i.alternate.alternateSetting), 1024),
          );
          const parsed = parseDeviceId(bytesOf(r));
          if (!parsed.ok) {
            stats.commErrors++;
            log.warn({ error: parsed.error }, 'bad IEEE 1284 device id');
          }
          deviceId = parsed.ok ? parsed.value : null;
          const reported = {
            vendor: deviceId?.manufacturer ?? d.manufacturerName ?? undefined,
            model: deviceId?.model ?? d.productName ?? undefined,
            serial: deviceId?.serial ?? d.serialNumber ?? undefined,
          };
          profile = resolveProfile(
            getProfiles(),
            config.profile,
            (all) =>
              matchProfile(
                { modelName: reported.model, maker: reported.vendor, usb: { vid, pid } },
                all.filter((p) => p.kind === 'printer'),
              )?.profile ?? null,
          );
          const id = identityOf(where, reported, profile);
          identity = id;
          log.info(
            { ...id, commandSets: deviceId?.commandSets, interface: i.interfaceNumber },
            profile ? 'USB printer identified' : 'USB printer has no matching firmware profile',
          );
          return id;
        } catch (err) {
          if (!device) device = d;
          await release();
          throw err;
        }
      },

      async poll(signal): Promise<PeripheralReading> {
        if (!device || !iface) throw new Error(`${where} is not open`);
        const started = performance.now();
        const s = await readStatus(signal);
        return {
          health: healthOf(s.faults),
          metrics: { replyLatencyMs: performance.now() - started, portStatus: s.portStatus },
          // Counts only grow: counters (one type per field name in InfluxDB; the comm-errors detector reads counters).
          counters: { commErrors: stats.commErrors, stalls: stats.stalls },
          faults: s.faults,
        };
      },

      async selfTest(signal) {
        if (!device || !iface) throw new Error(`${where} is not open`);
        const s = await readStatus(signal);
        return {
          identity,
          deviceId,
          interface: iface.interfaceNumber,
          portStatus: s.portStatus,
          escpos: s.escpos,
          faults: s.faults,
          health: healthOf(s.faults),
          stats: { ...stats },
        };
      },

      async close() {
        await release();
      },
    },
  );
  return driver;
}
