// An MQTT connection to the broker from inside its own process, without TCP: the in-process
// collector of `fleetcare server` (role `all`) used to log in over loopback TCP, so every packet
// it exchanged with the broker cost a write and a read syscall on each side, plus both TCP
// stacks' work (half the server's socket syscalls at 10k agents, docs/benchmarks-ingest.md).
// Here the two ends are a pair of in-memory Duplex streams: the broker handles one end exactly
// like a socket (CONNECT, authentication, ACL, QoS 1, persistent session all unchanged), the
// client (mqtt.js) gets the other. (Node 20 has no stream.duplexPair; it came in 22.6.)
import { Duplex } from 'node:stream';

type Chunk = { chunk: Buffer };

/**
 * Bytes each end buffers before its writer waits: about what the kernel buffers for a loopback TCP
 * connection, so the collector's backpressure (it stops reading while its store is behind) holds the
 * broker back no sooner than over TCP, instead of at Node's default 16 KiB (~25 telemetry messages).
 */
const LINK_BUFFER_BYTES = 1 << 20;

/** One end of an in-memory link: what is written here is read at the peer, with backpressure. */
export class LinkEnd extends Duplex {
  peer!: LinkEnd;
  /** The writer's callback held while the peer's reader is above its high-water mark. */
  private resumeWriter: (() => void) | null = null;

  constructor() {
    // No half-open link: when one side ends, the other ends too (as a net.Server socket does).
    super({ allowHalfOpen: false, readableHighWaterMark: LINK_BUFFER_BYTES, writableHighWaterMark: LINK_BUFFER_BYTES });
  }

  /** Where the link's far end is, for logs and the login throttle (sockets have remoteAddress). */
  get fleetcareRemote(): string {
    return 'in-process';
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.deliver(chunk, cb);
  }

  // Everything corked in one tick arrives at the peer as one buffer: one parse pass, not N.
  override _writev(chunks: Chunk[], cb: (err?: Error | null) => void): void {
    this.deliver(chunks.length === 1 ? chunks[0].chunk : Buffer.concat(chunks.map((c) => c.chunk)), cb);
  }

  private deliver(buf: Buffer, cb: (err?: Error | null) => void): void {
    const peer = this.peer;
    if (peer.destroyed) return cb(new Error('link closed'));
    if (peer.push(buf)) cb();
    else peer.resumeWriter = () => cb();
  }

  override _read(): void {
    const resume = this.resumeWriter;
    if (resume) {
      this.resumeWriter = null;
      resume();
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (!this.peer.destroyed) this.peer.push(null);
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // Like a TCP reset seen from the far side: the peer closes, without an error of its own.
    if (!this.peer.destroyed) this.peer.destroy();
    const resume = this.resumeWriter;
    this.resumeWriter = null;
    resume?.();
    cb(err);
  }
}

/** Two connected ends: bytes written to `a` are read from `b` and the other way round. */
export function linkPair(): [LinkEnd, LinkEnd] {
  const a = new LinkEnd();
  const b = new LinkEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
