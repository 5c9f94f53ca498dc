// A virtual ESC/POS receipt printer on the device end of a PTY pair. It answers the real bytes
// (DLE EOT 1..4, DLE ENQ, GS I, GS g 2, GS r, GS a with Automatic Status Back), keeps paper,
// cover, cutter and error state, advances maintenance counters while it "prints", and can be
// scripted to misbehave the ways real printers and cables do: faults, noise, silence, replies
// cut off mid-frame, slow replies (the line itself is sim/serial-device.ts).
import type { FirmwareProfile } from '../firmware-profiles/schema.js';
import { simulatedProfile } from './profile.js';
import {
  DLE,
  ENQ,
  EOT,
  GS,
  encodeAsb,
  encodeInfoBlock,
  encodeRealtimeStatus,
  maintenanceCounters,
  type AsbStatus,
  type MaintenanceCounterName,
  type RealtimeStatus,
} from '../agent/drivers/escpos/codec.js';
import { SerialDeviceSimulator } from './serial-device.js';

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

export type VirtualEscposPrinterOptions = {
  /** Device end of a PTY pair. Without it the printer makes its own pair and exposes `hostPath`. */
  path?: string;
  baudRate?: number;
  /** Model to impersonate: a profile, or a profile id looked up in `profiles` / the shipped profiles. */
  profile?: FirmwareProfile | string;
  profiles?: readonly FirmwareProfile[];
  /** Serial number answered to GS I 68. */
  serial?: string;
  /** Explicit identity fields; win over the profile's. */
  identity?: Partial<VirtualPrinterIdentity>;
  /** Starting cumulative counter values (an aged printer); win over `ageFraction`. */
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
  printsRefused: number;
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
    if (r.basis !== 'life' || !(r.metric in maintenanceCounters)) continue;
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
  private usageTimer: NodeJS.Timeout | null = null;
  private opened = false;
  private readonly counts: Omit<VirtualPrinterStats, 'repliesSent' | 'bytesSent' | 'repliesDropped'> = {
    commandsReceived: 0,
    counterResetAttempts: 0,
    recoveries: 0,
    printDataBytes: 0,
    printsRefused: 0,
    gsIRequests: {},
  };

  readonly profile: FirmwareProfile | null;

  constructor(private readonly opts: VirtualEscposPrinterOptions = {}) {
    super();
    this.profile = simulatedProfile(opts.profile, opts.profiles, 'virtual printer');
    const serial = opts.serial ?? defaultIdentity.serial!;
    this.identity = { ...(this.profile ? identityFromProfile(this.profile, serial) : { ...defaultIdentity, serial }), ...opts.identity };
    this.cumulative = { linesFed: 0, headEnergizing: 0, autocutterCuts: 0, operatingHours: 0, ...agedCounters(this.profile, opts.ageFraction ?? 0), ...opts.counters };
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

  setPaper(paper: PaperState): void { this.change(() => (this.st.paper = paper)); }
  setCoverOpen(open: boolean): void { this.change(() => (this.st.coverOpen = open)); }
  /** A jammed autocutter: a recoverable error (DLE ENQ or clearing the jam ends it). */
  setCutterJam(jammed: boolean): void { this.change(() => (this.st.autocutterError = jammed)); }
  setUnrecoverableError(on: boolean): void { this.change(() => (this.st.unrecoverableError = on)); }
  /** e.g. head overheat: clears by itself when the head cools. */
  setAutoRecoverableError(on: boolean): void { this.change(() => (this.st.autoRecoverableError = on)); }
  setMechanicalError(on: boolean): void { this.change(() => (this.st.mechanicalError = on)); }
  /** Offline with no other cause (e.g. waiting after power-on, or switched offline). */
  setOffline(on: boolean): void { this.change(() => (this.st.forcedOffline = on)); }
  setFeedButton(pressed: boolean): void { this.change(() => (this.st.feedButton = pressed)); }
  setDrawerPin3(high: boolean): void { this.change(() => (this.st.drawerPin3High = high)); }

  /** Automatic Status Back on or off, as if set by `GS a` or a memory switch. */
  setAsb(enabled: boolean): void { this.gsA(enabled ? 0x0f : 0); }

  /** Prints `lines` lines and makes `cuts` cuts, advancing the counters. Refused while offline. */
  print(lines: number, cuts = 0): boolean {
    if (this.isOffline()) {
      this.counts.printsRefused++;
      return false;
    }
    this.cumulative.linesFed += lines;
    this.cumulative.headEnergizing += lines * this.headPulsesPerLine;
    this.cumulative.autocutterCuts += cuts;
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

  private realtimeStatus(n: number): RealtimeStatus | null {
    const s = this.st;
    switch (n) {
      case 1:
        return { n: 1, drawerPin3High: s.drawerPin3High, offline: this.isOffline(), waitingForOnlineRecovery: s.autocutterError, feedButtonPressed: s.feedButton };
      case 2:
        return { n: 2, coverOpen: s.coverOpen, feedingByButton: s.feedButton, stoppedByPaperEnd: s.paper === 'end', errorOccurred: this.anyError() };
      case 3:
        return { n: 3, mechanicalError: s.mechanicalError, autocutterError: s.autocutterError, unrecoverableError: s.unrecoverableError, autoRecoverableError: s.autoRecoverableError };
      case 4:
        // The near-end sensor sees no paper either once the roll has ended.
        return { n: 4, paperNearEnd: s.paper !== 'ok', paperEnd: s.paper === 'end' };
      default:
        return null;
    }
  }

  private asbStatus(): AsbStatus {
    const s = this.st;
    return {
      drawerPin3High: s.drawerPin3High,
      offline: this.isOffline(),
      coverOpen: s.coverOpen,
      feedButtonPressed: s.feedButton,
      mechanicalError: s.mechanicalError,
      autocutterError: s.autocutterError,
      unrecoverableError: s.unrecoverableError,
      autoRecoverableError: s.autoRecoverableError,
      paperNearEnd: s.paper !== 'ok',
      paperEnd: s.paper === 'end',
    };
  }

  private change(apply: () => void): void {
    const before = encodeAsb(this.asbStatus()).join();
    apply();
    if (this.asbEnabled && encodeAsb(this.asbStatus()).join() !== before) this.line.reply(encodeAsb(this.asbStatus()));
  }

  // -------------------------------------------------------------------------------------------
  // Byte handling

  protected onData(chunk: Buffer): void {
    const joined = new Uint8Array(this.inBuf.length + chunk.length);
    joined.set(this.inBuf);
    joined.set(chunk, this.inBuf.length);
    let i = 0;
    while (i < joined.length) {
      const used = this.command(joined, i);
      if (used === 0) break; // incomplete command: wait for more bytes
      i += used;
    }
    this.inBuf = joined.slice(i);
  }

  /** Handles the command at `buf[i]`; returns bytes consumed, 0 when more are needed. */
  private command(buf: Uint8Array, i: number): number {
    const left = buf.length - i;
    const b = buf[i];
    if (b === DLE) {
      if (left < 2) return 0;
      const fn = buf[i + 1];
      if (fn !== EOT && fn !== ENQ) return this.data(1);
      if (left < 3) return 0;
      this.counts.commandsReceived++;
      const n = buf[i + 2];
      if (fn === EOT) {
        const st = this.realtimeStatus(n);
        if (st) this.line.reply(Uint8Array.of(encodeRealtimeStatus(st)));
      } else if ((n === 1 || n === 2) && this.st.autocutterError) {
        this.counts.recoveries++;
        this.change(() => (this.st.autocutterError = false));
      }
      return 3;
    }
    if (b === GS) {
      if (left < 2) return 0;
      const fn = buf[i + 1];
      if (fn === 0x49 /* I */ || fn === 0x61 /* a */ || fn === 0x72 /* r */) {
        if (left < 3) return 0;
        this.counts.commandsReceived++;
        const n = buf[i + 2];
        if (fn === 0x49) this.gsI(n);
        else if (fn === 0x61) this.gsA(n);
        else this.gsR(n);
        return 3;
      }
      if (fn === 0x67 /* g */) {
        if (left < 3) return 0;
        const m = buf[i + 2];
        if (m !== 0x32 && m !== 0x30) return this.data(2);
        if (left < 6) return 0;
        this.counts.commandsReceived++;
        const id = buf[i + 4] | (buf[i + 5] << 8);
        if (m === 0x32) this.gsG2(id);
        else this.gsG0(id);
        return 6;
      }
      return this.data(1);
    }
    if (b === 0x08 /* BS */ && this.profile?.capabilities.counterReader === 'bixolon-bs-so') {
      // Bixolon `BS SO S # RS m n` = 08 0E 53 23 1E 01 n: n=99 cuts, n=104 paper fed (km).
      const head = [0x08, 0x0e, 0x53, 0x23, 0x1e, 0x01];
      for (let k = 1; k < head.length; k++) {
        if (left <= k) return 0;
        if (buf[i + k] !== head[k]) return this.data(1);
      }
      if (left < 7) return 0;
      this.counts.commandsReceived++;
      const n = buf[i + 6];
      const c = this.counters();
      if (n === 99) this.line.reply(encodeInfoBlock(String(c.autocutterCuts)));
      else if (n === 104) this.line.reply(encodeInfoBlock(String(Math.floor(this.cumulative.linesFed * 3.75e-6))));
      return 7;
    }
    return this.data(1);
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
      if (text !== undefined) this.line.reply(encodeInfoBlock(text));
    };
    switch (n) {
      case 1: case 49: return one(id.modelId);
      case 2: case 50: return one(id.typeId);
      case 3: case 51: return one(id.romVersion);
      case 65: return block(id.firmware);
      case 66: return block(id.maker);
      case 67: return block(id.modelName);
      case 68: return block(id.serial);
      case 69: return block(id.fonts);
    }
  }

  private gsA(n: number): void {
    this.asbEnabled = (n & 0x0f) !== 0;
    // Epson sends the first status as soon as ASB is enabled.
    if (this.asbEnabled) this.line.reply(encodeAsb(this.asbStatus()));
  }

  private gsR(n: number): void {
    const s = this.st;
    if (n === 1 || n === 49) this.line.reply(Uint8Array.of((s.paper !== 'ok' ? 0x03 : 0) | (s.paper === 'end' ? 0x0c : 0)));
    else if (n === 2 || n === 50) this.line.reply(Uint8Array.of(s.drawerPin3High ? 0x01 : 0x00));
  }

  private counterById(id: number): { name: MaintenanceCounterName; cumulative: boolean } | null {
    for (const [name, ids] of Object.entries(maintenanceCounters) as Array<[MaintenanceCounterName, { cumulative: number; resettable: number }]>) {
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
    this.line.reply(encodeInfoBlock(String(Math.max(0, value))));
  }

  private gsG0(id: number): void {
    // A real printer resets the resettable counter; the cumulative one is untouched.
    this.counts.counterResetAttempts++;
    const c = this.counterById(id);
    if (c && !c.cumulative) this.resetBase[c.name] = c.name === 'operatingHours' ? this.operatingHours() : this.cumulative[c.name];
  }
}
