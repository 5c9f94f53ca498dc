// One TCP session with a ZKTeco-style clock: connects, sends one command at a time and waits
// for the reply carrying the same reply id, with a deadline. Noise, late replies to timed-out
// commands and replies cut off mid-frame are counted and dropped; the stream resynchronises on
// the next `50 50 82 7D` prefix.
import { Socket } from 'node:net';
import type { Logger } from 'pino';
import { decodePacket, encodeRequest, splitZkStream, USHRT_MAX, type ZkPacket } from './codec.js';
import { FleetcareError, timeoutError } from '../../../protocol/errors.js';

/** The TCP session ended (clock rebooted, idle timeout, reset by peer). */
const closedError = (where: string) => new FleetcareError('connection-closed', `connection to ${where} closed`, { where });

export type ZkLinkStats = {
  commErrors: number;
  garbageBytes: number;
  staleReplies: number;
  checksumMismatches: number;
  replies: number;
  connects: number;
};

type Pending = { replyId: number; sentAt: number; resolve: (p: ZkPacket) => void; reject: (e: Error) => void };

const abortError = (signal: AbortSignal) =>
  signal.reason instanceof Error ? signal.reason : new Error(`aborted${signal.reason ? `: ${String(signal.reason)}` : ''}`);

export class ZkLink {
  private socket: Socket | null = null;
  private buf: Uint8Array = new Uint8Array(0);
  private pending: Pending | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  /** pyzk starts at USHRT_MAX - 1, so the first packet carries reply id 0. */
  private replyId = USHRT_MAX - 1;
  sessionId = 0;
  readonly stats: ZkLinkStats = { commErrors: 0, garbageBytes: 0, staleReplies: 0, checksumMismatches: 0, replies: 0, connects: 0 };

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly log: Logger,
  ) {}

  get isOpen(): boolean {
    return !!this.socket && !this.socket.destroyed;
  }

  get where(): string {
    return `${this.host}:${this.port}`;
  }

  async connect(signal: AbortSignal, timeoutMs: number): Promise<void> {
    this.destroy();
    if (signal.aborted) throw abortError(signal);
    const socket = new Socket();
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      let done = false;
      const finish = (err: Error | null) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        socket.off('error', onError);
        if (err) {
          socket.destroy();
          reject(err);
        } else resolve();
      };
      const onAbort = () => finish(abortError(signal));
      const onError = (e: Error) => finish(new Error(`cannot connect to ${this.where}: ${e.message}`));
      const timer = setTimeout(() => finish(timeoutError(`TCP connect to ${this.where}`, timeoutMs)), timeoutMs);
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('error', onError);
      socket.connect(this.port, this.host, () => finish(null));
    });
    this.stats.connects++;
    this.socket = socket;
    this.buf = new Uint8Array(0);
    this.replyId = USHRT_MAX - 1;
    this.sessionId = 0;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    // Errors after connect (reset by peer) must never escape; the close handler ends the session.
    socket.on('error', (err) => this.log.debug({ err: err.message, clock: this.where }, 'clock socket error'));
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = null;
      const p = this.pending;
      this.pending = null;
      p?.reject(closedError(this.where));
    });
  }

  /** Sends `command` with `data` and resolves with the reply carrying its reply id. */
  request(command: number, data: Uint8Array, what: string, timeoutMs: number, signal: AbortSignal): Promise<{ packet: ZkPacket; latencyMs: number }> {
    const run = () => this.send(command, data, what, timeoutMs, signal);
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private send(command: number, data: Uint8Array, what: string, timeoutMs: number, signal: AbortSignal): Promise<{ packet: ZkPacket; latencyMs: number }> {
    const socket = this.socket;
    if (!socket || socket.destroyed) return Promise.reject(closedError(this.where));
    if (signal.aborted) return Promise.reject(abortError(signal));
    const { bytes, replyId } = encodeRequest(command, data, this.sessionId, this.replyId);
    this.replyId = replyId;
    return new Promise((resolve, reject) => {
      let done = false;
      const sentAt = performance.now();
      const finish = (err: Error | null, packet?: ZkPacket) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (this.pending === pending) this.pending = null;
        if (err) reject(err);
        else resolve({ packet: packet!, latencyMs: performance.now() - sentAt });
      };
      const pending: Pending = {
        replyId,
        sentAt,
        resolve: (p) => finish(null, p),
        reject: (e) => {
          this.stats.commErrors++;
          finish(e);
        },
      };
      const onAbort = () => finish(abortError(signal));
      const timer = setTimeout(() => {
        this.stats.commErrors++;
        // A partial reply left in the buffer must not be glued to the next one.
        this.dropBuffered('partial reply after timeout');
        finish(timeoutError(what, timeoutMs));
      }, timeoutMs);
      signal.addEventListener('abort', onAbort, { once: true });
      this.pending = pending;
      socket.write(bytes, (err) => {
        if (err) pending.reject(new Error(`write to ${this.where} failed: ${err.message}`));
      });
    });
  }

  private dropBuffered(why: string): void {
    if (this.buf.length === 0) return;
    this.stats.garbageBytes += this.buf.length;
    this.log.debug({ clock: this.where, bytes: this.buf.length, why }, 'dropping bytes');
    this.buf = new Uint8Array(0);
  }

  private onData(chunk: Buffer): void {
    try {
      const joined = new Uint8Array(this.buf.length + chunk.length);
      joined.set(this.buf, 0);
      joined.set(chunk, this.buf.length);
      const { frames, rest } = splitZkStream(joined);
      this.buf = rest;
      for (const f of frames) {
        if (f.type === 'garbage') {
          this.stats.garbageBytes += f.bytes.length;
          continue;
        }
        const d = decodePacket(f.body);
        if (!d.ok) {
          this.stats.garbageBytes += f.body.length;
          continue;
        }
        if (!d.value.checksumOk) this.stats.checksumMismatches++;
        const p = this.pending;
        if (p && d.value.replyId === p.replyId) {
          this.pending = null;
          this.stats.replies++;
          p.resolve(d.value);
        } else {
          // A late reply to a timed-out command (or noise shaped like a packet).
          this.stats.staleReplies++;
        }
      }
    } catch (err) {
      this.log.error({ err: (err as Error).message, clock: this.where }, 'clock stream handler failed');
      this.buf = new Uint8Array(0);
    }
  }

  destroy(): void {
    const s = this.socket;
    this.socket = null;
    this.buf = new Uint8Array(0);
    const p = this.pending;
    this.pending = null;
    p?.reject(closedError(this.where));
    if (s) {
      s.removeAllListeners('data');
      s.destroy();
    }
  }
}
