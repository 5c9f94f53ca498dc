// A request/reply serial line for packet-framed peripherals (fingerprint modules, serial MSRs):
// opens the port, sends one request at a time and waits for the first reply a predicate accepts,
// with a deadline, and keeps the incoming stream in sync through a protocol-specific splitter.
// Bytes that belong to no pending request are counted and dropped (or handed to `onUnsolicited`
// when they form a frame, e.g. a card swipe). Every serial driver (ESC/POS, Star, MSR,
// fingerprint) uses this one class; a splitter that must know what reply is awaited (a bare
// one-byte reply looks like noise otherwise) gets the request's `expecting` hint.
import { SerialPort } from 'serialport';
import type { Logger } from 'pino';
import { FleetcareError, isTimeout, timeoutError } from '../../protocol/errors.js';

export type GarbageFrame = { type: 'garbage'; bytes: Uint8Array };
export type SplitResult<F> = { frames: Array<F | GarbageFrame>; rest: Uint8Array };
/**
 * Splits a byte stream into frames; an incomplete frame at the end comes back as `rest`.
 * `expecting` is the pending request's hint (undefined when none is pending or it gave none).
 */
export type FrameSplitter<F, E = never> = (buf: Uint8Array, expecting: E | undefined) => SplitResult<F>;

export type SerialLinkStats = {
  /** Bytes received that were not part of any accepted frame. */
  garbageBytes: number;
  /** Requests that got no (complete) reply in time, failed writes, replies that did not decode. */
  commErrors: number;
  /** Of commErrors: requests that timed out. */
  timeouts: number;
  replies: number;
  /** Complete frames nobody was waiting for (swipes, late replies). */
  unsolicited: number;
};

/**
 * For `.catch` on the request that proves a peripheral is there: its timeout becomes
 * "`what`: …" (the reason the peripheral is reported absent); other errors pass unchanged.
 */
export const unansweredAs =
  (what: string) =>
  (err: unknown): never => {
    throw isTimeout(err) ? new FleetcareError('timeout', `${what}: ${err.message}`, { what }, { cause: err }) : err;
  };

export type SerialRequestLinkOptions<F, E = never> = {
  path: string;
  baudRate: number;
  log: Logger;
  split: FrameSplitter<F, E>;
  /** A complete frame no request was waiting for. Exceptions are caught and logged. */
  onUnsolicited?: (frame: F) => void;
  /** An incomplete frame longer than this is dropped as garbage (default 4096). */
  maxPendingBytes?: number;
};

export type RequestOptions<E> = {
  /** A query the peripheral may legitimately ignore: its timeout is no comm error. */
  optional?: boolean;
  /** Handed to the splitter while this request is pending. */
  expecting?: E;
};

type Pending<F, E> = { accept: (f: F) => boolean; expecting: E | undefined; sentAt: number; resolve: (r: { frame: F; latencyMs: number }) => void };

export const abortError = (signal: AbortSignal) =>
  signal.reason instanceof Error ? signal.reason : new Error(`aborted${signal.reason ? `: ${String(signal.reason)}` : ''}`);

export class SerialRequestLink<F, E = never> {
  private port: SerialPort | null = null;
  private buf: Uint8Array = new Uint8Array(0);
  private pending: Pending<F, E> | null = null;
  /** Serialises requests and exclusive transactions: one on the wire at a time. */
  private chain: Promise<unknown> = Promise.resolve();
  /** Set after a failed request: a late reply may still come, so wait for quiet first. */
  private dirty = false;
  private lastByteAt = 0;
  readonly stats: SerialLinkStats = { garbageBytes: 0, commErrors: 0, timeouts: 0, replies: 0, unsolicited: 0 };

  constructor(private readonly o: SerialRequestLinkOptions<F, E>) {}

  get path(): string {
    return this.o.path;
  }

  get isOpen(): boolean {
    return !!this.port?.isOpen;
  }

  async open(signal: AbortSignal): Promise<void> {
    await this.close();
    if (signal.aborted) throw abortError(signal);
    const { path, baudRate, log } = this.o;
    const port = new SerialPort({ path, baudRate, autoOpen: false });
    port.on('data', (chunk: Buffer) => this.onData(chunk));
    // A port error after open (unplugged adapter, EIO) must never escape as an uncaught error.
    port.on('error', (err) => log.warn({ err: err.message, path }, 'serial port error'));
    port.on('close', () => {
      if (this.port === port) log.info({ path }, 'serial port closed');
    });
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(abortError(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      port.open((err) => {
        signal.removeEventListener('abort', onAbort);
        if (err) reject(new Error(`cannot open ${path}: ${err.message}`));
        else resolve();
      });
    }).catch(async (e) => {
      if (port.isOpen) await new Promise<void>((r) => port.close(() => r()));
      throw e;
    });
    // No modem-control set(): these peripherals do not need DTR/RTS, and PTYs refuse the ioctl.
    this.port = port;
    this.buf = new Uint8Array(0);
    this.pending = null;
    this.dirty = false;
  }

