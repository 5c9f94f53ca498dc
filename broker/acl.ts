// The broker's authorization rules (docs/broker.md) as pure functions of who the client is and
// what it asks for, so they can be read (and tested) apart from aedes.
import { channels, deviceId, topicFor, unrouteTopic, TOPIC_ROOT, type Channel } from '../protocol/index.js';
// parseTopic without zod (runs on every PUBLISH; same answers, see test/protocol-fast.test.ts).
import { parseTopicFast as parseTopic } from '../protocol/fast-decode.js';
import type { Principal } from './registry.js';

export type AclDecision = { ok: true } | { ok: false; reason: string };

const allow: AclDecision = { ok: true };
const deny = (reason: string): AclDecision => ({ ok: false, reason });

export type PublishRequest = { topic: string; qos: number; retain: boolean };

/** May this principal publish this message? */
export function mayPublish(who: Principal, msg: PublishRequest): AclDecision {
  if (who.kind === 'service' && who.role === 'viewer') return deny('viewer role publishes nothing');
  const t = parseTopic(msg.topic);
  if (!t) return deny('not a fleet topic');
  const rule = channels[t.channel];
  if (who.kind === 'device') {
    if (t.device !== who.id) return deny(`topic of another device (${t.device})`);
    if (rule.from !== 'device') return deny(`${t.channel} is not a device channel`);
  } else if (rule.from !== 'server') {
    return deny(`${t.channel} is a device channel`);
  }
  if (msg.retain && !rule.retain) return deny(`retain not allowed on ${t.channel}`);
  if (msg.qos !== rule.qos) return deny(`QoS ${msg.qos} on ${t.channel}, expected ${rule.qos}`);
  return allow;
}

/** May this principal subscribe to this filter? Devices: their own ack and cmd/req, no wildcards. */
export function maySubscribe(who: Principal, filter: string): AclDecision {
  if (who.kind === 'device') {
    if (filter === topicFor(who.id, 'ack') || filter === topicFor(who.id, 'cmd/req')) return allow;
    return deny('devices subscribe only to their own ack and cmd/req');
  }
  // Service accounts (collector, viewer): device channels, of one device or of all (`+`); in a
  // cluster also their routed form, of one partition or of all (`fleet/p/{n|+}/…`, docs/cluster.md).
  const routed = unrouteTopic(filter);
  if (routed) return maySubscribe(who, routed.topic);
  const prefix = TOPIC_ROOT + '/';
  if (!filter.startsWith(prefix)) return deny('not a fleet topic filter');
  const rest = filter.slice(prefix.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return deny('not a fleet topic filter');
  const device = rest.slice(0, slash);
  const channel = rest.slice(slash + 1);
  if (device !== '+' && !deviceId.safeParse(device).success) return deny('device level must be + or a device id');
  if (!(channel in channels)) return deny(`unknown channel ${channel}`);
  if (channels[channel as Channel].from !== 'device') return deny(`${channel} is not a device channel`);
  return allow;
}

/** May this principal leave this last will? A device's will must be its own status message. */
export function mayLeaveWill(who: Principal, will: PublishRequest): AclDecision {
  if (who.kind === 'device') {
    if (will.topic !== topicFor(who.id, 'status')) return deny("will must be the device's own status topic");
    return mayPublish(who, will);
  }
  return mayPublish(who, will);
}
