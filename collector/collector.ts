// startCollector: the service-account MQTT client that turns device messages into stored
// telemetry, acks and fleet state. Bad input is counted, dead-lettered and logged
// (rate-limited); nothing a device sends can crash it.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { connect, MqttClient, type IClientOptions, type IPublishPacket } from 'mqtt';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { randomUUID } from 'node:crypto';
import {
  CONTRACT_VERSION,
  TOPIC_ROOT,
  allDevices,
  commandRequest,
  partitionFilter,
  unrouteTopic,
  seqRanges,
  topicFor,
  type AckMessage,
  type CommandName,
  type CommandRequest,
  type CommandResult,
  type DeviceChannel,
} from '../protocol/index.js';
import { decodeDeviceMessageFast } from '../protocol/fast-decode.js';
import { CollectorDb, type DeadLetter } from './telemetry/collector-db.js';
import { collectorConfigSchema, type CollectorConfig, type CollectorConfigInput } from './config.js';
import { FleetState, type DeviceState, type FleetChange } from './fleet.js';
import type { CollectorClusterOptions, CollectorPartitions } from '../cluster/collector-partitions.js';
import { startClusterNode, type ClusterNode, type CollectorClusterStats } from './telemetry/cluster-ingest.js';
import { InfluxStore } from './telemetry/influx-store.js';
import { Ingest, type IngestPipeline, type IngestStats } from './telemetry/ingest.js';
import { LogLimiter } from '../logging/log-limiter.js';
import { SqliteStore } from './telemetry/sqlite-store.js';
import type { IngestRecord, TelemetryStore } from './telemetry/store.js';
import { isNetworkError } from './network-errors.js';

/** Why the collector refused or set aside a message: the protocol's reasons plus the store's. */
export type DeadLetterReason = import('../protocol/index.js').RejectReason | 'store-rejected';

export type CollectorStats = {
  /** MQTT messages that reached the collector. */
  messages: number;
  byChannel: Partial<Record<DeviceChannel, number>>;
  rejected: Partial<Record<DeadLetterReason, number>>;
  deadLetters: number;
  acks: { messages: number; seqs: number };
  mqtt: { connected: boolean; connects: number; disconnects: number };
  ingest: IngestStats;
  devices: { known: number; online: number };
  /** Arrival to durable commit of the oldest record of the last committed batch, ms (ingest lag). */
  lagMs: number;
  /** Points accepted and not yet written or spooled. */
  backlog: number;
  /** Cluster mode only: this node's partitions and what it dropped for not owning them. */
  cluster?: CollectorClusterStats;
  /** Routed cluster, owner: the partitions whose telemetry and events the broker now sends here (subscribed). */
  routedPartitions?: number[];
};

export type { CollectorClusterStats };

export type CollectorHandle = {
  close(): Promise<void>;
  stats(): CollectorStats;
  /** Current state of every known device (a copy: costly for a large fleet, see `device`). */
  fleet(): DeviceState[];
  /** Current state of one device (a copy), or undefined. */
  device(id: string): DeviceState | undefined;
  /**
   * Calls `fn` with every known device's current state. Not copies: cheap for a large fleet, but
   * `fn` must neither change the object nor keep it (clone what it keeps).
   */
  forEachDevice(fn: (d: Readonly<DeviceState>) => void): void;
  /**
   * Sends a remote command to a device (`cmd/req`, QoS 1; the broker keeps it for the agent's
   * persistent session when it is offline). The agent drops it after `timeoutMs`. Resolves with
   * the request once the broker took it; rejects when it refuses or cannot be reached in time.
   */
  sendCommand(device: string, command: RemoteCommandInput, timeoutMs: number): Promise<CommandRequest>;
  /** Command results (`cmd/res`) as they arrive, with the collector's arrival time. */
  onCommandResult(listener: (result: CommandResult, at: number) => void): () => void;
  /** Online/offline transitions (detectors subscribe here later). */
  onFleetChange(listener: (c: FleetChange) => void): () => void;
  /** New telemetry/event records, once durably stored (written or spooled); each record once. */
  onIngested(listener: (records: readonly IngestRecord[]) => void): () => void;
  /** Newest dead letters first. */
  deadLetters(limit?: number, reason?: DeadLetterReason): DeadLetter[];
  store: TelemetryStore;
  config: CollectorConfig;
  /** This node's partitions in cluster mode; null in a single-node installation. */
  partitions: CollectorPartitions | null;
};

