// Fix for aedes-persistence 11.0.0 (memory) under load: quadratic outgoing queues.
//
// Cause (read in node_modules/aedes-persistence/asyncPersistence.js): a persistent session's
// outgoing QoS 1 queue is a plain array. aedes enqueues every delivery, then calls
// `outgoingUpdate` to record its packet id, which scans the array *from the start* for the
// packet it just appended (at the end); `outgoingClearMessageId` splices the acked entry out
// (a memmove of the rest). The collector's session holds every unacked delivery - tens of
// thousands when it falls behind - so each delivery costs O(queue) and a short overload turns
// into a collapse (measured: 10k msg/s offered → 0 acked, CPU 100 %, never recovering).
//
// Fix: a subclass, given to aedes as its persistence (broker/engines.ts), whose five outgoing
// methods have the same semantics over an indexed queue: entries found by (brokerId, brokerCounter) through a map, removals
// leave a hole that is compacted later. Whenever the index cannot prove which entry the
// original linear scan would pick (packets of another broker id in the queue), the original
// scan order is used.
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { compactedFront } from './queue-compaction.js';

type OutPacket = { brokerId: string; brokerCounter: number; messageId?: number; [k: string]: unknown };
type PacketCtor = new (p: unknown) => OutPacket;

const require = createRequire(import.meta.url);
// The class asyncPersistence itself wraps queued packets in (aedes-persistence depends on it).
const Packet = require('aedes-packet') as PacketCtor;

class Queue {
  items: Array<OutPacket | null> = [];
  head = 0;
  /** brokerId of every entry so far, or null once two different ids were seen (then: scan). */
  brokerId: string | null | undefined = undefined;
  /** brokerCounter → live entries with it, in queue order. */
  readonly byCounter = new Map<number, OutPacket[]>();

  push(p: OutPacket): void {
    if (this.brokerId === undefined) this.brokerId = p.brokerId;
    else if (this.brokerId !== p.brokerId) this.brokerId = null;
    this.items.push(p);
    this.index(p);
  }

  private index(p: OutPacket): void {
    const list = this.byCounter.get(p.brokerCounter);
    if (list) list.push(p);
    else this.byCounter.set(p.brokerCounter, [p]);
  }

  private unindex(p: OutPacket): void {
    const list = this.byCounter.get(p.brokerCounter);
    if (!list) return;
    const i = list.indexOf(p);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.byCounter.delete(p.brokerCounter);
  }

  removeAt(i: number): OutPacket {
    const p = this.items[i]!;
    this.items[i] = null;
    this.unindex(p);
    while (this.head < this.items.length && this.items[this.head] === null) this.head++;
    const compacted = compactedFront(this.items, this.head);
    if (compacted) {
      this.items = compacted;
      this.head = 0;
    }
    return p;
  }

  replaceAt(i: number, p: OutPacket): void {
    this.unindex(this.items[i]!);
    this.items[i] = p;
    this.index(p);
    if (this.brokerId !== p.brokerId) this.brokerId = null;
  }

  /** The original `outgoingUpdate`: first entry (in order) that is this packet or, from another broker, has its id. */
  update(packet: OutPacket): void {
    if (this.brokerId !== null && this.brokerId === packet.brokerId) {
      // Every entry has packet's brokerId: the first entry with its counter is the answer.
      const first = this.byCounter.get(packet.brokerCounter)?.[0];
      if (first) {
        first.messageId = packet.messageId;
        return;
      }
      throw new Error('no such packet');
    }
    for (let i = this.head; i < this.items.length; i++) {
      const temp = this.items[i];
      if (!temp) continue;
      if (temp.brokerId === packet.brokerId) {
        if (temp.brokerCounter === packet.brokerCounter) {
          temp.messageId = packet.messageId;
          return;
        }
      } else if (temp.messageId === packet.messageId) {
        this.replaceAt(i, packet);
        return;
      }
    }
    throw new Error('no such packet');
  }

  /** The original `outgoingClearMessageId`: removes and returns the first entry with this id. */
  clear(messageId: number | undefined): OutPacket | undefined {
    // Acks come back in order, so the match is almost always at the head.
    for (let i = this.head; i < this.items.length; i++) {
      const temp = this.items[i];
      if (temp && temp.messageId === messageId) return this.removeAt(i);
    }
    return undefined;
  }

  live(): OutPacket[] {
    const out: OutPacket[] = [];
    for (let i = this.head; i < this.items.length; i++) if (this.items[i]) out.push(this.items[i]!);
    return out;
  }
}

type Client = { id: string };
type Sub = { clientId: string };

// aedes-persistence 11.0.0's in-memory persistence (the async class aedes wraps in its callback
// layer). Its outgoing queue is a private field, so every method that touches it is replaced here.
const MemoryPersistence = require('aedes-persistence/asyncPersistence.js') as new (opts?: object) => object;
const OUTGOING_METHODS = ['outgoingEnqueue', 'outgoingEnqueueCombi', 'outgoingUpdate', 'outgoingClearMessageId', 'outgoingStream'] as const;
{
  // Version guard: the methods replaced must still be the only ones using the queue.
  const proto = MemoryPersistence.prototype as Record<string, unknown>;
  const names = Object.getOwnPropertyNames(proto).filter((n) => n.startsWith('outgoing'));
  if (names.length !== OUTGOING_METHODS.length || !OUTGOING_METHODS.every((m) => typeof proto[m] === 'function')) {
    throw new Error(`aedes-persistence changed (outgoing methods: ${names.join(', ')}): re-check broker/outgoing-index.ts`);
  }
}

/** aedes' in-memory persistence with the outgoing queues indexed (same answers, O(1) per delivery). */
export class IndexedOutgoingMemoryPersistence extends (MemoryPersistence as new (opts?: object) => object) {
  private readonly queues = new Map<string, Queue>();

  private queueOf(id: string): Queue {
    let q = this.queues.get(id);
    if (!q) this.queues.set(id, (q = new Queue()));
    return q;
  }

  async outgoingEnqueue(sub: Sub, packet: unknown): Promise<void> {
    this.queueOf(sub.clientId).push(new Packet(packet));
  }

  async outgoingEnqueueCombi(subs: Sub[], packet: unknown): Promise<void> {
    for (let i = 0; i < subs.length; i++) this.queueOf(subs[i].clientId).push(new Packet(packet));
  }

  async outgoingUpdate(client: Client, packet: OutPacket): Promise<void> {
    this.queueOf(client.id).update(packet);
  }

  async outgoingClearMessageId(client: Client, packet: { messageId?: number }): Promise<OutPacket | undefined> {
    const q = this.queues.get(client.id);
    const p = q?.clear(packet.messageId);
    if (q && q.items.length === 0) this.queues.delete(client.id); // every entry gone (holes are compacted)
    return p;
  }

  /** A copy, as the original returns (delivery may change the queue while it is streamed). */
  outgoingStream(client: Client): AsyncIterable<OutPacket> {
    return Readable.from(this.queues.get(client.id)?.live() ?? []);
  }
}
