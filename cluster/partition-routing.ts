// Partition routing on the broker tier (docs/cluster.md "Partition routing"): a device's message
// is re-published under `fleet/p/{partition}/{device}/{channel}`, the partition computed with the
// collectors' own hash, so that each collector subscribes to the partitions it owns and receives
// nothing else (aedes 1.x has no shared subscriptions). The device's own topics and ACL stay.
import type { Redis } from 'ioredis';
import { parseTopicFast } from '../protocol/fast-decode.js';
import { channels, routedTopic } from '../protocol/topics.js';
import { partitionOf } from './partitions.js';

/** Where the broker nodes of a cluster agree on the partition count. */
export const PARTITIONS_KEY = 'fleetcare:cluster:partitions';

export class PartitionRouter {
  /** partitionOf hashes the id's bytes: cached (bounded by the fleet: only authorized device topics get here). */
  private readonly cache = new Map<string, number>();

  constructor(readonly count: number) {}

  partitionOf(device: string): number {
    let p = this.cache.get(device);
    if (p === undefined) {
      p = partitionOf(device, this.count);
      this.cache.set(device, p);
    }
    return p;
  }

  /** Moves a device→server message to its routed topic (in place); any other topic stays. */
  route(packet: { topic: string }): void {
    const t = parseTopicFast(packet.topic);
    if (!t || channels[t.channel].from !== 'device') return;
    packet.topic = routedTopic(packet.topic, this.partitionOf(t.device));
  }
}

/**
 * The first broker node records the count in Redis; a node with another count refuses to start
 * (its devices' messages would reach the wrong collectors, or none, and never be acked).
 */
export async function claimPartitionCount(redis: Redis, count: number): Promise<void> {
  await redis.set(PARTITIONS_KEY, String(count), 'NX');
  const agreed = await redis.get(PARTITIONS_KEY);
  if (agreed !== String(count))
    throw new Error(
      `broker.cluster.partitions: this node routes by ${count} partitions but the cluster's broker nodes use ${agreed} (Redis key ${PARTITIONS_KEY}); ` +
        `every node must use the collectors' cluster.partitions (if the cluster was rebuilt with a new count, delete that key)`,
    );
}
