// The fleet is split into a fixed number of partitions by a hash of the device id (docs/cluster.md).
// A collector owns whole partitions; a device never changes partition while the count stays the
// same, so its detector state, dedup rows and incidents move together with the partition.
import { z } from 'zod';

/** Fixed at cluster creation: changing it moves almost every device (it is stored with the leases). */
export const DEFAULT_PARTITIONS = 64;

export const partitionCount = z.number().int().min(1).max(4096);

/**
 * The partition of a device: FNV-1a (32 bit) of the id's UTF-8 bytes, mixed with MurmurHash3's
 * finalizer (FNV alone leaves the low bits of similar ids like `pos-0001`, `pos-0002` correlated),
 * modulo `count`. Stable across processes, Node versions and machines — never a per-process seed.
 */
export function partitionOf(deviceId: string, count: number): number {
  let h = 0x811c9dc5;
  const bytes = Buffer.from(deviceId, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return h % count;
}

/**
 * How many partitions each of `liveNodes` nodes should own so that every partition has an owner
 * and no node owns more than one above another: the first `count % liveNodes` nodes (by id) take
 * one more.
 */
export function fairShare(count: number, liveNodes: readonly string[], node: string): number {
  const sorted = [...new Set(liveNodes)].sort();
  const n = Math.max(1, sorted.length);
  const base = Math.floor(count / n);
  const rank = sorted.indexOf(node);
  return base + (rank >= 0 && rank < count % n ? 1 : 0);
}
