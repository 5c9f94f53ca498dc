// A virtual serial magnetic-stripe reader on the device end of a PTY pair, speaking the protocol
// in agent/drivers/card-reader/codec.ts (fleetcare convention + UnifiedPOS statistics). Each
// swipe is one use of the read head, a part with a wear model (sim/wear.ts): as the head nears
// the end of its life, tracks come back with LRC errors, missing start sentinels or nothing at
// all; the reader counts them into its UnifiedPOS statistics and sends the raw tracks to the host.
// Ground truth records when the head actually failed. Tamper, battery, noise, silence, replies
// cut off mid-frame and slow replies can be scripted.
import type { FirmwareProfile } from '../firmware-profiles/schema.js';
import { simulatedProfile, type SimulatedPeripheralOptions } from './profile.js';
import {
  FS,
  NAK,
  classifySwipe,
  countSwipe,
  emptyStatistics,
  encodeFrame,
  encodeIdentity,
  encodeStatistics,
  encodeTrack,
  splitMsrStream,
  type MsrStatistics,
  type SwipeResult,
} from '../agent/drivers/card-reader/codec.js';
import { appendBytes, SerialDeviceSimulator } from './serial-device.js';
import { GroundTruthRecorder, WearPart, deriveSeed, seededRandom, type GroundTruthRecord } from './wear.js';

export type VirtualCardReaderOptions = SimulatedPeripheralOptions & {
  /** Share of the read head's rated life already used at start (sets the statistics too). */
  ageFraction?: number;
  seed?: number;
  device?: string;
  peripheral?: string;
  /** Rated swipes of the head (default: the profile's `read-head` life, else 1,000,000). */
  ratedSwipes?: number;
  /** Failed-read probability of a new head (bad swipes, damaged cards), default 0.02. */
  baseFailRate?: number;
  /** … just before the head fails, default 0.5. */
  endFailRate?: number;
  /** Reports TamperState / BatteryPct (default: what the profile's capabilities.commands list). */
  tamper?: boolean;
  battery?: boolean;
  /** Hours powered at start are derived from this many swipes per hour of age (default 30). */
  swipesPerHour?: number;
  clock?: () => number;
  recorder?: GroundTruthRecorder;
};

/** Test card numbers (the card schemes' published test PANs), never real cards. */
const TEST_PANS = ['4111111111111111', '5555555555554444', '378282246310005', '6011111111111117'];

export class VirtualCardReader extends SerialDeviceSimulator {
  readonly profile: FirmwareProfile | null;
  readonly head: WearPart;
  readonly statistics: MsrStatistics;
  private readonly random: () => number;
  private readonly recorder: GroundTruthRecorder;
  private readonly startedAt: number;
  private readonly clock: () => number;
  private readonly hoursAtStart: number;
  private inBuf: Uint8Array = new Uint8Array(0);
  private tamper: boolean | undefined;
  private batteryPct: number | undefined;
  readonly stats = { commandsReceived: 0, badFrames: 0, swipes: 0 };

  constructor(private readonly opts: VirtualCardReaderOptions = {}) {
    super();
    this.profile = simulatedProfile(opts.profile, opts.profiles, 'virtual card reader');
    const seed = opts.seed ?? 1;
    this.random = seededRandom(deriveSeed(seed, 'msr-use'));
    this.recorder = opts.recorder ?? new GroundTruthRecorder();
    this.clock = opts.clock ?? Date.now;
    this.startedAt = this.clock();
    const rated = opts.ratedSwipes ?? this.profile?.ratedLife.find((r) => r.part === 'read-head' && r.basis === 'life')?.value ?? 1_000_000;
    const usage = Math.floor(rated * Math.max(0, opts.ageFraction ?? 0));
    const base = opts.baseFailRate ?? 0.02;
    this.head = new WearPart({
      device: opts.device,
      peripheral: opts.peripheral ?? 'card-reader',
      part: 'read-head',
      ratedLife: rated,
      usage,
      baseErrorRate: base,
      endErrorRate: opts.endFailRate ?? 0.5,
      random: seededRandom(deriveSeed(seed, 'msr-life')),
      clock: opts.clock,
      recorder: this.recorder,
    });
    // An aged reader has aged statistics: its past swipes at the young head's failure rate.
    const failed = Math.round(usage * base);
    this.statistics = emptyStatistics();
    this.statistics.GoodReadCount = usage - failed;
    this.statistics.FailedReadCount = failed;
    this.statistics.UnreadableCardCount = Math.round(failed * 0.2);
    this.statistics.ParityLRCErrorTrack1Count = Math.round(failed * 0.5);
    this.statistics.ParityLRCErrorTrack2Count = Math.round(failed * 0.5);
    this.statistics.MissingStartSentinelTrack1Count = Math.round(failed * 0.3);
    this.statistics.MissingStartSentinelTrack2Count = Math.round(failed * 0.3);
    this.hoursAtStart = Math.floor(usage / (opts.swipesPerHour ?? 30));
    const cmds = new Set(this.profile?.capabilities.commands ?? []);
    this.tamper = (opts.tamper ?? cmds.has('tamper')) ? false : undefined;
    this.batteryPct = (opts.battery ?? cmds.has('battery')) ? 100 : undefined;
  }

