// A virtual R30x/R50x fingerprint module on the device end of a PTY pair. It answers the real
// packets (HandShake, VfyPwd, ReadSysPara, TempleteNum, ReadIndexTable, CheckSensor, ReadProdInfo,
// GenImg, Img2Tz, Search, Store, DeletChar, Empty, UpChar), keeps a template store by slot, and
// serves captures from
// simulated use: each finger press is one use of the sensor window, a part with a wear model
// (sim/wear.ts) whose image-failure rate rises as it nears the end of its life; when it fails,
// the failure is recorded as ground truth and CheckSensor reports the sensor abnormal.
//
// Simulated use goes the way it does in a shop: the POS software sends GenImg → Img2Tz → Search
// while a person's finger is on the sensor, and retries once after a rejection. With `posPath`
// (the POS-facing port of the agent's relay) those commands really go over the wire through the
// agent; without it they are evaluated inside the module (the agent then sees status only).
//
// Packets are built and read here from the manuals' bytes (R503 user manual v1.4.1, docs/hardware.md,
// Adafruit_CircuitPython_Fingerprint), not with the driver's codec, so that a mistake in one is
// not mirrored by the other.
import { SerialPort } from 'serialport';
import type { FirmwareProfile } from '../firmware-profiles/schema.js';
import { simulatedProfile, type SimulatedPeripheralOptions } from './profile.js';
import { SerialDeviceSimulator } from './serial-device.js';
import { GroundTruthRecorder, WearPart, deriveSeed, seededRandom, type GroundTruthRecord } from './wear.js';

// ---------------------------------------------------------------------------------------------
// Wire format, module side: `EF 01` + address (u32 BE) + packet id + length (u16 BE, payload + 2)
// + payload + checksum (u16 BE: packet id + both length bytes + payload bytes).

const DEFAULT_ADDRESS = 0xffffffff;
/** Sent once after power-on or a soft reset. */
const READY_BYTE = 0x55;
const PID_COMMAND = 0x01;
const PID_DATA = 0x02;
const PID_ACK = 0x07;
const PID_END_OF_DATA = 0x08;
const INS = {
  genImg: 0x01,
  img2Tz: 0x02,
  search: 0x04,
  store: 0x06,
  upChar: 0x08,
  deleteChar: 0x0c,
  empty: 0x0d,
  readSysPara: 0x0f,
  vfyPwd: 0x13,
  hiSpeedSearch: 0x1b,
  templateNum: 0x1d,
  readIndexTable: 0x1f,
  getImageEx: 0x28,
  checkSensor: 0x36,
  readProdInfo: 0x3c,
  handShake: 0x40,
} as const;
/** Template slots listed per ReadIndexTable page (32 bytes of 8 bits). */
const SLOTS_PER_INDEX_PAGE = 256;

function fpPacket(address: number, packetId: number, payload: ArrayLike<number>): Buffer {
  const out = Buffer.alloc(11 + payload.length);
  out.writeUInt16BE(0xef01, 0);
  out.writeUInt32BE(address >>> 0, 2);
  out[6] = packetId;
  out.writeUInt16BE(payload.length + 2, 7);
  let sum = packetId + out[7] + out[8];
  for (let i = 0; i < payload.length; i++) {
    out[9 + i] = payload[i];
    sum += payload[i];
  }
  out.writeUInt16BE(sum & 0xffff, 9 + payload.length);
  return out;
}

type FpPacket = { address: number; packetId: number; payload: Buffer };

/**
 * Whole packets off a byte stream. Stray bytes, and a packet whose header or checksum is wrong
 * (dropped from its first byte on), are skipped; `onBad` is called once per run of skipped bytes.
 */
function takePackets(buf: Buffer, onBad: () => void): { packets: FpPacket[]; rest: Buffer } {
  const packets: FpPacket[] = [];
  let i = 0;
  let skipping = false;
  const skip = () => {
    if (!skipping) onBad();
    skipping = true;
    i++;
  };
  while (i < buf.length) {
    if (buf[i] !== 0xef) {
      skip();
      continue;
    }
    if (buf.length - i < 9) break;
    const len = buf.readUInt16BE(i + 7);
    const id = buf[i + 6];
    if (buf[i + 1] !== 0x01 || ![PID_COMMAND, PID_DATA, PID_ACK, PID_END_OF_DATA].includes(id) || len < 2 || len > 290) {
      skip();
      continue;
    }
    if (buf.length - i < 9 + len) break;
    const payload = buf.subarray(i + 9, i + 7 + len);
    let sum = id + buf[i + 7] + buf[i + 8];
    for (const b of payload) sum += b;
    if ((sum & 0xffff) !== buf.readUInt16BE(i + 7 + len)) {
      skip();
      continue;
    }
    skipping = false;
    packets.push({ address: buf.readUInt32BE(i + 2), packetId: id, payload: Buffer.from(payload) });
    i += 9 + len;
  }
  return { packets, rest: Buffer.from(buf.subarray(i)) };
}

