// What aedes is built from: its `mq` (message routing) and its `persistence` (sessions, retained
// messages, wills), handed to the aedes constructor. In-process by default; in cluster mode both
// live in Redis (mqemitter-redis, aedes-persistence-redis) so that every broker node routes to
// every client and a session outlives the node it was on. Either way the mq is wrapped by
// FloodSafeMq, and the persistence goes through aedes-persistence's own callback layer (the
// object aedes 1.2.0 expects), so both variants are put together the same way.
import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { TOPIC_ROOT } from '../protocol/topics.js';
import type { BrokerConfig } from './config.js';
import { FloodSafeMq, type MqEmitter } from './flood-safe-mq.js';
import { IndexedOutgoingMemoryPersistence } from './outgoing-index.js';

const require = createRequire(import.meta.url);
const mqemitter = require('mqemitter') as (opts: object) => MqEmitter;
const mqemitterRedis = require('mqemitter-redis') as (opts: object) => MqEmitter & {
  state: NodeJS.EventEmitter;
  subConn: Redis;
  pubConn: Redis;
};
const { CallBackPersistence } = require('aedes-persistence/callBackPersistence.js') as {
  CallBackPersistence: new (factory: (opts: object) => object, opts?: object) => AedesPersistence;
};
// aedes 1.2.0 declares aedes-persistence-redis ^11.2.1; 12.x is callback-free and not accepted.
const RedisPersistence = require('aedes-persistence-redis/asyncPersistence.js') as new (opts: {
  conn: Redis;
}) => {
  addSubscriptions(client: object, subs: object): Promise<unknown>;
  outgoingEnqueueCombi(subs: unknown[], packet: object): Promise<unknown>;
  outgoingUpdate(client: object, packet: object): Promise<unknown>;
};
{
  const v = (require('aedes-persistence-redis/package.json') as { version: string }).version;
  if (!v.startsWith('11.')) throw new Error(`aedes-persistence-redis ${v}: aedes 1.2.0 needs 11.2.x`);
}

/**
 * aedes-persistence-redis with concurrent identical addSubscriptions calls coalesced.
 *
 * aedes 1.2.0 stores a SUBSCRIBE of a persistent session once per filter in it, each time with
 * the packet's whole list (lib/handlers/subscribe.js storeSubscriptions), so a SUBSCRIBE of two
 * filters makes two concurrent identical calls. The Redis persistence then waits for its own
 * `$SYS/sub/add` broadcast to come back under a key made of the client id and the first filter
 * (broadcastPersistence.js #waitFor), and the second call overwrites the first one's waiter: the
 * first call never resolves and the client never gets its SUBACK (an agent subscribes to its ack
 * and cmd/req in one packet). One call stores the same thing, so the second shares its promise.
 */
class CoalescingRedisPersistence extends RedisPersistence {
  private readonly adding = new Map<string, Promise<unknown>>();

  addSubscriptions(client: { id: string }, subs: Array<{ topic: string; qos: number }>): Promise<unknown> {
    const key = JSON.stringify([client.id, subs.map((s) => [s.topic, s.qos])]);
    const running = this.adding.get(key);
    if (running) return running;
    const p = super.addSubscriptions(client, subs).finally(() => this.adding.delete(key));
    this.adding.set(key, p);
    return p;
  }
}

/** An ack topic (`fleet/v1/{device}/ack`): device ids hold no '/', so the suffix says it. */
const isAckTopic = (topic: string): boolean => topic.startsWith(TOPIC_ROOT + '/') && topic.endsWith('/ack');

/**
 * The cluster's persistence, with acks delivered live and never stored. An ack is cumulative and
 * the agent re-sends whatever is unacked after a reconnect (the collector re-acks it from its
 * dedup), so a queued ack saves one re-send at most — and storing one costs ten Redis commands
 * (enqueue on the collector's node, update and clear on the agent's). Without a stored update the
 * PUBACK's clear finds nothing in the message-id cache and skips Redis too. Commands (`cmd/req`)
 * are still queued for an offline agent.
 */
class LiveAckRedisPersistence extends CoalescingRedisPersistence {
  outgoingEnqueueCombi(subs: unknown[], packet: { topic: string }): Promise<unknown> {
    return isAckTopic(packet.topic) ? Promise.resolve() : super.outgoingEnqueueCombi(subs, packet);
  }

