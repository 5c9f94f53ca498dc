// Load generator for bench/ingest: M lightweight agents, each one raw MQTT 3.1.1 connection
// (mqtt-packet over net, no mqtt.js client per agent) publishing QoS 1 telemetry with its own
// seq and measuring publish → collector ack latency. Runs in its own process so its CPU is
// not counted as the server's. Prints one JSON line of results on stdout.
//
// Like the real agent's outbox, every message is kept until its end-to-end ack: resent after
// --ack-timeout, and after a reconnect. With --ports (the nodes of a cluster) agents start spread
// over the nodes and, when their node goes away, reconnect to the next one after a short delay;
// the failover gap is the time from losing the connection to the first ack after it.
import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { benchFlags } from './help.js';
import { nextNode } from '../agent/link.js';
import mqttPacket from 'mqtt-packet';
import { topicFor, CONTRACT_VERSION, type TelemetryMessage } from '../protocol/index.js';

const values = benchFlags(import.meta.url, {
  port: null,
  /** Comma-separated ports of several broker nodes (instead of --port). */
  ports: null,
  'ack-timeout': 15,
  /** Also print every agent's first and last seq (for exactly-once checks). */
  'report-seqs': false,
  host: '127.0.0.1',
  agents: 100,
  rate: 1,
  duration: 30,
  warmup: 5,
  drain: 20,
  credentials: null,
  'connect-rate': 500,
  prefix: 'bench',
});

const M = values.agents;
const ratePerAgent = values.rate;
const durationMs = values.duration * 1000;
const warmupMs = values.warmup * 1000;
const drainMs = values.drain * 1000;
const ports = (values.ports ?? values.port ?? '').split(',').filter(Boolean).map(Number);
if (!ports.length || ports.some((p) => !Number.isInteger(p) || p <= 0)) throw new Error('--port N or --ports N,M,… needed');
const ackTimeoutMs = values['ack-timeout'] * 1000;
const creds: Record<string, string> = values.credentials ? JSON.parse(readFileSync(values.credentials, 'utf8')) : {};

type Agent = {
  id: string;
  socket: Socket | null;
  connected: boolean;
  nextPacketId: number;
  firstSeq: number;
  seq: number;
  counter: number;
  /** seq → first send time (ms, high resolution; -1 outside the measured window). */
  pending: Map<number, number>;
  /** seq → payload and last send time (-Infinity: not sent yet, the agent was offline). */
  unacked: Map<number, { payload: Buffer; sentAt: number }>;
  ackTopic: string;
  telemetryTopic: string;
  /** Index into `ports` of the node the agent uses. */
  node: number;
  /** When the agent lost its connection; cleared by the first ack after it. */
  lostAt: number | null;
  wasConnected: boolean;
  /** A failover in progress for the caught-messages figure: since when, and when it reconnected (null before). */
  caught: { since: number; reconnectedAt: number | null; worst: number } | null;
};

const latencies: number[] = [];
let sent = 0;
let sentMeasured = 0;
let acked = 0;
let ackedMeasured = 0;
let connectFailures = 0;
let measuring = false;
let stopping = false;
let reconnects = 0;
let resent = 0;
const failoverGaps: number[] = [];
/** Connection lost → CONNACK on another node (the part of the failover gap that is reconnecting). */
const reconnectGaps: number[] = [];
/**
 * Per agent that a failover caught with messages to deliver (unacked at the loss, or written while
 * it had no connection): the longest of those messages' waits, from the loss or their writing,
 * whichever is later, to their ack. The first-ack gap above also counts the wait for the agent's
 * next message when it had nothing to deliver (up to 1/rate).
 */
const caughtWaits: number[] = [];

function send(a: Agent, packet: mqttPacket.Packet): void {
  if (!a.socket) return;
  a.socket.write(mqttPacket.generate(packet));
}

/** Sends what has no ack yet: everything after a (re)connect, or what waited past the ack timeout. */
function resendUnacked(a: Agent, olderThan: number): void {
  for (const m of a.unacked.values()) {
    if (m.sentAt > olderThan) continue;
    if (m.sentAt !== -Infinity) resent++;
    m.sentAt = performance.now();
    a.nextPacketId = (a.nextPacketId % 65535) + 1;
    send(a, { cmd: 'publish', topic: a.telemetryTopic, payload: m.payload, qos: 1, retain: false, dup: false, messageId: a.nextPacketId });
  }
}

