// Fix for the aedes 1.2.0 / mqemitter 7.1.0 stack overflow under a publish flood.
//
// Cause (read in node_modules/mqemitter/mqemitter.js and fastparallel/parallel.js): mqemitter
// runs at most `concurrency` (aedes default 100) publishes at once; the rest wait in
// `_messageQueue`. When a publish finishes, fastparallel calls mqemitter's `released()`, which
// shifts the next queued message and calls `_do()` on it *synchronously*. aedes delivers to
// subscribers via setImmediate, so while a subscriber exists each step returns to the event loop.
// But when the queued messages match no listener - the subscriber disconnected, so its listener
// is gone, or clients that published them disconnected - fastparallel calls `done` and then
// `released()` at once (`toCall.length === 0`), which calls `_do()` for the next message, which
// calls `released()` again ... one nested frame group per queued message. A QoS 0 (or QoS 1)
// flood of a few ten thousand messages from several clients builds such a queue behind a slow
// subscriber; when they disconnect, draining it recurses through
// released → _do → Qlobber.match → parallel → released until
// `RangeError: Maximum call stack size exceeded`, thrown outside any handler, killing the process.
// (mqemitter PR #204 proposed setImmediate in `_do`, rejected for throughput.)
//
// Fix: make `_do` re-entrant-safe with a trampoline. A `_do` call made while another `_do` is on
// the stack only records the message; the outermost call runs the recorded messages in a loop.
// Order, concurrency accounting and callbacks are unchanged, nothing is deferred to a later tick
// (so throughput is unaffected), and stack depth is bounded regardless of queue length.

/** The parts of mqemitter's instance this patch touches (mqemitter 7.x internals). */
type MQEmitterInternals = {
  current: number;
  _doing: boolean;
  _matcher: { match(topic: string): unknown[] };
  _parallel: (that: unknown, fns: unknown[], message: unknown, cb: unknown) => void;
  _do: (message: { topic: string }, cb: unknown) => unknown;
};

/** Patches one mqemitter instance in place (aedes' own `broker.mq`). Idempotent. */
export function installMqTrampoline(mq: unknown): void {
  const m = mq as MQEmitterInternals & { __fleetcareTrampoline?: true };
  if (typeof m._do !== 'function' || typeof m._parallel !== 'function' || !m._matcher) {
    throw new Error('mqemitter internals changed: cannot install the flood fix (check the mqemitter version)');
  }
  if (m.__fleetcareTrampoline) return;
  m.__fleetcareTrampoline = true;
  // mqemitter's queue is two arrays consumed with shift(): O(queue) each once the array is
  // large, which made an overload quadratic (40 % of the CPU in `released` at 10k msg/s).
  // `released` and `emit` only use push, shift and length: a deque gives the same answers.
  const queues = m as unknown as { _messageQueue: unknown[]; _messageCallbacks: unknown[] };
  if (!Array.isArray(queues._messageQueue) || !Array.isArray(queues._messageCallbacks)) {
    throw new Error('mqemitter internals changed: cannot install the queue fix (check the mqemitter version)');
  }
  queues._messageQueue = new Deque(queues._messageQueue) as unknown as unknown[];
  queues._messageCallbacks = new Deque(queues._messageCallbacks) as unknown as unknown[];

  let running = false;
  // Flat FIFO of [message, callback] pairs with a read index (no O(n) shift per message).
  let pending: unknown[] = [];
  let head = 0;

  const run = (message: { topic: string }, cb: unknown) => {
    m._doing = true;
    const matches = m._matcher.match(message.topic);
    m._parallel(m, matches, message, cb);
  };

  m._do = function trampolinedDo(message: { topic: string }, cb: unknown) {
    // Count it as in flight now, exactly where the original `_do` would have.
    m.current++;
    if (running) {
      pending.push(message, cb);
      return m;
    }
    running = true;
    try {
      run(message, cb);
      while (head < pending.length) {
        const next = pending[head] as { topic: string };
        const nextCb = pending[head + 1];
        pending[head] = pending[head + 1] = undefined;
        head += 2;
        run(next, nextCb);
      }
    } finally {
      pending = head < pending.length ? pending.slice(head) : [];
      head = 0;
      running = false;
    }
    return m;
  };
}

/** push / shift / length with O(1) shift (an array and a read index, compacted now and then). */
class Deque<T> {
  private items: Array<T | undefined>;
  private head = 0;
  constructor(initial: T[]) {
    this.items = initial.slice();
  }
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
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return x;
  }
}
