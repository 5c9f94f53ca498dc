// The device end of a simulated serial peripheral: opens a given path or makes its own PTY pair,
// hands incoming bytes to the simulator, and sends replies in order with the scriptable ways real
// lines misbehave — silence, garbage before replies, replies cut off mid-frame, slow replies.
// Shared by every serial simulator (ESC/POS and Star printers, card reader, fingerprint module).
import { SerialPort } from 'serialport';
import { PtyPair } from './pty.js';

export type LineFaults = {
  /** Drop every reply (the device is dead or unplugged at its end). */
  silent: boolean;
  /** Bytes sent before every reply until cleared. */
  garbageBefore: Uint8Array | null;
  /** The next N multi-byte replies are cut after their first half. */
  midFrameCuts: number;
  /** Go silent right after the next cut. */
  silentAfterCut: boolean;
  /** Delay before each reply (slow device, in sequence). */
  replyDelayMs: number;
};

export type SerialDeviceStats = { repliesSent: number; repliesDropped: number; bytesSent: number; bytesReceived: number };

export class SerialDeviceEndpoint {
  private port: SerialPort | null = null;
  private pty: PtyPair | null = null;
  private out: Promise<void> = Promise.resolve();
  private closed = false;
  readonly faults: LineFaults = { silent: false, garbageBefore: null, midFrameCuts: 0, silentAfterCut: false, replyDelayMs: 0 };
  readonly stats: SerialDeviceStats = { repliesSent: 0, repliesDropped: 0, bytesSent: 0, bytesReceived: 0 };

  constructor(private readonly onBytes: (chunk: Buffer) => void) {}

  /** Opens `path`, or creates a PTY pair and opens its device end (see `hostPath`). */
  async open(path?: string, baudRate = 9600): Promise<void> {
    if (this.port) return;
    const pty = path ? null : await PtyPair.create();
    const p = path ?? pty!.devicePath;
    const port = new SerialPort({ path: p, baudRate, autoOpen: false });
    try {
      await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(new Error(`cannot open ${p}: ${err.message}`)) : resolve())));
    } catch (e) {
      await pty?.close();
      throw e;
    }
    this.port = port;
    this.pty = pty;
    port.on('data', (chunk: Buffer) => {
      this.stats.bytesReceived += chunk.length;
      try {
        this.onBytes(chunk);
      } catch {
        // A simulator bug must not crash the fleet simulation; the driver sees silence.
      }
    });
    port.on('error', () => undefined);
  }

  get hostPath(): string | undefined {
    return this.pty?.hostPath;
  }

  /** A reply to a request: subject to every line fault. */
  reply(bytes: Uint8Array): void {
    if (this.faults.silent) {
      this.stats.repliesDropped++;
      return;
    }
    let out = bytes;
    if (this.faults.midFrameCuts > 0 && bytes.length > 1) {
      this.faults.midFrameCuts--;
      out = bytes.slice(0, Math.ceil(bytes.length / 2));
      if (this.faults.silentAfterCut) this.faults.silent = true;
    }
    if (this.faults.garbageBefore) out = Uint8Array.from([...this.faults.garbageBefore, ...out]);
    this.stats.repliesSent++;
    this.send(out, this.faults.replyDelayMs);
  }

  /** Bytes the device sends on its own (swipes, ready byte, noise): not subject to reply faults. */
  send(bytes: Uint8Array, delayMs = 0): void {
    this.out = this.out.then(async () => {
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      const port = this.port;
      if (this.closed || !port?.isOpen) return;
      await new Promise<void>((r) => port.write(Buffer.from(bytes), () => port.drain(() => r())));
      this.stats.bytesSent += bytes.length;
    });
  }

  /** Resolves when everything queued so far has been written. */
  flushed(): Promise<void> {
    return this.out.catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.out.catch(() => undefined);
    const port = this.port;
    if (port?.isOpen) await new Promise<void>((r) => port.close(() => r()));
    await this.pty?.close();
  }
}

/**
 * A simulated serial peripheral: its line (a SerialDeviceEndpoint) and the line faults every
 * serial simulator can be scripted with. Subclasses parse what the driver sends in `onData`
 * and answer with `line.reply` (subject to the faults) or `line.send` (unasked bytes).
 */
/** `held` (an unfinished command kept from the last chunk) followed by the new `chunk`. */
export function appendBytes(held: Uint8Array, chunk: Uint8Array): Uint8Array {
  const joined = new Uint8Array(held.length + chunk.length);
  joined.set(held);
  joined.set(chunk, held.length);
  return joined;
}

export abstract class SerialDeviceSimulator {
  protected readonly line = new SerialDeviceEndpoint((chunk) => this.onData(chunk));

  protected abstract onData(chunk: Buffer): void;

  /** The end a driver opens, when the simulator made its own PTY pair. */
  get hostPath(): string | undefined {
    return this.line.hostPath;
  }

  /** Stop answering (true) or answer again (false). Replies already queued still go out. */
  setSilent(on: boolean): void {
    this.line.faults.silent = on;
  }

  /**
   * The next `count` multi-byte replies are cut off after their first half; the rest is never
   * sent. With `thenSilent`, the device stops answering right after the cut (a device that dies
   * mid-frame) until `setSilent(false)`.
   */
  stopMidFrame(count = 1, opts: { thenSilent?: boolean } = {}): void {
    this.line.faults.midFrameCuts += count;
    this.line.faults.silentAfterCut = !!opts.thenSilent;
  }

  /** Every reply is preceded by these bytes until cleared with null. */
  setGarbageBeforeReplies(bytes: Uint8Array | null): void {
    this.line.faults.garbageBefore = bytes;
  }

  /** Each reply waits this long first (a slow device is slow in sequence). */
  setReplyDelay(ms: number): void {
    this.line.faults.replyDelayMs = ms;
  }

  /** Writes bytes on the line right now, unasked. */
  injectGarbage(bytes: Uint8Array): void {
    this.line.send(bytes);
  }
}
