// A virtual ZKTeco-style attendance clock on a loopback TCP port: answers CMD_CONNECT, CMD_AUTH
// (comm key), CMD_GET_VERSION, CMD_OPTIONS_RRQ, CMD_GET_FREE_SIZES, CMD_GET_TIME / CMD_SET_TIME
// (its own drifting clock), the user and attendance downloads (the buffered read pyzk and
// zkteco-js use: _CMD_PREPARE_BUFFER, _CMD_READ_BUFFER → CMD_PREPARE_DATA + CMD_DATA + CMD_ACK_OK,
// CMD_FREE_DATA; and the older whole-table CMD_ATTLOG_RRQ / CMD_USERTEMP_RRQ), CMD_ENABLEDEVICE / CMD_DISABLEDEVICE and CMD_EXIT with the real bytes; keeps a
// user / fingerprint / attendance-record store with capacities, fills it as staff clock in, and
// can be scripted to misbehave: refuse connections, go silent, send noise, answer slowly or cut a
// reply off mid-frame. The fingerprint sensor wears (sim/wear.ts): failed scans become more
// likely near its end of life, and its failure is recorded as ground truth.
//
// The bytes are read and written here from the protocol description (pyzk `zk/base.py`,
// `zk/const.py`, zkteco-js `src/helper`, docs/hardware.md), not with the driver's codec,
// so a mistake in one is not mirrored by the other.
import { createServer, type Server, type Socket } from 'node:net';
import { type ScriptedWear, scriptedWearPart, type WearPart } from './wear.js';

// ---------------------------------------------------------------------------------------------
// Wire format, clock side

const CMD = {
  USERTEMP_RRQ: 9,
  OPTIONS_RRQ: 11,
  ATTLOG_RRQ: 13,
  GET_FREE_SIZES: 50,
  GET_TIME: 201,
  SET_TIME: 202,
  CONNECT: 1000,
  EXIT: 1001,
  ENABLEDEVICE: 1002,
  DISABLEDEVICE: 1003,
  GET_VERSION: 1100,
  AUTH: 1102,
  PREPARE_DATA: 1500,
  DATA: 1501,
  FREE_DATA: 1502,
  PREPARE_BUFFER: 1503,
  READ_BUFFER: 1504,
  ACK_OK: 2000,
  ACK_ERROR: 2001,
  ACK_UNAUTH: 2005,
} as const;
/** pyzk FCT_USER: the table argument of a user download. */
const FCT_USER = 5;
const OPTION_NAMES = { serialNumber: '~SerialNumber', platform: '~Platform', deviceName: '~DeviceName', fingerprintVersion: '~ZKFPVersion' } as const;
type OptionKey = keyof typeof OPTION_NAMES;
/** Bytes per user record (pyzk `<HB8s24sIx7sx24s`, ZK8 firmware over TCP) and per attendance record (`<H24sB4sB8s`). */
export const ZK_USER_RECORD_BYTES = 72;
export const ZK_ATTENDANCE_RECORD_BYTES = 40;

/** 16-bit one's-complement-ish sum over LE words, as zkemsdk.c / pyzk `__create_checksum`. */
function checksumOf(packet: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < packet.length; i += 2) {
    sum += i + 1 < packet.length ? packet[i] + 256 * packet[i + 1] : packet[i];
    while (sum > 0xffff) sum -= 0xffff;
  }
  sum = ~sum;
  while (sum < 0) sum += 0xffff;
  return sum & 0xffff;
}

/** `50 50 82 7D` + u32 LE length, then `<4H` command, checksum, session, reply id, then data. */
function frame(command: number, session: number, replyId: number, data: Uint8Array): Buffer {
  const out = Buffer.alloc(16 + data.length);
  out.set([0x50, 0x50, 0x82, 0x7d]);
  out.writeUInt32LE(8 + data.length, 4);
  out.writeUInt16LE(command, 8);
  out.writeUInt16LE(session, 12);
  out.writeUInt16LE(replyId, 14);
  out.set(data, 16);
  out.writeUInt16LE(checksumOf(out.subarray(8)), 10);
  return out;
}

type Request = { command: number; checksum: number; session: number; replyId: number; data: Buffer; raw: Buffer };