function openAgent(a: Agent): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({ port: ports[a.node], host: values.host });
    socket.setNoDelay(true);
    a.socket = socket;
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    let settled = false;
    const done = () => {
      if (!settled) {
        settled = true;
        resolve();
      }
    };
    parser.on('packet', (p: mqttPacket.Packet) => {
      if (p.cmd === 'connack') {
        if ((p as mqttPacket.IConnackPacket).returnCode !== 0) {
          connectFailures++;
          socket.destroy();
          return done();
        }
        a.connected = true;
        a.wasConnected = true;
        if (a.lostAt !== null) reconnectGaps.push(performance.now() - a.lostAt);
        if (a.caught && a.caught.reconnectedAt === null) a.caught.reconnectedAt = performance.now();
        send(a, { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: a.ackTopic, qos: 1 }] } as mqttPacket.ISubscribePacket);
      } else if (p.cmd === 'suback') {
        resendUnacked(a, Infinity);
        done();
      } else if (p.cmd === 'publish') {
        const pub = p as mqttPacket.IPublishPacket;
        if (pub.qos === 1 && pub.messageId) send(a, { cmd: 'puback', messageId: pub.messageId });
        // Plain JSON.parse, not zod's decodeAck: the load generator's own CPU is scarce here and
        // the collector's acks are checked by the tests, not by the benchmark.
        let ranges: Array<[number, number]>;
        try {
          ranges = (JSON.parse((pub.payload as Buffer).toString('utf8')) as { ranges: Array<[number, number]> }).ranges;
        } catch {
          return;
        }
        if (!Array.isArray(ranges)) return;
        const now = performance.now();
        for (const [from, to] of ranges) {
          for (let s = from; s <= to; s++) {
            const t = a.pending.get(s);
            if (t === undefined) continue;
            a.pending.delete(s);
            a.unacked.delete(s);
            acked++;
            if (a.lostAt !== null) {
              failoverGaps.push(now - a.lostAt);
              a.lostAt = null;
            }
            if (a.caught && (t < 0 || a.caught.reconnectedAt === null || t < a.caught.reconnectedAt))
              a.caught.worst = Math.max(a.caught.worst, now - Math.max(t, a.caught.since));
            if (t >= 0) {
              ackedMeasured++;
              latencies.push(now - t);
            }
          }
        }
        // The failover is over for this agent once everything it caught is acked.
        const c = a.caught;
        if (c && c.reconnectedAt !== null && ![...a.pending.values()].some((t) => t < 0 || t < c.reconnectedAt!)) {
          if (c.worst > 0) caughtWaits.push(c.worst);
          a.caught = null;
        }
      }
    });
    socket.on('data', (b) => parser.parse(b));
    socket.on('error', () => {
      connectFailures++;
      done();
    });
    socket.on('close', () => {
      a.connected = false;
      if (a.socket === socket) a.socket = null;
      done();
      // Only an agent that was in: one refused at login stays out, as before.
      if (stopping || !a.wasConnected) return;
      // The node went away: another node, at random, after a short jittered delay (as the agent does).
      if (a.lostAt === null) a.lostAt = performance.now();
      a.caught ??= { since: performance.now(), reconnectedAt: null, worst: 0 };
      a.node = nextNode(a.node, ports.length);
      setTimeout(
        () => {
          if (stopping) return;
          reconnects++;
          void openAgent(a);
        },
        300 + Math.random() * 500,
      );
    });
    socket.on('connect', () => {
      send(a, {
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clean: false,
        clientId: a.id,
        keepalive: 300,
        username: a.id,
        password: creds[a.id] !== undefined ? Buffer.from(creds[a.id]) : undefined,
      } as mqttPacket.IConnectPacket);
    });
  });
}

function publishTelemetry(a: Agent): void {
  // Never connected (refused at login): nothing is generated, as no agent would run like that.
  if (!a.connected && a.lostAt === null) return;
  a.seq++;
  a.counter += 12;
  const ts = Date.now();
  const msg: TelemetryMessage = {
    v: CONTRACT_VERSION,
    device: a.id,
    seq: a.seq,
    ts,
    samples: [
      {
        peripheral: 'printer0',
        kind: 'printer',
        ts,
        health: 'ok',
        metrics: { replyLatencyMs: 3.2 },
        counters: { linesFed: a.counter, cutterCuts: a.counter >> 4 },
        faults: [],
      },
      { peripheral: 'host', kind: 'host', ts, health: 'ok', metrics: { load1: 0.12, diskFreeBytes: 12e9 }, counters: {}, faults: [] },
    ],
  };
  a.pending.set(a.seq, measuring ? performance.now() : -1);
  const payload = Buffer.from(JSON.stringify(msg));
  a.unacked.set(a.seq, { payload, sentAt: a.connected ? performance.now() : -Infinity });
  if (a.connected) {
    a.nextPacketId = (a.nextPacketId % 65535) + 1;
    send(a, { cmd: 'publish', topic: a.telemetryTopic, payload, qos: 1, retain: false, dup: false, messageId: a.nextPacketId });
  }
  sent++;
  if (measuring) sentMeasured++;
}

