// A virtual ESC/POS receipt printer on the device end of a PTY pair. It answers the real bytes
// (DLE EOT 1..4, DLE ENQ, GS I, GS g 2, GS r, GS a with Automatic Status Back), keeps paper,
// cover, cutter and error state, and can be scripted to misbehave the ways real printers and
// cables do: faults, noise, silence, replies cut off mid-frame, slow replies (the line itself is
// sim/serial-device.ts).
//
// The input is parsed the way a printer does, command by command with each command's length
// (ESC/POS reference; Epson TM-T88 and Bixolon command manuals): raster and bit-image data, NV
// graphics and `GS ( …` / `GS 8 L` blocks are skipped by their byte counts, so a `1D 61` inside an
// image is pixels, not a command. Maintenance counters advance with what the printer is sent:
// lines fed (LF, ESC d, ESC J, raster height, GS V 65/66 feed) and cuts (GS V, ESC i, ESC m).
// Replies are built here from the manuals' bit tables (docs/hardware.md), not with the driver's codec.
import type { FirmwareProfile } from '../firmware-profiles/schema.js';
import { simulatedProfile, type SimulatedPeripheralOptions } from './profile.js';
import { appendBytes, SerialDeviceSimulator } from './serial-device.js';

const DLE = 0x10;
const EOT = 0x04;
const ENQ = 0x05;
const DC4 = 0x14;
const ESC = 0x1b;
const FS = 0x1c;
const GS = 0x1d;
const LF = 0x0a;

/** Maintenance counters by GS g id (Epson reference pp. 476–480): resettable, cumulative. */
export const printerCounterIds = {
  linesFed: { resettable: 20, cumulative: 148 },
  headEnergizing: { resettable: 21, cumulative: 149 },
  autocutterCuts: { resettable: 50, cumulative: 178 },
  operatingHours: { resettable: 70, cumulative: 198 },
} as const;
export type MaintenanceCounterName = keyof typeof printerCounterIds;

/** Vertical motion units per "line" (1/6 inch in 1/180-inch units, the default line spacing). */
const UNITS_PER_LINE = 30;
/** GS h default bar code height, in dots. */
const DEFAULT_BARCODE_HEIGHT = 162;

/** `5F` + ASCII + `00`: the block GS I 65–69 and GS g 2 answer with. */
const infoBlock = (text: string) => Uint8Array.from([0x5f, ...Buffer.from(text, 'latin1'), 0x00]);
const bits = (pairs: Array<[boolean, number]>, base = 0) => pairs.reduce((b, [on, mask]) => (on ? b | mask : b), base);

export type VirtualPrinterIdentity = {
  /** GS I 1 */
  modelId: number;
  /** GS I 2: bit0 multi-byte characters, bit1 autocutter. */
  typeId: number;
  /** GS I 3 */
  romVersion: number;
  /** GS I 65..69 (printer information B); a missing one is not answered, like real firmware. */
  firmware?: string;
  maker?: string;
  modelName?: string;
  serial?: string;
  fonts?: string;
  /** Answers GS g 2 maintenance-counter reads. */
  counters: boolean;
};

export type PaperState = 'ok' | 'near-end' | 'end';

/** `serial` is the answer to GS I 68. */
export type VirtualEscposPrinterOptions = SimulatedPeripheralOptions & {
  /** Explicit identity fields; win over the profile's. */
  identity?: Partial<VirtualPrinterIdentity>;
  /** Starting cumulative counter values (an aged printer); win over `ageFraction`. `linesFed` is in lines. */
  counters?: Partial<Record<MaintenanceCounterName, number>>;
  /** Share of each rated-life figure of the profile already used at start (sets counters). */
  ageFraction?: number;
  /** Head energizing pulses counted per line fed (default 30: one per dot row of a 30-dot line). */
  headPulsesPerLine?: number;
  /** Prints by itself at this rate (lines and cuts per second) while online. */
  autoUsage?: { linesPerSecond: number; cutsPerSecond: number; tickMs?: number };
  /** Operating hours advance this many times faster than real time (default 1). */
  clockRate?: number;
  replyDelayMs?: number;
};

