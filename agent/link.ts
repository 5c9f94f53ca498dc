// The agent's MQTT link: birth/LWT retained status, retained inventory on every
// connect, a persistent session for commands, and reconnects driven here with exponential
// backoff and jitter, so that a store's devices do not all come back in the same second after a
// broker restart. Each attempt is one `MqttClient` (agent/mqtt-client.ts, not mqtt.js: memory).
// With several broker nodes (cluster mode, `broker.urls`) every lost connection or failed attempt
// moves on to the next node, after the same backoff: a dead node costs one short delay.
import { MqttClient } from './mqtt-client.js';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { CONTRACT_VERSION, decodeAck, topicFor, channels, type AckMessage, type DeviceChannel, type StatusMessage } from '../protocol/index.js';
import type { AgentConfig } from './config.js';
import { LogLimiter } from '../logging/log-limiter.js';

export type ReconnectPolicy = { minMs: number; maxMs: number; jitter: number };

/**
 * The node to try after `current` was lost: any other one, at random, so that the agents of a dead
 * node spread over the survivors instead of all logging in to the next one in the list at once.
 * (Two nodes: the other one, with no draw, so the backoff's jitter sequence stays as it was.)
 */
export function nextNode(current: number, count: number, random: () => number = Math.random): number {
  if (count <= 1) return 0;
  if (count === 2) return 1 - current;
  return (current + 1 + Math.min(count - 2, Math.floor(random() * (count - 1)))) % count;
}

/**
 * Delay before reconnect attempt `attempt` (0-based): the exponential base min·2^attempt capped at
 * max, of which a `jitter` fraction is random, i.e. uniform in [base·(1−jitter), base].
 */
export function reconnectDelay(attempt: number, p: ReconnectPolicy, random: () => number = Math.random): number {
  const base = Math.min(p.maxMs, p.minMs * 2 ** Math.min(attempt, 30));
  return Math.round(base * (1 - p.jitter * random()));
}

/** A connection that lived this long resets the backoff to its minimum. */
const STABLE_MS = 30_000;
const STOP_PUBLISH_TIMEOUT_MS = 2000;

export type LinkOptions = {
  device: AgentConfig['device'];
  broker: AgentConfig['broker'];
  agentVersion: string;
  log: Logger;
  /** seq for status/inventory/cmd/res (persisted counter, not outboxed). */
  allocateSeq: () => number;
  /** The retained inventory message body, given its seq. */
  inventory: (seq: number) => object;
  /** Called once subscribed after each (re)connect; the agent re-sends its outbox. */
  onConnect: () => void;
  onDisconnect: () => void;
  onAck: (ack: AckMessage, receivedAt: number) => void;
  onCommand: (payload: Buffer) => void;
  random?: () => number;
  now?: () => number;
};

export type LinkStats = {
  connected: boolean;
  /** The broker node of the current connection (one of `broker.urls`); null while disconnected. */
  broker: string | null;
  connects: number;
  connectAttempts: number;
  disconnects: number;
  acks: number;
  badAcks: number;
  commands: number;
  published: number;
  publishErrors: number;
  /** Delays chosen for the reconnects so far (most recent last, up to 20). */
  recentReconnectDelaysMs: number[];
};

export class Link {
  private client: MqttClient | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private attempt = 0;
  /** Index in `broker.urls` of the node the next attempt goes to. */
  private node: number;
  private connectedAt = 0;
  private stopped = false;
  private readonly log: Logger;
  private readonly logLimit = new LogLimiter(60_000);
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly topics: { status: string; inventory: string; ack: string; cmdReq: string };
  private ca: Buffer | undefined;
  private readonly s: LinkStats = {
    connected: false,
    broker: null,
    connects: 0,
    connectAttempts: 0,
    disconnects: 0,
    acks: 0,
    badAcks: 0,
    commands: 0,
    published: 0,
    publishErrors: 0,
    recentReconnectDelaysMs: [],
  };