const be16 = (v: number) => [(v >> 8) & 0xff, v & 0xff];
const be32 = (v: number) => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];

export type VirtualFingerprintOptions = SimulatedPeripheralOptions & {
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
  readonly stats: VirtualFingerprintStats = {
    commandsReceived: 0,
    badPackets: 0,
    captures: 0,
    imageFailures: 0,
    featureFailures: 0,
    matches: 0,
    rejections: 0,
  };
  private readonly random: () => number;
  private readonly recorder: GroundTruthRecorder;
  private readonly commandsSupported: Set<string>;
  private readonly address: number;
  private readonly password: number;
  private capacity: number;
  /** Template slots in use (page ids 0 … capacity − 1). */
  private readonly slots = new Set<number>();
  private sensorForcedFail = false;
  private inBuf: Buffer = Buffer.alloc(0);
  /** Whose finger is on the sensor now: null = nobody. */
  private finger: { enrolled: boolean } | null = null;
  private image: ImageState = 'none';
  private features: ImageState = 'none';
  private pos: { port: SerialPort; buf: Buffer; waiter: ((p: FpPacket | null) => void) | null } | null = null;

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
    this.setTemplates(opts.templates ?? 20);
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
    return this.slots.size;
  }

  /** Slots in use, ascending (what ReadIndexTable reports). */
  templateSlots(): number[] {
    return [...this.slots].sort((a, b) => a - b);
  }

  get lineStats() {
    return { ...this.line.stats };
  }

  groundTruth(): GroundTruthRecord[] {
    return this.recorder.recordsOf({ device: this.opts.device, peripheral: this.opts.peripheral ?? 'fingerprint', part: 'sensor-window' });
  }

  // -------------------------------------------------------------------------------------------
  // Scripted faults (line faults: SerialDeviceSimulator)

  /** The sensor reports abnormal (CheckSensor 0x29) and every capture fails, until cleared. */
  setSensorFailed(on: boolean): void {
    this.sensorForcedFail = on;
  }
  /** The store holds `n` templates in slots 0 … n − 1. */
  setTemplates(n: number): void {
    this.slots.clear();
    for (let i = 0; i < Math.max(0, Math.min(this.capacity, Math.floor(n))); i++) this.slots.add(i);
  }
  /** Fills the template store: enrolment now fails. */
  fillStore(): void {
    this.setTemplates(this.capacity);
  }
  /** Soft reset / power cycle: the ready byte again. */
  powerCycle(): void {
    this.line.send(Uint8Array.of(READY_BYTE));
  }

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
      const g = await this.exchange(INS.genImg, []);
      if (g === null) return 'no-reply';
      if (g !== 0x00) return 'image-fail';
      const t = await this.exchange(INS.img2Tz, [1]);
      if (t === null) return 'no-reply';
      if (t !== 0x00) return 'feature-fail';
      const s = await this.exchange(INS.search, [1, ...be16(0), ...be16(this.capacity)]);
      if (s === null) return 'no-reply';
      return s === 0x00 ? 'accepted' : 'rejected';
    } finally {
      this.finger = null;
    }
  }

  /** One command as the POS software would send it; returns the confirmation code or null. */
  private async exchange(instr: number, params: number[]): Promise<number | null> {
    if (!this.opts.posPath) {
      const reply = this.execute(instr, Buffer.from(params));
      return reply?.code ?? null;
    }
    const packet = fpPacket(this.address, PID_COMMAND, [instr, ...params]);
    const pos = await this.posPort();
    const got = new Promise<FpPacket | null>((resolve) => {
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
    return f ? (f.payload[0] ?? null) : null;
  }

  private async posPort() {
    if (this.pos) return this.pos;
    const port = new SerialPort({ path: this.opts.posPath!, baudRate: this.opts.baudRate ?? 57600, autoOpen: false });
    await new Promise<void>((res, rej) => port.open((e) => (e ? rej(e) : res())));
    const pos = { port, buf: Buffer.alloc(0) as Buffer, waiter: null as ((p: FpPacket | null) => void) | null };
    port.on('data', (c: Buffer) => {
      const { packets, rest } = takePackets(Buffer.concat([pos.buf, c]), () => undefined);
      pos.buf = rest;
      for (const p of packets) if (p.packetId === PID_ACK) pos.waiter?.(p);
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
  private execute(instr: number, params: Buffer): { code: number; data?: number[]; after?: Buffer[] } | null {
    const has = (c: string) => this.commandsSupported.has(c);
    switch (instr) {
      case INS.handShake:
        return has('handShake') ? { code: 0x00 } : null;
      case INS.vfyPwd: {
        if (params.length < 4) return { code: 0x01 };
        return { code: params.readUInt32BE(0) === this.password ? 0x00 : 0x13 };
      }
      case INS.readSysPara: {
        // status register, system id, library size, security level (u16 each), address (u32),
        // packet-size code (2 = 128 bytes), baud rate ÷ 9600 (u16 each): 16 bytes.
        const baud = Math.round((this.opts.baudRate ?? 57600) / 9600);
        return { code: 0x00, data: [...be16(0), ...be16(0), ...be16(this.capacity), ...be16(3), ...be32(this.address), ...be16(2), ...be16(baud)] };
      }
      case INS.templateNum:
        return { code: 0x00, data: be16(this.slots.size) };
      case INS.readIndexTable: {
        // Page n (0–3) lists slots n·256 … n·256 + 255, one bit each, LSB first in each byte.
        if (params.length < 1) return { code: 0x01 };
        const page = params[0];
        if (page > 3) return { code: 0x0b };
        const table = new Array<number>(32).fill(0);
        for (const slot of this.slots) {
          const at = slot - page * SLOTS_PER_INDEX_PAGE;
          if (at >= 0 && at < SLOTS_PER_INDEX_PAGE) table[at >> 3] |= 1 << (at & 7);
        }
        return { code: 0x00, data: table };
      }
      case INS.checkSensor:
        return has('checkSensor') ? { code: this.sensorFailed() ? 0x29 : 0x00 } : null;
      case INS.readProdInfo: {
        if (!has('readProdInfo')) return null;
        // R503 manual p. 16: model 16, batch 4, serial 8 (ASCII, NUL-padded), hardware version
        // 2 (major, minor), sensor model 8, image width, height, template size, capacity (u16 BE).
        const out = Buffer.alloc(46);
        out.write((this.profile?.model ?? 'R503').slice(0, 16), 0, 16, 'latin1');
        out.write('B001', 16, 4, 'latin1');
        out.write((this.opts.serial ?? 'SIM00001').slice(0, 8), 20, 8, 'latin1');
        out[28] = 1;
        out[29] = 1;
        out.write('FPC1021', 30, 8, 'latin1');
        out.writeUInt16BE(192, 38);
        out.writeUInt16BE(192, 40);
        out.writeUInt16BE(1536, 42);
        out.writeUInt16BE(this.capacity, 44);
        return { code: 0x00, data: [...out] };
      }
      case INS.genImg:
      case INS.getImageEx: {
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
      case INS.img2Tz: {
        if (this.image === 'none') return { code: 0x15 };
        this.features = this.image;
        if (this.image === 'poor') {
          this.stats.featureFailures++;
          this.features = 'none';
          return { code: this.random() < 0.5 ? 0x07 : 0x06 };
        }
        return { code: 0x00 };
      }
      case INS.search:
      case INS.hiSpeedSearch: {
        const found = this.features === 'good' && !!this.finger?.enrolled && this.slots.size > 0;
        this.features = 'none';
        if (found) {
          this.stats.matches++;
          const slot = this.templateSlots()[0];
          return { code: 0x00, data: [...be16(slot), ...be16(100)] };
        }
        this.stats.rejections++;
        return { code: 0x09, data: [0, 0, 0, 0] };
      }
      case INS.store: {
        // buffer id, page id (u16): the slot to write.
        if (params.length < 3) return { code: 0x01 };
        const slot = params.readUInt16BE(1);
        if (slot >= this.capacity) return { code: 0x0b };
        this.slots.add(slot);
        return { code: 0x00 };
      }
      case INS.deleteChar: {
        // page id, count (u16 each).
        if (params.length < 4) return { code: 0x01 };
        const from = params.readUInt16BE(0);
        const n = params.readUInt16BE(2);
        if (from >= this.capacity) return { code: 0x10 };
        for (let k = from; k < from + n; k++) this.slots.delete(k);
        return { code: 0x00 };
      }
      case INS.empty:
        this.slots.clear();
        return { code: 0x00 };
      case INS.upChar: {
        // Template upload: ack, then the template in data packets of 128 bytes, the last one end-of-data.
        const chunks: Buffer[] = [];
        for (let i = 0; i < 4; i++) chunks.push(fpPacket(this.address, i === 3 ? PID_END_OF_DATA : PID_DATA, new Uint8Array(128).fill(i + 1)));
        return { code: 0x00, after: chunks };
      }
      default:
        return { code: 0x01 };
    }
  }

  protected onData(chunk: Buffer): void {
    const { packets, rest } = takePackets(Buffer.concat([this.inBuf, chunk]), () => this.stats.badPackets++);
    this.inBuf = rest;
    for (const p of packets) {
      if (p.packetId !== PID_COMMAND || p.payload.length < 1) continue;
      if (p.address !== this.address) continue; // not for us: a real module stays silent
      this.stats.commandsReceived++;
      const r = this.execute(p.payload[0], p.payload.subarray(1));
      if (!r) continue;
      this.line.reply(fpPacket(this.address, PID_ACK, [r.code, ...(r.data ?? [])]));
      for (const after of r.after ?? []) this.line.send(after, this.line.faults.replyDelayMs);
    }
  }
}
