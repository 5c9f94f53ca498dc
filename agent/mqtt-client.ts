// A small MQTT 3.1.1 client for the agent: one connection attempt per instance (the link drives
// reconnects with its own backoff), CONNECT with will and persistent session, keepalive with a
// PINGRESP deadline, QoS 0/1 publish with PUBACK tracking, SUBSCRIBE/SUBACK, incoming QoS 0/1
// PUBLISH (PUBACK sent after the handler ran). Why not mqtt.js: with its stream stack and
// mqtt-packet (bl → readable-stream) it costs ~6 MB of RSS on a device whose whole budget is
// 55 MB, and the agent needs this small subset. Unacked QoS 1 packets are not re-sent with DUP on
// a new connection: the agent's outbox re-sends everything unacked by the collector anyway.
import { EventEmitter } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { createRequire } from 'node:module';
import { FleetcareError } from '../protocol/errors.js';

export type QoS = 0 | 1;

export type MqttClientOptions = {
  /** mqtt://host[:port] or mqtts://host[:port] (default ports 1883 / 8883). */
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  /** false: persistent session (queued QoS 1 messages while away). */
  clean: boolean;
  /** 0 disables keepalive. */
  keepaliveSec: number;
  /** CONNECT → CONNACK deadline, from the start of the TCP connect. */
  connectTimeoutMs: number;
  will?: { topic: string; payload: Buffer | string; qos: QoS; retain: boolean };
  tls?: { ca?: Buffer; rejectUnauthorized: boolean };
  /** Incoming packets larger than this close the connection (memory bound). */
  maxPacketBytes?: number;
};

export type IncomingPublish = { qos: QoS; retain: boolean; dup: boolean };

/** CONNACK refused the connection; `context.returnCode` is the MQTT 3.1.1 return code (5 = not authorized). */
const connackError = (returnCode: number) =>
  new FleetcareError('connection-refused', `connection refused: ${CONNACK_REASONS[returnCode] ?? `return code ${returnCode}`}`, { returnCode });

const CONNACK_REASONS: Record<number, string> = {
  1: 'unacceptable protocol version',
  2: 'identifier rejected',
  3: 'server unavailable',
  4: 'bad user name or password',
  5: 'not authorized',
};

const DEFAULT_MAX_PACKET = 1024 * 1024;

// Packet types (MQTT 3.1.1 §2.2.1), already shifted into the high nibble.
const CONNECT = 0x10;
const CONNACK = 0x20;
const PUBLISH = 0x30;
const PUBACK = 0x40;
const SUBSCRIBE = 0x80;
const SUBACK = 0x90;
const PINGREQ = 0xc0;
const PINGRESP = 0xd0;
const DISCONNECT = 0xe0;

/** MQTT's length-prefixed field: a 16-bit big-endian length, then the bytes. */
function binaryField(b: Buffer, what = 'binary'): Buffer {
  if (b.length > 0xffff) throw new Error(`${what} field longer than 65535 bytes`);
  const out = Buffer.allocUnsafe(2 + b.length);
  out.writeUInt16BE(b.length, 0);
  b.copy(out, 2);
  return out;
}

const utf8Field = (s: string): Buffer => binaryField(Buffer.from(s, 'utf8'), 'string');

function u16(n: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(n, 0);
  return b;
}

/** Fixed header (type/flags byte + remaining length) followed by the parts. */
function packet(first: number, parts: Buffer[]): Buffer {
  let len = 0;
  for (const p of parts) len += p.length;
  if (len > 268_435_455) throw new Error('packet too large for MQTT');
  const header = [first];
  let n = len;
  do {
    let digit = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) digit |= 0x80;
    header.push(digit);
  } while (n > 0);
  return Buffer.concat([Buffer.from(header), ...parts], header.length + len);
}

export function encodeConnect(o: Pick<MqttClientOptions, 'clientId' | 'username' | 'password' | 'clean' | 'keepaliveSec' | 'will'>): Buffer {
  let flags = o.clean ? 0x02 : 0;
  const payload = [utf8Field(o.clientId)];
  if (o.will) {
    flags |= 0x04 | (o.will.qos << 3) | (o.will.retain ? 0x20 : 0);
    payload.push(utf8Field(o.will.topic), binaryField(Buffer.isBuffer(o.will.payload) ? o.will.payload : Buffer.from(o.will.payload, 'utf8')));
  }
  if (o.username !== undefined) {
    flags |= 0x80;
    payload.push(utf8Field(o.username));
    if (o.password !== undefined) {
      flags |= 0x40;
      payload.push(binaryField(Buffer.from(o.password, 'utf8')));
    }
  }
  const variable = Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, flags, (o.keepaliveSec >> 8) & 0xff, o.keepaliveSec & 0xff]);
  return packet(CONNECT, [variable, ...payload]);
}

export function encodePublish(topic: string, payload: Buffer, qos: QoS, retain: boolean, messageId: number, dup = false): Buffer {
  const parts = [utf8Field(topic)];
  if (qos > 0) parts.push(u16(messageId));
  parts.push(payload);
  return packet(PUBLISH | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 1 : 0), parts);
}

