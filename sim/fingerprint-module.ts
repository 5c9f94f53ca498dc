// A virtual R30x/R50x fingerprint module on the device end of a PTY pair. It answers the real
// packets (HandShake, VfyPwd, ReadSysPara, TempleteNum, CheckSensor, ReadProdInfo, GenImg,
// Img2Tz, Search, Store, Empty, UpChar), keeps a template store, and serves captures from
// simulated use: each finger press is one use of the sensor window, a part with a wear model
// (sim/wear.ts) whose image-failure rate rises as it nears the end of its life; when it fails,
// the failure is recorded as ground truth and CheckSensor reports the sensor abnormal.
//
// Simulated use goes the way it does in a shop: the POS software sends GenImg → Img2Tz → Search
// while a person's finger is on the sensor, and retries once after a rejection. With `posPath`
// (the POS-facing port of the agent's relay) those commands really go over the wire through the
// agent; without it they are evaluated inside the module (the agent then sees status only).
import { SerialPort } from 'serialport';
import type { FirmwareProfile } from '../firmware-profiles/schema.js';
import { simulatedProfile } from './profile.js';
import {
  DEFAULT_ADDRESS,
  READY_BYTE,
  ack,
  commands,
  encodePacket,
  encodeProductInfo,
  encodeSystemParameters,
  instruction,
  pid,
  splitFingerprintStream,
  type FingerprintFrame,
} from '../agent/drivers/fingerprint/codec.js';
import { SerialDeviceSimulator } from './serial-device.js';
import { GroundTruthRecorder, WearPart, deriveSeed, seededRandom, type GroundTruthRecord } from './wear.js';

export type VirtualFingerprintOptions = {
  /** Device end of a PTY pair. Without it the module makes its own pair and exposes `hostPath`. */
  path?: string;
  baudRate?: number;
  /** Model to impersonate: a profile or a profile id (looked up in `profiles` / the shipped ones). */
  profile?: FirmwareProfile | string;
  profiles?: readonly FirmwareProfile[];
  serial?: string;
  /** Share of the sensor window's rated life already used at start. */
  ageFraction?: number;
  seed?: number;
  /** Names in ground-truth records. */
  device?: string;
  peripheral?: string;
  /** Template store size (default: the profile's, else 200). */
  capacity?: number;
  /** Templates enrolled at start (default 20). */
  templates?: number;
  address?: number;
  password?: number;
  /** Rated captures of the sensor window (default: the profile's `sensor-window` life, else 1,000,000). */
  ratedCaptures?: number;
  /** Per-capture image failure probability of a new window (bad presses happen anyway), default 0.03. */
  baseImageFailRate?: number;
  /** … just before the window fails, default 0.6. */
  endImageFailRate?: number;
  /** Simulation clock (ms) for ground truth. */
  clock?: () => number;
  recorder?: GroundTruthRecorder;
  /** The POS-facing port of the agent's relay: simulated use is sent there as real commands. */
  posPath?: string;
};

export type CaptureOutcome = 'accepted' | 'accepted-after-retry' | 'rejected' | 'image-fail' | 'feature-fail' | 'no-reply';

export type VirtualFingerprintStats = {
  commandsReceived: number;
  badPackets: number;
  captures: number;
  imageFailures: number;
  featureFailures: number;
  matches: number;
  rejections: number;
};

type ImageState = 'none' | 'good' | 'poor';

export class VirtualFingerprintModule extends SerialDeviceSimulator {
  readonly profile: FirmwareProfile | null;
  readonly window: WearPart;
  readonly stats: VirtualFingerprintStats = { commandsReceived: 0, badPackets: 0, captures: 0, imageFailures: 0, featureFailures: 0, matches: 0, rejections: 0 };
  private readonly random: () => number;
  private readonly recorder: GroundTruthRecorder;
  private readonly commandsSupported: Set<string>;
  private readonly address: number;
  private readonly password: number;
  private capacity: number;
  private templates: number;
  private sensorForcedFail = false;
  private inBuf: Uint8Array = new Uint8Array(0);
  /** Whose finger is on the sensor now: null = nobody. */
  private finger: { enrolled: boolean } | null = null;
  private image: ImageState = 'none';
  private features: ImageState = 'none';
  private pos: { port: SerialPort; buf: Uint8Array; waiter: ((f: FingerprintFrame | null) => void) | null } | null = null;

