// Authentication and ACL of the broker (docs/broker.md) exercised with the real mosquitto_pub /
// mosquitto_sub clients, plus mqtt.js for the collector side.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { waitFor, sleep } from '../helpers/net.js';
import { barrier, creds, finished, killStrays, mosquitto, recorder, spawnMosquitto } from './helpers.js';
import { hasLog } from '../helpers/log.js';
import { startFleetcareBroker, type FleetcareBroker } from '../helpers/broker.js';

let tb: FleetcareBroker;
let port: number;
let rec: Awaited<ReturnType<typeof recorder>>;

test.before(async () => {
  tb = await startFleetcareBroker();
  port = tb.broker.port;
  rec = await recorder(port, tb.tokens.collector, ['fleet/v1/+/telemetry', 'fleet/v1/+/event', 'fleet/v1/+/status', 'fleet/v1/+/inventory']);
});

test.after(async () => {
  killStrays();
  await rec?.client.endAsync();
  await tb?.close();
});

/** mosquitto client options for a will: its topic and payload, QoS 1, retained or not. */
const will = (topic: string, payload: string, retain = false) => [
  '--will-topic',
  topic,
  '--will-payload',
  payload,
  '--will-qos',
  '1',
  ...(retain ? ['--will-retain'] : []),
];

test('port 0 binds a real port; registry lists devices without hashes', () => {
  assert.ok(port > 0);
  const list = tb.broker.registry.listDevices();
  assert.equal(
    list.map((d) => d.id),
    ['dev-a', 'dev-b'],
  );
  assert.equal(list[0].site, 's1');
  assert.not.ok(/scrypt|sha256/.test(JSON.stringify(list)), 'no token hash in the listing');
});

test('a good device publishes its own telemetry and receives its ack', async () => {
  const sub = spawnMosquitto('sub', [...creds(port, 'dev-a', tb.tokens['dev-a'], 'dev-a'), '-t', 'fleet/v1/dev-a/ack', '-q', '1', '-C', '1', '-W', '10']);
  // dev-a's subscriber holds the client id dev-a; the publisher would take it over, so wait for
  // the subscription first and publish the ack from the collector.
  await waitFor('device subscription', () => tb.broker.stats().clients.device === 1);
  await sleep(100);
  await rec.client.publishAsync('fleet/v1/dev-a/ack', '{"v":1,"ranges":[[1,1]],"ts":1}', { qos: 1 });
  const r = await finished(sub, 10_000);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout.trim(), '{"v":1,"ranges":[[1,1]],"ts":1}');

  const pub = await mosquitto('pub', [...creds(port, 'dev-a', tb.tokens['dev-a']), '-t', 'fleet/v1/dev-a/telemetry', '-q', '1', '-m', 'hello']);
  assert.is(pub.code, 0, pub.stderr);
  await waitFor('telemetry at collector', () => rec.seen('fleet/v1/dev-a/telemetry', 'hello'));
  assert.ok(tb.broker.stats().messagesIn >= 1);
});

test('a wrong token, an unknown user and a missing password are refused', async () => {
  const before = tb.broker.stats().authFailures;
  const wrong = await mosquitto('pub', [...creds(port, 'dev-a', 'not-the-token'), '-t', 'fleet/v1/dev-a/telemetry', '-q', '1', '-m', 'x']);
  assert.is.not(wrong.code, 0);
  assert.match(wrong.stderr, /bad user name or password/i);
  const unknown = await mosquitto('pub', [...creds(port, 'ghost', tb.tokens['dev-a']), '-t', 'fleet/v1/ghost/telemetry', '-q', '1', '-m', 'x']);
  assert.is.not(unknown.code, 0);
  const nopw = await mosquitto('pub', ['-p', String(port), '-i', 'dev-a', '-u', 'dev-a', '-t', 'fleet/v1/dev-a/telemetry', '-q', '1', '-m', 'x']);
  assert.is.not(nopw.code, 0);
  assert.is(tb.broker.stats().authFailures, before + 3);
  assert.ok(hasLog(tb.logs, 'login refused', { client: 'dev-a', reason: /wrong token/ }));
  assert.not.ok(
    tb.logs.some((l) => JSON.stringify(l).includes(tb.tokens['dev-a'])),
    'a token was logged',
  );
});

test('client id different from the device id is refused', async () => {
  const r = await mosquitto('pub', [...creds(port, 'dev-a', tb.tokens['dev-a'], 'dev-b'), '-t', 'fleet/v1/dev-a/telemetry', '-q', '1', '-m', 'x']);
  assert.is.not(r.code, 0);
  assert.match(r.stderr, /identifier rejected/i);
  assert.ok(hasLog(tb.logs, 'login refused', { client: 'dev-b', reason: 'client id must equal the device id' }));
});

