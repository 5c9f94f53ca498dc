// The fleetcare MQTT broker (docs/broker.md): aedes on TCP, TLS and optionally WebSocket, every
// client authenticated against the registry (SQLite; PostgreSQL in a cluster), the ACL of acl.ts, payload/rate limits,
// throttled failed logins, revocation of changed credentials, and aedes built from the engines
// of engines.ts (in memory, or Redis in cluster mode).
import { Aedes, type AuthenticateError, type Client, type PublishPacket } from 'aedes';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { deviceId } from '../protocol/index.js';
import { mayLeaveWill, mayPublish, maySubscribe } from './acl.js';
import { brokerConfigSchema, type BrokerConfigInput } from './config.js';
import { LoginThrottle, OversizedLetters, PublishRateLimit, type OversizedLetter, type RateState } from './limits.js';
import { createEngines } from './engines.js';
import { PartitionRouter, claimPartitionCount } from '../cluster/partition-routing.js';
import { SINK_TOPIC } from './flood-safe-mq.js';
import { isRepeatedForward, replaceHighWaterDedupe } from './forward-dedupe.js';
import { linkPair } from './local-link.js';
import { coalesceWrites } from './write-coalescing.js';
import { DeviceRegistry, type Principal } from './registry.js';
import type { RegistryStateStore } from '../state/registry.js';
import { SqliteRegistryState } from '../state/sqlite/registry.js';

export type BrokerStats = {
  /** Authenticated MQTT clients. */
  connections: number;
  /** Open transport connections, including ones not (yet) authenticated. */
  sockets: number;
  clients: { device: number; collector: number; viewer: number; anonymous: number };
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  authFailures: number;
  loginsThrottled: number;
  aclDenials: number;
  rateLimited: number;
  rateLimitDisconnects: number;
  oversized: number;
  /** Live sessions closed because their login's credentials were rotated, removed or disabled. */
  revokedSessions: number;
  /** Publishes waiting in aedes' mqemitter queue (grows under a flood). */
  mqQueued: number;
};

export type BrokerHandle = {
  /** Bound TCP port (the real one when the config said 0). */
  port: number;
  tlsPort?: number;
  wsPort?: number;
  /** This node's aedes id (in cluster mode the configured `nodeId`). */
  nodeId: string;
  /** The embedded registry (SQLite in the data dir); throws on a broker whose logins are in a shared store (cluster). */
  readonly registry: DeviceRegistry;
  /** What logins are verified against and revocations read from: the embedded registry, or the cluster's PostgreSQL. */
  logins: RegistryStateStore;
  stats(): BrokerStats;
  /** Oversized publishes refused (newest first), kept as dead letters with the head of the payload. */
  oversized(limit?: number): OversizedLetter[];
  /**
   * A new MQTT connection to this broker from inside the process, without TCP (local-link.ts):
   * returns the client's end, to give an MQTT client (mqtt.js `new MqttClient(() => broker.connectLocal(), opts)`).
   * The client still sends CONNECT with its credentials and is treated like any other.
   */
  connectLocal(): Duplex;
  close(): Promise<void>;
};

type Session = {
  principal: Principal;
  /** The login name (device id or service account); null for anonymous clients. */
  login: string | null;
  /** The registry's credential-change cursor when this login was verified (see revokeChanged). */
  verifiedAt: number;
  anonymous: boolean;
  rate: RateState;
  /** True while the client is over its rate (logs once per episode, not per message). */
  limited: boolean;
};

/** CONNACK return codes of MQTT 3.1.1. */
const IDENTIFIER_REJECTED = 2;
const BAD_CREDENTIALS = 4;
const NOT_AUTHORIZED = 5;

function connackError(returnCode: number, message: string): AuthenticateError {
  const err = new Error(message) as AuthenticateError;
  err.returnCode = returnCode;
  return err;
}

/**
 * `logins`: a shared registry store (the cluster's PostgreSQL, state/postgres/registry.ts), which
 * the broker then owns and closes; without it the broker opens the SQLite registry of its data dir.
 */
