// Broker configuration. The zod schema is the single source of truth; every field has
// a safe default so `brokerConfigSchema.parse({ dataDir })` is a working, locked-down broker.
import { z } from 'zod';
import { partitionCount } from '../cluster/partitions.js';
import { MAX_PAYLOAD_BYTES } from '../protocol/index.js';

const port = z.number().int().min(0).max(65535);

/** Exponential lockout after repeated failed logins for one key (a client or an address). */
const throttleRule = z.object({
  /** Failures allowed before the first lockout. */
  freeAttempts: z.number().int().min(0),
  /** First lockout; doubles with each further failure. */
  baseDelayMs: z.number().int().min(0),
  maxDelayMs: z.number().int().min(0),
  /** A key quiet for this long starts again from zero failures. */
  forgetAfterMs: z.number().int().positive(),
});
export type ThrottleRule = z.infer<typeof throttleRule>;

export const brokerConfigSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: port.default(1883),
    /** TLS listener, on only when both paths are given. */
    tlsCertPath: z.string().min(1).optional(),
    tlsKeyPath: z.string().min(1).optional(),
    tlsPort: port.default(8883),
    /** MQTT over WebSocket (plain HTTP upgrade on any path); off unless set. */
    wsPort: port.optional(),
    /** Lab only: clients without credentials act as the device named by their client id. */
    allowAnonymous: z.boolean().default(false),
    /** Largest PUBLISH payload accepted; a client sending more is disconnected. */
    maxPayloadBytes: z.number().int().positive().default(MAX_PAYLOAD_BYTES),
    /** Per-device token bucket on PUBLISH (service accounts are not limited). Over the limit: the message is dropped and counted. */
    publishRate: z
      .object({
        perSecond: z.number().positive().default(200),
        burst: z.number().int().positive().default(400),
        /** A client with this many drops inside `windowMs` is disconnected (it keeps flooding). */
        disconnectAfterDrops: z.number().int().positive().default(1000),
        windowMs: z.number().int().positive().default(10_000),
      })
      .prefault({}),
    /** Failed-login throttle, keyed by the claimed identity (username, else client id) and by address. */
    loginThrottle: z
      .object({
        perClient: throttleRule.default({ freeAttempts: 5, baseDelayMs: 1_000, maxDelayMs: 15 * 60_000, forgetAfterMs: 30 * 60_000 }),
        // Many devices can share one NAT address, so the address rule is looser and caps lower.
        perAddress: throttleRule.default({ freeAttempts: 50, baseDelayMs: 1_000, maxDelayMs: 60_000, forgetAfterMs: 10 * 60_000 }),
        /** Bound on remembered keys (oldest forgotten first). */
        maxEntries: z.number().int().positive().default(100_000),
      })
      .prefault({}),
    /**
     * How new device and service tokens are hashed. Tokens carry 256 random bits, so the hash
     * only has to make a stolen registry useless, not slow down guessing: a salted SHA-256 does
     * that, and costs microseconds where scrypt costs milliseconds at every login — a failover
     * brings a third of the fleet to log in at once (broker/secret-hash.ts). `scrypt` is kept for
     * sites whose policy asks for it. Hashes of either kind keep verifying whatever this says.
     */
    tokenHash: z.enum(['sha256', 'scrypt']).default('sha256'),
    /** scrypt cost (N) of new token hashes when `tokenHash` is `scrypt`. Stored with each hash, so it can change later. */
    scryptCost: z.number().int().min(2).default(4096),
    /**
     * aedes mqemitter concurrency: in-flight publishes before new ones queue. Each in-flight
     * publish holds its slot for a few event-loop turns (setImmediate hops per delivery), and a
     * turn includes the in-process collector's batch work; with aedes' default of 100 the
     * emitter capped routing near 5k msg/s with the CPU half idle (docs/benchmarks-ingest.md).
     * It bounds nothing else: the queue behind it is unbounded either way.
     */
    concurrency: z.number().int().positive().default(10_000),
    /**
     * Connections the kernel holds for the broker to accept (listen backlog; Linux caps it at
     * net.core.somaxconn). When a cluster node dies its agents arrive at the survivors within a
     * second; Node's default of 511 overflowed then, and each dropped handshake waits for TCP's
     * SYN retry (1, 3, 7, 15 s): most of the failover gap (docs/benchmarks.md).
     */
    listenBacklog: z.number().int().min(1).max(65_535).default(4096),
    /** Seconds a client may take to send CONNECT after opening the socket. */
    connectTimeoutMs: z.number().int().positive().default(10_000),
    /**
     * How often the broker checks the registry for credentials changed by another process
     * (`fleetcare device rotate|remove|disable`); sessions of a changed login are closed then.
     * The check is one indexed read, so it can run often.
     */
    registryPollMs: z.number().int().min(20).max(60_000).default(500),
    /**
     * Cluster mode (docs/cluster.md): this node shares routing, sessions, retained messages and
     * wills with the other nodes through Redis. Absent: everything is in this process's memory.
     */
    cluster: z
      .strictObject({
        /** redis://host:port[/db] of the Redis every broker node of the cluster uses. */
        redisUrl: z.string().regex(/^rediss?:\/\/[^\s]+$/, 'must be redis://host:port or rediss://host:port'),
        /** Name of this node in logs and in Redis keys (a random id when omitted; must differ per node). */
        nodeId: z
          .string()
          .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - (at most 64)')
          .optional(),
        /**
         * aedes heartbeat between nodes. A dead node's wills are published by a survivor once it
         * has missed 3 heartbeats, checked every 4: so 3 to 7 intervals after the node died.
         */
        heartbeatIntervalMs: z.number().int().min(100).max(60_000).default(1000),
        /** At start: how long Redis may take to answer before the node gives up with an error. */
        startTimeoutMs: z.number().int().min(100).max(300_000).default(10_000),
        /**
         * The collectors' partition count (cluster.partitions): set, device messages are routed to
         * `fleet/p/{partition}/…` so that each reaches only its owner's collector (docs/cluster.md).
         * `fleetcare server --cluster` sets it; every broker node must say the same (checked in Redis).
         */
        partitions: partitionCount.optional(),
      })
      .optional(),
    dataDir: z.string().min(1),
  })
  .superRefine((c, ctx) => {
    if (!!c.tlsCertPath !== !!c.tlsKeyPath) {
      ctx.addIssue({ code: 'custom', path: [c.tlsCertPath ? 'tlsKeyPath' : 'tlsCertPath'], message: 'TLS needs both tlsCertPath and tlsKeyPath' });
    }
  });

export type BrokerConfig = z.infer<typeof brokerConfigSchema>;
export type BrokerConfigInput = z.input<typeof brokerConfigSchema>;
