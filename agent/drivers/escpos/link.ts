// One ESC/POS serial line: opens the port, sends one request at a time and waits for its reply
// with a deadline, and keeps the incoming byte stream in sync. Bytes that belong to no pending
// request (noise, late replies, the tail of a reply cut off mid-frame) are counted and dropped.
import { SerialPort } from 'serialport';
import type { Logger } from 'pino';
import { assertNoCounterReset, decodeAsb, splitEscposStream, type AsbStatus, type EscposFrame } from './parse.js';

export type ReplyKind = 'realtime-status' | 'id-byte' | 'block';
export type Reply = { frame: Extract<EscposFrame, { type: ReplyKind }>; latencyMs: number };

export type LinkStats = {
  /** Bytes received that were not part of any expected reply. */
  garbageBytes: number;
  /** Requests that got no (complete) reply in time, and replies that did not decode. */
  commErrors: number;
  replies: number;
  asbFrames: number;
  xoffReceived: number;
};

/** The printer did not answer a request before its deadline. */
export class EscposTimeoutError extends Error {
  readonly code = 'timeout';
  constructor(what: string, ms: number) {
    super(`no reply to ${what} within ${ms} ms`);
    this.name = 'EscposTimeoutError';
  }
}

type Pending = { expect: ReplyKind; sentAt: number; resolve: (r: Reply) => void };

const abortError = (signal: AbortSignal) =>
  signal.reason instanceof Error ? signal.reason : new Error(`aborted${signal.reason ? `: ${String(signal.reason)}` : ''}`);

export class EscposLink {
  private port: SerialPort | null = null;
  private buf: Uint8Array = new Uint8Array(0);
  private pending: Pending | null = null;
  /** Serialises requests: one on the wire at a time. */
  private chain: Promise<unknown> = Promise.resolve();
  /** Set after a timeout: the printer may still send a late reply, so wait for quiet first. */
  private dirty = false;
  private lastByteAt = 0;
  readonly stats: LinkStats = { garbageBytes: 0, commErrors: 0, replies: 0, asbFrames: 0, xoffReceived: 0 };
  lastAsb: AsbStatus | null = null;

  constructor(
    private readonly path: string,
    private readonly baudRate: number,
    private readonly log: Logger,
  ) {}

  get isOpen(): boolean {
    return !!this.port?.isOpen;
  }

  async open(signal: AbortSignal): Promise<void> {
    await this.close();
    if (signal.aborted) throw abortError(signal);
    const port = new SerialPort({ path: this.path, baudRate: this.baudRate, autoOpen: false });
    port.on('data', (chunk: Buffer) => this.onData(chunk));
    // A port error after open (unplugged adapter, EIO) must never escape as an uncaught error.
    port.on('error', (err) => this.log.warn({ err: err.message, path: this.path }, 'serial port error'));
    port.on('close', () => {
      if (this.port === port) this.log.info({ path: this.path }, 'serial port closed');
    });
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(abortError(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      port.open((err) => {
        signal.removeEventListener('abort', onAbort);
        if (err) reject(new Error(`cannot open ${this.path}: ${err.message}`));
        else resolve();
      });
    }).catch(async (e) => {
      if (port.isOpen) await new Promise<void>((r) => port.close(() => r()));
      throw e;
    });
    // Modem-control lines are not needed for ESC/POS status, and PTYs refuse the ioctl: no set().
    this.port = port;
    this.buf = new Uint8Array(0);
    this.pending = null;
    this.dirty = false;
  }

  async close(): Promise<void> {
    const port = this.port;
    this.port = null;
    this.pending = null;
    this.buf = new Uint8Array(0);
    if (!port) return;
    port.removeAllListeners('data');
    if (port.isOpen) await new Promise<void>((r) => port.close(() => r()));
  }