export type VirtualPrinterStats = {
  commandsReceived: number;
  repliesSent: number;
  bytesSent: number;
  repliesDropped: number;
  /** GS g 0 received: a driver tried to reset a counter (must stay 0 with fleetcare). */
  counterResetAttempts: number;
  recoveries: number;
  printDataBytes: number;
  /** Feeds and cuts not carried out because the printer was offline (print() calls included). */
  printsRefused: number;
  /** Raster / bit-image / graphics bytes skipped by their declared length. */
  imageDataBytes: number;
  /** ESC / GS / FS commands this printer does not know (taken as 2 bytes). */
  unknownCommands: number;
  /** GS I requests received, by n. */
  gsIRequests: Record<number, number>;
};

/** A printer identity built from a firmware profile (what that model's firmware would answer). */
export function identityFromProfile(profile: FirmwareProfile, serial: string, overrides: Partial<VirtualPrinterIdentity> = {}): VirtualPrinterIdentity {
  const info = new Set(profile.capabilities.printerInfo);
  return {
    modelId: profile.match?.gsIModelIds?.[0] ?? 0x20,
    typeId: 0x02,
    romVersion: 0x01,
    firmware: info.has('firmware') ? '30.01 ESC/POS' : undefined,
    maker: info.has('maker') ? profile.vendor.toUpperCase() : undefined,
    modelName: info.has('modelName') ? profile.model : undefined,
    serial: info.has('serial') ? serial : undefined,
    fonts: info.has('fonts') ? 'ANK' : undefined,
    counters: profile.capabilities.maintenanceCounters.length > 0,
    ...overrides,
  };
}

/** Counters of a printer that has used `fraction` of the first-ending rated life of each counter. */
function agedCounters(profile: FirmwareProfile | null, fraction: number): Partial<Record<MaintenanceCounterName, number>> {
  const out: Partial<Record<MaintenanceCounterName, number>> = {};
  if (!profile || fraction <= 0) return out;
  for (const r of profile.ratedLife) {
    if (r.basis !== 'life' || !(r.metric in printerCounterIds)) continue;
    const steps = r.value / (r.unitsPerCount ?? 1);
    const name = r.metric as MaintenanceCounterName;
    out[name] = Math.min(out[name] ?? Infinity, Math.floor(steps * fraction));
  }
  return out;
}

const defaultIdentity: VirtualPrinterIdentity = {
  modelId: 0x20,
  typeId: 0x02,
  romVersion: 0x01,
  firmware: '30.01 ESC/POS',
  maker: 'EPSON',
  modelName: 'TM-T88VI',
  serial: 'SIM0000001',
  fonts: 'ANK',
  counters: true,
};

export type VirtualPrinterState = {
  paper: PaperState;
  coverOpen: boolean;
  autocutterError: boolean;
  unrecoverableError: boolean;
  autoRecoverableError: boolean;
  mechanicalError: boolean;
  forcedOffline: boolean;
  feedButton: boolean;
  drawerPin3High: boolean;
};

export class VirtualEscposPrinter extends SerialDeviceSimulator {
  private readonly identity: VirtualPrinterIdentity;
  private readonly st: VirtualPrinterState = {
    paper: 'ok',
    coverOpen: false,
    autocutterError: false,
    unrecoverableError: false,
    autoRecoverableError: false,
    mechanicalError: false,
    forcedOffline: false,
    feedButton: false,
    drawerPin3High: false,
  };
  /** Exact cumulative values; replies give the integer part. */
  private readonly cumulative: Record<MaintenanceCounterName, number>;
  /** Cumulative value at the last GS g 0 of each resettable counter. */
  private readonly resetBase: Record<MaintenanceCounterName, number>;
  private readonly startedAt = Date.now();
  private readonly headPulsesPerLine: number;
  private readonly clockRate: number;
  private inBuf: Uint8Array = new Uint8Array(0);
  private asbEnabled = false;
  /** Current line spacing (ESC 3 / ESC 2) in vertical motion units, and bar code height (GS h) in dots. */
  private lineSpacing = UNITS_PER_LINE;
  private barcodeHeight = DEFAULT_BARCODE_HEIGHT;
  private usageTimer: NodeJS.Timeout | null = null;
  private opened = false;
  private readonly counts: Omit<VirtualPrinterStats, 'repliesSent' | 'bytesSent' | 'repliesDropped'> = {
    commandsReceived: 0,
    counterResetAttempts: 0,
    recoveries: 0,
    printDataBytes: 0,
    printsRefused: 0,
    imageDataBytes: 0,
    unknownCommands: 0,
    gsIRequests: {},
  };