  static async start(opts: VirtualCardReaderOptions = {}): Promise<VirtualCardReader> {
    const r = new VirtualCardReader(opts);
    await r.line.open(opts.path, opts.baudRate ?? 9600);
    return r;
  }

  groundTruth(): GroundTruthRecord[] {
    return this.recorder.recordsOf({ device: this.opts.device, peripheral: this.opts.peripheral ?? 'card-reader', part: 'read-head' });
  }

  // -------------------------------------------------------------------------------------------
  // Scripted faults (line faults: SerialDeviceSimulator)

  setTamper(on: boolean): void {
    this.tamper = on;
  }
  setBattery(pct: number): void {
    this.batteryPct = Math.max(0, Math.min(100, pct));
  }

  // -------------------------------------------------------------------------------------------
  // Use

  /**
   * `count` card swipes. Each is one use of the head; an errored use damages one or more tracks
   * (LRC error, missing start sentinel, or nothing read). Returns how each swipe was classified.
   */
  async swipe(count = 1): Promise<SwipeResult[]> {
    const out: SwipeResult[] = [];
    for (let i = 0; i < count; i++) {
      const raw = this.readCard(this.head.use());
      const r = classifySwipe(raw);
      countSwipe(this.statistics, r);
      this.stats.swipes++;
      out.push(r);
      this.line.send(encodeFrame('T' + raw));
    }
    await this.line.flushed();
    return out;
  }

  /** The raw tracks one swipe produces; `errored` = the head misread this card. */
  private readCard(errored: boolean): string {
    const pan = TEST_PANS[Math.floor(this.random() * TEST_PANS.length)];
    const t1 = encodeTrack(1, `B${pan}^TEST/CARDHOLDER^2812101000000000000`);
    const t2 = encodeTrack(2, `${pan}=28121010000000000`);
    const fs = String.fromCharCode(FS);
    if (!errored && !this.head.failed) return t1 + fs + t2 + fs;
    const mode = this.head.failed ? 1 : this.random();
    if (mode < 0.2 || this.head.failed) return fs + fs; // nothing read at all
    const damage = (t: string) => {
      const kind = this.random();
      if (kind < 0.4) return t.slice(1); // start sentinel lost
      // one character misread: the LRC no longer matches
      const at = 1 + Math.floor(this.random() * (t.length - 3));
      const c = t.charCodeAt(at);
      return t.slice(0, at) + String.fromCharCode(c === 0x30 || c === 0x20 ? c + 1 : c - 1) + t.slice(at + 1);
    };
    // Both tracks damaged (the read failed), or one damaged: the failure counts only when neither decodes.
    return mode < 0.7 ? damage(t1) + fs + damage(t2) + fs : damage(t1) + fs + t2 + fs;
  }

  async close(): Promise<void> {
    await this.line.close();
  }

  // -------------------------------------------------------------------------------------------
  // Protocol

  private currentStatistics(): MsrStatistics {
    const hours = this.hoursAtStart + Math.floor((this.clock() - this.startedAt) / 3_600_000);
    return { ...this.statistics, HoursPoweredCount: hours, tamper: this.tamper, batteryPct: this.batteryPct };
  }

  protected onData(chunk: Buffer): void {
    const joined = appendBytes(this.inBuf, chunk);
    const { frames, rest } = splitMsrStream(joined);
    this.inBuf = rest;
    for (const f of frames) {
      if (f.type === 'garbage') {
        // A damaged frame from the host: the reader counts a communication error and NAKs it.
        this.stats.badFrames++;
        this.statistics.CommunicationErrorCount++;
        this.line.reply(Uint8Array.of(NAK));
        continue;
      }
      if (f.type !== 'frame') continue;
      this.stats.commandsReceived++;
      if (f.payload === 'I') {
        this.line.reply(
          encodeFrame(
            encodeIdentity({
              manufacturer: this.profile?.vendor ?? 'Generic',
              model: this.profile?.model ?? 'MSR-3T',
              serial: this.opts.serial ?? 'MSR000001',
              firmware: '1.04',
            }),
          ),
        );
      } else if (f.payload === 'S') {
        this.line.reply(encodeFrame(encodeStatistics(this.currentStatistics())));
      } else {
        this.line.reply(encodeFrame('E?'));
      }
    }
  }
}