/** Seconds since 2000-01-01 in 12 months of 31 days (the clock's time format). */
function packTime(ms: number): number {
  const d = new Date(ms);
  const days = (d.getUTCFullYear() - 2000) * 372 + d.getUTCMonth() * 31 + d.getUTCDate() - 1;
  return days * 86_400 + d.getUTCHours() * 3600 + d.getUTCMinutes() * 60 + d.getUTCSeconds();
}
function unpackTime(v: number): number {
  const days = Math.floor(v / 86_400);
  const sec = v % 86_400;
  return Date.UTC(2000 + Math.floor(days / 372), Math.floor((days % 372) / 31), (days % 31) + 1) + sec * 1000;
}

/**
 * The comm-key check of the SDK's `MakeKey` (commpro.c): the key's bits in reverse order plus
 * the session id, XOR "ZKSO", 16-bit halves swapped, then XOR with the client's tick byte, which
 * travels in byte 2. Only bytes 0, 1 and 3 can be checked (byte 2 was overwritten).
 */
function commKeyMatches(key: number, session: number, sent: Uint8Array): boolean {
  if (sent.length < 4) return false;
  const bits = (key >>> 0).toString(2).padStart(32, '0').split('').reverse().join('');
  const scrambled = Buffer.alloc(4);
  scrambled.writeUInt32LE(((parseInt(bits, 2) + session) % 0x1_0000_0000) >>> 0);
  const zkso = Buffer.from('ZKSO', 'latin1');
  for (let i = 0; i < 4; i++) scrambled[i] ^= zkso[i];
  const ticks = sent[2];
  const expect = [scrambled[2] ^ ticks, scrambled[3] ^ ticks, ticks, scrambled[1] ^ ticks];
  return expect.every((b, i) => b === sent[i]);
}

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
  /**
   * The clock's Comm Key (0 or absent: none). With one set, CMD_CONNECT is answered
   * CMD_ACK_UNAUTH and only a CMD_AUTH carrying this key opens the session.
   */
  commKey?: number;
  /** The clock's time at start minus the host's local wall time, in seconds (default 0). */
  clockOffsetSec?: number;
  /** How fast the clock gains (+) or loses (−), in parts per million (real RTCs: ±20–100 ppm). */
  clockDriftPpm?: number;
  replyDelayMs?: number;
  /** Staff clock in by themselves at this rate (punches per second). */
  autoPunch?: { perSecond: number; tickMs?: number };
  /** Fingerprint-sensor wear. Without it the sensor never fails. */
  sensorWear?: ScriptedWear & {
    /** Rated scans (unverified: no manufacturer figure found; a model parameter). */
    ratedScans: number;
  };
};

export type VirtualZkClockStats = {
  connections: number;
  commandsReceived: number;
  repliesSent: number;
  repliesDropped: number;
  /** Requests whose checksum did not match pyzk's rule (must stay 0 with fleetcare). */
  badChecksums: number;
  /** CMD_AUTH requests with a wrong key. */
  authRejected: number;
  /** CMD_SET_TIME requests obeyed. */
  timeSets: number;
  /** Punches recorded, rejected by the sensor (failed scan), lost because the store was full. */
  punchesRecorded: number;
  scanFailures: number;
  punchesLostStoreFull: number;
};

