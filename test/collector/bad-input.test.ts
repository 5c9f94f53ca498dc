// Garbage from a third-party client (mosquitto_pub): each kind is dead-lettered with its reason,
// counted, logged once (a flood does not flood the log), and the collector keeps working.
// Runs on the embedded SQLite store (no InfluxDB configured).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startCollector, type CollectorHandle } from '../../collector/index.js';
import { waitFor } from '../helpers/net.js';
import { tempDir, type TempDir } from '../helpers/tmp.js';
import { closeTracked, track, FakeDevice, mosquittoPub, telemetry } from './fixtures.js';
import { captureLog } from '../helpers/log.js';
import { TestBroker } from '../helpers/broker.js';

let broker: TestBroker;
let dir: TempDir;
let c: CollectorHandle;
const cap = captureLog('info');

test.before(async () => {
  broker = await TestBroker.create();
  dir = tempDir('fleetcare-collector-');
  c = await startCollector(
    { dataDir: dir.path, mqtt: { url: broker.url }, maxPayloadBytes: 4096, deadLetters: { maxRows: 50, excerptBytes: 64 }, batch: { maxDelayMs: 50 } },
    { log: cap.log },
  );
});
test.after.each(closeTracked);
test.after(async () => {
  await c.close();
  await broker.close();
  dir.remove();
});

const good = (seq: number, device = 'pos-bad') => JSON.stringify(telemetry(device, seq));

test('each kind of bad payload is dead-lettered with its reason and counted', async () => {
  const t = 'fleet/v1/pos-bad/telemetry';
  const cases: Array<[string, string | Buffer, string]> = [
    [t, '{"v":1,"device":"pos-bad",', 'bad-json'],
    [t, Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x7b]), 'bad-json'],
    [t, JSON.stringify({ ...telemetry('pos-bad', 1), seq: -1 }), 'schema'],
    [t, JSON.stringify({ ...telemetry('pos-bad', 2), samples: [] }), 'schema'],
    ['fleet/v1/pos-bad/event', JSON.stringify({ v: 1, device: 'pos-bad', seq: 3, ts: 1, type: 'no-such-type' }), 'schema'],
    [t, JSON.stringify({ ...telemetry('pos-bad', 4), v: 2 }), 'unknown-version'],
    [t, good(5, 'pos-other'), 'device-mismatch'],
    [t, JSON.stringify({ ...telemetry('pos-bad', 6), pad: 'x'.repeat(5000) }), 'too-large'],
    ['fleet/v1/bad!id/telemetry', good(7), 'bad-topic'],
  ];
  for (const [topic, payload] of cases) await mosquittoPub(broker.port, topic, payload);
  await waitFor('all refused', () => c.stats().deadLetters === cases.length);
  const expected: Record<string, number> = {};
  for (const [, , reason] of cases) expected[reason] = (expected[reason] ?? 0) + 1;
  assert.equal(c.stats().rejected, expected);
  const dead = c.deadLetters(100);
  assert.equal(dead.map((d) => d.reason).sort(), cases.map((x) => x[2]).sort());
  const schema = dead.find((d) => d.reason === 'schema' && d.detail.includes('seq'));
  assert.ok(schema, 'schema errors name the field');
  const mismatch = dead.find((d) => d.reason === 'device-mismatch')!;
  assert.is(mismatch.topic, t);
  assert.match(mismatch.detail, 'pos-other');
  const big = dead.find((d) => d.reason === 'too-large')!;
  assert.ok(big.payload.length <= 64, 'payload excerpt is bounded');
  assert.ok(dead.every((d) => d.at > 0));
  // One specific log line per reason.
  for (const reason of Object.keys(expected)) assert.is(cap.find(`message refused: ${reason}`).length, 1, reason);

  // And it still works.
  const dev = track(await FakeDevice.connect(broker.url, 'pos-bad'));
  await dev.publish('telemetry', telemetry('pos-bad', 10));
  await waitFor('ack of a good message after the garbage', () => dev.acked.has(10));
  assert.equal(await c.store.seqCounts('pos-bad'), [{ seq: 10, points: 1 }]);
});

test('a flood of garbage is logged once, kept within the dead-letter bound, and crashes nothing', async () => {
  const before = c.stats().rejected['bad-json'] ?? 0;
  const lines = Array.from({ length: 400 }, (_, i) => `garbage ${i} {{{`).join('\n') + '\n';
  await mosquittoPub(broker.port, 'fleet/v1/pos-flood/telemetry', lines, 'lines');
  await waitFor('flood counted', () => (c.stats().rejected['bad-json'] ?? 0) === before + 400);
  assert.is(cap.find('message refused: bad-json').length, 1, 'rate-limited: no new line within the window');
  assert.ok(c.deadLetters(1000).length <= 50, 'dead letters bounded by maxRows');
  assert.match(c.deadLetters(1)[0].payload, 'garbage 399');
  const dev = track(await FakeDevice.connect(broker.url, 'pos-flood'));
  await dev.publish('telemetry', telemetry('pos-flood', 1));
  await waitFor('still acking', () => dev.acked.has(1));
});

test('garbage on the status channel does not create or change a device', async () => {
  await mosquittoPub(broker.port, 'fleet/v1/pos-ret/status', 'not json at all');
  await waitFor('refused', () => c.deadLetters(1)[0]?.topic === 'fleet/v1/pos-ret/status');
  assert.ok(!c.fleet().some((d) => d.device === 'pos-ret'));
});

test.run();
