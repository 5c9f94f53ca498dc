// The in-process MQTT link (broker.connectLocal, used by `fleetcare server` for its collector)
// and the per-turn write coalescing of every broker connection: same authentication, ACL, QoS 1
// and persistent-session behaviour as over TCP, with real aedes, mqtt.js and mosquitto clients.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MqttClient, type IClientOptions } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { Writable } from 'node:stream';
import { linkPair } from '../../broker/local-link.js';
import { coalesceWrites } from '../../broker/write-coalescing.js';
import { waitFor } from '../helpers/net.js';
import { creds, killStrays, mosquitto, spawnMosquitto } from './helpers.js';
import { startFleetcareBroker, type FleetcareBroker } from '../helpers/broker.js';
import { using } from '../helpers/rig.js';

test.after(() => killStrays());

/** An mqtt.js client over the broker's in-process link; resolves on CONNACK, rejects on refusal. */
function connectLocal(tb: FleetcareBroker, opts: IClientOptions): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = new MqttClient(() => tb.broker.connectLocal(), { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5_000, ...opts });
    c.once('connect', () => resolve(c));
    c.once('error', (e) => {
      c.end(true);
      reject(e);
    });
    c.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

test('a wrong token over the in-process link is refused like over TCP', () =>
  using(startFleetcareBroker(), async (tb) => {
    const err = await connectLocal(tb, { clientId: 'collector-x', username: 'collector', password: 'not-the-token' }).then(
      () => null,
      (e: Error) => e,
    );
    assert.ok(err, 'the CONNECT must be refused');
    assert.match(err!.message, /bad user|not authori/i);
    assert.is(tb.broker.stats().authFailures, 1);
    assert.ok(
      tb.logs.some((l) => l.msg === 'login refused' && l.remote === 'in-process'),
      'logged with the in-process remote',
    );
  }));

test('the in-process link carries QoS 1 both ways, with the ACL of the account', () =>
  using(startFleetcareBroker(), async (tb) => {
    const c = await connectLocal(tb, { clientId: 'collector-local', username: 'collector', password: tb.tokens.collector });
    const got: string[] = [];
    c.on('message', (topic, payload) => got.push(`${topic} ${payload.toString()}`));
    const granted = await c.subscribeAsync({ 'fleet/v1/+/telemetry': { qos: 1 } });
    assert.equal(
      granted.map((g) => g.qos),
      [1],
    );
    const denied = await c.subscribeAsync({ '$SYS/#': { qos: 1 } }).then(
      () => null,
      (e: Error) => e,
    );
    assert.ok(denied, '$SYS is refused by the ACL');
    assert.ok(tb.logs.some((l) => l.msg === 'subscribe denied' && l.client === 'collector-local'));
    const pub = await mosquitto('pub', [...creds(tb.broker.port, 'dev-a', tb.tokens['dev-a']), '-t', 'fleet/v1/dev-a/telemetry', '-q', '1', '-m', 'hello']);
    assert.is(pub.code, 0, pub.stderr);
    await waitFor('telemetry over the link', () => got.includes('fleet/v1/dev-a/telemetry hello'));
    // The other way: the collector's ack reaches a device subscribed over TCP.
    const sub = spawnMosquitto('sub', [...creds(tb.broker.port, 'dev-b', tb.tokens['dev-b']), '-t', 'fleet/v1/dev-b/ack', '-q', '1', '-C', '1']);
    await waitFor('device subscribed', () => tb.broker.stats().clients.device >= 1);
    // Repeated until it arrives: the subscriber may not have its SUBACK yet when counted as a client.
    const ackTimer = setInterval(() => c.publish('fleet/v1/dev-b/ack', 'ack-1', { qos: 1 }), 50);
    try {
      await waitFor('ack at the device', () => sub.out.includes('ack-1'));
    } finally {
      clearInterval(ackTimer);
    }
    assert.is(tb.broker.stats().clients.collector, 1);
    await c.endAsync();
  }));