  constructor(private readonly opts: VirtualFingerprintOptions = {}) {
    super();
    this.profile = simulatedProfile(opts.profile, opts.profiles, 'virtual fingerprint module');
    const seed = opts.seed ?? 1;
    this.random = seededRandom(deriveSeed(seed, 'fingerprint-use'));
    this.recorder = opts.recorder ?? new GroundTruthRecorder();
    this.commandsSupported = new Set(this.profile?.capabilities.commands ?? ['handShake', 'checkSensor', 'readProdInfo']);
    this.address = opts.address ?? DEFAULT_ADDRESS;
    this.password = opts.password ?? 0;
    this.capacity = opts.capacity ?? 200;
    this.templates = Math.min(this.capacity, opts.templates ?? 20);
    const rated = opts.ratedCaptures ?? this.profile?.ratedLife.find((r) => r.part === 'sensor-window' && r.basis === 'life')?.value ?? 1_000_000;
    this.window = new WearPart({
      device: opts.device,
      peripheral: opts.peripheral ?? 'fingerprint',
      part: 'sensor-window',
      ratedLife: rated,
      usage: Math.floor(rated * Math.max(0, opts.ageFraction ?? 0)),
      baseErrorRate: opts.baseImageFailRate ?? 0.03,
      endErrorRate: opts.endImageFailRate ?? 0.6,
      random: seededRandom(deriveSeed(seed, 'fingerprint-life')),
      clock: opts.clock,
      recorder: this.recorder,
    });
  }

  static async start(opts: VirtualFingerprintOptions = {}): Promise<VirtualFingerprintModule> {
    const m = new VirtualFingerprintModule(opts);
    await m.open();
    return m;
  }

  async open(): Promise<void> {
    await this.line.open(this.opts.path, this.opts.baudRate ?? 57600);
    // Power-on: the module announces itself with 0x55 (R503 manual p. 26).
    this.line.send(Uint8Array.of(READY_BYTE));
  }

  get templateCount(): number {
    return this.templates;
  }

  get lineStats() {
    return { ...this.line.stats };
  }

  groundTruth(): GroundTruthRecord[] {
    return this.recorder.records().filter((r) => r.part === 'sensor-window' && r.peripheral === (this.opts.peripheral ?? 'fingerprint') && r.device === this.opts.device);
  }

  // -------------------------------------------------------------------------------------------
  // Scripted faults (line faults: SerialDeviceSimulator)

  /** The sensor reports abnormal (CheckSensor 0x29) and every capture fails, until cleared. */
  setSensorFailed(on: boolean): void { this.sensorForcedFail = on; }
  setTemplates(n: number): void { this.templates = Math.max(0, Math.min(this.capacity, Math.floor(n))); }
  /** Fills the template store: enrolment now fails. */
  fillStore(): void { this.templates = this.capacity; }
  /** Soft reset / power cycle: the ready byte again. */
  powerCycle(): void { this.line.send(Uint8Array.of(READY_BYTE)); }

  // -------------------------------------------------------------------------------------------
  // Use

  /**
   * `count` verifications by shop staff: finger on, GenImg → Img2Tz → Search, one retry after a
   * rejection or a bad image. `enrolledShare` of the people are enrolled (default 0.97).
   */
  async use(count = 1, opts: { enrolledShare?: number } = {}): Promise<CaptureOutcome[]> {
    const out: CaptureOutcome[] = [];
    for (let i = 0; i < count; i++) {
      const enrolled = this.random() < (opts.enrolledShare ?? 0.97);
      let r = await this.verifyOnce(enrolled);
      if (r !== 'accepted' && r !== 'no-reply') {
        const again = await this.verifyOnce(enrolled);
        r = again === 'accepted' ? 'accepted-after-retry' : again;
      }
      out.push(r);
    }
    return out;
  }