type Session = { socket: Socket; id: number; buf: Buffer; connected: boolean; prepared: Buffer | null };

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
    authRejected: 0,
    timeSets: 0,
    punchesRecorded: 0,
    scanFailures: 0,
    punchesLostStoreFull: 0,
  };
  private readonly options: Record<OptionKey, string>;
  private readonly firmware: string;
  /** The clock's wall time (as UTC ms) = host wall time + offset + drift since `clockSetAt`. */
  private clockSetAt = Date.now();
  private clockAtSet: number;
  private driftPpm: number;
  /** Times of the punches recorded live (the `stored` ones at start get synthetic times). */
  private readonly punchTimes: number[] = [];

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
    this.clockAtSet = hostWallMs(this.clockSetAt) + (opts.clockOffsetSec ?? 0) * 1000;
    this.driftPpm = opts.clockDriftPpm ?? 0;
    const sensor = { peripheral: 'clock', part: 'sensor-window', baseErrorRate: 0.01, endErrorRate: 0.4, stream: 'zk-sensor' };
    this.sensor = scriptedWearPart(opts.sensorWear, opts.sensorWear?.ratedScans, sensor);
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
  setSilent(silent: boolean): void {
    this.silent = silent;
  }
  setReplyDelay(ms: number): void {
    this.replyDelayMs = ms;
  }
  /** Every reply is preceded by these bytes until cleared with null. */
  setGarbageBeforeReplies(bytes: Uint8Array | null): void {
    this.garbagePrefix = bytes;
  }
  /** The next `count` replies are cut off after their first half. */
  stopMidFrame(count = 1): void {
    this.midFrameCuts += count;
  }
  /** Sets or clears (0) the clock's Comm Key; open sessions stay open, like a real clock. */
  setCommKey(key: number): void {
    this.opts.commKey = key;
  }
  /** Sets the clock's time to `offsetSec` from the host's local wall time, drifting at `driftPpm`. */
  setClock(offsetSec: number, driftPpm = this.driftPpm): void {
    this.clockSetAt = Date.now();
    this.clockAtSet = hostWallMs(this.clockSetAt) + offsetSec * 1000;
    this.driftPpm = driftPpm;
  }
  /** The clock's wall time now (its local time, as UTC ms). */
  clockNow(): number {
    const elapsed = Date.now() - this.clockSetAt;
    return this.clockAtSet + elapsed * (1 + this.driftPpm / 1e6);
  }
  /** The clock's time minus the host's local wall time, in seconds. */
  clockOffsetSec(): number {
    return (this.clockNow() - hostWallMs(Date.now())) / 1000;
  }
  /** Writes bytes to every open connection right now, unasked. */
  injectGarbage(bytes: Uint8Array): void {
    for (const s of this.sockets) if (!s.destroyed) s.write(bytes);
  }
  setStoredRecords(n: number): void {
    this.store.records = Math.max(0, Math.min(n, this.capacity.records));
    if (this.punchTimes.length > this.store.records) this.punchTimes.length = this.store.records;
  }
  /** An administrator downloads and clears the attendance log. */
  clearRecords(): void {
    this.setStoredRecords(0);
  }

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
      this.punchTimes.push(Math.floor(this.clockNow() / 1000) * 1000);
      this.stats.punchesRecorded++;
    }
  }

  freeSizes(): SimFreeSizes {
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
  // Stored data, as the downloads carry it

  /** User `uid` (1-based): a staff member; the first is the administrator. */
  private userRecord(uid: number): Buffer {
    const r = Buffer.alloc(ZK_USER_RECORD_BYTES);
    r.writeUInt16LE(uid, 0);
    r[2] = uid === 1 ? 14 : 0; // privilege: 14 admin, 0 user
    // password 8s at 3: empty
    r.write(`Staff ${uid}`, 11, 24, 'latin1');
    r.writeUInt32LE(uid <= this.store.cards ? 4_000_000 + uid : 0, 35);
    r.write('1', 40, 7, 'latin1'); // group id, after one pad byte
    r.write(String(uid), 48, 24, 'latin1');
    return r;
  }

  /** Wall time of record `i` (0-based): live punches keep their time, older ones are spread back from the first. */
  recordTime(i: number): number {
    const live = this.store.records - this.punchTimes.length;
    if (i >= live) return this.punchTimes[i - live];
    const first = this.punchTimes[0] ?? Math.floor(this.clockNow() / 1000) * 1000;
    return first - (live - i) * 7 * 60_000;
  }

  private attendanceRecord(i: number): Buffer {
    const r = Buffer.alloc(ZK_ATTENDANCE_RECORD_BYTES);
    const uid = this.store.users > 0 ? (i % this.store.users) + 1 : 1;
    r.writeUInt16LE(uid, 0);
    r.write(String(uid), 2, 24, 'latin1');
    r[26] = 1; // verify type: fingerprint
    r.writeUInt32LE(packTime(this.recordTime(i)), 27);
    r[31] = i % 2; // punch: 0 check-in, 1 check-out
    return r;
  }

  /** A download's payload: u32 LE byte count of the records, then the records. */
  private table(command: number, fct: number): Buffer | null {
    const parts: Buffer[] = [];
    if (command === CMD.USERTEMP_RRQ && fct === FCT_USER) for (let uid = 1; uid <= this.store.users; uid++) parts.push(this.userRecord(uid));
    else if (command === CMD.ATTLOG_RRQ) for (let i = 0; i < this.store.records; i++) parts.push(this.attendanceRecord(i));
    else return null;
    const size = Buffer.alloc(4);
    size.writeUInt32LE(parts.length === 0 ? 0 : parts.length * parts[0].length);
    return Buffer.concat([size, ...parts]);
  }

  // -------------------------------------------------------------------------------------------
  // Bytes

  private onConnection(socket: Socket): void {
    this.stats.connections++;
    this.sockets.add(socket);
    const session: Session = { socket, id: 0, buf: Buffer.alloc(0), connected: false, prepared: null };
    this.sessions.set(socket, session);
    socket.on('data', (chunk: Buffer) => this.onData(session, chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.sessions.delete(socket);
      this.queues.delete(socket);
    });
  }

  /** Takes whole packets off the stream; bytes before a `50 50 82 7D` prefix are dropped. */
  private onData(session: Session, chunk: Buffer): void {
    try {
      let buf = Buffer.concat([session.buf, chunk]);
      for (;;) {
        const at = buf.indexOf(MAGIC);
        if (at < 0) {
          buf = buf.subarray(Math.max(0, buf.length - 3)); // may hold the start of a prefix
          break;
        }
        buf = buf.subarray(at);
        if (buf.length < 8) break;
        const len = buf.readUInt32LE(4);
        if (len < 8 || len > 1 << 20) {
          buf = buf.subarray(1);
          continue;
        }
        if (buf.length < 8 + len) break;
        const raw = Buffer.from(buf.subarray(8, 8 + len));
        buf = buf.subarray(8 + len);
        this.command(session, {
          command: raw.readUInt16LE(0),
          checksum: raw.readUInt16LE(2),
          session: raw.readUInt16LE(4),
          replyId: raw.readUInt16LE(6),
          data: raw.subarray(8),
          raw,
        });
      }
      session.buf = Buffer.from(buf);
    } catch {
      session.buf = Buffer.alloc(0);
    }
  }

  private command(session: Session, p: Request): void {
    this.stats.commandsReceived++;
    // pyzk computes the checksum with checksum 0 and the reply id before its increment.
    const check = Buffer.from(p.raw);
    check.writeUInt16LE(0, 2);
    check.writeUInt16LE(p.replyId === 0 ? 0xfffe : p.replyId - 1, 6);
    if (checksumOf(check) !== p.checksum) this.stats.badChecksums++;

    const reply = (command: number, data: Uint8Array = new Uint8Array(0)) => this.send(session, frame(command, session.id, p.replyId, data));
    if (p.command === CMD.CONNECT) {
      session.id = this.nextSession++ & 0xffff;
      session.prepared = null;
      const key = this.opts.commKey ?? 0;
      session.connected = key === 0;
      return reply(key === 0 ? CMD.ACK_OK : CMD.ACK_UNAUTH);
    }
    if (p.command === CMD.AUTH && session.id !== 0 && p.session === session.id) {
      const key = this.opts.commKey ?? 0;
      if (key !== 0 && !commKeyMatches(key, session.id, p.data)) {
        this.stats.authRejected++;
        session.connected = false;
        return reply(CMD.ACK_UNAUTH);
      }
      session.connected = true;
      return reply(CMD.ACK_OK);
    }
    if (!session.connected || p.session !== session.id) return reply(CMD.ACK_UNAUTH);
    switch (p.command) {
      case CMD.EXIT:
        reply(CMD.ACK_OK);
        session.connected = false;
        this.out(session).then(
          () => session.socket.end(),
          () => undefined,
        );
        return;
      case CMD.ENABLEDEVICE:
      case CMD.DISABLEDEVICE:
        return reply(CMD.ACK_OK);
      case CMD.GET_VERSION:
        return reply(CMD.ACK_OK, Buffer.from(`${this.firmware}\0`, 'latin1'));
      case CMD.OPTIONS_RRQ: {
        const end = p.data.indexOf(0);
        const name = p.data.subarray(0, end >= 0 ? end : p.data.length).toString('latin1');
        const key = (Object.keys(OPTION_NAMES) as OptionKey[]).find((k) => OPTION_NAMES[k] === name);
        return key ? reply(CMD.ACK_OK, Buffer.from(`${name}=${this.options[key]}\0`, 'latin1')) : reply(CMD.ACK_ERROR);
      }
      case CMD.GET_FREE_SIZES: {
        // 20 int32 (pyzk `read_sizes`), then the face counts real replies carry (zeros here).
        const f = this.freeSizes();
        const data = Buffer.alloc(92);
        const at: Array<[number, number]> = [
          [4, f.users],
          [6, f.fingers],
          [8, f.records],
          [12, f.cards],
          [14, f.fingerCapacity],
          [15, f.userCapacity],
          [16, f.recordCapacity],
          [17, f.fingersAvailable],
          [18, f.usersAvailable],
          [19, f.recordsAvailable],
        ];
        for (const [i, v] of at) data.writeInt32LE(v, i * 4);
        return reply(CMD.ACK_OK, data);
      }
      case CMD.GET_TIME: {
        const data = Buffer.alloc(4);
        data.writeUInt32LE(packTime(this.clockNow()));
        return reply(CMD.ACK_OK, data);
      }
      case CMD.SET_TIME: {
        if (p.data.length < 4) return reply(CMD.ACK_ERROR);
        const v = p.data.readUInt32LE(0);
        this.clockSetAt = Date.now();
        this.clockAtSet = unpackTime(v);
        this.stats.timeSets++;
        return reply(CMD.ACK_OK);
      }
      case CMD.PREPARE_BUFFER: {
        // `<bhii`: 1, the table's read command, its fct, ext (pyzk `read_with_buffer`).
        if (p.data.length < 11) return reply(CMD.ACK_ERROR);
        const table = this.table(p.data.readInt16LE(1), p.data.readInt32LE(3));
        if (!table) return reply(CMD.ACK_ERROR);
        session.prepared = table;
        // The size sits at bytes 1..4 of the reply (pyzk `data[1:5]`, zkteco-js `readUIntLE(1, 4)`).
        const data = Buffer.alloc(5);
        data.writeUInt32LE(table.length, 1);
        return reply(CMD.ACK_OK, data);
      }
      case CMD.READ_BUFFER: {
        // `<ii` start, size → CMD_PREPARE_DATA (size, 8 bytes), CMD_DATA (the chunk), CMD_ACK_OK.
        const t = session.prepared;
        if (!t || p.data.length < 8) return reply(CMD.ACK_ERROR);
        const start = p.data.readInt32LE(0);
        const size = p.data.readInt32LE(4);
        if (start < 0 || size <= 0 || start + size > t.length) return reply(CMD.ACK_ERROR);
        const head = Buffer.alloc(8);
        head.writeUInt32LE(size, 0);
        reply(CMD.PREPARE_DATA, head);
        reply(CMD.DATA, t.subarray(start, start + size));
        return reply(CMD.ACK_OK);
      }
      case CMD.FREE_DATA:
        session.prepared = null;
        return reply(CMD.ACK_OK);
      case CMD.ATTLOG_RRQ:
      case CMD.USERTEMP_RRQ: {
        // The older whole-table read (zkemsdk ReadAllGLogData / ReadAllUserID): CMD_PREPARE_DATA
        // with the size, the table in one CMD_DATA, CMD_ACK_OK (pyzk `__recieve_chunk`).
        const table = this.table(p.command, p.command === CMD.USERTEMP_RRQ ? (p.data.length >= 1 ? p.data[0] : FCT_USER) : 0);
        if (!table) return reply(CMD.ACK_ERROR);
        const head = Buffer.alloc(8);
        head.writeUInt32LE(table.length, 0);
        reply(CMD.PREPARE_DATA, head);
        reply(CMD.DATA, table);
        return reply(CMD.ACK_OK);
      }
      default:
        return reply(CMD.ACK_ERROR);
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
    this.queues.set(
      socket,
      q.catch(() => undefined),
    );
  }
}

const MAGIC = Buffer.from([0x50, 0x50, 0x82, 0x7d]);

/** Store counts as CMD_GET_FREE_SIZES reports them. */
export type SimFreeSizes = {
  users: number;
  fingers: number;
  records: number;
  cards: number;
  fingerCapacity: number;
  userCapacity: number;
  recordCapacity: number;
  fingersAvailable: number;
  usersAvailable: number;
  recordsAvailable: number;
};

/** This host's local wall time at `ms`, as UTC ms (a clock set from this host shows it). */
function hostWallMs(ms: number): number {
  return ms - new Date(ms).getTimezoneOffset() * 60_000;
}