  constructor(private readonly o: LinkOptions) {
    this.log = o.log.child({ component: 'link' });
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
    // A random first node spreads a fleet over the nodes without a load balancer.
    // (No draw for a single URL: the backoff's jitter sequence stays what it was.)
    this.node = o.broker.urls.length > 1 ? Math.floor(this.random() * o.broker.urls.length) % o.broker.urls.length : 0;
    const id = o.device.id;
    this.topics = { status: topicFor(id, 'status'), inventory: topicFor(id, 'inventory'), ack: topicFor(id, 'ack'), cmdReq: topicFor(id, 'cmd/req') };
  }

  get connected(): boolean {
    return this.s.connected;
  }

  start(): void {
    if (this.o.broker.tls?.ca) {
      try {
        this.ca = readFileSync(this.o.broker.tls.ca);
      } catch (e) {
        // Not fatal: the connect attempts fail and are retried; an operator can fix the file.
        this.log.error({ file: this.o.broker.tls.ca, err: (e as Error).message }, 'cannot read broker CA file');
      }
    }
    this.connect();
  }

  private status(seq: number, state: StatusMessage['state'], reason?: string): StatusMessage {
    return { v: CONTRACT_VERSION, device: this.o.device.id, seq, ts: this.now(), state, ...(reason ? { reason } : {}), agentVersion: this.o.agentVersion };
  }

  private connect(): void {
    if (this.stopped) return;
    this.reconnectTimer = null;
    this.s.connectAttempts++;
    // Birth before will: the will's seq is then higher than the birth of its own session and
    // lower than the next session's birth, so ordering status messages by seq is right.
    const birthSeq = this.o.allocateSeq();
    const willSeq = this.o.allocateSeq();
    const url = this.o.broker.urls[this.node];
    const client = new MqttClient({
      url,
      clientId: this.o.device.id,
      username: this.o.device.id,
      password: this.o.device.token,
      clean: false,
      keepaliveSec: this.o.broker.keepaliveSec,
      connectTimeoutMs: this.o.broker.connectTimeoutMs,
      will: {
        topic: this.topics.status,
        payload: Buffer.from(JSON.stringify(this.status(willSeq, 'offline', 'lwt'))),
        qos: 1,
        retain: true,
      },
      ...(this.o.broker.tls ? { tls: { rejectUnauthorized: this.o.broker.tls.rejectUnauthorized, ...(this.ca ? { ca: this.ca } : {}) } } : {}),
    });
    this.client = client;
    client.on('connect', () => {
      if (client !== this.client) return;
      this.connectedAt = this.now();
      client
        .subscribe([
          { topic: this.topics.ack, qos: 1 },
          { topic: this.topics.cmdReq, qos: 1 },
        ])
        .then(
          () => {
            if (client !== this.client) return;
            this.s.connected = true;
            this.s.broker = url;
            this.s.connects++;
            this.log.info({ broker: url, attempt: this.attempt }, 'connected');
            this.logLimit.clear();
            this.publishRaw(this.topics.status, JSON.stringify(this.status(birthSeq, 'online')), true).catch(() => {});
            this.publishInventory();
            this.safe('onConnect', () => this.o.onConnect());
          },
          (err: Error) => {
            if (client !== this.client) return;
            this.log.warn({ err: err.message }, 'subscribe failed; reconnecting');
            client.destroy();
          },
        );
    });
    client.on('message', (topic: string, payload: Buffer) => this.onMessage(topic, payload));
    client.on('error', (err: Error) => {
      if (client !== this.client) return;
      // Auth refusals, refused connections, TLS errors: all retried with backoff. A broker down
      // for hours gives the same error at every retry: logged once per window, with a count.
      const code = (err as { code?: unknown }).code;
      this.logLimit.maybe(`mqtt:${String(code ?? err.message)}`, this.now(), (suppressed) =>
        this.log.warn({ broker: url, err: err.message, code, suppressed }, 'MQTT error'),
      );
    });
    client.on('close', () => {
      if (client !== this.client) return;
      this.onClosed(client);
    });
    client.connect();
  }