export function encodeSubscribe(messageId: number, subs: Array<{ topic: string; qos: QoS }>): Buffer {
  return packet(SUBSCRIBE | 0x02, [u16(messageId), ...subs.flatMap((s) => [utf8Field(s.topic), Buffer.from([s.qos])])]);
}

type Pending = { resolve: (v: number[]) => void; reject: (e: Error) => void; kind: 'puback' | 'suback' };

/**
 * One MQTT connection. Events: `connect` (sessionPresent), `message` (topic, payload, info),
 * `error` (err) — always followed by `close` — `close` (once, whatever happened), and
 * `handlerError` (err) when a `message` listener threw.
 */
export class MqttClient extends EventEmitter {
  private socket: Socket | null = null;
  private buf: Buffer = Buffer.alloc(0);
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private connectTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private lastSentAt = 0;
  private pingSentAt = 0;
  private closed = false;
  private disconnecting = false;
  private readonly maxPacket: number;
  connected = false;
  /** `message` listeners that threw (the connection stays up; see `handlerError`). */
  handlerErrors = 0;

  constructor(private readonly o: MqttClientOptions) {
    super();
    this.maxPacket = o.maxPacketBytes ?? DEFAULT_MAX_PACKET;
  }

  /** Starts the attempt; failures arrive as `error` + `close`, never as a throw. */
  connect(): this {
    let url: URL;
    try {
      url = new URL(this.o.url);
      if (url.protocol !== 'mqtt:' && url.protocol !== 'mqtts:') throw new Error(`unsupported protocol ${url.protocol}`);
    } catch (e) {
      process.nextTick(() => this.fail(e as Error));
      return this;
    }
    const secure = url.protocol === 'mqtts:';
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = url.port ? Number(url.port) : secure ? 8883 : 1883;
    let socket: Socket;
    if (secure) {
      // tls is loaded only by devices that use it.
      const tls = createRequire(import.meta.url)('node:tls') as typeof import('node:tls');
      const isIp = /^[\d.]+$|:/.test(host);
      socket = tls.connect({
        host,
        port,
        ...(isIp ? {} : { servername: host }),
        rejectUnauthorized: this.o.tls?.rejectUnauthorized ?? true,
        ...(this.o.tls?.ca ? { ca: this.o.tls.ca } : {}),
      });
      socket.once('secureConnect', () => this.onTransportUp());
    } else {
      socket = netConnect({ host, port });
      socket.once('connect', () => this.onTransportUp());
    }
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.onSocketClosed());
    this.connectTimer = setTimeout(() => this.fail(new Error(`no CONNACK within ${this.o.connectTimeoutMs} ms`)), this.o.connectTimeoutMs);
    return this;
  }

  private onTransportUp(): void {
    try {
      this.send(encodeConnect(this.o));
    } catch (e) {
      this.fail(e as Error);
    }
  }

  private send(b: Buffer, cb?: (err?: Error | null) => void): void {
    const s = this.socket;
    if (!s || this.closed || s.destroyed) {
      cb?.(new Error('connection closed'));
      return;
    }
    this.lastSentAt = Date.now();
    s.write(b, cb);
  }

  private allocateId(): number {
    for (let i = 0; i < 0xffff; i++) {
      const id = this.nextId;
      this.nextId = id === 0xffff ? 1 : id + 1;
      if (!this.pending.has(id)) return id;
    }
    throw new Error('no free MQTT message id');
  }

  private awaitAck(id: number, kind: Pending['kind']): Promise<number[]> {
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject, kind }));
  }

  /** QoS 1 resolves on PUBACK, QoS 0 once written. Rejects if the connection closes first. */
  publish(topic: string, payload: Buffer | string, opts: { qos: QoS; retain: boolean }): Promise<void> {
    if (!this.connected) return Promise.reject(new Error('not connected'));
    const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
    try {
      if (opts.qos === 0) {
        return new Promise((resolve, reject) => this.send(encodePublish(topic, body, 0, opts.retain, 0), (err) => (err ? reject(err) : resolve())));
      }
      const id = this.allocateId();
      const acked = this.awaitAck(id, 'puback');
      this.send(encodePublish(topic, body, 1, opts.retain, id));
      return acked.then(() => undefined);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Resolves with the granted QoS per topic; rejects if the broker refused any (0x80). */
  subscribe(subs: Array<{ topic: string; qos: QoS }>): Promise<number[]> {
    if (!this.connected) return Promise.reject(new Error('not connected'));
    try {
      const id = this.allocateId();
      const acked = this.awaitAck(id, 'suback');
      this.send(encodeSubscribe(id, subs));
      return acked.then((granted) => {
        const refused = subs.filter((_, i) => granted[i] === undefined || (granted[i] & 0x80) !== 0);
        if (refused.length) throw new Error(`subscription refused: ${refused.map((s) => s.topic).join(', ')}`);
        return granted;
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Graceful: DISCONNECT (the broker then drops the will), then close. Resolves on close. */
  end(): Promise<void> {
    if (this.closed) return Promise.resolve();
    const closed = new Promise<void>((r) => this.once('close', () => r()));
    if (this.connected && this.socket && !this.disconnecting) {
      this.disconnecting = true;
      this.send(Buffer.from([DISCONNECT, 0]));
      this.socket.end();
    } else {
      this.destroy();
    }
    return closed;
  }

  /** Drops the connection at once without DISCONNECT (the broker publishes the will). */
  destroy(): void {
    this.socket?.destroy();
    if (!this.socket) this.onSocketClosed();
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.emit('error', err);
    this.destroy();
  }

  private onSocketClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.connected = false;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    if (this.pingTimer) clearTimeout(this.pingTimer);
    this.connectTimer = this.pingTimer = null;
    const err = new Error('connection closed');
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.buf = Buffer.alloc(0);
    this.emit('close');
  }

  // Keepalive (§3.1.2.10): a PINGREQ once nothing was sent for keepalive seconds; no PINGRESP
  // within another keepalive period means the link is dead (half-open TCP) → error + close.
  private armPing(delayMs: number): void {
    if (this.pingTimer) clearTimeout(this.pingTimer);
    this.pingTimer = setTimeout(() => this.onPingTimer(), Math.max(delayMs, 10));
  }

  private onPingTimer(): void {
    this.pingTimer = null;
    if (this.closed) return;
    const ka = this.o.keepaliveSec * 1000;
    const now = Date.now();
    if (this.pingSentAt) {
      const waited = now - this.pingSentAt;
      if (waited >= ka) return this.fail(new Error(`keepalive timeout: no PINGRESP within ${ka} ms`));
      return this.armPing(ka - waited);
    }
    const idle = now - this.lastSentAt;
    if (idle < ka) return this.armPing(ka - idle);
    this.pingSentAt = now;
    this.send(Buffer.from([PINGREQ, 0]));
    this.armPing(ka);
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (!this.closed) {
      const b = this.buf;
      if (b.length < 2) return;
      let len = 0;
      let mul = 1;
      let i = 1;
      for (;;) {
        if (i >= b.length) return; // length bytes not all here yet
        const d = b[i++];
        len += (d & 0x7f) * mul;
        if (!(d & 0x80)) break;
        mul *= 128;
        if (i > 4) return this.fail(new Error('malformed remaining length'));
      }
      if (len > this.maxPacket) return this.fail(new Error(`incoming packet of ${len} bytes exceeds ${this.maxPacket}`));
      if (b.length < i + len) return;
      const body = b.subarray(i, i + len);
      this.buf = b.length === i + len ? Buffer.alloc(0) : b.subarray(i + len);
      try {
        this.onPacket(b[0], body);
      } catch (e) {
        return this.fail(e instanceof Error ? e : new Error(String(e)));
      }
    }
  }

  private onPacket(first: number, body: Buffer): void {
    const type = first & 0xf0;
    if (!this.connected && type !== CONNACK) throw new Error(`packet type ${type >> 4} before CONNACK`);
    switch (type) {
      case CONNACK: {
        if (this.connected || body.length !== 2) throw new Error('unexpected or malformed CONNACK');
        if (body[1] !== 0) return this.fail(connackError(body[1]));
        if (this.connectTimer) clearTimeout(this.connectTimer);
        this.connectTimer = null;
        this.connected = true;
        if (this.o.keepaliveSec > 0) this.armPing(this.o.keepaliveSec * 1000);
        this.emit('connect', (body[0] & 1) === 1);
        return;
      }
      case PINGRESP:
        this.pingSentAt = 0;
        return;
      case PUBACK:
      case SUBACK: {
        if (body.length < 2) throw new Error('malformed ack');
        const id = body.readUInt16BE(0);
        const p = this.pending.get(id);
        if (!p || p.kind !== (type === PUBACK ? 'puback' : 'suback')) return; // stale or unknown: harmless
        this.pending.delete(id);
        p.resolve(type === SUBACK ? [...body.subarray(2)] : []);
        return;
      }
      case PUBLISH: {
        const qos = (first >> 1) & 3;
        if (qos > 1) throw new Error(`incoming QoS ${qos} publish (subscribed with QoS <= 1)`);
        if (body.length < 2) throw new Error('malformed PUBLISH');
        const tlen = body.readUInt16BE(0);
        let pos = 2 + tlen;
        if (body.length < pos + (qos ? 2 : 0)) throw new Error('malformed PUBLISH');
        const topic = body.toString('utf8', 2, pos);
        let id = 0;
        if (qos) {
          id = body.readUInt16BE(pos);
          pos += 2;
        }
        // A copy: the payload must not pin the whole receive buffer.
        const payload = Buffer.from(body.subarray(pos));
        try {
          this.emit('message', topic, payload, { qos: qos as QoS, retain: (first & 1) === 1, dup: (first & 8) === 8 } satisfies IncomingPublish);
        } catch (e) {
          // A listener's bug is not a protocol error: the connection stays up.
          this.handlerErrors++;
          if (this.listenerCount('handlerError')) this.emit('handlerError', e);
        }
        if (qos === 1) this.send(Buffer.from([PUBACK, 2, id >> 8, id & 0xff]));
        return;
      }
      default:
        throw new Error(`unexpected packet type ${type >> 4}`);
    }
  }
}