export async function startBroker(input: BrokerConfigInput, { log, logins: shared }: { log: Logger; logins?: RegistryStateStore }): Promise<BrokerHandle> {
  const config = brokerConfigSchema.parse(input);
  const registry = shared ? null : DeviceRegistry.open(config.dataDir, { tokenHash: config.tokenHash, scryptCost: config.scryptCost });
  const logins: RegistryStateStore = shared ?? new SqliteRegistryState(registry!);
  const engines = createEngines(config, log);

  const counters = {
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    authFailures: 0,
    loginsThrottled: 0,
    aclDenials: 0,
    rateLimited: 0,
    rateLimitDisconnects: 0,
    oversized: 0,
    revokedSessions: 0,
  };
  const sessions = new WeakMap<Client, Session>();
  const sockets = new Set<Duplex>();
  const forgetSocket = function (this: Duplex) {
    sockets.delete(this);
  };
  const rateLimit = new PublishRateLimit(config.publishRate);
  const { perClient, perAddress, maxEntries } = config.loginThrottle;
  const clientThrottle = new LoginThrottle(perClient, maxEntries);
  const addressThrottle = new LoginThrottle(perAddress, maxEntries);
  // The largest packet worth buffering: the payload limit plus a maximal topic and header.
  const maxPacketBytes = config.maxPayloadBytes + 65_535 + 16;
  const oversizedLetters = new OversizedLetters();

  const denyAcl = (client: Client | null, what: string, topic: string, reason: string) => {
    counters.aclDenials++;
    log.warn({ client: client?.id, [what]: topic, reason }, `${what} denied`);
  };

  // Cluster: the node each client id last connected to, from every node's `$SYS/<node>/new/clients`
  // (see authorizePublish: a dead node's will). One short string per device.
  const lastNodeOf = new Map<string, string>();
  // Cluster with partition routing: device messages go to `fleet/p/{partition}/…` (docs/cluster.md).
  const router = config.cluster?.partitions ? new PartitionRouter(config.cluster.partitions) : null;

  const aedes = new Aedes({
    mq: engines.mq,
    persistence: engines.persistence,
    ...engines.aedesOptions,
    // The mq enforces the limit (FloodSafeMq); aedes also sizes each connection's listener cap by it.
    concurrency: config.concurrency,
    connectTimeout: config.connectTimeoutMs,

    authenticate(client, username, password, callback) {
      const remote = remoteOf(client);
      const clientKey = username ?? client.id;
      const lockedFor = Math.max(clientThrottle.lockedFor(clientKey), addressThrottle.lockedFor(remote));
      if (lockedFor > 0) {
        counters.loginsThrottled++;
        log.warn({ client: client.id, username, remote, retryInMs: lockedFor }, 'login refused: throttled after failed logins');
        return callback(connackError(NOT_AUTHORIZED, 'throttled'), false);
      }
      const refuse = (code: number, reason: string) => {
        counters.authFailures++;
        clientThrottle.fail(clientKey);
        addressThrottle.fail(remote);
        log.warn({ client: client.id, username, remote, reason }, 'login refused');
        callback(connackError(code, reason), false);
      };
      const admit = (principal: Principal, anonymous: boolean, verifiedAt: number) => {
        if (principal.kind === 'device' && client.id !== principal.id) {
          return refuse(IDENTIFIER_REJECTED, 'client id must equal the device id');
        }
        const will = (client as unknown as { _will?: PublishPacket | null })._will;
        if (will) {
          const d = mayLeaveWill(principal, { topic: will.topic, qos: will.qos, retain: will.retain });
          const reason = !d.ok ? d.reason : will.payload.length > config.maxPayloadBytes ? 'will payload too large' : null;
          if (reason) {
            denyAcl(client, 'will', will.topic, reason);
            return callback(connackError(NOT_AUTHORIZED, `will refused: ${reason}`), false);
          }
        }
        clientThrottle.succeed(clientKey);
        replaceHighWaterDedupe(client);
        sessions.set(client, {
          principal,
          login: anonymous ? null : (username ?? null),
          verifiedAt,
          anonymous,
          rate: rateLimit.newState(),
          limited: false,
        });
        log.debug({ client: client.id, kind: principal.kind, anonymous, remote }, 'client authenticated');
        callback(null, true);
      };

      if (username === undefined || username === '') {
        if (!config.allowAnonymous) return refuse(NOT_AUTHORIZED, 'no credentials (anonymous access is off)');
        if (!deviceId.safeParse(client.id).success) return refuse(IDENTIFIER_REJECTED, 'anonymous client id is not a valid device id');
        return admit({ kind: 'device', id: client.id, site: null, tenant: null }, true, 0);
      }
      if (!password || password.length === 0) return refuse(BAD_CREDENTIALS, 'no password');
      // The credential-change cursor comes with the token's hash (one read): a later change closes the session again.
      logins.login(username, password).then(
        ({ principal, cursor: verifiedAt }) => {
          forgetPassword(client, password);
          if (principal) admit(principal, false, verifiedAt);
          else refuse(BAD_CREDENTIALS, 'unknown user, wrong token or disabled device');
        },
        (err: Error) => {
          // CONNACK 3 (server unavailable): the client retries, here or on another node.
          log.warn({ client: client.id, err: err.message }, 'registry lookup failed; login refused for now');
          callback(connackError(3, 'registry unavailable'), false);
        },
      );
    },

    authorizePublish(client, packet, callback) {
      // A will a dead cluster node left behind, published by this surviving node: it was checked
      // at CONNECT, but it is stale if its device has a newer session (here, or on another node).
      const willOf = (packet as PublishPacket & { brokerId?: string }).brokerId;
      if (willOf !== undefined && willOf !== aedes.id) {
        const movedTo = lastNodeOf.get((packet as PublishPacket & { clientId?: string }).clientId ?? '');
        if (client || (movedTo !== undefined && movedTo !== willOf)) {
          log.info(
            { client: (packet as { clientId?: string }).clientId, deadNode: willOf, now: client ? aedes.id : movedTo },
            "dead node's will dropped: the client has a newer session",
          );
          sink(packet);
        } else {
          log.info({ client: (packet as { clientId?: string }).clientId, deadNode: willOf }, 'publishing the will of a client whose broker node died');
          router?.route(packet);
        }
        return callback(null);
      }
      // The last will, published as the client goes away, was checked at CONNECT; obsolete wills
      // of earlier runs come with no client and were checked when they were stored.
      if (!client || packet === (client as unknown as { will?: unknown }).will) {
        router?.route(packet);
        return callback(null);
      }
      const session = sessions.get(client);
      if (!session) return callback(new Error('not authenticated'));
      const size = packet.payload.length;
      if (size > config.maxPayloadBytes) {
        counters.oversized++;
        oversizedLetters.add({ client: client.id, topic: packet.topic, bytes: size, limit: config.maxPayloadBytes }, packet.payload as Buffer);
        log.warn({ client: client.id, topic: packet.topic, bytes: size, limit: config.maxPayloadBytes }, 'oversized payload: disconnecting');
        return callback(new Error(`payload of ${size} bytes over the ${config.maxPayloadBytes} limit`));
      }
      const d = mayPublish(session.principal, { topic: packet.topic, qos: packet.qos, retain: packet.retain });
      if (!d.ok) {
        denyAcl(client, 'publish', packet.topic, d.reason);
        return callback(new Error(`publish denied: ${d.reason}`));
      }
      // The limit is against a misbehaving device. The collector's own publishes (an ack to every
      // device that reports, commands) grow with the fleet: at 1,000 devices every 5 s they pass
      // 200/s, and dropping them (or disconnecting the collector) stalls the whole fleet's ingest.
      const verdict = session.principal.kind === 'device' ? rateLimit.check(session.rate) : 'ok';
      if (verdict !== 'ok') {
        counters.rateLimited++;
        if (verdict === 'disconnect') {
          counters.rateLimitDisconnects++;
          log.warn({ client: client.id, windowMs: config.publishRate.windowMs }, 'client keeps flooding: disconnecting');
          return callback(new Error('publish rate limit: flooding'));
        }
        if (!session.limited) log.warn({ client: client.id, perSecond: config.publishRate.perSecond }, 'publish rate limit reached: dropping');
        session.limited = true;
        sink(packet);
        return callback(null);
      }
      session.limited = false;
      counters.messagesIn++;
      counters.bytesIn += size;
      router?.route(packet);
      callback(null);
    },

    authorizeSubscribe(client, sub, callback) {
      const session = client ? sessions.get(client) : undefined;
      if (!session) return callback(new Error('not authenticated'), null);
      const d = maySubscribe(session.principal, sub.topic);
      if (!d.ok) {
        denyAcl(client, 'subscribe', sub.topic, d.reason);
        return callback(null, null); // SUBACK 0x80 for this filter; the connection stays
      }
      // The QoS was already capped at 1 in the SUBSCRIBE packet (capSubscribeQos), so the SUBACK
      // grants what the broker really gives (MQTT-3.8.4-5).
      callback(null, sub);
    },

    authorizeForward(client, packet) {
      if (isRepeatedForward(client, packet as PublishPacket & { brokerId?: string; brokerCounter?: number })) return null;
      counters.messagesOut++;
      counters.bytesOut += packet.payload.length;
      return packet;
    },
  });
  // aedes 1.2.0 keeps its connected clients in `clients` (public in JS, not in the typings).
  const internals = aedes as unknown as { clients: Record<string, Client> };
  engines.mq.on('$SYS/+/new/clients', (packet, done) => {
    const p = packet as PublishPacket;
    lastNodeOf.set(p.payload.toString(), p.topic.split('/')[1]);
    done();
  });

  aedes.on('clientError', (client: Client, err: Error) => log.info({ client: client.id, err: err.message }, 'client error'));
  aedes.on('connectionError', (_client: Client, err: Error) => log.debug({ err: err.message }, 'connection error before CONNECT'));
  (aedes as unknown as NodeJS.EventEmitter).on('error', (err: Error) => log.error({ err: err.message }, 'broker error'));
  // The registry's newest credential change when this node started: changes after it revoke sessions.
  let cursor = 0;
  try {
    await engines.ready(config.cluster?.startTimeoutMs ?? 0);
    if (router && engines.redis) await claimPartitionCount(engines.redis, router.count);
    cursor = await logins.credentialChangeCursor();
    await aedes.listen();
  } catch (err) {
    await engines.close({ mq: true });
    await logins.close();
    throw err;
  }
  if (config.cluster) {
    // aedes' first heartbeat comes one interval after listen(); until the other nodes hear one,
    // they take the wills of this node's new clients for a dead node's and publish them (a
    // false offline). One heartbeat now, before any listener accepts a client, closes that gap.
    aedes.publish({ topic: `$SYS/${aedes.id}/heartbeat`, payload: Buffer.from(aedes.id, 'utf8'), cmd: 'publish', qos: 0, dup: false, retain: false }, () => {});
  }

  const onConnection = (conn: Duplex, remote: string | undefined, req?: IncomingMessage) => {
    sockets.add(conn);
    conn.once('close', forgetSocket);
    // WebSocket streams have no remoteAddress of their own; net and TLS sockets do.
    if (remote !== undefined && (conn as Partial<Socket>).remoteAddress === undefined) (conn as { fleetcareRemote?: string }).fleetcareRemote = remote;
    coalesceWrites(conn);
    const client = aedes.handle(conn as Socket, req);
    adaptParser(client, guardedParseLength, resetParserState);
  };
  // One function shared by every client's parser (no per-connection closure).
  const guardedParseLength = makeGuardedParseLength(maxPacketBytes, (client, bytes) => {
    counters.oversized++;
    oversizedLetters.add({ client: client.id ?? null, remote: remoteOf(client), bytes, limit: maxPacketBytes });
    log.warn({ client: client.id ?? undefined, remote: remoteOf(client), bytes, limit: maxPacketBytes }, 'oversized packet: disconnecting before buffering it');
  });

  const listen = (server: NetServer | HttpServer, port: number, what: string) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host: config.host, backlog: config.listenBacklog }, () => {
        server.off('error', reject);
        server.on('error', (err) => log.error({ err: err.message, listener: what }, 'listener error'));
        resolve((server.address() as AddressInfo).port);
      });
    });

  const servers: Array<NetServer | HttpServer> = [];
  const wss: WebSocketServer[] = [];
  let handle: BrokerHandle;
  try {
    const tcp = createNetServer((s) => onConnection(s, undefined));
    servers.push(tcp);
    const port = await listen(tcp, config.port, 'tcp');
    handle = {
      port,
      nodeId: aedes.id,
      get registry(): DeviceRegistry {
        if (!registry) throw new Error('this broker checks logins against the shared registry store (cluster): provision through `logins`');
        return registry;
      },
      logins,
      stats,
      oversized: (limit?: number) => oversizedLetters.list(limit),
      connectLocal,
      close,
    };

    if (config.tlsCertPath && config.tlsKeyPath) {
      const tls = createTlsServer({ cert: readFileSync(config.tlsCertPath), key: readFileSync(config.tlsKeyPath) }, (s) => onConnection(s, undefined));
      tls.on('tlsClientError', (err, s) => log.info({ err: err.message, remote: s.remoteAddress }, 'TLS handshake failed'));
      servers.push(tls);
      handle.tlsPort = await listen(tls, config.tlsPort, 'tls');
    }
    if (config.wsPort !== undefined) {
      const http = createHttpServer((_req, res) => res.writeHead(426).end('MQTT over WebSocket only\n'));
      const ws = new WebSocketServer({ server: http, maxPayload: maxPacketBytes });
      ws.on('connection', (socket, req) => {
        const stream = createWebSocketStream(socket);
        stream.on('error', () => {}); // aedes handles the client side; a broken socket must not throw
        onConnection(stream, req.socket.remoteAddress, req);
      });
      servers.push(http);
      wss.push(ws);
      handle.wsPort = await listen(http, config.wsPort, 'ws');
    }
  } catch (err) {
    await closeAll();
    throw err;
  }

  const sweep = setInterval(() => {
    clientThrottle.sweep();
    addressThrottle.sweep();
  }, 60_000);
  sweep.unref();

  // Revocation: credentials changed by any process (the CLI writes the registry) close the live
  // sessions verified before the change, on every node (each polls the shared registry), and
  // drop the persistent session, so a rotated, removed or disabled login stops receiving at once.
  let revoking: Promise<void> = Promise.resolve();
  let polling = false;
  let pollFailing = false;
  const registryPoll = setInterval(() => {
    if (polling) return; // a slow store: one poll at a time
    polling = true;
    logins
      .credentialChangesSince(cursor)
      .then(
        (changes) => {
          if (pollFailing) log.info('registry reachable again; revocations resume');
          pollFailing = false;
          if (changes.length === 0) return;
          cursor = Math.max(cursor, ...changes.map((c) => c.seq));
          revoking = revoking.then(() => revokeChanged(changes)).catch((err: Error) => log.error({ err: err.message }, 'revocation failed'));
        },
        (err: Error) => {
          if (closing) return; // the store closes with the broker
          // Once per outage: the poll retries every registryPollMs and catches up from its cursor.
          if (!pollFailing) log.warn({ err: err.message }, 'registry poll failed; revocations wait until it is reachable');
          pollFailing = true;
        },
      )
      .finally(() => (polling = false));
  }, config.registryPollMs);
  registryPoll.unref();

  async function revokeChanged(changes: Array<{ seq: number; name: string }>): Promise<void> {
    for (const { seq, name } of changes) {
      const victims: Client[] = [];
      for (const id in internals.clients) {
        const c = internals.clients[id];
        const s = sessions.get(c);
        if (s && s.login === name && s.verifiedAt < seq) victims.push(c);
      }
      // The offline session under the login's own name goes too, except for a service account
      // that still exists: its owner logs in again at once with the new token (the server's
      // in-process collector does, at every start), and may already be subscribing.
      const existingService = victims.length === 0 && (await logins.listServiceAccounts()).some((a) => a.name === name);
      const dropped = new Set<string>(existingService ? [] : [name]);
      for (const c of victims) {
        counters.revokedSessions++;
        log.warn({ client: c.id, login: name }, 'credentials changed: closing the session');
        await new Promise<void>((r) => c.close(() => r()));
        dropped.add(c.id);
      }
      for (const clientId of dropped) await dropSession(clientId, seq);
    }
  }

  /** Forgets a client's persistent session: its subscriptions and its queued messages. */
  async function dropSession(clientId: string, seq: number): Promise<void> {
    if (internals.clients[clientId]) return; // a newer session, verified after the change
    // In a cluster every node sees the change: one of them drops the shared session.
    if (engines.redis && (await engines.redis.set(`fleetcare:revoked:${seq}:${clientId}`, aedes.id, 'PX', 600_000, 'NX')) !== 'OK') return;
    const who = { id: clientId };
    await engines.persistence.cleanSubscriptions(who);
    // Through the persistence's own ack path, as aedes empties a clean session's queue at CONNECT.
    let messageId = 0;
    for (let round = 0; round < 1000; round++) {
      const queued: Array<{ brokerId: string; brokerCounter: number; messageId?: number }> = [];
      for await (const p of engines.persistence.outgoingStream(who)) queued.push(p);
      if (queued.length === 0) break;
      for (const p of queued) {
        messageId = (messageId % 65_535) + 1;
        const packet = { ...p, messageId };
        await engines.persistence.outgoingUpdate(who, packet);
        await engines.persistence.outgoingClearMessageId(who, packet);
      }
    }
    log.info({ client: clientId }, 'persistent session dropped after a credential change');
  }

  if (config.allowAnonymous) log.warn('anonymous MQTT access is ON (lab use only): clients without credentials act as the device named by their client id');
  log.info({ host: config.host, port: handle.port, tlsPort: handle.tlsPort, wsPort: handle.wsPort }, 'broker listening');

  function stats(): BrokerStats {
    const clients = { device: 0, collector: 0, viewer: 0, anonymous: 0 };
    for (const id in internals.clients) {
      const s = sessions.get(internals.clients[id]);
      if (!s) continue;
      if (s.anonymous) clients.anonymous++;
      else if (s.principal.kind === 'device') clients.device++;
      else clients[s.principal.role]++;
    }
    return { connections: aedes.connectedClients, sockets: sockets.size, clients, ...counters, mqQueued: engines.mq.length };
  }

  function connectLocal(): Duplex {
    const [brokerEnd, clientEnd] = linkPair();
    // A client reconnecting while the broker closes sees its connection close at once, as with TCP.
    if (closing) return clientEnd.destroy();
    onConnection(brokerEnd, undefined);
    // The client's writes too (its PUBACKs, the collector's acks): one push per turn, one parse pass at the broker.
    coalesceWrites(clientEnd);
    return clientEnd;
  }

  let closing: Promise<void> | null = null;
  function close(): Promise<void> {
    closing ??= (async () => {
      clearInterval(sweep);
      clearInterval(registryPoll);
      await revoking;
      await closeAll();
      log.info('broker closed');
    })();
    return closing;
  }

  async function closeAll(): Promise<void> {
    const stopped = servers.map((s) => new Promise<void>((r) => (s.listening ? s.close(() => r()) : r())));
    for (const w of wss) w.close();
    await new Promise<void>((r) => aedes.close(() => r()));
    for (const s of sockets) s.destroy();
    await Promise.all(stopped);
    await engines.close();
    await logins.close();
  }

  return handle;
}