  readonly profile: FirmwareProfile | null;

  constructor(private readonly opts: VirtualEscposPrinterOptions = {}) {
    super();
    this.profile = simulatedProfile(opts.profile, opts.profiles, 'virtual printer');
    const serial = opts.serial ?? defaultIdentity.serial!;
    this.identity = { ...(this.profile ? identityFromProfile(this.profile, serial) : { ...defaultIdentity, serial }), ...opts.identity };
    this.cumulative = {
      linesFed: 0,
      headEnergizing: 0,
      autocutterCuts: 0,
      operatingHours: 0,
      ...agedCounters(this.profile, opts.ageFraction ?? 0),
      ...opts.counters,
    };
    this.resetBase = { linesFed: 0, headEnergizing: 0, autocutterCuts: 0, operatingHours: 0 };
    this.headPulsesPerLine = opts.headPulsesPerLine ?? 30;
    this.clockRate = opts.clockRate ?? 1;
    this.line.faults.replyDelayMs = opts.replyDelayMs ?? 0;
  }

  get stats(): VirtualPrinterStats {
    const { repliesSent, bytesSent, repliesDropped } = this.line.stats;
    return { ...this.counts, repliesSent, bytesSent, repliesDropped };
  }

  /** Opens `path`, or creates a PTY pair and opens its device end (see `hostPath`). */
  async open(): Promise<void> {
    if (this.opened) return;
    await this.line.open(this.opts.path, this.opts.baudRate ?? 9600);
    this.opened = true;
    const usage = this.opts.autoUsage;
    if (usage) {
      const { linesPerSecond, cutsPerSecond, tickMs = 1000 } = usage;
      let cutDebt = 0;
      this.usageTimer = setInterval(() => {
        cutDebt += (cutsPerSecond * tickMs) / 1000;
        const cuts = Math.floor(cutDebt);
        cutDebt -= cuts;
        this.print((linesPerSecond * tickMs) / 1000, cuts);
      }, tickMs);
      this.usageTimer.unref();
    }
  }

  /** Constructs and opens a printer. */
  static async start(opts: VirtualEscposPrinterOptions = {}): Promise<VirtualEscposPrinter> {
    const p = new VirtualEscposPrinter(opts);
    await p.open();
    return p;
  }

  // -------------------------------------------------------------------------------------------
  // State and scripted faults

  setPaper(paper: PaperState): void {
    this.change(() => (this.st.paper = paper));
  }
  setCoverOpen(open: boolean): void {
    this.change(() => (this.st.coverOpen = open));
  }
  /** A jammed autocutter: a recoverable error (DLE ENQ or clearing the jam ends it). */
  setCutterJam(jammed: boolean): void {
    this.change(() => (this.st.autocutterError = jammed));
  }
  setUnrecoverableError(on: boolean): void {
    this.change(() => (this.st.unrecoverableError = on));
  }
  /** e.g. head overheat: clears by itself when the head cools. */
  setAutoRecoverableError(on: boolean): void {
    this.change(() => (this.st.autoRecoverableError = on));
  }
  setMechanicalError(on: boolean): void {
    this.change(() => (this.st.mechanicalError = on));
  }
  /** Offline with no other cause (e.g. waiting after power-on, or switched offline). */
  setOffline(on: boolean): void {
    this.change(() => (this.st.forcedOffline = on));
  }
  setFeedButton(pressed: boolean): void {
    this.change(() => (this.st.feedButton = pressed));
  }
  setDrawerPin3(high: boolean): void {
    this.change(() => (this.st.drawerPin3High = high));
  }

