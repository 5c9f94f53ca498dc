// The fleetcare MQTT broker (DESIGN §8): aedes on TCP, TLS and optionally WebSocket, every
// client authenticated against the SQLite registry, the ACL of acl.ts, payload/rate limits,
// throttled failed logins, and the mqemitter flood fix.
import { Aedes, type AuthenticateError, type Client, type PublishPacket, type Subscription } from 'aedes';
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
import { installMqTrampoline } from './mq-trampoline.js';
import { installOutgoingIndex } from './outgoing-index.js';
import { DeviceRegistry, type Principal } from './registry.js';

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
  /** Publishes waiting in aedes' mqemitter queue (grows under a flood). */
  mqQueued: number;
};

export type BrokerHandle = {
  /** Bound TCP port (the real one when the config said 0). */
  port: number;
  tlsPort?: number;
  wsPort?: number;
  registry: DeviceRegistry;
  stats(): BrokerStats;
  /** Oversized publishes refused (newest first), kept as dead letters with the head of the payload. */
  oversized(limit?: number): OversizedLetter[];
  close(): Promise<void>;
};

type Session = {
  principal: Principal;
  anonymous: boolean;
  rate: RateState;
  /** True while the client is over its rate (logs once per episode, not per message). */
  limited: boolean;
};

/** Marks a publish the broker accepted from the wire (PUBACK sent) but does not forward. */
const DROPPED = Symbol('fleetcare.dropped');

/** CONNACK return codes of MQTT 3.1.1. */
const IDENTIFIER_REJECTED = 2;
const BAD_CREDENTIALS = 4;
const NOT_AUTHORIZED = 5;

function connackError(returnCode: number, message: string): AuthenticateError {
  const err = new Error(message) as AuthenticateError;
  err.returnCode = returnCode;
  return err;
}

export async function startBroker(input: BrokerConfigInput, { log }: { log: Logger }): Promise<BrokerHandle> {
  const config = brokerConfigSchema.parse(input);
  const registry = DeviceRegistry.open(config.dataDir, { scryptCost: config.scryptCost });

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

  const aedes = new Aedes({
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
      const admit = (principal: Principal, anonymous: boolean) => {
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
        sessions.set(client, {
          principal,
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
        return admit({ kind: 'device', id: client.id, site: null, tenant: null }, true);
      }
      if (!password || password.length === 0) return refuse(BAD_CREDENTIALS, 'no password');
      registry.verify(username, password).then(
        (principal) => {
          forgetPassword(client, password);
          if (principal) admit(principal, false);
          else refuse(BAD_CREDENTIALS, 'unknown user, wrong token or disabled device');
        },
        (err: Error) => {
          log.error({ client: client.id, err: err.message }, 'registry lookup failed');
          callback(connackError(3, 'registry unavailable'), false);
        },
      );
    },

    authorizePublish(client, packet, callback) {
      // The last will, published as the client goes away, was checked at CONNECT; obsolete wills
      // of earlier runs come with no client and were checked when they were stored.
      if (!client || packet === (client as unknown as { will?: unknown }).will) return callback(null);
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
        (packet as PublishPacket & { [DROPPED]?: boolean })[DROPPED] = true;
        return callback(null);
      }
      session.limited = false;
      counters.messagesIn++;
      counters.bytesIn += size;
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
      callback(null, { ...sub, qos: Math.min(sub.qos, 1) as Subscription['qos'] });
    },

    authorizeForward(_client, packet) {
      counters.messagesOut++;
      counters.bytesOut += packet.payload.length;
      return packet;
    },
  });
  // Internals the typings do not declare (aedes 1.2.0: `mq`, `clients`).
  const internals = aedes as unknown as { mq: { length: number }; clients: Record<string, Client> };
  installMqTrampoline(internals.mq);

  // Rate-limited publishes were acknowledged on the wire (MQTT 3.1.1 cannot refuse a PUBLISH
  // without closing the connection) but go no further. The agent resends them because the
  // collector never acks them end to end, so nothing is lost.
  const publish = aedes.publish.bind(aedes) as (packet: PublishPacket, client: unknown, done: unknown) => void;
  (aedes as unknown as { publish: typeof publish }).publish = (packet, client, done) => {
    if ((packet as PublishPacket & { [DROPPED]?: boolean })[DROPPED]) {
      const cb = (typeof client === 'function' ? client : done) as ((err?: Error) => void) | undefined;
      cb?.();
      return;
    }
    publish(packet, client, done);
  };

  aedes.on('clientError', (client: Client, err: Error) => log.info({ client: client.id, err: err.message }, 'client error'));
  aedes.on('connectionError', (_client: Client, err: Error) => log.debug({ err: err.message }, 'connection error before CONNECT'));
  (aedes as unknown as NodeJS.EventEmitter).on('error', (err: Error) => log.error({ err: err.message }, 'broker error'));
  await aedes.listen();
  // The memory persistence exists once listen() has set it up (no client can connect before).
  installOutgoingIndex((aedes as unknown as { persistence: unknown }).persistence);

  const onConnection = (conn: Duplex, remote: string | undefined, req?: IncomingMessage) => {
    sockets.add(conn);
    conn.once('close', forgetSocket);
    // WebSocket streams have no remoteAddress of their own; net and TLS sockets do.
    if (remote !== undefined && (conn as Partial<Socket>).remoteAddress === undefined) (conn as { fleetcareRemote?: string }).fleetcareRemote = remote;
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
      server.listen(port, config.host, () => {
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
    handle = { port, registry, stats, oversized: (limit?: number) => oversizedLetters.list(limit), close };

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
    return { connections: aedes.connectedClients, sockets: sockets.size, clients, ...counters, mqQueued: internals.mq.length };
  }

  let closing: Promise<void> | null = null;
  function close(): Promise<void> {
    closing ??= (async () => {
      clearInterval(sweep);
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
    registry.close();
  }

  return handle;
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
};
