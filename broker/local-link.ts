// An in-memory duplex pair: lets a client in the same process (the collector of `fleetcare
// server`) speak MQTT to aedes without loopback TCP (no syscalls, no kernel TCP on either side).
import { Duplex } from 'node:stream';

class Side extends Duplex {
  peer!: Side;
  /** Write callback held back while the peer's read buffer is full. */
  private waiting: (() => void) | null = null;

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.peer.destroyed) return cb(new Error('in-process link closed'));
    if (this.peer.push(chunk)) cb();
    else this.peer.onRoom(() => cb());
  }

  override _read(): void {
    const w = this.waiting;
    this.waiting = null;
    w?.();
  }

  onRoom(fn: () => void): void {
    this.waiting = fn;
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (!this.peer.destroyed) this.peer.push(null);
    cb();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    if (!this.peer.destroyed) this.peer.destroy();
    const w = this.waiting;
    this.waiting = null;
    w?.();
    cb(err);
  }
}

/** Two connected duplex streams: what is written to one is read from the other. */
export function duplexPair(): [Duplex, Duplex] {
  const a = new Side();
  const b = new Side();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