  /** Automatic Status Back on or off, as if set by `GS a` or a memory switch. */
  setAsb(enabled: boolean): void {
    this.gsA(enabled ? 0x0f : 0);
  }

  /**
   * A receipt from the POS: `lines` lines fed (ESC d / ESC J) and `cuts` cuts (GS V 1), run
   * through the same command parser as bytes from the line. Refused while offline.
   */
  print(lines: number, cuts = 0): boolean {
    if (this.isOffline()) {
      this.counts.printsRefused++;
      return false;
    }
    const bytes: number[] = [];
    let whole = Math.floor(lines);
    for (; whole > 0; whole -= Math.min(whole, 255)) bytes.push(ESC, 0x64, Math.min(whole, 255));
    let units = Math.round((lines - Math.floor(lines)) * UNITS_PER_LINE);
    for (; units > 0; units -= Math.min(units, 255)) bytes.push(ESC, 0x4a, Math.min(units, 255));
    for (let i = 0; i < cuts; i++) bytes.push(GS, 0x56, 0x01);
    this.parse(Uint8Array.from(bytes));
    return true;
  }

  /** Current cumulative counter values as the printer would report them. */
  counters(): Record<MaintenanceCounterName, number> {
    return {
      linesFed: Math.floor(this.cumulative.linesFed),
      headEnergizing: Math.floor(this.cumulative.headEnergizing),
      autocutterCuts: Math.floor(this.cumulative.autocutterCuts),
      operatingHours: Math.floor(this.operatingHours()),
    };
  }

  /** Current state (read-only; change it with the set… methods). */
  get state(): Readonly<VirtualPrinterState> {
    return this.st;
  }

  get asb(): boolean {
    return this.asbEnabled;
  }

  async close(): Promise<void> {
    if (this.usageTimer) clearInterval(this.usageTimer);
    this.usageTimer = null;
    await this.line.close();
  }

  // -------------------------------------------------------------------------------------------
  // Status

  private operatingHours(): number {
    return this.cumulative.operatingHours + ((Date.now() - this.startedAt) * this.clockRate) / 3_600_000;
  }

  private anyError(): boolean {
    const s = this.st;
    return s.autocutterError || s.unrecoverableError || s.autoRecoverableError || s.mechanicalError;
  }

  private isOffline(): boolean {
    const s = this.st;
    return s.forcedOffline || s.coverOpen || s.paper === 'end' || this.anyError();
  }

  /** DLE EOT n reply: pattern `0xx1xx10` (0x12) plus the bits of table n (docs/hardware.md). */
  private realtimeStatus(n: number): number | null {
    const s = this.st;
    switch (n) {
      case 1:
        return bits(
          [
            [s.drawerPin3High, 0x04],
            [this.isOffline(), 0x08],
            [s.autocutterError, 0x20],
            [s.feedButton, 0x40],
          ],
          0x12,
        );
      case 2:
        return bits(
          [
            [s.coverOpen, 0x04],
            [s.feedButton, 0x08],
            [s.paper === 'end', 0x20],
            [this.anyError(), 0x40],
          ],
          0x12,
        );
      case 3:
        return bits(
          [
            [s.mechanicalError, 0x04],
            [s.autocutterError, 0x08],
            [s.unrecoverableError, 0x20],
            [s.autoRecoverableError, 0x40],
          ],
          0x12,
        );
      case 4:
        // The near-end sensor sees no paper either once the roll has ended.
        return bits(
          [
            [s.paper !== 'ok', 0x0c],
            [s.paper === 'end', 0x60],
          ],
          0x12,
        );
      default:
        return null;
    }
  }