  outgoingUpdate(client: { id: string }, packet: { topic: string }): Promise<unknown> {
    return isAckTopic(packet.topic) ? Promise.resolve() : super.outgoingUpdate(client, packet);
  }
}

/** The persistence methods fleetcare itself calls (besides aedes): dropping a revoked session. */
export type AedesPersistence = {
  cleanSubscriptions(client: { id: string }): Promise<unknown>;
  outgoingStream(client: { id: string }): AsyncIterable<{ messageId?: number; brokerId: string; brokerCounter: number }>;
  outgoingUpdate(client: { id: string }, packet: object): Promise<void>;
  outgoingClearMessageId(client: { id: string }, packet: { messageId?: number }): Promise<unknown>;
};

export type BrokerEngines = {
  mq: FloodSafeMq;
  persistence: AedesPersistence;
  /** A command connection to the cluster's Redis (null when not clustered). */
  redis: Redis | null;
  /** Extra aedes options the engines need (cluster: node id and heartbeat). */
  aedesOptions: { id?: string; heartbeatInterval?: number };
  /** Resolves once the engines can be used (cluster: Redis answers); a clear error otherwise. */
  ready(timeoutMs: number): Promise<void>;
  /** Closes what aedes does not close itself (aedes closes the mq once it has listened). */
  close(opts?: { mq: boolean }): Promise<void>;
};

export function createEngines(config: BrokerConfig, log: Logger): BrokerEngines {
  const cluster = config.cluster;
  if (!cluster) {
    return {
      mq: new FloodSafeMq(mqemitter({ concurrency: 0, matchEmptyLevels: true }), config.concurrency),
      persistence: new CallBackPersistence((opts) => new IndexedOutgoingMemoryPersistence(opts)),
      redis: null,
      aedesOptions: {},
      ready: async () => {},
      close: async () => {},
    };
  }
  const redisLog = log.child({ redis: redactUrl(cluster.redisUrl) });
  // ioredis reconnects by itself; errors are logged once per outage and connection (not at every
  // retry), never thrown as unhandled 'error' events.
  // Auto-pipelining: the commands issued in one event-loop turn (a PUBLISH per routed message, the
  // sessions' stores) go out in one socket write instead of one each.
  const connect = (role: string) => {
    const r = new Redis(cluster.redisUrl, { connectionName: `fleetcare-broker-${role}`, enableAutoPipelining: true });
    let down = false;
    r.on('error', (err: Error) => {
      if (!down) redisLog.warn({ role, err: err.message }, 'redis connection lost; retrying');
      down = true;
    });
    r.on('ready', () => {
      if (down) redisLog.info({ role }, 'redis connection restored');
      down = false;
    });
    return r;
  };
  const inner = mqemitterRedis({ pubConn: connect('pub'), subConn: connect('sub'), concurrency: 0, matchEmptyLevels: true });
  // Connection errors are logged above; this one repeats them.
  inner.state.on('error', () => {});
  const persistenceConn = connect('persistence');
  const redis = connect('control');
  return {
    mq: new FloodSafeMq(inner, config.concurrency),
    persistence: new CallBackPersistence(() => new LiveAckRedisPersistence({ conn: persistenceConn })),
    redis,
    aedesOptions: { ...(cluster.nodeId ? { id: cluster.nodeId } : {}), heartbeatInterval: cluster.heartbeatIntervalMs },
    async ready(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          redis.ping(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
          }),
        ]);
      } catch (err) {
        throw new Error(`broker.cluster.redisUrl: cannot reach Redis at ${redactUrl(cluster.redisUrl)}: ${(err as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
    },
    async close(opts = { mq: false }) {
      const conns = [persistenceConn, redis, ...(opts.mq ? [inner.pubConn, inner.subConn] : [])];
      // quit() waits for a reply that never comes while Redis is away: disconnect instead then.
      await Promise.allSettled(conns.map((c) => (c.status === 'ready' ? c.quit() : Promise.resolve(c.disconnect()))));
    },
  };
}

/** The URL without its password, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'invalid url';
  }
}