test('a device publishing as another device is disconnected and nothing is forwarded', async () => {
  const denials = tb.broker.stats().aclDenials;
  const r = await mosquitto('pub', [...creds(port, 'dev-a', tb.tokens['dev-a']), '-t', 'fleet/v1/dev-b/telemetry', '-q', '1', '-m', 'forged']);
  assert.is.not(r.code, 0, 'mosquitto_pub should see the connection closed');
  // Also a non-fleet topic and a server channel.
  await mosquitto('pub', [...creds(port, 'dev-a', tb.tokens['dev-a']), '-t', 'other/topic', '-q', '1', '-m', 'forged']);
  await mosquitto('pub', [...creds(port, 'dev-a', tb.tokens['dev-a']), '-t', 'fleet/v1/dev-a/ack', '-q', '1', '-m', 'forged']);
  await barrier(port, tb.tokens['dev-a'], rec);
  assert.not.ok(rec.got.some((m) => m.payload === 'forged'));
  assert.is(tb.broker.stats().aclDenials, denials + 3);
  assert.ok(hasLog(tb.logs, 'publish denied', { client: 'dev-a', publish: 'fleet/v1/dev-b/telemetry', reason: 'topic of another device (dev-b)' }));
  assert.ok(hasLog(tb.logs, 'publish denied', { publish: 'fleet/v1/dev-a/ack', reason: 'ack is not a device channel' }));
});

test('QoS other than the channel QoS is refused', async () => {
  const r = await mosquitto('pub', [...creds(port, 'dev-a', tb.tokens['dev-a']), '-t', 'fleet/v1/dev-a/telemetry', '-q', '0', '-m', 'qos0']);
  void r; // QoS 0: mosquitto_pub may exit before it sees the close
  await barrier(port, tb.tokens['dev-a'], rec);
  assert.not.ok(rec.seen('fleet/v1/dev-a/telemetry', 'qos0'));
  assert.ok(hasLog(tb.logs, 'publish denied', { reason: 'QoS 0 on telemetry, expected 1' }));
});

test("subscribing to another device's ack is refused and delivers nothing", async () => {
  const denials = tb.broker.stats().aclDenials;
  const sub = spawnMosquitto('sub', [...creds(port, 'dev-b', tb.tokens['dev-b']), '-t', 'fleet/v1/dev-a/ack', '-q', '1', '-W', '3']);
  await waitFor('denial logged', () => hasLog(tb.logs, 'subscribe denied', { client: 'dev-b', subscribe: 'fleet/v1/dev-a/ack' }));
  await rec.client.publishAsync('fleet/v1/dev-a/ack', 'secret', { qos: 1 });
  const r = await finished(sub, 10_000);
  assert.not.ok(r.stdout.includes('secret'));
  assert.match(r.stderr, /denied/i);
  // Wildcards are refused too, even ones that would only match its own topics.
  const wild = await mosquitto('sub', [...creds(port, 'dev-b', tb.tokens['dev-b']), '-t', 'fleet/v1/dev-b/#', '-E']);
  assert.match(wild.stderr, /denied/i);
  assert.is(tb.broker.stats().aclDenials, denials + 2);
});

test('retain is refused on telemetry and accepted on status', async () => {
  const devA = creds(port, 'dev-a', tb.tokens['dev-a']);
  const r = await mosquitto('pub', [...devA, '-t', 'fleet/v1/dev-a/telemetry', '-q', '1', '-r', '-m', 'retained-telemetry']);
  assert.is.not(r.code, 0);
  assert.ok(hasLog(tb.logs, 'publish denied', { reason: 'retain not allowed on telemetry' }));
  const ok = await mosquitto('pub', [...devA, '-t', 'fleet/v1/dev-a/status', '-q', '1', '-r', '-m', 'online']);
  assert.is(ok.code, 0, ok.stderr);
  // A viewer connecting later gets the retained status but no retained telemetry.
  const viewer = creds(port, 'viewer', tb.tokens.viewer, 'noc-1');
  const v = await mosquitto('sub', [...viewer, '-t', 'fleet/v1/dev-a/status', '-t', 'fleet/v1/dev-a/telemetry', '-v', '-W', '2']);
  assert.ok(v.stdout.includes('fleet/v1/dev-a/status online'), v.stdout + v.stderr);
  assert.not.ok(v.stdout.includes('retained-telemetry'));
});

test('a will on a foreign topic is refused; the own status will is published when the device dies', async () => {
  const devA = creds(port, 'dev-a', tb.tokens['dev-a']);
  const bad = await mosquitto('pub', [...devA, ...will('fleet/v1/dev-b/status', 'offline', true), '-t', 'fleet/v1/dev-a/telemetry', '-q', '1', '-m', 'x']);
  assert.is.not(bad.code, 0);
  assert.match(bad.stderr, /not authori[sz]ed/i);
  assert.ok(hasLog(tb.logs, 'will denied', { client: 'dev-a', will: 'fleet/v1/dev-b/status' }));
  const badChannel = await mosquitto('pub', [...devA, ...will('fleet/v1/dev-a/telemetry', 'x'), '-t', 'fleet/v1/dev-a/event', '-q', '1', '-m', 'x']);
  assert.is.not(badChannel.code, 0);

  const devB = creds(port, 'dev-b', tb.tokens['dev-b']);
  const dying = spawnMosquitto('sub', [...devB, ...will('fleet/v1/dev-b/status', 'offline-lwt', true), '-t', 'fleet/v1/dev-b/ack', '-q', '1']);
  await waitFor('dev-b connected', () => hasLog(tb.logs, 'client authenticated', { client: 'dev-b' }) && tb.broker.stats().clients.device >= 1);
  await sleep(200);
  dying.kill('SIGKILL');
  await waitFor('LWT at collector', () => rec.seen('fleet/v1/dev-b/status', 'offline-lwt'));
});