  /**
   * Opens the port and runs `greet`, the first exchange that proves the peripheral is there; if
   * that fails the port is closed again, so a driver that did not open holds no port.
   */
  async openWith<T>(signal: AbortSignal, greet: () => Promise<T>): Promise<T> {
    await this.open(signal);
    try {
      return await greet();
    } catch (err) {
      await this.close();
      throw err;
    }
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
   * Sends `cmd` and resolves with the first frame `accept` takes. Rejects with a `timeout` FleetcareError
   * after `timeoutMs` (counted as a comm error unless `optional`), or with the signal's reason;
   * either way the stream is resynchronised before the next request.
   */
  request(
    cmd: Uint8Array,
    accept: (f: F) => boolean,
    what: string,
    timeoutMs: number,
    signal: AbortSignal,
    opts: RequestOptions<E> = {},
  ): Promise<{ frame: F; latencyMs: number }> {
    return this.exclusive(() => this.send(cmd, accept, what, timeoutMs, signal, opts));
  }

  /**
   * Runs `fn` with the line to itself (no other request or transaction interleaves). `fn` may
   * call `sendInside` and `write`; used by relays that forward multi-packet transactions.
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn, fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** `request` for use inside `exclusive` (does not queue behind the running transaction). */
  sendInside(cmd: Uint8Array, accept: (f: F) => boolean, what: string, timeoutMs: number, signal: AbortSignal): Promise<{ frame: F; latencyMs: number }> {
    return this.send(cmd, accept, what, timeoutMs, signal, {});
  }

  /** Writes raw bytes (inside `exclusive`, e.g. data packets of a relayed download). */
  write(bytes: Uint8Array): Promise<void> {
    const port = this.port;
    if (!port?.isOpen) return Promise.reject(new Error(`${this.o.path} is not open`));
    return new Promise((resolve, reject) =>
      port.write(Buffer.from(bytes), (err) => {
        if (err) {
          this.stats.commErrors++;
          reject(new Error(`write to ${this.o.path} failed: ${err.message}`));
        } else resolve();
      }),
    );
  }

  private async send(
    cmd: Uint8Array,
    accept: (f: F) => boolean,
    what: string,
    timeoutMs: number,
    signal: AbortSignal,
    opts: RequestOptions<E>,
  ): Promise<{ frame: F; latencyMs: number }> {
    const port = this.port;
    if (!port?.isOpen) throw new Error(`${this.o.path} is not open`);
    if (signal.aborted) throw abortError(signal);
    if (this.dirty) await this.settle(timeoutMs, signal);
    this.discard('stale bytes before request');

    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (err: Error | null, reply?: { frame: F; latencyMs: number }) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (this.pending === pending) this.pending = null;
        if (err) {
          // What the peripheral still sends for this request must not answer the next one.
          this.dirty = true;
          this.lastByteAt = Math.max(this.lastByteAt, performance.now());
          this.discard('partial reply after failed request');
          reject(err);
        } else resolve(reply!);
      };
      const pending: Pending<F, E> = { accept, expecting: opts.expecting, sentAt: performance.now(), resolve: (r) => finish(null, r) };
      const onAbort = () => finish(abortError(signal));
      const timer = setTimeout(() => {
        if (!opts.optional) {
          this.stats.commErrors++;
          this.stats.timeouts++;
        }
        finish(timeoutError(what, timeoutMs));
      }, timeoutMs);
      signal.addEventListener('abort', onAbort, { once: true });
      this.pending = pending;
      port.write(Buffer.from(cmd), (err) => {
        if (err) {
          this.stats.commErrors++;
          finish(new Error(`write to ${this.o.path} failed: ${err.message}`));
        }
      });
    });
  }

  /** Waits until the line has been quiet for `quietMs` (dropping what arrives), within the signal. */
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
    this.o.log.debug({ path: this.o.path, bytes: this.buf.length, why }, 'dropping bytes');
    this.buf = new Uint8Array(0);
  }

  private onData(chunk: Buffer): void {
    try {
      this.lastByteAt = performance.now();
      const joined = new Uint8Array(this.buf.length + chunk.length);
      joined.set(this.buf, 0);
      joined.set(chunk, this.buf.length);
      const { frames, rest } = this.o.split(joined, this.pending?.expecting);
      this.buf = rest;
      if (this.buf.length > (this.o.maxPendingBytes ?? 4096)) this.discard('incomplete frame too long');
      for (const f of frames) this.dispatch(f);
    } catch (err) {
      // Never let a parsing bug escape a stream event handler.
      this.o.log.error({ err: (err as Error).message, path: this.o.path }, 'serial stream handler failed');
      this.buf = new Uint8Array(0);
    }
  }

  private dispatch(f: F | GarbageFrame): void {
    if ((f as GarbageFrame).type === 'garbage') {
      this.stats.garbageBytes += (f as GarbageFrame).bytes.length;
      return;
    }
    const frame = f as F;
    const p = this.pending;
    if (p?.accept(frame)) {
      this.pending = null;
      this.stats.replies++;
      p.resolve({ frame, latencyMs: performance.now() - p.sentAt });
      return;
    }
    this.stats.unsolicited++;
    try {
      this.o.onUnsolicited?.(frame);
    } catch (err) {
      this.o.log.error({ err: (err as Error).message, path: this.o.path }, 'unsolicited frame handler failed');
    }
  }
}