  /** The 4 ASB bytes: byte 1 `0xx1xx00` (drawer, offline, cover, feed button), 2 errors, 3 paper, 4 reserved. */
  private asbBytes(): Uint8Array {
    const s = this.st;
    return Uint8Array.of(
      bits(
        [
          [s.drawerPin3High, 0x04],
          [this.isOffline(), 0x08],
          [s.coverOpen, 0x20],
          [s.feedButton, 0x40],
        ],
        0x10,
      ),
      bits([
        [s.mechanicalError, 0x04],
        [s.autocutterError, 0x08],
        [s.unrecoverableError, 0x20],
        [s.autoRecoverableError, 0x40],
      ]),
      bits([
        [s.paper !== 'ok', 0x03],
        [s.paper === 'end', 0x0c],
      ]),
      0x00,
    );
  }

  private change(apply: () => void): void {
    const before = this.asbBytes().join();
    apply();
    if (this.asbEnabled && this.asbBytes().join() !== before) this.line.reply(this.asbBytes());
  }

  // -------------------------------------------------------------------------------------------
  // Byte handling

  protected onData(chunk: Buffer): void {
    const joined = appendBytes(this.inBuf, chunk);
    this.inBuf = this.parse(joined);
  }

  /**
   * Real-time commands inside a data block are still obeyed: the Epson reference warns that bit
   * image data containing `10 04 n` is answered as DLE EOT. (GS commands inside it are not.)
   */
  private realtimeInData(data: Uint8Array): void {
    for (let k = 0; k + 2 < data.length; k++) {
      if (data[k] === DLE && (data[k + 1] === EOT || data[k + 1] === ENQ)) {
        this.realtime(data[k + 1], data[k + 2]);
        k += 2;
      }
    }
  }

  private realtime(fn: number, n: number): void {
    this.counts.commandsReceived++;
    if (fn === EOT) {
      const st = this.realtimeStatus(n);
      if (st !== null) this.line.reply(Uint8Array.of(st));
    } else if ((n === 1 || n === 2) && this.st.autocutterError) {
      this.counts.recoveries++;
      this.change(() => (this.st.autocutterError = false));
    }
  }

  /** Runs every complete command in `buf`; returns the incomplete tail (waits for more bytes). */
  private parse(buf: Uint8Array): Uint8Array {
    let i = 0;
    while (i < buf.length) {
      const used = this.command(buf, i);
      if (used === 0) break; // incomplete command: wait for more bytes
      i += used;
    }
    return buf.slice(i);
  }

  /** Paper moved by `units` vertical motion units (1/180 inch); a line is UNITS_PER_LINE. */
  private feed(units: number): void {
    if (units <= 0) return;
    if (this.isOffline()) {
      this.counts.printsRefused++;
      return;
    }
    const lines = units / UNITS_PER_LINE;
    this.cumulative.linesFed += lines;
    this.cumulative.headEnergizing += lines * this.headPulsesPerLine;
  }

  private cut(): void {
    if (this.isOffline()) {
      this.counts.printsRefused++;
      return;
    }
    this.cumulative.autocutterCuts += 1;
  }