const percentile = (xs: number[], p: number) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

async function main(): Promise<void> {
  const agents: Agent[] = [];
  const seqBase = Date.now() % 1_000_000_000; // distinct seqs across runs against one data dir
  for (let i = 0; i < M; i++) {
    const id = `${values.prefix}-${String(i).padStart(5, '0')}`;
    agents.push({
      id,
      socket: null,
      connected: false,
      nextPacketId: 1,
      firstSeq: seqBase + 1,
      seq: seqBase,
      counter: 0,
      pending: new Map(),
      unacked: new Map(),
      ackTopic: topicFor(id, 'ack'),
      telemetryTopic: topicFor(id, 'telemetry'),
      node: i % ports.length,
      lostAt: null,
      caught: null,
      wasConnected: false,
    });
  }
  const t0 = performance.now();
  const connectRate = values['connect-rate'];
  const batch = Math.max(1, Math.round(connectRate / 10));
  for (let i = 0; i < agents.length; i += batch) {
    const started = performance.now();
    await Promise.all(agents.slice(i, i + batch).map(openAgent));
    const wait = 100 - (performance.now() - started);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  const connectMs = performance.now() - t0;
  const connected = agents.filter((a) => a.connected).length;
  process.stderr.write(`load: ${connected}/${M} agents connected in ${(connectMs / 1000).toFixed(1)} s\n`);

  // Spread publishes evenly: every 10 ms tick sends its share of the total rate, round-robin.
  const total = M * ratePerAgent;
  let owed = 0;
  let cursor = 0;
  const tickMs = 10;
  // Owed by elapsed time, not per tick: a late timer (busy machine) must not lower the offered rate.
  let lastTick = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    owed += (total * (now - lastTick)) / 1000;
    lastTick = now;
    while (owed >= 1) {
      owed--;
      publishTelemetry(agents[cursor]);
      cursor = (cursor + 1) % agents.length;
    }
  }, tickMs);
  const resendTimer = setInterval(() => {
    const before = performance.now() - ackTimeoutMs;
    for (const a of agents) if (a.connected) resendUnacked(a, before);
  }, 1000);

  await new Promise((r) => setTimeout(r, warmupMs));
  measuring = true;
  process.stdout.write(JSON.stringify({ phase: 'measure-start', at: Date.now() }) + '\n');
  const m0 = performance.now();
  await new Promise((r) => setTimeout(r, durationMs));
  measuring = false;
  const measuredMs = performance.now() - m0;
  process.stdout.write(JSON.stringify({ phase: 'measure-end', at: Date.now() }) + '\n');
  clearInterval(timer);

  // Wait for the acks of everything sent, up to the drain time.
  const drainEnd = performance.now() + drainMs;
  while (performance.now() < drainEnd && agents.some((a) => a.pending.size > 0)) await new Promise((r) => setTimeout(r, 100));
  stopping = true;
  clearInterval(resendTimer);
  const unacked = agents.reduce((n, a) => n + a.pending.size, 0);
  for (const a of agents) a.socket?.destroy();

  process.stdout.write(
    JSON.stringify({
      phase: 'result',
      agents: M,
      connected,
      connectFailures,
      connectSeconds: connectMs / 1000,
      offeredMsgPerSec: total,
      measuredSeconds: measuredMs / 1000,
      sent,
      acked,
      unacked,
      ackedMsgPerSec: ackedMeasured / (measuredMs / 1000),
      sentMeasured,
      ackedMeasured,
      latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: percentile(latencies, 100) },
      pointsPerMessage: 2,
      reconnects,
      resent,
      failoverGapMs: { count: failoverGaps.length, p50: percentile(failoverGaps, 50), p99: percentile(failoverGaps, 99), max: percentile(failoverGaps, 100) },
      caughtWaitMs: { count: caughtWaits.length, p50: percentile(caughtWaits, 50), p99: percentile(caughtWaits, 99), max: percentile(caughtWaits, 100) },
      reconnectGapMs: {
        count: reconnectGaps.length,
        p50: percentile(reconnectGaps, 50),
        p99: percentile(reconnectGaps, 99),
        max: percentile(reconnectGaps, 100),
      },
      ...(values['report-seqs'] ? { seqs: Object.fromEntries(agents.filter((a) => a.seq >= a.firstSeq).map((a) => [a.id, [a.firstSeq, a.seq]])) } : {}),
    }) + '\n',
  );
}

main().catch((e) => {
  process.stderr.write(`load: ${(e as Error).stack}\n`);
  process.exit(1);
});