  /**
   * Sends `cmd` and resolves with the first reply of `expect` kind. Rejects with
   * EscposTimeoutError after `timeoutMs`, or with the signal's reason when it aborts; either way
   * the stream is resynchronised (partial bytes dropped, quiet awaited before the next request).
   */
  request(cmd: Uint8Array, expect: ReplyKind, what: string, timeoutMs: number, signal: AbortSignal, opts: { optional?: boolean } = {}): Promise<Reply> {
    const run = () => this.send(cmd, expect, what, timeoutMs, signal, !!opts.optional);
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** `optional`: a query the printer may legitimately ignore (unsupported id); its timeout is no comm error. */
  private async send(cmd: Uint8Array, expect: ReplyKind, what: string, timeoutMs: number, signal: AbortSignal, optional: boolean): Promise<Reply> {
    assertNoCounterReset(cmd);
    const port = this.port;
    if (!port || !port.isOpen) throw new Error(`${this.path} is not open`);
    if (signal.aborted) throw abortError(signal);
    if (this.dirty) await this.settle(timeoutMs, signal);
    this.discard('stale bytes before request');

    return new Promise<Reply>((resolve, reject) => {
      let done = false;
      const finish = (err: Error | null, reply?: Reply) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (this.pending === pending) this.pending = null;
        if (err) {
          // Whatever the printer still sends for this request must not be taken as the answer
          // to the next one: wait for a quiet line (measured from now) before the next request.
          this.dirty = true;
          this.lastByteAt = Math.max(this.lastByteAt, performance.now());
          this.discard('partial reply after failed request');
          reject(err);
        } else resolve(reply!);
      };
      const pending: Pending = { expect, sentAt: performance.now(), resolve: (r) => finish(null, r) };
      const onAbort = () => finish(abortError(signal));
      const timer = setTimeout(() => {
        if (!optional) this.stats.commErrors++;
        finish(new EscposTimeoutError(what, timeoutMs));
      }, timeoutMs);
      signal.addEventListener('abort', onAbort, { once: true });
      this.pending = pending;
      port.write(Buffer.from(cmd), (err) => {
        if (err) {
          this.stats.commErrors++;
          finish(new Error(`write to ${this.path} failed: ${err.message}`));
        }
      });
    });
  }

  /**
   * Waits until the line has been quiet for `quietMs` since the failed request or the last byte
   * (dropping what arrives), within the signal. Polls come at intervals, so usually the quiet
   * period has long passed and this returns at once.
   */
  private async settle(quietMs: number, signal: AbortSignal): Promise<void> {
    for (;;) {
      if (signal.aborted) throw abortError(signal);
      const wait = this.lastByteAt + quietMs - performance.now();
      if (wait <= 0) break;
      await new Promise<void>((r) => {
        const t = setTimeout(done, wait);
        function done() {
          clearTimeout(t);
          signal.removeEventListener('abort', done);
          r();
        }
        signal.addEventListener('abort', done, { once: true });
      });
    }
    this.discard('late bytes while resynchronising');
    this.dirty = false;
  }

  private discard(why: string): void {
    if (this.buf.length === 0) return;
    this.stats.garbageBytes += this.buf.length;
    this.log.debug({ path: this.path, bytes: this.buf.length, why }, 'dropping bytes');
    this.buf = new Uint8Array(0);
  }

  private onData(chunk: Buffer): void {
    try {
      this.lastByteAt = performance.now();
      const joined = new Uint8Array(this.buf.length + chunk.length);
      joined.set(this.buf, 0);
      joined.set(chunk, this.buf.length);
      const { frames, rest } = splitEscposStream(joined, { expectIdByte: this.pending?.expect === 'id-byte' });
      this.buf = rest;
      for (const f of frames) this.dispatch(f);
    } catch (err) {
      // Never let a parsing bug escape a stream event handler.
      this.log.error({ err: (err as Error).message, path: this.path }, 'escpos stream handler failed');
      this.buf = new Uint8Array(0);
    }
  }

  private dispatch(f: EscposFrame): void {
    switch (f.type) {
      case 'garbage':
        this.stats.garbageBytes += f.bytes.length;
        return;
      case 'xon':
        return;
      case 'xoff':
        this.stats.xoffReceived++;
        return;
      case 'asb': {
        const d = decodeAsb(f.bytes);
        if (d.ok) {
          this.stats.asbFrames++;
          this.lastAsb = d.value;
        }
        return;
      }
      default: {
        const p = this.pending;
        if (p && p.expect === f.type) {
          this.pending = null;
          this.stats.replies++;
          p.resolve({ frame: f, latencyMs: performance.now() - p.sentAt });
        } else {
          // A reply nobody asked for: a late answer to a timed-out request, or noise that
          // happens to look like one. Counting it as garbage keeps the next reply in sync.
          this.stats.garbageBytes += f.type === 'block' ? f.bytes.length : 1;
        }
      }
    }
  }
}