  /**
   * Handles the command at `buf[i]`; returns the bytes it takes, 0 when more are needed. Lengths
   * per command from the ESC/POS reference; a block with a declared length is skipped whole.
   */
  private command(buf: Uint8Array, i: number): number {
    const left = buf.length - i;
    const at = (k: number) => buf[i + k];
    /** Need `n` bytes to decide: 0 (wait) when they are not all here yet. */
    const need = (n: number) => left >= n;
    const skipImage = (header: number, dataBytes: number): number => {
      if (!need(header + dataBytes)) return 0;
      this.counts.imageDataBytes += dataBytes;
      this.realtimeInData(buf.subarray(i + header, i + header + dataBytes));
      return header + dataBytes;
    };
    const b = at(0);
    if (b === LF) {
      this.feed(this.lineSpacing);
      return 1;
    }
    if (b === DLE) {
      if (!need(2)) return 0;
      const fn = at(1);
      if (fn === EOT || fn === ENQ) {
        if (!need(3)) return 0;
        this.realtime(fn, at(2));
        return 3;
      }
      if (fn === DC4) {
        // DLE DC4 fn …: 1 (pulse) and 2 (power off) take 5 bytes, 7 (beep) 7, 8 (clear buffers) 10.
        if (!need(3)) return 0;
        const len = ({ 1: 5, 2: 5, 7: 7, 8: 10 } as Record<number, number>)[at(2)] ?? 3;
        if (!need(len)) return 0;
        this.counts.commandsReceived++;
        return len;
      }
      return this.data(1);
    }
    if (b === ESC) {
      if (!need(2)) return 0;
      const fn = at(1);
      switch (fn) {
        case 0x40: // ESC @ initialise
          this.lineSpacing = UNITS_PER_LINE;
          this.barcodeHeight = DEFAULT_BARCODE_HEIGHT;
          return this.known(2);
        case 0x32: // ESC 2 default line spacing
          this.lineSpacing = UNITS_PER_LINE;
          return this.known(2);
        case 0x69: // ESC i / ESC m: partial cut (older models)
        case 0x6d:
          this.cut();
          return this.known(2);
        case 0x3c:
        case 0x4c:
        case 0x53:
        case 0x0c:
        case 0x76:
          return this.known(2);
        case 0x33: // ESC 3 n line spacing
          if (!need(3)) return 0;
          this.lineSpacing = at(2);
          return this.known(3);
        case 0x4a: // ESC J n print and feed n units
          if (!need(3)) return 0;
          this.feed(at(2));
          return this.known(3);
        case 0x64: // ESC d n print and feed n lines
          if (!need(3)) return 0;
          this.feed(at(2) * this.lineSpacing);
          return this.known(3);
        case 0x20:
        case 0x21:
        case 0x25:
        case 0x2d:
        case 0x3d:
        case 0x3f:
        case 0x45:
        case 0x47:
        case 0x4b:
        case 0x4d:
        case 0x52:
        case 0x54:
        case 0x55:
        case 0x56:
        case 0x61:
        case 0x65:
        case 0x6a:
        case 0x72:
        case 0x74:
        case 0x75:
        case 0x7b:
          return need(3) ? this.known(3) : 0;
        case 0x24:
        case 0x5c:
        case 0x63: // ESC $ / ESC \ nL nH, ESC c m n
          return need(4) ? this.known(4) : 0;
        case 0x70: // ESC p m t1 t2 drawer pulse
          return need(5) ? this.known(5) : 0;
        case 0x2a: {
          // ESC * m nL nH d1…dk: k = n × (1 or 3) bytes
          if (!need(5)) return 0;
          const n = at(3) + 256 * at(4);
          this.counts.commandsReceived++;
          return skipImage(5, n * (at(2) === 0 || at(2) === 1 ? 1 : 3));
        }
        case 0x44: {
          // ESC D n1…nk NUL tab stops
          for (let k = 2; k < Math.min(left, 35); k++) if (at(k) === 0) return this.known(k + 1);
          return left >= 35 ? this.known(35) : 0;
        }
        case 0x26: {
          // ESC & y c1 c2 [x d1…d(y×x)]…: user-defined characters
          if (!need(5)) return 0;
          const y = at(2);
          let k = 5;
          for (let c = at(3); c <= at(4); c++) {
            if (!need(k + 1)) return 0;
            k += 1 + y * at(k);
          }
          if (!need(k)) return 0;
          this.counts.commandsReceived++;
          this.counts.imageDataBytes += k - 5;
          return k;
        }
        case 0x28: // ESC ( x pL pH …
          if (!need(5)) return 0;
          return skipImage(5, at(3) + 256 * at(4));
        default:
          this.counts.unknownCommands++;
          return 2;
      }
    }
    if (b === GS) {
      if (!need(2)) return 0;
      const fn = at(1);
      switch (fn) {
        case 0x49:
        case 0x61:
        case 0x72: {
          // GS I / GS a / GS r n
          if (!need(3)) return 0;
          this.counts.commandsReceived++;
          const n = at(2);
          if (fn === 0x49) this.gsI(n);
          else if (fn === 0x61) this.gsA(n);
          else this.gsR(n);
          return 3;
        }
        case 0x67: {
          // GS g 0 / GS g 2 m nL nH
          if (!need(3)) return 0;
          const m = at(2);
          if (m !== 0x32 && m !== 0x30) return this.unknown(3);
          if (!need(6)) return 0;
          this.counts.commandsReceived++;
          const id = at(4) | (at(5) << 8);
          if (m === 0x32) this.gsG2(id);
          else this.gsG0(id);
          return 6;
        }
        case 0x56: {
          // GS V m [n]: cut; m 65/66/97/98/103/104 feed n units first
          if (!need(3)) return 0;
          const m = at(2);
          if ([0, 1, 48, 49].includes(m)) {
            this.cut();
            return this.known(3);
          }
          if (!need(4)) return 0;
          this.feed(at(3));
          this.cut();
          return this.known(4);
        }
        case 0x68: // GS h n bar code height
          if (!need(3)) return 0;
          this.barcodeHeight = at(2);
          return this.known(3);
        case 0x21:
        case 0x42:
        case 0x48:
        case 0x54:
        case 0x62:
        case 0x66:
        case 0x77:
        case 0x45:
        case 0x2f:
        case 0x7c:
          return need(3) ? this.known(3) : 0;
        case 0x4c:
        case 0x57:
        case 0x24:
        case 0x5c:
        case 0x50: // nL nH / x y
          return need(4) ? this.known(4) : 0;
        case 0x3a:
          return this.known(2);
        case 0x5e:
          return need(5) ? this.known(5) : 0;
        case 0x2a: {
          // GS * x y d1…d(x×y×8) downloaded bit image
          if (!need(4)) return 0;
          this.counts.commandsReceived++;
          return skipImage(4, at(2) * at(3) * 8);
        }
        case 0x76: {
          // GS v 0 m xL xH yL yH d1…dk raster image: k = x bytes × y dots, fed y dots
          if (!need(8)) return 0;
          if (at(2) !== 0x30) return this.unknown(3);
          const x = at(4) + 256 * at(5);
          const y = at(6) + 256 * at(7);
          const used = skipImage(8, x * y);
          if (used === 0) return 0;
          this.counts.commandsReceived++;
          // Raster rows are printer dots; taken as motion units here (180 vs 203 dpi: close enough for wear).
          this.feed(y);
          return used;
        }
        case 0x28: {
          // GS ( x pL pH …
          if (!need(5)) return 0;
          const used = skipImage(5, at(3) + 256 * at(4));
          if (used) this.counts.commandsReceived++;
          return used;
        }
        case 0x38: {
          // GS 8 L p1 p2 p3 p4 …: 32-bit length
          if (!need(7)) return 0;
          const len = at(3) + 256 * at(4) + 65536 * at(5) + 16777216 * at(6);
          const used = skipImage(7, len);
          if (used) this.counts.commandsReceived++;
          return used;
        }
        case 0x6b: {
          // GS k m …: bar code, m 0–6 NUL-terminated data, m 65–79 length n then n bytes
          if (!need(3)) return 0;
          const m = at(2);
          let used = 0;
          if (m <= 6) {
            for (let k = 3; k < left; k++)
              if (at(k) === 0) {
                used = k + 1;
                break;
              }
            if (!used) return left > 258 ? this.unknown(3) : 0;
          } else {
            if (!need(4)) return 0;
            used = 4 + at(3);
            if (!need(used)) return 0;
          }
          this.counts.commandsReceived++;
          this.feed(this.barcodeHeight);
          return used;
        }
        default:
          return this.unknown(2);
      }
    }
    if (b === FS) {
      if (!need(2)) return 0;
      const fn = at(1);
      switch (fn) {
        case 0x70: // FS p n m print NV bit image
          return need(4) ? this.known(4) : 0;
        case 0x21:
        case 0x2d:
        case 0x57:
        case 0x43:
        case 0x53:
          return need(3) ? this.known(3) : 0;
        case 0x26:
        case 0x2e:
          return this.known(2);
        case 0x28: // FS ( x pL pH …
          if (!need(5)) return 0;
          return skipImage(5, at(3) + 256 * at(4));
        case 0x71: {
          // FS q n [xL xH yL yH d1…dk]…: define NV bit images, k = x × y × 8
          if (!need(3)) return 0;
          let k = 3;
          for (let img = 0; img < at(2); img++) {
            if (!need(k + 4)) return 0;
            k += 4 + (at(k) + 256 * at(k + 1)) * (at(k + 2) + 256 * at(k + 3)) * 8;
          }
          return skipImage(k, 0);
        }
        default:
          return this.unknown(2);
      }
    }
    if (b === 0x08 /* BS */ && this.profile?.capabilities.counterReader === 'bixolon-bs-so') {
      // Bixolon `BS SO S # RS m n` = 08 0E 53 23 1E 01 n: n=99 cuts, n=104 paper fed (km).
      const head = [0x08, 0x0e, 0x53, 0x23, 0x1e, 0x01];
      for (let k = 1; k < head.length; k++) {
        if (left <= k) return 0;
        if (at(k) !== head[k]) return this.data(1);
      }
      if (left < 7) return 0;
      this.counts.commandsReceived++;
      const n = at(6);
      const c = this.counters();
      if (n === 99) this.line.reply(infoBlock(String(c.autocutterCuts)));
      else if (n === 104) this.line.reply(infoBlock(String(Math.floor(this.cumulative.linesFed * 3.75e-6))));
      return 7;
    }
    return this.data(1);
  }

