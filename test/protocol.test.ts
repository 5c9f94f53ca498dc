import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { contractJsonSchema } from '../protocol/json-schema.js';
import { decodeDeviceMessage, decodeAck, seqRanges, topicFor, parseTopic, CONTRACT_VERSION } from '../protocol/index.js';

const telemetry = {
  v: CONTRACT_VERSION,
  device: 'pos-001',
  seq: 7,
  ts: 1_700_000_000_000,
  samples: [
    {
      peripheral: 'printer0',
      kind: 'printer',
      ts: 1_700_000_000_000,
      health: 'ok',
      metrics: { temperature: 41.5 },
      counters: { cutterCuts: 1200 },
      faults: [],
    },
  ],
};

test('topics round-trip and reject foreign or malformed topics', () => {
  assert.equal(topicFor('pos-001', 'telemetry'), 'fleet/v1/pos-001/telemetry');
  assert.equal(parseTopic('fleet/v1/pos-001/cmd/res'), { device: 'pos-001', channel: 'cmd/res' });
  assert.is(parseTopic('fleet/v1/pos-001/nope'), null);
  assert.is(parseTopic('fleet/v2/pos-001/telemetry'), null);
  assert.is(parseTopic('fleet/v1/+/telemetry'), null);
  assert.is(parseTopic('fleet/v1//telemetry'), null);
  assert.is(parseTopic('fleet/v1/pos-001/toString'), null, 'inherited object keys are not channels');
  assert.is(parseTopic('fleet/v1/pos-001/constructor'), null);
});

test('a valid telemetry message decodes with defaults filled', () => {
  const r = decodeDeviceMessage('fleet/v1/pos-001/telemetry', JSON.stringify(telemetry));
  assert.ok(r.ok);
  if (r.ok && r.value.channel === 'telemetry') assert.equal(r.value.message.samples[0].counters.cutterCuts, 1200);
});

test('each kind of bad input is refused with its own reason', () => {
  const cases: Array<[string, string | Uint8Array, string]> = [
    ['fleet/v1/pos-001/telemetry', '{not json', 'bad-json'],
    ['fleet/v1/pos-001/telemetry', JSON.stringify({ ...telemetry, v: 99 }), 'unknown-version'],
    ['fleet/v1/pos-001/telemetry', JSON.stringify({ ...telemetry, seq: -1 }), 'schema'],
    ['fleet/v1/pos-002/telemetry', JSON.stringify(telemetry), 'device-mismatch'],
    ['fleet/v1/pos-001/ack', JSON.stringify(telemetry), 'not-device-channel'],
    ['other/topic', JSON.stringify(telemetry), 'bad-topic'],
    ['fleet/v1/pos-001/telemetry', new Uint8Array(300 * 1024), 'too-large'],
    ['fleet/v1/pos-001/telemetry', Buffer.from([0xff, 0xfe, 0x00, 0x7b]), 'bad-json'],
  ];
  for (const [topic, payload, reason] of cases) {
    const r = decodeDeviceMessage(topic, payload);
    assert.is(r.ok, false, `${topic} ${reason}`);
    if (!r.ok) assert.is(r.reason, reason);
  }
});

test('schema errors name the field', () => {
  const bad = { ...telemetry, samples: [{ ...telemetry.samples[0], counters: { cutterCuts: 1.5 } }] };
  const r = decodeDeviceMessage('fleet/v1/pos-001/telemetry', JSON.stringify(bad));
  assert.is(r.ok, false);
  if (!r.ok) assert.match(r.detail, 'samples.0.counters.cutterCuts');
});

test('seqRanges merges seqs into inclusive ranges and ack validates them', () => {
  assert.equal(seqRanges([5, 1, 2, 3, 9, 10, 3]), [
    [1, 3],
    [5, 5],
    [9, 10],
  ]);
  assert.ok(decodeAck(JSON.stringify({ v: 1, ranges: [[1, 3]], ts: 1 })).ok);
  const r = decodeAck(JSON.stringify({ v: 1, ranges: [[4, 3]], ts: 1 }));
  assert.is(r.ok, false);
});

test('docs/contract.schema.json is generated from the current schemas (node dist/protocol/json-schema.js)', () => {
  const committed = JSON.parse(readFileSync(new URL('../../docs/contract.schema.json', import.meta.url), 'utf8'));
  assert.equal(committed, contractJsonSchema());
});

test.run();
