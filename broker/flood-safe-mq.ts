// The mq aedes is given (its constructor's `mq` option): any mqemitter (in-process, or
// mqemitter-redis in cluster mode) behind a concurrency limit whose queue cannot overflow the
// stack under a publish flood.
//
// Why (read in node_modules/mqemitter/mqemitter.js 7.1.0 and fastparallel/parallel.js): mqemitter
// runs at most `concurrency` publishes at once and queues the rest. When one finishes,
// fastparallel calls `released()`, which shifts the next queued message and `_do()`es it
// *synchronously*. A message that matches no listener (its subscriber just disconnected)
// completes synchronously too, so draining a long queue nests released → _do → parallel →
// released … one frame group per queued message, until `RangeError: Maximum call stack size
// exceeded` is thrown outside any handler and the process dies (test/broker/flood.test.ts).
// mqemitter PR #204 (setImmediate in `_do`) was rejected for throughput. Its queue is also two
// arrays consumed with shift(), O(queue) per message once large (40 % of the CPU at 10k msg/s).
//
// So the inner emitter runs with no limit of its own (concurrency 0: `_do` at once, never a
// queue) and the limit lives here, with a deque and a trampolined pump: a completion that
// arrives while the pump is running only lets the running loop start the next message. Order,
// in-flight accounting and callbacks are as in mqemitter, nothing waits for a later tick (same
// throughput), and the stack depth no longer depends on the queue length. Only mqemitter's public
// interface (on, removeListener, emit, close) is used, so mqemitter-redis fits the same way.

import { compactedFront } from './queue-compaction.js';

/** The part of the mqemitter interface aedes 1.2.0 uses (aedes.js: on, removeListener, emit, close). */
export type MqEmitter = {
  on(topic: string, notify: (packet: unknown, done: () => void) => void, done?: () => void): unknown;
  removeListener(topic: string, notify: (packet: unknown, done: () => void) => void, done?: () => void): unknown;
  emit(packet: { topic: string }, done?: (err?: Error) => void): unknown;
  close(done: () => void): unknown;
  concurrency?: number;
};

/**
 * Publishes on this topic are routed nowhere (not even to Redis): the broker moves a publish it
 * acknowledged but does not forward (rate limit, a stale will) here. No client may subscribe to
 * `$SYS` topics (ACL), and the publish is not retained.
 */
export const SINK_TOPIC = '$SYS/fleetcare/dropped';

type Done = (err?: Error) => void;
const noop: Done = () => {};

export class FloodSafeMq implements MqEmitter {
  /** Publishes handed to the inner emitter and not completed yet. */
  current = 0;
  private readonly queue = new Deque<{ packet: { topic: string }; done: Done }>();
  private pumping = false;

  /**
   * @param inner an mqemitter created with `concurrency: 0` (checked: a limit of its own would
   *   bring back its recursive queue).
   * @param concurrency in-flight publishes before new ones queue here (0 = no limit).
   */
  constructor(
    readonly inner: MqEmitter,
    readonly concurrency: number,
  ) {
    if (inner.concurrency) throw new Error(`the inner mqemitter must have concurrency 0, not ${inner.concurrency} (its own queue overflows the stack)`);
  }

  /** Publishes waiting for a slot (`mqQueued` in the broker's stats). */
  get length(): number {
    return this.queue.length;
  }

  on(topic: string, notify: (packet: unknown, done: () => void) => void, done?: () => void): this {
    this.inner.on(topic, notify, done);
    return this;
  }

  removeListener(topic: string, notify: (packet: unknown, done: () => void) => void, done?: () => void): this {
    this.inner.removeListener(topic, notify, done);
    return this;
  }

  emit(packet: { topic: string }, done: Done = noop): this {
    if (packet.topic === SINK_TOPIC) {
      done();
      return this;
    }
    if (this.concurrency > 0 && (this.current >= this.concurrency || this.queue.length > 0)) {
      this.queue.push({ packet, done });
      this.pump();
    } else {
      this.start(packet, done);
    }
    return this;
  }

  close(done: () => void): this {
    this.inner.close(done);
    return this;
  }

  private start(packet: { topic: string }, done: Done): void {
    this.current++;
    this.inner.emit(packet, (err?: Error) => {
      this.current--;
      done(err);
      this.pump();
    });
  }

  private pump(): void {
    if (this.pumping) return; // the loop below, further up the stack, takes the next one
    this.pumping = true;
    try {
      while (this.queue.length > 0 && this.current < this.concurrency) {
        const next = this.queue.shift()!;
        this.start(next.packet, next.done);
      }
    } finally {
      this.pumping = false;
    }
  }
}

/** push / shift / length with O(1) shift (an array and a read index, compacted now and then). */
class Deque<T> {
  private items: Array<T | undefined> = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(x: T): number {
    this.items.push(x);
    return this.length;
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const x = this.items[this.head];
    this.items[this.head++] = undefined;
    const compacted = compactedFront(this.items, this.head);
    if (compacted) {
      this.items = compacted;
      this.head = 0;
    }
    return x;
  }
}