/** What a caller gives sendCommand; `id` is generated when absent. */
export type RemoteCommandInput = { id?: string; name: CommandName; peripheral?: string; args?: Record<string, unknown> };

/** MQTT channels the collector subscribes to (QoS 1). */
export const SUBSCRIBED_CHANNELS: DeviceChannel[] = ['status', 'inventory', 'telemetry', 'event', 'cmd/res'];
/** Routed cluster: the channels an owner receives only for the partitions it owns (its durable work). */
const OWNED_CHANNELS: DeviceChannel[] = ['telemetry', 'event'];

const ACK_RANGES_PER_MESSAGE = 1000; // ackMessage allows at most 1000 ranges
const CLOSE_TIMEOUT_MS = 5000;

/**
 * `cluster`: run as one node of a collector cluster (docs/cluster.md): an owner stores, dedups and
 * acks only the devices of the partitions it holds leases for; an observer stores and acks nothing.
 * `connectStream`: opens a fresh connection to the broker at each (re)connect instead of dialing
 * `mqtt.url`; `fleetcare server` passes the in-process broker's `connectLocal` (no TCP).
 */
export async function startCollector(
  input: CollectorConfigInput,
  { log, cluster, connectStream }: { log: Logger; cluster?: CollectorClusterOptions; connectStream?: () => Duplex },
): Promise<CollectorHandle> {
  const config = collectorConfigSchema.parse(input);
  if (cluster?.mode === 'owner' && !config.influx)
    throw new Error(
      'cluster: an owner collector needs the shared telemetry store (influx); the embedded SQLite store would keep acked data on this node alone',
    );
  mkdirSync(config.dataDir, { recursive: true });
  const db = new CollectorDb(join(config.dataDir, 'collector.db'));
  db.trimDeadLetters(config.deadLetters.maxRows);

  const store: TelemetryStore = config.influx
    ? new InfluxStore(config.influx, log.child({ component: 'influx' }))
    : new SqliteStore(join(config.dataDir, 'telemetry.db'), log.child({ component: 'store' }));
  try {
    await store.init();
  } catch (e) {
    // Not fatal: batches are spooled (in cluster mode: retried), and the store's first successful write re-runs init.
    log.error(
      { store: store.kind, failure: (e as { failure?: string }).failure, error: (e as Error).message },
      cluster ? 'telemetry store not available at start; acking nothing until it is' : 'telemetry store not available at start; spooling until it is',
    );
  }

  const ingested = new Set<(records: readonly IngestRecord[]) => void>();
  let lagMs = 0;
  function announce(records: readonly IngestRecord[]): void {
    if (records.length) lagMs = Date.now() - records.reduce((m, r) => Math.min(m, r.arrivedAt), Infinity);
    for (const l of ingested) {
      try {
        l(records);
      } catch (e) {
        log.error({ err: (e as Error).stack ?? String(e) }, 'ingested-records listener failed');
      }
    }
  }
  if (!cluster) {
    // Records are durable when their dedup rows commit (after the store write, or with the spool
    // rows): announce them there, so a listener sees each new record once and never one still at risk.
    const commitRecords = db.commit;
    (db as { commit: CollectorDb['commit'] }).commit = (records, spoolJson, at) => {
      commitRecords(records, spoolJson, at);
      announce(records);
    };
  }

  const fleet = new FleetState(db, config.staleAfterMs, log.child({ component: 'fleet' }));
  fleet.start();

  const counters = {
    messages: 0,
    byChannel: {} as Partial<Record<DeviceChannel, number>>,
    rejected: {} as Partial<Record<DeadLetterReason, number>>,
    deadLetters: 0,
    acks: { messages: 0, seqs: 0 },
    mqtt: { connected: false, connects: 0, disconnects: 0 },
  };
  const rejectLog = new LogLimiter();

  function deadLetter(topic: string, payload: Buffer | string, reason: DeadLetterReason, detail: string): void {
    counters.rejected[reason] = (counters.rejected[reason] ?? 0) + 1;
    const now = Date.now();
    const text = typeof payload === 'string' ? payload : payload.subarray(0, config.deadLetters.excerptBytes).toString('utf8');
    try {
      db.addDeadLetter(now, topic, reason, detail.slice(0, 1000), text.slice(0, config.deadLetters.excerptBytes), config.deadLetters.maxRows);
      counters.deadLetters++;
    } catch (e) {
      log.error({ err: (e as Error).message }, 'could not store dead letter');
    }
    rejectLog.maybe(reason, now, (suppressed) =>
      log.warn(
        { reason, topic, detail: detail.slice(0, 300), total: counters.rejected[reason], suppressedSinceLast: suppressed },
        `message refused: ${reason}`,
      ),
    );
  }

  let client: MqttClient | null = null;
  const ackLog = new LogLimiter();
  // Acks at QoS 1 in both modes. In a cluster they are delivered live and never queued in Redis
  // (broker/engines.ts LiveAckRedisPersistence): one lost while the agent is away costs one
  // re-send, which the dedup answers with an ack again.
  const ackQos = 1;
  function sendAck(device: string, seqs: number[]): void {
    const ranges = seqRanges(seqs);
    for (let i = 0; i < ranges.length; i += ACK_RANGES_PER_MESSAGE) {
      const ack: AckMessage = { v: CONTRACT_VERSION, ranges: ranges.slice(i, i + ACK_RANGES_PER_MESSAGE), ts: Date.now() };
      counters.acks.messages++;
      client?.publish(topicFor(device, 'ack'), JSON.stringify(ack), { qos: ackQos }, (err) => {
        if (err)
          ackLog.maybe('ack', Date.now(), (suppressed) =>
            log.warn({ device, error: err.message, suppressed }, 'ack publish failed; the agent will re-send and be re-acked'),
          );
      });
    }
    counters.acks.seqs += seqs.length;
  }

  const batchOptions = {
    maxPoints: config.batch.maxPoints,
    maxDelayMs: config.batch.maxDelayMs,
    retryInitialMs: config.spool.retryInitialMs,
    retryMaxMs: config.spool.retryMaxMs,
    // Older than the raw retention, InfluxDB would refuse the points: such a clock is placed at arrival.
    clock: { maxBehindMs: config.influx ? config.influx.retentionDays * 86_400_000 : 0 },
  };
  const storeRejected = (r: IngestRecord, detail: string) =>
    deadLetter(topicFor(r.device, r.channel), JSON.stringify(r.message), 'store-rejected', `seq ${r.seq}: ${detail}`);

  // Cluster mode: partition leases, PostgreSQL dedup, no spool (collector/telemetry/cluster-ingest.ts).
  let node: ClusterNode | null = null;
  if (cluster) {
    try {
      node = await startClusterNode(cluster, store, { batch: batchOptions, sendAck, storeRejected, announce, log });
    } catch (e) {
      await store.close();
      db.close();
      throw e;
    }
  }
  const ingest: IngestPipeline =
    node?.ingest ??
    new Ingest(store, db, { ...batchOptions, spoolMaxBytes: config.spool.maxBytes }, sendAck, storeRejected, log.child({ component: 'ingest' }));

  const commandResultListeners = new Set<(result: CommandResult, at: number) => void>();

  // Cluster with partition routing: messages come as `fleet/p/{partition}/{device}/{channel}`.
  const routing = cluster?.routed && node ? node.partitions : null;
  const routedPartitions = new Set<number>();
  let closing = false;
  function onMessage(routedTopic: string, payload: Buffer, packet: IPublishPacket): void {
    if (closing) return; // not acked: the agent re-sends it to the next run
    counters.messages++;
    let topic = routedTopic;
    if (routing) {
      const r = unrouteTopic(routedTopic);
      if (r) {
        topic = r.topic;
        const device = topic.slice(TOPIC_ROOT.length + 1, topic.indexOf('/', TOPIC_ROOT.length + 1));
        if (device && routing.partitionOf(device) !== r.partition) {
          // Not acked, so not lost; but it stays so until the partition counts agree.
          return rejectLog.maybe('misrouted', Date.now(), (suppressed) =>
            log.error(
              { topic: routedTopic, expected: routing.partitionOf(device), partitions: routing.count, suppressed },
              'message routed to another partition: the broker nodes use another partition count than cluster.partitions; dropped unacked',
            ),
          );
        }
      }
    }
    try {
      const now = Date.now();
      // Fast path for telemetry/event, zod for the rest and for every error text (same answers).
      const d = decodeDeviceMessageFast(topic, payload, config.maxPayloadBytes);
      if (!d.ok) return deadLetter(topic, payload, d.reason, d.detail);
      const { channel } = d.value;
      counters.byChannel[channel] = (counters.byChannel[channel] ?? 0) + 1;
      const retained = packet.retain === true;
      switch (d.value.channel) {
        case 'status':
          fleet.status(d.value.message, now, retained);
          break;
        case 'inventory':
          fleet.inventory(d.value.message, now, retained);
          break;
        case 'telemetry': {
          const m = d.value.message;
          fleet.seen(m.device, m.seq, m.ts, now, retained);
          fleet.telemetry(m);
          ingest.accept({ channel: 'telemetry', device: m.device, seq: m.seq, arrivedAt: now, tags: fleet.tags(m.device), message: m });
          break;
        }
        case 'event': {
          const m = d.value.message;
          fleet.seen(m.device, m.seq, m.ts, now, retained);
          ingest.accept({ channel: 'event', device: m.device, seq: m.seq, arrivedAt: now, tags: fleet.tags(m.device), message: m });
          break;
        }
        case 'cmd/res': {
          const m = d.value.message;
          fleet.seen(m.device, m.seq, m.ts, now, retained);
          log.debug({ device: m.device, id: m.id, ok: m.ok }, 'command result');
          for (const l of commandResultListeners) {
            try {
              l(m, now);
            } catch (e) {
              log.error({ err: (e as Error).stack ?? String(e) }, 'command-result listener failed');
            }
          }
          break;
        }
      }
    } catch (e) {
      log.error({ topic, err: (e as Error).stack ?? String(e) }, 'internal error while handling a message; it stays unacked');
    }
  }

  const mqttLog = new LogLimiter(30_000);
  const mqttOptions: IClientOptions = {
    // Every cluster node has its own session (the same id would take the others' sessions over).
    clientId: cluster && !config.mqtt.clientId.endsWith(`-${cluster.nodeId}`) ? `${config.mqtt.clientId}-${cluster.nodeId}` : config.mqtt.clientId,
    username: config.mqtt.username,
    password: config.mqtt.password,
    // In cluster mode a clean session: the agent's outbox and the app-level ack already bring back
    // whatever a collector missed (re-sent until acked), and a persistent session on the Redis
    // broker tier would cost an enqueue, an update and a clear in Redis per message per collector.
    clean: cluster !== undefined,
    protocolVersion: 4,
    reconnectPeriod: config.mqtt.reconnectPeriodMs,
    connectTimeout: 10_000,
    keepalive: 30,
    // mqtt.js logs through `debug` ~10 times per message even when disabled (arguments built,
    // then dropped); the collector logs what matters itself.
    log: () => {},
    // A cluster's other broker nodes: mqtt.js moves to the next at each reconnect.
    ...(config.mqtt.urls ? { servers: brokerRotation(config.mqtt.url, config.mqtt.urls) } : {}),
  };
  client = connectStream ? new MqttClient(connectStream, mqttOptions) : connect(config.mqtt.url, mqttOptions);
  // Backpressure: mqtt.js reads the next packet only after this callback, so a slow store
  // slows the broker's delivery to us instead of growing our memory.
  const highWater = config.batch.maxPoints * 4;
  client.handleMessage = (_packet, done) => {
    if (ingest.backlog < highWater) return done();
    ingest.belowBacklog(highWater).then(
      () => done(),
      () => done(),
    );
  };
  client.on('message', onMessage);
  client.on('connect', (ack) => {
    counters.mqtt.connected = true;
    counters.mqtt.connects++;
    mqttLog.reset('offline');
    log.info({ url: config.mqtt.url, clientId: config.mqtt.clientId, sessionPresent: ack.sessionPresent }, 'collector connected to broker');
  });
  client.on('close', () => {
    if (counters.mqtt.connected) counters.mqtt.disconnects++;
    counters.mqtt.connected = false;
  });
  client.on('offline', () => mqttLog.maybe('offline', Date.now(), () => log.warn({ url: config.mqtt.url }, 'broker connection lost; reconnecting')));
  client.on('error', (e) =>
    mqttLog.maybe('error:' + e.message, Date.now(), (suppressed) =>
      // A broker node that died or restarted (ECONNRESET, ECONNREFUSED…): mqtt.js reconnects, to
      // the next node in a cluster; a warning like 'offline', not an error of ours.
      isNetworkError(e)
        ? log.warn({ url: config.mqtt.url, error: e.message, suppressed }, 'broker connection lost; reconnecting')
        : log.error(
            { url: config.mqtt.url, error: e.message, suppressed },
            /not authori[sz]ed|bad user/i.test(e.message) ? 'broker refused the service account' : 'broker connection error',
          ),
    ),
  );

  // Subscribe once; mqtt.js re-subscribes by itself after a reconnect without a session.
  let filters = Object.fromEntries(SUBSCRIBED_CHANNELS.map((c) => [allDevices(c), { qos: 1 as const }]));
  if (routing) {
    // Routed cluster (docs/cluster.md): status, inventory and command results of every partition
    // (few; every node keeps the whole fleet's online state and sees its commands' results), and an
    // owner gets telemetry and events only of the partitions it owns, from when it takes them.
    const everyPartition = routing.mode === 'owner' ? (['status', 'inventory', 'cmd/res'] as const) : SUBSCRIBED_CHANNELS;
    const ownedFilters = (ps: number[]) => ps.flatMap((p) => OWNED_CHANNELS.map((c) => partitionFilter(p, c)));
    const hearsSince = new Map<number, number>();
    const subscribe = (ps: number[]) =>
      client!.subscribe(ownedFilters(ps), { qos: 1 }, (err) => {
        if (err) log.error({ partitions: ps, error: err.message }, 'subscribing to acquired partitions failed');
        else for (const p of ps) if (hearsSince.has(p)) routedPartitions.add(p);
      });
    if (routing.mode === 'owner') {
      routing.onAcquired((ps) => {
        const now = Date.now();
        for (const p of ps) hearsSince.set(p, now);
        if (!closing) subscribe(ps);
      });
      routing.onReleased((ps) => {
        for (const p of ps) hearsSince.delete(p);
        if (closing) return; // the session ends with the client
        client!.unsubscribe(ownedFilters(ps), (err) => {
          if (err) log.warn({ partitions: ps, error: err.message }, 'unsubscribing from released partitions failed');
          else for (const p of ps) if (!hearsSince.has(p)) routedPartitions.delete(p);
        });
      });
      fleet.hearsSince = (device) => hearsSince.get(routing.partitionOf(device)) ?? null;
      const now = Date.now();
      for (const p of routing.owned()) hearsSince.set(p, now);
    }
    filters = Object.fromEntries(everyPartition.map((c) => [partitionFilter('+', c), { qos: 1 as const }]));
    if (hearsSince.size) subscribe([...hearsSince.keys()]);
  }
  const subscribed = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 10_000);
    client!.subscribe(filters, (err) => {
      clearTimeout(timer);
      if (err) log.error({ error: err.message }, 'subscription failed');
      resolve(!err);
    });
  });
  if (!(await subscribed)) log.warn({ url: config.mqtt.url }, 'not subscribed yet (broker unreachable?); continuing, mqtt.js keeps trying');
  else log.info({ filters: Object.keys(filters), store: store.kind }, 'collector subscribed');

  const pruneTimer = setInterval(() => {
    const before = Date.now() - config.dedupRetentionDays * 86_400_000;
    if (node) {
      void node.pruneReceived(before).then(
        (n) => n && log.info({ pruned: n }, 'pruned old dedup rows'),
        (e: Error) => log.error({ err: e.message }, 'dedup prune failed'),
      );
      return;
    }
    try {
      const n = db.pruneReceived(before);
      if (n) log.info({ pruned: n }, 'pruned old dedup rows');
    } catch (e) {
      log.error({ err: (e as Error).message }, 'dedup prune failed');
    }
  }, 3_600_000);
  pruneTimer.unref();

  return {
    config,
    store,
    partitions: node?.partitions ?? null,
    fleet: () => fleet.all(),
    forEachDevice(fn) {
      for (const d of fleet.values()) fn(d);
    },
    sendCommand(device, command, timeoutMs) {
      const req = commandRequest.parse({
        v: CONTRACT_VERSION,
        id: command.id ?? randomUUID(),
        name: command.name,
        peripheral: command.peripheral,
        args: command.args ?? {},
        expires: Date.now() + timeoutMs,
      });
      const topic = topicFor(device, 'cmd/req');
      return new Promise<CommandRequest>((resolve, reject) => {
        if (closing || !client) return reject(new Error('collector is stopping'));
        const timer = setTimeout(
          () => reject(new Error(`the broker did not take the command within ${timeoutMs} ms (connected: ${counters.mqtt.connected})`)),
          timeoutMs,
        );
        client.publish(topic, JSON.stringify(req), { qos: 1 }, (err) => {
          clearTimeout(timer);
          if (err) {
            log.warn({ device, id: req.id, name: req.name, error: err.message }, 'command not published');
            reject(err);
          } else {
            log.info({ device, id: req.id, name: req.name, peripheral: req.peripheral }, 'command sent');
            resolve(req);
          }
        });
      });
    },
    onCommandResult(listener) {
      commandResultListeners.add(listener);
      return () => commandResultListeners.delete(listener);
    },
    device: (id: string) => {
      const d = fleet.get(id);
      return d ? structuredClone(d) : undefined;
    },
    onFleetChange(listener) {
      fleet.on('change', listener);
      return () => fleet.off('change', listener);
    },
    onIngested(listener) {
      ingested.add(listener);
      return () => ingested.delete(listener);
    },
    deadLetters: (limit, reason) => db.deadLetters(limit, reason),
    stats: () => {
      let known = 0;
      let online = 0;
      for (const d of fleet.values()) {
        known++;
        if (d.online) online++;
      }
      return {
        ...structuredClone(counters),
        ingest: structuredClone(ingest.stats),
        devices: { known, online },
        lagMs,
        backlog: ingest.backlog,
        ...(node ? { cluster: node.stats() } : {}),
        ...(routing?.mode === 'owner' ? { routedPartitions: [...routedPartitions].sort((a, b) => a - b) } : {}),
      };
    },
    async close() {
      if (closing) return;
      closing = true;
      clearInterval(pruneTimer);
      fleet.stop();
      await ingest.close(CLOSE_TIMEOUT_MS);
      // Graceful end lets the last acks go out.
      await new Promise<void>((r) => {
        const t = setTimeout(() => client!.end(true, () => r()), 2000);
        client!.end(false, () => {
          clearTimeout(t);
          r();
        });
      });
      // Hands the partitions back at once (after the release hooks), so they move without waiting for the lease.
      await node?.stop();
      fleet.flush();
      await store.close();
      db.close();
      log.info('collector stopped');
    },
  };
}

/** `url` first, then the other nodes of `urls` in their order: mqtt.js's `servers` rotation. */
function brokerRotation(url: string, urls: string[]): Array<{ host: string; port: number; protocol: 'mqtt' | 'mqtts' }> {
  const start = urls.indexOf(url);
  const ordered = start < 0 ? [url, ...urls] : [...urls.slice(start), ...urls.slice(0, start)];
  return ordered.map((u) => {
    const parsed = new URL(u);
    return { host: parsed.hostname, port: Number(parsed.port), protocol: parsed.protocol === 'mqtts:' ? 'mqtts' : 'mqtt' };
  });
}
