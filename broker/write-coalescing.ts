// Socket writes coalesced per event-loop turn. mqtt-packet's writeToStream corks the stream for
// each packet and uncorks it on process.nextTick; aedes delivers every packet from its own
// setImmediate callback and Node drains the nextTick queue after each one, so each packet used
// to be its own writev syscall. The collector's connection receives hundreds of packets per turn
// at 1,000 msg/s, and a device gets its PUBACK and ack in bursts too.
//
// Here the first cork of a connection in a turn takes one more cork level, released for every
// held connection at once by one setImmediate: the packets written until then leave in one writev.
// Latency cost: at most the rest of the current turn (the check phase after the poll phase, or
// the next turn's when written from a setImmediate callback). Backpressure is unchanged: write()
// still returns false above the high-water mark and 'drain' follows the uncork that flushes it.
import type { Writable } from 'node:stream';

let held = new Set<Writable>();
let flushing = new Set<Writable>();
let flushScheduled = false;

function flush(): void {
  flushScheduled = false;
  // Swapped first: a stream corked again while flushing (a write from a 'drain' listener) is held for the next turn.
  const streams = held;
  held = flushing;
  flushing = streams;
  for (const s of streams) if (!s.destroyed) s.uncork();
  streams.clear();
}

/** Installed as the connection's own `cork` (one shared function, no per-connection closure). */
function corkUntilTurnEnd(this: Writable & { fleetcareCork: () => void }): void {
  this.fleetcareCork();
  if (held.has(this)) {
    // Half the high-water mark held back: let it go with this packet (at mqtt-packet's own
    // uncork), so write() reports a full buffer no earlier than without coalescing.
    if (this.writableLength >= this.writableHighWaterMark / 2) {
      held.delete(this);
      this.uncork();
    }
    return;
  }
  if (this.destroyed) return;
  held.add(this);
  this.fleetcareCork();
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flush);
  }
}

/** Makes every packet mqtt-packet writes to `conn` in one event-loop turn leave in one write. */
export function coalesceWrites(conn: Writable): void {
  const c = conn as Writable & { fleetcareCork?: () => void };
  if (c.fleetcareCork) return;
  c.fleetcareCork = conn.cork;
  c.cork = corkUntilTurnEnd;
}

/** Connections currently holding a cork until the end of the turn (for tests). */
export function heldConnections(): number {
  return held.size;
}