  private onClosed(client: MqttClient): void {
    const wasConnected = this.s.connected;
    this.s.connected = false;
    this.s.broker = null;
    client.removeAllListeners('connect');
    client.removeAllListeners('message');
    client.on('error', () => {}); // late errors of a dead client must not become uncaught
    client.destroy();
    this.client = null;
    this.node = nextNode(this.node, this.o.broker.urls.length, this.random);
    if (wasConnected) {
      this.s.disconnects++;
      this.log.warn('disconnected from broker');
      this.safe('onDisconnect', () => this.o.onDisconnect());
    }
    if (this.connectedAt && this.now() - this.connectedAt >= STABLE_MS) this.attempt = 0;
    this.connectedAt = 0;
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    const delay = reconnectDelay(this.attempt, this.o.broker.reconnect, this.random);
    this.attempt++;
    this.s.recentReconnectDelaysMs.push(delay);
    if (this.s.recentReconnectDelaysMs.length > 20) this.s.recentReconnectDelaysMs.shift();
    this.logLimit.maybe('reconnecting', this.now(), (suppressed) =>
      this.log.info({ delayMs: delay, attempt: this.attempt, broker: this.o.broker.urls[this.node], suppressed }, 'reconnecting'),
    );
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  private onMessage(topic: string, payload: Buffer): void {
    try {
      if (topic === this.topics.ack) {
        const r = decodeAck(payload);
        if (!r.ok) {
          this.s.badAcks++;
          this.log.warn({ reason: r.reason, detail: r.detail }, 'ignoring invalid ack');
          return;
        }
        this.s.acks++;
        this.o.onAck(r.value, this.now());
      } else if (topic === this.topics.cmdReq) {
        this.s.commands++;
        this.o.onCommand(payload);
      } else {
        this.log.warn({ topic }, 'message on an unexpected topic ignored');
      }
    } catch (e) {
      this.log.error({ topic, err: (e as Error).message }, 'handler failed on an incoming message');
    }
  }

  private safe(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.log.error({ err: (e as Error).message, what }, 'link callback failed');
    }
  }

  private publishRaw(topic: string, payload: string, retain: boolean): Promise<void> {
    const client = this.client;
    if (!client || !this.s.connected) return Promise.reject(new Error('not connected'));
    return client.publish(topic, payload, { qos: 1, retain }).then(
      () => {
        this.s.published++;
      },
      (err: Error) => {
        this.s.publishErrors++;
        throw err;
      },
    );
  }

  /**
   * Publishes a device message on its own channel with the channel's QoS/retain rules. Resolves on
   * PUBACK (which only means the broker has it, not that it is stored: see docs/durability.md).
   */
  publish(channel: DeviceChannel, payload: string): Promise<void> {
    return this.publishRaw(topicFor(this.o.device.id, channel), payload, channels[channel].retain);
  }

  /** (Re)publishes the retained inventory, e.g. when a peripheral came back with a new identity. */
  publishInventory(): void {
    if (!this.s.connected) return;
    let body: string;
    try {
      body = JSON.stringify(this.o.inventory(this.o.allocateSeq()));
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'cannot build inventory');
      return;
    }
    this.publishRaw(this.topics.inventory, body, true).catch((e) => this.log.warn({ err: (e as Error).message }, 'inventory publish failed'));
  }

  /** Graceful stop: a retained offline status with the reason (so no LWT), then disconnect. */
  async stop(reason = 'stopped'): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const client = this.client;
    if (!client) return;
    if (this.s.connected) {
      const offline = JSON.stringify(this.status(this.o.allocateSeq(), 'offline', reason));
      await Promise.race([
        this.publishRaw(this.topics.status, offline, true).catch(() => {}),
        new Promise((r) => setTimeout(r, STOP_PUBLISH_TIMEOUT_MS).unref()),
      ]);
    }
    this.s.connected = false;
    client.on('error', () => {});
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        client.destroy();
        resolve();
      }, STOP_PUBLISH_TIMEOUT_MS);
      t.unref();
      void client.end().then(() => {
        clearTimeout(t);
        resolve();
      });
    });
    this.client = null;
  }

  /** Drops the TCP connection without DISCONNECT, as a crash would (tests: the broker sends the LWT). */
  simulateConnectionLoss(): void {
    this.client?.destroy();
  }

  stats(): LinkStats {
    return { ...this.s, recentReconnectDelaysMs: [...this.s.recentReconnectDelaysMs] };
  }
}