test('service accounts: collector and viewer rights', async () => {
  // Viewer: subscribes to device channels, publishes nothing, no server channels.
  const viewerPub = await mosquitto('pub', [...creds(port, 'viewer', tb.tokens.viewer, 'noc-2'), '-t', 'fleet/v1/dev-a/ack', '-q', '1', '-m', 'viewer-ack']);
  assert.is.not(viewerPub.code, 0);
  assert.ok(hasLog(tb.logs, 'publish denied', { client: 'noc-2', reason: 'viewer role publishes nothing' }));
  const viewerAck = await mosquitto('sub', [...creds(port, 'viewer', tb.tokens.viewer, 'noc-3'), '-t', 'fleet/v1/+/ack', '-E']);
  assert.match(viewerAck.stderr, /denied/i);
  const viewerAll = await mosquitto('sub', [...creds(port, 'viewer', tb.tokens.viewer, 'noc-4'), '-t', '#', '-E']);
  assert.match(viewerAll.stderr, /denied/i);

  // Collector: publishes ack/cmd/req for any device, may not publish device channels or subscribe to '#'.
  const collectorForge = await mosquitto('pub', [
    ...creds(port, 'collector', tb.tokens.collector, 'col-2'),
    '-t',
    'fleet/v1/dev-a/telemetry',
    '-q',
    '1',
    '-m',
    'forged',
  ]);
  assert.is.not(collectorForge.code, 0);
  const collectorAll = await mosquitto('sub', [...creds(port, 'collector', tb.tokens.collector, 'col-3'), '-t', 'fleet/v1/#', '-E']);
  assert.match(collectorAll.stderr, /denied/i);
  const sub = spawnMosquitto('sub', [...creds(port, 'dev-b', tb.tokens['dev-b']), '-t', 'fleet/v1/dev-b/cmd/req', '-q', '1', '-C', '1', '-W', '10']);
  await waitFor('dev-b subscribed', () => tb.logs.filter((l) => l.msg === 'client authenticated' && l.client === 'dev-b').length >= 2);
  await sleep(200);
  const cmd = await mosquitto('pub', [...creds(port, 'collector', tb.tokens.collector, 'col-4'), '-t', 'fleet/v1/dev-b/cmd/req', '-q', '1', '-m', 'diagnose']);
  assert.is(cmd.code, 0, cmd.stderr);
  const got = await finished(sub, 10_000);
  assert.is(got.stdout.trim(), 'diagnose');
  assert.not.ok(rec.got.some((m) => m.payload === 'forged'));
});

test('anonymous access is off by default', async () => {
  const r = await mosquitto('pub', ['-p', String(port), '-i', 'dev-a', '-t', 'fleet/v1/dev-a/telemetry', '-q', '1', '-m', 'anon']);
  assert.is.not(r.code, 0);
  assert.match(r.stderr, /not authori[sz]ed/i);
  assert.ok(hasLog(tb.logs, 'login refused', { reason: 'no credentials (anonymous access is off)' }));
});

test('anonymous access with the switch: device rules by client id, warned at start', async () => {
  const lab = await startFleetcareBroker({ allowAnonymous: true });
  try {
    assert.ok(hasLog(lab.logs, 'anonymous MQTT access is ON (lab use only): clients without credentials act as the device named by their client id'));
    assert.ok(lab.logs.some((l) => l.level === 40 && /anonymous/.test(l.msg)));
    const labRec = await recorder(lab.broker.port, lab.tokens.collector, ['fleet/v1/+/telemetry']);
    const ok = await mosquitto('pub', ['-p', String(lab.broker.port), '-i', 'lab-1', '-t', 'fleet/v1/lab-1/telemetry', '-q', '1', '-m', 'anon-ok']);
    assert.is(ok.code, 0, ok.stderr);
    await waitFor('anonymous telemetry', () => labRec.seen('fleet/v1/lab-1/telemetry', 'anon-ok'));
    const forged = await mosquitto('pub', ['-p', String(lab.broker.port), '-i', 'lab-1', '-t', 'fleet/v1/lab-2/telemetry', '-q', '1', '-m', 'anon-forged']);
    assert.is.not(forged.code, 0);
    await labRec.client.endAsync();
  } finally {
    await lab.close();
  }
});

test.run();
