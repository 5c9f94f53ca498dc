// A virtual Star receipt printer (Star mode) on the device end of a PTY pair: answers
// `ESC ACK SOH` with an ASB frame and `ESC # *` with its version, sends an ASB frame by itself on
// every status change, keeps paper/cover/cutter/head state, and can be scripted to misbehave
// (faults, noise, silence, frames cut mid-way, slow replies). The autocutter wears
// (sim/wear.ts): cuts fail more often near its end of life and it jams for good when it dies,
// recorded as ground truth.
import { encodeStarAsb, type StarStatus } from '../agent/drivers/star/codec.js';
import { appendBytes, SerialDeviceSimulator } from './serial-device.js';
import { type ScriptedWear, scriptedWearPart, type WearPart } from './wear.js';

export type VirtualStarPrinterOptions = {
  /** Device end of a PTY pair; without it the printer makes its own pair (see `hostPath`). */
  path?: string;
  baudRate?: number;
  /** Version reply text (default `TSP143 Ver3.2`). */
  version?: string;
  replyDelayMs?: number;
  /** Autocutter wear; without it the cutter never wears out. */
  cutterWear?: ScriptedWear & { ratedCuts: number };
};

type State = Omit<StarStatus, 'version'> & { forcedOffline: boolean };

export class VirtualStarPrinter extends SerialDeviceSimulator {
  private inBuf: Uint8Array = new Uint8Array(0);
  private readonly st: State = {
    coverOpen: false,
    offline: false,
    headOverTemperature: false,
    unrecoverableError: false,
    cutterError: false,
    mechanicalError: false,
    paperEnd: false,
    paperNearEnd: false,
    forcedOffline: false,
  };
  readonly cutter: WearPart | null;
  private readonly counts = { commandsReceived: 0, asbSent: 0, cuts: 0, failedCuts: 0 };

  constructor(private readonly opts: VirtualStarPrinterOptions = {}) {
    super();
    this.line.faults.replyDelayMs = opts.replyDelayMs ?? 0;
    const cutter = { peripheral: 'printer', part: 'cutter', baseErrorRate: 0.0005, endErrorRate: 0.2, stream: 'star-cutter' };
    this.cutter = scriptedWearPart(opts.cutterWear, opts.cutterWear?.ratedCuts, cutter);
  }

  static async start(opts: VirtualStarPrinterOptions = {}): Promise<VirtualStarPrinter> {
    const p = new VirtualStarPrinter(opts);
    await p.line.open(opts.path, opts.baudRate ?? 9600);
    return p;
  }

  get stats() {
    const { repliesSent, repliesDropped } = this.line.stats;
    return { ...this.counts, repliesSent, repliesDropped };
  }

  // --- scripted state and faults (each change sends an ASB frame, as the printer does)
  setCoverOpen(on: boolean): void {
    this.change(() => (this.st.coverOpen = on));
  }
  setPaper(p: 'ok' | 'near-end' | 'end'): void {
    this.change(() => {
      this.st.paperNearEnd = p !== 'ok';
      this.st.paperEnd = p === 'end';
    });
  }
  setCutterJam(on: boolean): void {
    this.change(() => (this.st.cutterError = on));
  }
  setHeadOverTemperature(on: boolean): void {
    this.change(() => (this.st.headOverTemperature = on));
  }
  setUnrecoverableError(on: boolean): void {
    this.change(() => (this.st.unrecoverableError = on));
  }
  setMechanicalError(on: boolean): void {
    this.change(() => (this.st.mechanicalError = on));
  }
  setOffline(on: boolean): void {
    this.change(() => (this.st.forcedOffline = on));
  }

  /** Cuts `n` times; each cut wears the cutter, a failed cut jams it (autocutter error). */
  cut(n = 1): void {
    for (let i = 0; i < n; i++) {
      if (this.isOffline()) return;
      this.counts.cuts++;
      if (this.cutter?.use()) {
        this.counts.failedCuts++;
        this.setCutterJam(true);
        return;
      }
    }
  }

  status(): Omit<StarStatus, 'version'> {
    const { forcedOffline: _f, ...s } = this.st;
    return { ...s, offline: this.isOffline() };
  }

  async close(): Promise<void> {
    await this.line.close();
  }

  private isOffline(): boolean {
    const s = this.st;
    return s.forcedOffline || s.coverOpen || s.paperEnd || s.cutterError || s.unrecoverableError || s.mechanicalError || s.headOverTemperature;
  }

  private change(apply: () => void): void {
    const before = encodeStarAsb(this.status()).join();
    apply();
    if (encodeStarAsb(this.status()).join() !== before) {
      this.counts.asbSent++;
      this.line.reply(encodeStarAsb(this.status()));
    }
  }

  protected onData(chunk: Buffer): void {
    const joined = appendBytes(this.inBuf, chunk);
    let i = 0;
    while (i < joined.length) {
      if (joined[i] !== 0x1b) {
        i++;
        continue;
      } // print data
      if (joined.length - i < 3) break;
      if (joined[i + 1] === 0x06 && joined[i + 2] === 0x01) {
        this.counts.commandsReceived++;
        this.line.reply(encodeStarAsb(this.status()));
        i += 3;
      } else if (joined[i + 1] === 0x23 && joined[i + 2] === 0x2a) {
        if (joined.length - i < 5) break;
        this.counts.commandsReceived++;
        this.line.reply(Uint8Array.from([...Buffer.from(this.opts.version ?? 'TSP143 Ver3.2', 'latin1'), 0x0a, 0x00]));
        i += 5;
      } else i += 2;
    }
    this.inBuf = joined.slice(i);
  }
}