  private known(n: number): number {
    this.counts.commandsReceived++;
    return n;
  }

  private unknown(n: number): number {
    this.counts.unknownCommands++;
    return n;
  }

  private data(n: number): number {
    this.counts.printDataBytes += n;
    return n;
  }

  private gsI(n: number): void {
    this.counts.gsIRequests[n] = (this.counts.gsIRequests[n] ?? 0) + 1;
    const id = this.identity;
    const one = (v: number) => this.line.reply(Uint8Array.of(v & 0x6f));
    const block = (text: string | undefined) => {
      if (text !== undefined) this.line.reply(infoBlock(text));
    };
    switch (n) {
      case 1:
      case 49:
        return one(id.modelId);
      case 2:
      case 50:
        return one(id.typeId);
      case 3:
      case 51:
        return one(id.romVersion);
      case 65:
        return block(id.firmware);
      case 66:
        return block(id.maker);
      case 67:
        return block(id.modelName);
      case 68:
        return block(id.serial);
      case 69:
        return block(id.fonts);
    }
  }

  private gsA(n: number): void {
    this.asbEnabled = (n & 0x0f) !== 0;
    // Epson sends the first status as soon as ASB is enabled.
    if (this.asbEnabled) this.line.reply(this.asbBytes());
  }

  private gsR(n: number): void {
    const s = this.st;
    if (n === 1 || n === 49) this.line.reply(Uint8Array.of((s.paper !== 'ok' ? 0x03 : 0) | (s.paper === 'end' ? 0x0c : 0)));
    else if (n === 2 || n === 50) this.line.reply(Uint8Array.of(s.drawerPin3High ? 0x01 : 0x00));
  }

  private counterById(id: number): { name: MaintenanceCounterName; cumulative: boolean } | null {
    for (const [name, ids] of Object.entries(printerCounterIds) as Array<[MaintenanceCounterName, { cumulative: number; resettable: number }]>) {
      if (ids.cumulative === id) return { name, cumulative: true };
      if (ids.resettable === id) return { name, cumulative: false };
    }
    return null;
  }

  private gsG2(id: number): void {
    if (!this.identity.counters) return;
    const c = this.counterById(id);
    if (!c) return;
    const value = this.counters()[c.name] - (c.cumulative ? 0 : Math.floor(this.resetBase[c.name]));
    this.line.reply(infoBlock(String(Math.max(0, value))));
  }

  private gsG0(id: number): void {
    // A real printer resets the resettable counter; the cumulative one is untouched.
    this.counts.counterResetAttempts++;
    const c = this.counterById(id);
    if (c && !c.cumulative) this.resetBase[c.name] = c.name === 'operatingHours' ? this.operatingHours() : this.cumulative[c.name];
  }
}