/**
 * Turns a publish the broker acknowledged but does not forward into one that goes nowhere (aedes
 * lets authorizePublish change the packet; see SINK_TOPIC).
 */
function sink(packet: PublishPacket): void {
  packet.topic = SINK_TOPIC;
  packet.retain = false;
}

/**
 * The broker delivers at most QoS 1 (fleet channels are QoS 1): a SUBSCRIBE asking for 2 is
 * granted 1. aedes 1.2.0 builds the SUBACK from the requested QoS whatever authorizeSubscribe
 * returns, so the request itself is capped before aedes handles it (a parser listener that runs
 * before aedes' own).
 */
function capSubscribeQos(packet: { cmd?: string; subscriptions?: Array<{ qos: number }> }): void {
  if (packet.cmd !== 'subscribe' || !packet.subscriptions) return;
  for (const s of packet.subscriptions) if (s.qos > 1) s.qos = 1;
}

/** mqtt-packet keeps the CONNECT packet (`parser.settings`) for the whole connection: drop the token from it. */
function forgetPassword(client: Client, password: Buffer): void {
  password.fill(0);
  const settings = (client as unknown as { _parser?: { settings?: { password?: unknown } } })._parser?.settings;
  if (settings) settings.password = undefined;
}

function remoteOf(client: Client): string {
  const conn = client.conn as Partial<Socket> & { fleetcareRemote?: string };
  return conn.remoteAddress ?? conn.fleetcareRemote ?? 'unknown';
}