test('a persistent session over the in-process link keeps QoS 1 messages while it is away', () =>
  using(startFleetcareBroker(), async (tb) => {
    const opts = { clientId: 'collector-persist', username: 'collector', password: tb.tokens.collector, clean: false };
    const first = await connectLocal(tb, opts);
    await first.subscribeAsync({ 'fleet/v1/+/event': { qos: 1 } });
    await first.endAsync();
    await waitFor('session offline', () => tb.broker.stats().clients.collector === 0);
    const pub = await mosquitto('pub', [...creds(tb.broker.port, 'dev-a', tb.tokens['dev-a']), '-t', 'fleet/v1/dev-a/event', '-q', '1', '-m', 'while-away']);
    assert.is(pub.code, 0, pub.stderr);
    const got: string[] = [];
    const again = new MqttClient(() => tb.broker.connectLocal(), { protocolVersion: 4, reconnectPeriod: 0, ...opts });
    again.on('message', (_t, p) => got.push(p.toString()));
    const present = await new Promise<boolean>((r) => again.once('connect', (ack) => r(ack.sessionPresent)));
    assert.is(present, true);
    await waitFor('queued message delivered', () => got.includes('while-away'));
    await again.endAsync();
  }));

test('the link survives the broker closing it: the client sees close, not an error', async () => {
  const tb = await startFleetcareBroker();
  const c = await connectLocal(tb, { clientId: 'collector-close', username: 'collector', password: tb.tokens.collector });
  const errors: Error[] = [];
  c.on('error', (e) => errors.push(e));
  const closed = new Promise<void>((r) => c.once('close', () => r()));
  await tb.close();
  await closed;
  assert.equal(errors, []);
  c.end(true);
});

test('a link end holds the writer under backpressure and releases it when the reader reads', async () => {
  const [a, b] = linkPair();
  const big = Buffer.alloc(512 * 1024, 1); // 4 × 512 KiB: past the link's 1 MiB buffer
  let written = 0;
  // Nobody reads b yet: the first write fills b's buffer, the next callbacks wait.
  for (let i = 0; i < 4; i++) a.write(big, () => written++);
  await new Promise((r) => setImmediate(r));
  assert.ok(written < 4, `writes past the high-water mark wait (${written} done)`);
  let received = 0;
  b.on('data', (d: Buffer) => (received += d.length));
  await waitFor('all written and read', () => written === 4 && received === 4 * big.length);
  a.end();
  await new Promise<void>((r) => b.once('close', () => r()));
  assert.ok(a.destroyed || a.writableFinished);
});

test('packets written in one turn leave in one write, delivered intact', async () => {
  const writes: number[] = [];
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      writes.push(1);
      chunks.push(chunk);
      cb();
    },
    writev(batch, cb) {
      writes.push(batch.length);
      for (const c of batch) chunks.push(c.chunk as Buffer);
      cb();
    },
  });
  coalesceWrites(sink);
  // As aedes does: several packets, each from its own callback of the same turn (nextTick between).
  for (let i = 1; i <= 5; i++) {
    mqttPacket.writeToStream({ cmd: 'puback', messageId: i }, sink);
    await new Promise<void>((r) => process.nextTick(r));
  }
  assert.equal(writes, [], 'held until the end of the turn');
  await new Promise((r) => setImmediate(r));
  assert.is(writes.length, 1, `one write, not ${writes.length}`);
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const ids: number[] = [];
  parser.on('packet', (p: mqttPacket.Packet) => ids.push((p as mqttPacket.IPubackPacket).messageId!));
  parser.parse(Buffer.concat(chunks));
  assert.equal(ids, [1, 2, 3, 4, 5]);
  // The next turn starts afresh.
  mqttPacket.writeToStream({ cmd: 'puback', messageId: 6 }, sink);
  await new Promise((r) => setImmediate(r));
  assert.is(writes.length, 2);
});

test.run();
