// A virtual ZKTeco-style attendance clock on a loopback TCP port: answers CMD_CONNECT,
// CMD_GET_VERSION, CMD_OPTIONS_RRQ, CMD_GET_FREE_SIZES and CMD_EXIT with the real bytes, keeps a
// user / fingerprint / attendance-record store with capacities, fills it as staff clock in, and
// can be scripted to misbehave: refuse connections, go silent, send noise, answer slowly or cut a
// reply off mid-frame, require a comm key. The fingerprint sensor wears (sim/wear.ts): failed
// scans become more likely near its end of life, and its failure is recorded as ground truth.
import { createServer, type Server, type Socket } from 'node:net';
import {
  decodePacket,
  encodeFreeSizes,
  encodeOptionReply,
  encodeReply,
  splitZkStream,
  USHRT_MAX,
  zkChecksum,
  zkCommand,
  zkOptions,
  type ZkFreeSizes,
  type ZkOptionName,
} from '../agent/drivers/zk-clock/codec.js';
import { GroundTruthRecorder, WearPart, deriveSeed, seededRandom } from './wear.js';

export type VirtualZkClockOptions = {
  /** Port to listen on (default 0: a free one, see `port`). Always bound to 127.0.0.1. */
  port?: number;
  serial?: string;
  deviceName?: string;
  platform?: string;
  firmware?: string;
  fingerprintVersion?: string;
  capacity?: { users?: number; fingers?: number; records?: number };
  /** Store contents at start (an aged clock). */
  stored?: { users?: number; fingers?: number; records?: number; cards?: number };
  /** Answer CMD_CONNECT with CMD_ACK_UNAUTH (a clock with a comm key set). */
  requireCommKey?: boolean;
  replyDelayMs?: number;
  /** Staff clock in by themselves at this rate (punches per second). */
  autoPunch?: { perSecond: number; tickMs?: number };
  /** Fingerprint-sensor wear. Without it the sensor never fails. */
  sensorWear?: {
    seed: number;
    /** Rated scans (unverified: no manufacturer figure found; a model parameter). */
    ratedScans: number;
    usage?: number;
    baseErrorRate?: number;
    endErrorRate?: number;
    recorder?: GroundTruthRecorder;
    device?: string;
    peripheral?: string;
  };
};

export type VirtualZkClockStats = {
  connections: number;
  commandsReceived: number;
  repliesSent: number;
  repliesDropped: number;
  /** Requests whose checksum did not match pyzk's rule (must stay 0 with fleetcare). */
  badChecksums: number;
  /** Punches recorded, rejected by the sensor (failed scan), lost because the store was full. */
  punchesRecorded: number;
  scanFailures: number;
  punchesLostStoreFull: number;
};

type Session = { socket: Socket; id: number; buf: Uint8Array; connected: boolean };

export class VirtualZkClock {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Map<Socket, Session>();
  private nextSession = 0x1a2b;
  private boundPort = 0;
  private silent = false;
  private garbagePrefix: Uint8Array | null = null;
  private midFrameCuts = 0;
  private replyDelayMs: number;
  private punchTimer: NodeJS.Timeout | null = null;
  private closed = false;
  readonly sensor: WearPart | null;
  readonly capacity: { users: number; fingers: number; records: number };
  readonly store: { users: number; fingers: number; records: number; cards: number };
  readonly stats: VirtualZkClockStats = {
    connections: 0,
    commandsReceived: 0,
    repliesSent: 0,
    repliesDropped: 0,
    badChecksums: 0,
    punchesRecorded: 0,
    scanFailures: 0,
    punchesLostStoreFull: 0,
  };
  private readonly options: Record<ZkOptionName, string>;
  private readonly firmware: string;

  constructor(private readonly opts: VirtualZkClockOptions = {}) {
    this.capacity = { users: 3000, fingers: 3000, records: 100_000, ...opts.capacity };
    this.store = { users: 0, fingers: 0, records: 0, cards: 0, ...opts.stored };
    this.options = {
      serialNumber: opts.serial ?? 'CKJ1234567890',
      platform: opts.platform ?? 'ZMM220_TFT',
      deviceName: opts.deviceName ?? 'K40',
      fingerprintVersion: opts.fingerprintVersion ?? '10',
    };
    this.firmware = opts.firmware ?? 'Ver 6.60 Apr 28 2017';
    this.replyDelayMs = opts.replyDelayMs ?? 0;
    const w = opts.sensorWear;
    this.sensor = w
      ? new WearPart({
          device: w.device,
          peripheral: w.peripheral ?? 'clock',
          part: 'sensor-window',
          ratedLife: w.ratedScans,
          usage: w.usage,
          baseErrorRate: w.baseErrorRate ?? 0.01,
          endErrorRate: w.endErrorRate ?? 0.4,
          random: seededRandom(deriveSeed(w.seed, 'zk-sensor')),
          recorder: w.recorder,
        })
      : null;
  }

