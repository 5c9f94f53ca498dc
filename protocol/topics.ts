// Topic layout `fleet/v1/{deviceId}/{channel}` and the per-channel QoS/retain rules
// that both the agent (when publishing) and the broker (when enforcing the ACL) apply.
import { deviceId, type DeviceChannel } from './messages.js';

export const TOPIC_ROOT = 'fleet/v1';

/** Every channel, its direction and its publish rules. */
export const channels = {
  status: { from: 'device', qos: 1, retain: true },
  inventory: { from: 'device', qos: 1, retain: true },
  telemetry: { from: 'device', qos: 1, retain: false },
  event: { from: 'device', qos: 1, retain: false },
  'cmd/res': { from: 'device', qos: 1, retain: false },
  ack: { from: 'server', qos: 1, retain: false },
  'cmd/req': { from: 'server', qos: 1, retain: false },
} as const;
export type Channel = keyof typeof channels;

export const deviceChannels = Object.keys(channels).filter((c) => channels[c as Channel].from === 'device') as DeviceChannel[];

export function topicFor(device: string, channel: Channel): string {
  return `${TOPIC_ROOT}/${device}/${channel}`;
}

/** Subscription filter for one channel of every device, e.g. `fleet/v1/+/telemetry`. */
export function allDevices(channel: Channel): string {
  return `${TOPIC_ROOT}/+/${channel}`;
}

export type ParsedTopic = { device: string; channel: Channel };

/** Parses a concrete topic; null when it is not one of ours (wrong root, bad id, unknown channel). */
export function parseTopic(topic: string): ParsedTopic | null {
  if (!topic.startsWith(TOPIC_ROOT + '/')) return null;
  const rest = topic.slice(TOPIC_ROOT.length + 1);
  const slash = rest.indexOf('/');
  if (slash <= 0) return null;
  const device = rest.slice(0, slash);
  const channel = rest.slice(slash + 1);
  if (!Object.hasOwn(channels, channel)) return null;
  if (!deviceId.safeParse(device).success) return null;
  return { device, channel: channel as Channel };
}

/**
 * Cluster routing (docs/cluster.md "Partition routing"): the broker tier re-publishes a device's
 * message under `fleet/p/{partition}/{deviceId}/{channel}`, so a collector subscribes to the
 * partitions it owns and Redis carries each message only to the broker node of its owner.
 * Devices never see this form: they publish and subscribe under TOPIC_ROOT.
 */
export const ROUTED_ROOT = 'fleet/p';

/** `fleet/v1/{device}/{channel}` → `fleet/p/{partition}/{device}/{channel}` (the topic must be one of ours). */
export function routedTopic(topic: string, partition: number): string {
  return `${ROUTED_ROOT}/${partition}/${topic.slice(TOPIC_ROOT.length + 1)}`;
}

/** Filter for one channel of every device of one partition (`+`: of every partition). */
export function partitionFilter(partition: number | '+', channel: Channel): string {
  return `${ROUTED_ROOT}/${partition}/+/${channel}`;
}

/**
 * A routed topic (or filter) split into its partition level and the TOPIC_ROOT form of the rest;
 * null when it is not routed or the partition level is neither a number nor `+` (filters).
 * The device/channel part is then checked by parseTopic (topics) or the ACL (filters).
 */
export function unrouteTopic(topic: string): { partition: number | '+'; topic: string } | null {
  if (!topic.startsWith(ROUTED_ROOT + '/')) return null;
  const start = ROUTED_ROOT.length + 1;
  const slash = topic.indexOf('/', start);
  if (slash <= start) return null;
  const level = topic.slice(start, slash);
  if (level !== '+' && !/^(0|[1-9][0-9]{0,3})$/.test(level)) return null;
  return { partition: level === '+' ? '+' : Number(level), topic: `${TOPIC_ROOT}/${topic.slice(slash + 1)}` };
}