/**
 * Refuses a packet as soon as its header announces more than `limit` bytes, before
 * mqtt-packet buffers the body (aedes has no such limit: a 200 MB PUBLISH would be held in memory).
 */
function makeGuardedParseLength(limit: number, onOversize: (client: Client, bytes: number) => void) {
  let original: ((this: ParserInternals) => boolean) | null = null;
  return function guardedParseLength(this: ParserInternals): boolean {
    // The prototype's own method (mqtt-packet's Parser), looked up once.
    original ??= Object.getPrototypeOf(this)._parseLength as (this: ParserInternals) => boolean;
    const ok = original.call(this);
    if (ok && this.packet.length > limit) {
      onOversize(this.client, this.packet.length);
      this._emitError(new Error(`packet of ${this.packet.length} bytes over the ${limit} limit`));
      return false;
    }
    return ok;
  };
}

/**
 * Per-client parser adjustments: the size guard, and a plain BufferList instead of mqtt-packet's
 * default BufferListStream (a full Duplex stream per connection, ~1 KB, whose stream side is never
 * used). Both swaps use shared functions, so they add no per-connection closures.
 */
function adaptParser(client: Client, guarded: (this: ParserInternals) => boolean, resetState: (this: ParserInternals) => void): void {
  const parser = (client as unknown as { _parser: ParserInternals })._parser;
  if (!parser || typeof parser._parseLength !== 'function' || typeof parser._resetState !== 'function') {
    throw new Error('mqtt-packet internals changed: cannot guard packet size');
  }
  parser._parseLength = guarded;
  parser.prependListener('packet', capSubscribeQos);
  const List = (parser._list?.constructor as { BufferList?: new () => unknown } | undefined)?.BufferList;
  if (List && parser._list.length === 0) {
    parser._list = new List() as ParserInternals['_list'];
    parser._resetState = resetState;
  }
}

/** mqtt-packet's Parser#_resetState, with a plain BufferList (see adaptParser). */
function resetParserState(this: ParserInternals): void {
  this.packet = new (this.packet.constructor as new () => ParserInternals['packet'])();
  this.error = null;
  this._list = new (this._list.constructor as new () => ParserInternals['_list'])();
  this._stateCounter = 0;
}

type ParserInternals = {
  client: Client;
  packet: { length: number };
  error: Error | null;
  _list: { length: number; constructor: unknown };
  _stateCounter: number;
  _resetState(): void;
  _parseLength(): boolean;
  _emitError(err: Error): void;
  prependListener(event: 'packet', fn: (packet: object) => void): void;
};