  static async start(opts: VirtualZkClockOptions = {}): Promise<VirtualZkClock> {
    const c = new VirtualZkClock(opts);
    await c.listen(opts.port ?? 0);
    const p = opts.autoPunch;
    if (p) {
      const tickMs = p.tickMs ?? 1000;
      let debt = 0;
      c.punchTimer = setInterval(() => {
        debt += (p.perSecond * tickMs) / 1000;
        const n = Math.floor(debt);
        debt -= n;
        c.punch(n);
      }, tickMs);
      c.punchTimer.unref();
    }
    return c;
  }

  get host(): string {
    return '127.0.0.1';
  }

  /** The TCP port the clock listens on (stays the same across `setRefusing`). */
  get port(): number {
    return this.boundPort;
  }

  private listen(port: number): Promise<void> {
    const server = createServer((s) => this.onConnection(s));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        server.on('error', () => undefined);
        const addr = server.address();
        this.boundPort = typeof addr === 'object' && addr ? addr.port : port;
        this.server = server;
        resolve();
      });
    });
  }

  // -------------------------------------------------------------------------------------------
  // Scripted faults and usage

  /** Stop accepting connections (and drop the open ones): the driver sees ECONNREFUSED. */
  async setRefusing(refuse: boolean): Promise<void> {
    if (refuse) {
      const s = this.server;
      this.server = null;
      for (const sock of this.sockets) sock.destroy();
      if (s) await new Promise<void>((r) => s.close(() => r()));
    } else if (!this.server && !this.closed) {
      await this.listen(this.boundPort);
    }
  }
  /** Keep connections open but answer nothing. */
  setSilent(silent: boolean): void { this.silent = silent; }
  setReplyDelay(ms: number): void { this.replyDelayMs = ms; }
  /** Every reply is preceded by these bytes until cleared with null. */
  setGarbageBeforeReplies(bytes: Uint8Array | null): void { this.garbagePrefix = bytes; }
  /** The next `count` replies are cut off after their first half. */
  stopMidFrame(count = 1): void { this.midFrameCuts += count; }
  setRequireCommKey(on: boolean): void { this.opts.requireCommKey = on; }
  /** Writes bytes to every open connection right now, unasked. */
  injectGarbage(bytes: Uint8Array): void {
    for (const s of this.sockets) if (!s.destroyed) s.write(bytes);
  }
  setStoredRecords(n: number): void { this.store.records = Math.max(0, Math.min(n, this.capacity.records)); }
  /** An administrator downloads and clears the attendance log. */
  clearRecords(): void { this.store.records = 0; }

  /**
   * `n` staff punches. Each scans a finger (wearing the sensor; a failed scan records nothing)
   * and appends a record — unless the record store is full, when the punch is lost (the real
   * failure this clock's health is about).
   */
  punch(n = 1): void {
    for (let i = 0; i < n; i++) {
      if (this.sensor?.use()) {
        this.stats.scanFailures++;
        continue;
      }
      if (this.store.records >= this.capacity.records) {
        this.stats.punchesLostStoreFull++;
        continue;
      }
      this.store.records++;
      this.stats.punchesRecorded++;
    }
  }

  freeSizes(): ZkFreeSizes {
    const s = this.store;
    const c = this.capacity;
    return {
      users: s.users,
      fingers: s.fingers,
      records: s.records,
      cards: s.cards,
      fingerCapacity: c.fingers,
      userCapacity: c.users,
      recordCapacity: c.records,
      fingersAvailable: Math.max(0, c.fingers - s.fingers),
      usersAvailable: Math.max(0, c.users - s.users),
      recordsAvailable: Math.max(0, c.records - s.records),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.punchTimer) clearInterval(this.punchTimer);
    await this.setRefusing(true);
  }

  // -------------------------------------------------------------------------------------------
  // Bytes

  private onConnection(socket: Socket): void {
    this.stats.connections++;
    this.sockets.add(socket);
    const session: Session = { socket, id: 0, buf: new Uint8Array(0), connected: false };
    this.sessions.set(socket, session);
    socket.on('data', (chunk: Buffer) => this.onData(session, chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.sessions.delete(socket);
      this.queues.delete(socket);
    });
  }

  private onData(session: Session, chunk: Buffer): void {
    try {
      const joined = new Uint8Array(session.buf.length + chunk.length);
      joined.set(session.buf);
      joined.set(chunk, session.buf.length);
      const { frames, rest } = splitZkStream(joined);
      session.buf = rest;
      for (const f of frames) if (f.type === 'packet') this.command(session, f.body);
    } catch {
      session.buf = new Uint8Array(0);
    }
  }

  private command(session: Session, body: Uint8Array): void {
    const d = decodePacket(body);
    if (!d.ok) return;
    const p = d.value;
    this.stats.commandsReceived++;
    // pyzk computes the checksum with the reply id before its increment.
    const check = body.slice();
    check[2] = 0;
    check[3] = 0;
    const prev = p.replyId === 0 ? USHRT_MAX - 1 : p.replyId - 1;
    check[6] = prev & 0xff;
    check[7] = prev >> 8;
    if (zkChecksum(check) !== p.checksum) this.stats.badChecksums++;

    const reply = (command: number, data: Uint8Array = new Uint8Array(0)) => this.send(session, encodeReply(command, data, session.id, p.replyId));
    if (p.command === zkCommand.CMD_CONNECT) {
      if (this.opts.requireCommKey) {
        session.id = this.nextSession++ & 0xffff;
        return reply(zkCommand.CMD_ACK_UNAUTH);
      }
      session.id = this.nextSession++ & 0xffff;
      session.connected = true;
      return reply(zkCommand.CMD_ACK_OK);
    }
    if (!session.connected || p.sessionId !== session.id) return reply(zkCommand.CMD_ACK_UNAUTH);
    switch (p.command) {
      case zkCommand.CMD_EXIT:
        reply(zkCommand.CMD_ACK_OK);
        session.connected = false;
        this.out(session).then(() => session.socket.end(), () => undefined);
        return;
      case zkCommand.CMD_GET_VERSION:
        return reply(zkCommand.CMD_ACK_OK, Buffer.from(`${this.firmware}\0`, 'latin1'));
      case zkCommand.CMD_OPTIONS_RRQ: {
        const end = p.data.indexOf(0);
        const name = Buffer.from(end >= 0 ? p.data.subarray(0, end) : p.data).toString('latin1');
        const key = (Object.keys(zkOptions) as ZkOptionName[]).find((k) => zkOptions[k] === name);
        return key ? reply(zkCommand.CMD_ACK_OK, encodeOptionReply(key, this.options[key])) : reply(zkCommand.CMD_ACK_ERROR);
      }
      case zkCommand.CMD_GET_FREE_SIZES: {
        // Real replies carry 92 bytes (face counts after the 20 ints); the tail is zeros here.
        const data = new Uint8Array(92);
        data.set(encodeFreeSizes(this.freeSizes()));
        return reply(zkCommand.CMD_ACK_OK, data);
      }
      default:
        return reply(zkCommand.CMD_ACK_ERROR);
    }
  }

  private readonly queues = new Map<Socket, Promise<void>>();

  private out(session: Session): Promise<void> {
    return this.queues.get(session.socket) ?? Promise.resolve();
  }

  private send(session: Session, bytes: Uint8Array): void {
    if (this.silent) {
      this.stats.repliesDropped++;
      return;
    }
    let out = bytes;
    if (this.midFrameCuts > 0) {
      this.midFrameCuts--;
      out = bytes.slice(0, Math.ceil(bytes.length / 2));
    }
    if (this.garbagePrefix) out = Uint8Array.from([...this.garbagePrefix, ...out]);
    this.stats.repliesSent++;
    const delay = this.replyDelayMs;
    const socket = session.socket;
    const q = this.out(session).then(async () => {
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      if (!socket.destroyed) socket.write(out);
    });
    this.queues.set(socket, q.catch(() => undefined));
  }
}