  private async verifyOnce(enrolled: boolean): Promise<CaptureOutcome> {
    this.finger = { enrolled };
    try {
      const g = await this.exchange(instruction.genImg, commands.genImg(this.address));
      if (g === null) return 'no-reply';
      if (g !== 0x00) return 'image-fail';
      const t = await this.exchange(instruction.img2Tz, commands.img2Tz(1, this.address));
      if (t === null) return 'no-reply';
      if (t !== 0x00) return 'feature-fail';
      const s = await this.exchange(instruction.search, commands.search(1, 0, this.capacity, this.address));
      if (s === null) return 'no-reply';
      return s === 0x00 ? 'accepted' : 'rejected';
    } finally {
      this.finger = null;
    }
  }

  /** One command as the POS software would send it; returns the confirmation code or null. */
  private async exchange(instr: number, packet: Uint8Array): Promise<number | null> {
    if (!this.opts.posPath) {
      const reply = this.execute(instr, packet.slice(10, packet.length - 2));
      return reply?.code ?? null;
    }
    const pos = await this.posPort();
    const got = new Promise<FingerprintFrame | null>((resolve) => {
      const t = setTimeout(() => {
        pos.waiter = null;
        resolve(null);
      }, 5000);
      pos.waiter = (f) => {
        clearTimeout(t);
        pos.waiter = null;
        resolve(f);
      };
    });
    pos.port.write(Buffer.from(packet));
    const f = await got;
    return f && f.type === 'packet' && f.packet.pid === pid.ack ? (f.packet.payload[0] ?? null) : null;
  }

  private async posPort() {
    if (this.pos) return this.pos;
    const port = new SerialPort({ path: this.opts.posPath!, baudRate: this.opts.baudRate ?? 57600, autoOpen: false });
    await new Promise<void>((res, rej) => port.open((e) => (e ? rej(e) : res())));
    const pos = { port, buf: new Uint8Array(0) as Uint8Array, waiter: null as ((f: FingerprintFrame | null) => void) | null };
    port.on('data', (c: Buffer) => {
      const joined = new Uint8Array(pos.buf.length + c.length);
      joined.set(pos.buf);
      joined.set(c, pos.buf.length);
      const { frames, rest } = splitFingerprintStream(joined);
      pos.buf = rest;
      for (const f of frames) if (f.type === 'packet' && f.packet.pid === pid.ack) pos.waiter?.(f);
    });
    port.on('error', () => undefined);
    this.pos = pos;
    return pos;
  }

  async close(): Promise<void> {
    const pos = this.pos;
    this.pos = null;
    if (pos?.port.isOpen) await new Promise<void>((r) => pos.port.close(() => r()));
    await this.line.close();
  }

  // -------------------------------------------------------------------------------------------
  // Module logic

  private sensorFailed(): boolean {
    return this.sensorForcedFail || this.window.failed;
  }

