// The agent's own MQTT 3.1.1 client (agent/mqtt-client.ts) against a real aedes broker, with
// mqtt.js on the other side: auth refused, will on a dropped socket, QoS 1 both ways with a
// persistent session, refused subscriptions, keepalive (pings answered, and a dead path detected
// through a TCP relay that stops forwarding), oversize packets, and the link reconnecting after
// a broker restart.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Aedes, type AedesOptions } from 'aedes';
import mqtt from 'mqtt';
import { connect as netConnect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { MqttClient, type MqttClientOptions, type IncomingPublish } from '../../agent/mqtt-client.js';
import { isFleetcareError } from '../../protocol/errors.js';
import { Link } from '../../agent/link.js';
import { waitFor, sleep } from '../helpers/net.js';
import { agentConfig } from './support.js';
import { TestBroker } from '../helpers/broker.js';
import { silentLog } from '../helpers/log.js';

/** aedes on a free loopback port with handlers (TestBroker is anonymous and open). */
async function broker(opts: AedesOptions = {}): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const b = await Aedes.createBroker(opts);
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    b.handle(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      await new Promise<void>((r) => b.close(() => r()));
    },
  };
}

/** A TCP relay to a broker that can stop forwarding while keeping both sockets open (a dead path). */
async function relay(targetPort: number): Promise<{ url: string; freeze(): void; close(): Promise<void> }> {
  let frozen = false;
  const pairs: Socket[] = [];
  const server: Server = createServer((down) => {
    const up = netConnect({ host: '127.0.0.1', port: targetPort });
    pairs.push(down, up);
    down.on('data', (d) => !frozen && up.write(d));
    up.on('data', (d) => !frozen && down.write(d));
    down.on('error', () => up.destroy());
    // Frozen: the broker side may hang up (its own keepalive), the device side hears nothing.
    up.on('error', () => !frozen && down.destroy());
    down.on('close', () => up.destroy());
    up.on('close', () => !frozen && down.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`,
    freeze: () => {
      frozen = true;
    },
    close: async () => {
      for (const s of pairs) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

type Recorded = { topic: string; payload: string; info: IncomingPublish };

function client(o: Partial<MqttClientOptions> & { url: string }) {
  const c = new MqttClient({ clientId: 'dev-1', clean: true, keepaliveSec: 30, connectTimeoutMs: 5000, ...o });
  const rec = { errors: [] as Error[], closed: false, connects: 0, messages: [] as Recorded[] };
  c.on('error', (e: Error) => rec.errors.push(e));
  c.on('close', () => (rec.closed = true));
  c.on('connect', () => rec.connects++);
  c.on('message', (topic: string, payload: Buffer, info: IncomingPublish) => rec.messages.push({ topic, payload: payload.toString(), info }));
  c.connect();
  return { c, rec };
}

async function mqttjs(url: string, id = `peer-${Math.random().toString(16).slice(2)}`) {
  const m = mqtt.connect(url, { clientId: id, protocolVersion: 4, reconnectPeriod: 0 });
  const got: Array<{ topic: string; payload: string; retain: boolean; qos: number }> = [];
  m.on('message', (topic, payload, p) => got.push({ topic, payload: payload.toString(), retain: p.retain, qos: p.qos }));
  m.on('error', () => {});
  await waitFor('mqtt.js connected', () => m.connected);
  return { m, got, sub: (t: string) => new Promise<void>((r) => m.subscribe(t, { qos: 1 }, () => r())) };
}

test('auth: wrong password refused with the CONNACK code, then closed; the right one connects', async () => {
  const b = await broker({
    authenticate: (_c, user, pass, cb) => {
      if (user === 'dev-1' && pass?.toString() === 'good') return cb(null, true);
      const err = Object.assign(new Error('bad credentials'), { returnCode: 4 as const });
      cb(err, false);
    },
  });
  try {
    const bad = client({ url: b.url, username: 'dev-1', password: 'wrong' });
    await waitFor('closed after refusal', () => bad.rec.closed);
    assert.is(bad.rec.connects, 0);
    const err = bad.rec.errors[0];
    assert.ok(isFleetcareError(err, 'connection-refused'), String(err));
    assert.is((err as { context: Record<string, unknown> }).context.returnCode, 4);
    assert.match(err.message, /bad user name or password/);
    const notConnected = await bad.c.publish('x', 'y', { qos: 1, retain: false }).then(
      () => null,
      (e: Error) => e,
    );
    assert.match(notConnected?.message ?? '', /not connected/);

    const good = client({ url: b.url, username: 'dev-1', password: 'good' });
    await waitFor('connected', () => good.rec.connects === 1);
    assert.is(good.rec.errors.length, 0);
    await good.c.end();
    assert.ok(good.rec.closed);
  } finally {
    await b.close();
  }
});

test('connection refused (no broker): error then close, never a throw', async () => {
  const b = await broker();
  const url = b.url;
  await b.close();
  const { rec } = client({ url });
  await waitFor('closed', () => rec.closed);
  assert.is(rec.errors.length, 1);
  assert.is((rec.errors[0] as NodeJS.ErrnoException).code, 'ECONNREFUSED');
});

test('will: delivered (retained, QoS 1) when the socket dies; not after a graceful end', async () => {
  const b = await broker();
  try {
    const peer = await mqttjs(b.url);
    await peer.sub('will/#');
    const will = (topic: string) => ({ topic, payload: `gone ${topic}`, qos: 1 as const, retain: true });
    const dying = client({ url: b.url, clientId: 'dying', will: will('will/dying') });
    const polite = client({ url: b.url, clientId: 'polite', will: will('will/polite') });
    await waitFor('both connected', () => dying.rec.connects && polite.rec.connects);
    await polite.c.end();
    dying.c.destroy();
    const w = await waitFor('will of the dropped client', () => peer.got.find((g) => g.topic === 'will/dying'));
    assert.is(w.payload, 'gone will/dying');
    assert.is(w.qos, 1);
    // A marker published after both disconnects: the polite client's will would have come before it.
    peer.m.publish('will/marker', 'm', { qos: 1 });
    await waitFor('marker', () => peer.got.find((g) => g.topic === 'will/marker'));
    assert.not.ok(
      peer.got.find((g) => g.topic === 'will/polite'),
      'no will after DISCONNECT',
    );
    const late = await mqttjs(b.url);
    await late.sub('will/dying');
    const retained = await waitFor('retained will', () => late.got.find((g) => g.topic === 'will/dying'));
    assert.ok(retained.retain);
    peer.m.end(true);
    late.m.end(true);
  } finally {
    await b.close();
  }
});

test('QoS 1 both ways: PUBACK resolves publishes (retain kept); incoming QoS 1 is acked, so a persistent session does not redeliver it', async () => {
  const b = await broker();
  try {
    const peer = await mqttjs(b.url);
    await peer.sub('up/#');
    const dev = client({ url: b.url, clientId: 'dev-q', clean: false });
    await waitFor('connected', () => dev.rec.connects);
    assert.equal(
      await dev.c.subscribe([
        { topic: 'down/dev-q', qos: 1 },
        { topic: 'down/all', qos: 0 },
      ]),
      [1, 0],
    );

    // Device → broker.
    await Promise.all([1, 2, 3].map((i) => dev.c.publish('up/t', `m${i}`, { qos: 1, retain: false })));
    await dev.c.publish('up/state', 'online', { qos: 1, retain: true });
    await waitFor('4 messages at the peer', () => peer.got.length >= 4);
    assert.equal(
      peer.got
        .filter((g) => g.topic === 'up/t')
        .map((g) => g.payload)
        .sort(),
      ['m1', 'm2', 'm3'],
    );
    assert.ok(peer.got.every((g) => g.qos === 1));
    const late = await mqttjs(b.url);
    await late.sub('up/state');
    assert.ok((await waitFor('retained state', () => late.got.find((g) => g.topic === 'up/state'))).retain);

    // Broker → device, QoS 1. A throwing listener neither kills the connection nor skips the PUBACK.
    dev.c.once('message', () => {
      throw new Error('handler bug');
    });
    peer.m.publish('down/dev-q', 'cmd-1', { qos: 1 });
    const m1 = await waitFor('cmd-1', () => dev.rec.messages.find((m) => m.payload === 'cmd-1'));
    assert.is(m1.info.qos, 1);
    assert.is(dev.c.handlerErrors, 1);
    assert.ok(dev.c.connected);
    await dev.c.end();

    // While away: queued in the persistent session; cmd-1 (acked) must not come back.
    peer.m.publish('down/dev-q', 'cmd-2', { qos: 1 });
    await new Promise<void>((r) => peer.m.publish('up/sync', 'x', { qos: 1 }, () => r()));
    const again = client({ url: b.url, clientId: 'dev-q', clean: false });
    await waitFor('cmd-2 after reconnect', () => again.rec.messages.find((m) => m.payload === 'cmd-2'));
    peer.m.publish('down/dev-q', 'cmd-3', { qos: 1 });
    await waitFor('cmd-3', () => again.rec.messages.find((m) => m.payload === 'cmd-3'));
    assert.equal(
      again.rec.messages.map((m) => m.payload),
      ['cmd-2', 'cmd-3'],
    );
    await again.c.end();
    peer.m.end(true);
    late.m.end(true);
  } finally {
    await b.close();
  }
});

test('a subscription the broker refuses (SUBACK 0x80) rejects; pending publishes reject when the connection drops', async () => {
  const b = await broker({ authorizeSubscribe: (_c, sub, cb) => cb(null, sub.topic === 'forbidden' ? null : sub) });
  try {
    const dev = client({ url: b.url });
    await waitFor('connected', () => dev.rec.connects);
    const refused = await dev.c
      .subscribe([
        { topic: 'ok', qos: 1 },
        { topic: 'forbidden', qos: 1 },
      ])
      .then(
        () => null,
        (e: Error) => e,
      );
    assert.ok(refused, 'refused');
    assert.match(refused!.message, /forbidden/);
    const p = dev.c.publish('t', 'x', { qos: 1, retain: false });
    dev.c.destroy();
    const dropped = await p.then(
      () => null,
      (e: Error) => e,
    );
    // Either acked before the socket went or rejected: never left hanging.
    if (dropped) assert.match(dropped.message, /closed/);
    assert.ok(dev.rec.closed);
  } finally {
    await b.close();
  }
});

test('an incoming packet over maxPacketBytes closes the connection with a reason', async () => {
  const b = await broker();
  try {
    const dev = client({ url: b.url, maxPacketBytes: 1024 });
    await waitFor('connected', () => dev.rec.connects);
    await dev.c.subscribe([{ topic: 'big', qos: 1 }]);
    const peer = await mqttjs(b.url);
    peer.m.publish('big', 'small', { qos: 1 });
    await waitFor('small one', () => dev.rec.messages.length === 1);
    peer.m.publish('big', 'x'.repeat(5000), { qos: 1 });
    await waitFor('closed', () => dev.rec.closed);
    assert.match(dev.rec.errors.map((e) => e.message).join(), /exceeds 1024/);
    peer.m.end(true);
  } finally {
    await b.close();
  }
});

test('keepalive: pings keep an idle connection up; a path that stops forwarding is detected and closed', async () => {
  const b = await broker();
  const r = await relay(b.port);
  try {
    const dev = client({ url: r.url, keepaliveSec: 1 });
    await waitFor('connected', () => dev.rec.connects);
    // aedes drops a client silent for 1.5 × keepalive: still up after 3 s means PINGREQs went out.
    await sleep(3000);
    assert.ok(dev.c.connected, 'connected through idle keepalive periods');
    assert.is(dev.rec.errors.length, 0);
    r.freeze();
    await waitFor('keepalive timeout', () => dev.rec.closed, 8000);
    assert.match(dev.rec.errors.map((e) => e.message).join(), /keepalive timeout/);
  } finally {
    await r.close();
    await b.close();
  }
});

test('the link reconnects after a broker restart and publishes again', async () => {
  const tb = await TestBroker.create();
  const cfg = agentConfig({ dataDir: '/nonexistent', brokerUrl: tb.url, broker: { url: tb.url, reconnect: { minMs: 50, maxMs: 200, jitter: 0 } } } as any);
  let seq = 0;
  let connects = 0;
  const link = new Link({
    device: cfg.device,
    broker: cfg.broker,
    agentVersion: 'test',
    log: silentLog(),
    allocateSeq: () => ++seq,
    inventory: (s) => ({ v: 1, device: cfg.device.id, seq: s, ts: Date.now(), peripherals: [] }),
    onConnect: () => connects++,
    onDisconnect: () => {},
    onAck: () => {},
    onCommand: () => {},
  });
  link.start();
  try {
    await waitFor('first connect', () => connects === 1);
    await tb.stop();
    await waitFor('disconnected', () => !link.connected);
    await tb.start();
    await waitFor('reconnected', () => connects === 2 && link.connected);
    const peer = await mqttjs(tb.url);
    await peer.sub(`fleet/v1/${cfg.device.id}/event`);
    await link.publish('event', '{"probe":1}');
    await waitFor('published after restart', () => peer.got.find((g) => g.payload === '{"probe":1}'));
    assert.ok(link.stats().disconnects >= 1);
    peer.m.end(true);
  } finally {
    await link.stop();
    await tb.stop();
  }
});

test.run();