  /** Executes one instruction; returns the ack (code + data), or null when the module does not answer. */
  private execute(instr: number, params: Uint8Array): { code: number; data?: number[] | Uint8Array; after?: Uint8Array[] } | null {
    const has = (c: string) => this.commandsSupported.has(c);
    switch (instr) {
      case instruction.handShake:
        return has('handShake') ? { code: 0x00 } : null;
      case instruction.vfyPwd: {
        const pw = ((params[0] << 24) | (params[1] << 16) | (params[2] << 8) | params[3]) >>> 0;
        return { code: pw === this.password ? 0x00 : 0x13 };
      }
      case instruction.readSysPara:
        return { code: 0x00, data: encodeSystemParameters({ statusRegister: 0, systemId: 0, capacity: this.capacity, securityLevel: 3, address: this.address, packetSize: 128, baudRate: this.opts.baudRate ?? 57600 }) };
      case instruction.templateNum:
        return { code: 0x00, data: [(this.templates >> 8) & 0xff, this.templates & 0xff] };
      case instruction.checkSensor:
        return has('checkSensor') ? { code: this.sensorFailed() ? 0x29 : 0x00 } : null;
      case instruction.readProdInfo:
        if (!has('readProdInfo')) return null;
        return {
          code: 0x00,
          data: encodeProductInfo({
            moduleModel: this.profile?.model ?? 'R503',
            batch: 'B001',
            serial: (this.opts.serial ?? 'SIM00001').slice(0, 8),
            hardwareVersion: '1.1',
            sensorModel: 'FPC1021',
            imageWidth: 192,
            imageHeight: 192,
            templateSize: 1536,
            capacity: this.capacity,
          }),
        };
      case instruction.genImg:
      case instruction.getImageEx: {
        if (!this.finger) return { code: 0x02 };
        this.stats.captures++;
        const errored = this.window.use() || this.sensorFailed();
        if (!errored) {
          this.image = 'good';
          return { code: 0x00 };
        }
        // A worn window gives either an unusable image now, or one too poor for features later.
        if (this.sensorFailed() || this.random() < 0.5) {
          this.image = 'none';
          this.stats.imageFailures++;
          return { code: 0x03 };
        }
        this.image = 'poor';
        return { code: 0x00 };
      }
      case instruction.img2Tz: {
        if (this.image === 'none') return { code: 0x15 };
        this.features = this.image;
        if (this.image === 'poor') {
          this.stats.featureFailures++;
          this.features = 'none';
          return { code: this.random() < 0.5 ? 0x07 : 0x06 };
        }
        return { code: 0x00 };
      }
      case instruction.search:
      case instruction.hiSpeedSearch: {
        const found = this.features === 'good' && !!this.finger?.enrolled && this.templates > 0;
        this.features = 'none';
        if (found) {
          this.stats.matches++;
          return { code: 0x00, data: [0x00, 0x05, 0x00, 0x64] };
        }
        this.stats.rejections++;
        return { code: 0x09, data: [0, 0, 0, 0] };
      }
      case instruction.store:
        if (this.templates >= this.capacity) return { code: 0x0b };
        this.templates++;
        return { code: 0x00 };
      case instruction.empty:
        this.templates = 0;
        return { code: 0x00 };
      case instruction.upChar: {
        // Template upload: ack, then the template in data packets of 128 bytes, the last one end-of-data.
        const chunks: Uint8Array[] = [];
        for (let i = 0; i < 4; i++) chunks.push(encodePacket({ address: this.address, pid: i === 3 ? pid.endOfData : pid.data, payload: new Uint8Array(128).fill(i + 1) }));
        return { code: 0x00, after: chunks };
      }
      default:
        return { code: 0x01 };
    }
  }

  protected onData(chunk: Buffer): void {
    const joined = new Uint8Array(this.inBuf.length + chunk.length);
    joined.set(this.inBuf);
    joined.set(chunk, this.inBuf.length);
    const { frames, rest } = splitFingerprintStream(joined);
    this.inBuf = rest;
    for (const f of frames) {
      if (f.type === 'garbage') {
        this.stats.badPackets++;
        continue;
      }
      if (f.type !== 'packet' || f.packet.pid !== pid.command || f.packet.payload.length < 1) continue;
      if (f.packet.address !== this.address) continue; // not for us: a real module stays silent
      this.stats.commandsReceived++;
      const r = this.execute(f.packet.payload[0], f.packet.payload.slice(1));
      if (!r) continue;
      this.line.reply(ack(r.code, r.data ?? [], this.address));
      for (const p of r.after ?? []) this.line.send(p, this.line.faults.replyDelayMs);
    }
  }
}
