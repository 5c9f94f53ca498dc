// The telemetry/event fast path (protocol/fast-decode.ts) against zod, the source of truth:
// on many generated valid and invalid payloads both must give the same verdict, and whenever the
// fast path accepts on its own, zod must accept too with a deep-equal value.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeDeviceMessage, parseTopic } from '../protocol/index.js';
import { decodeDeviceMessageFast, eventOk, parseTopicFast, telemetryOk } from '../protocol/fast-decode.js';
import { eventMessage, telemetryMessage } from '../protocol/messages.js';
import { seededRandom } from '../sim/wear.js';

// Deterministic PRNG (mulberry32) so a failure is reproducible from the printed seed.
const rng = seededRandom;

type R = () => number;
const pick = <T>(r: R, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
const chance = (r: R, p: number) => r() < p;

const ID_CHARS = 'abcXYZ019._-';
const WEIRD_STRINGS = [
  '',
  ' ',
  '-lead',
  '.dot',
  '_u',
  'a/b',
  'a+b',
  'a#',
  'é',
  'x'.repeat(64),
  'x'.repeat(65),
  '__proto__',
  'constructor',
  'toString',
  'a b',
  '\u0000',
  'Ab9',
  'ok',
  'OK',
];
const WEIRD_NUMBERS = [0, -0, 1, -1, 0.5, -0.5, 2 ** 53 - 1, 2 ** 53, 2 ** 60, -(2 ** 53), 1e308, 1e-300, 3.2, 12e9];

function idString(r: R): string {
  if (chance(r, 0.15)) return pick(r, WEIRD_STRINGS);
  const n = 1 + Math.floor(r() * 12);
  let s = pick(r, ['a', 'Z', '7']);
  for (let i = 1; i < n; i++) s += pick(r, ID_CHARS.split(''));
  return s;
}

function metricName(r: R): string {
  if (chance(r, 0.1)) return pick(r, [...WEIRD_STRINGS, '9lead', 'a-b', 'seq', 'health', 'ok_1']);
  return pick(r, ['load1', 'diskFreeBytes', 'replyLatencyMs', 'linesFed', 'temp_c', 'T', 'x'.repeat(64)]);
}

function num(r: R): unknown {
  if (chance(r, 0.85)) return pick(r, [Math.round(r() * 1e6), r() * 100, Math.floor(r() * 1e9)]);
  return chance(r, 0.8) ? pick(r, WEIRD_NUMBERS) : pick(r, ['1', null, true, [], {}]);
}

function record(r: R): unknown {
  if (chance(r, 0.05)) return pick(r, [null, [], 'x', 3]);
  const o: Record<string, unknown> = {};
  const n = Math.floor(r() * 4);
  for (let i = 0; i < n; i++) o[metricName(r)] = num(r);
  return o;
}

function sample(r: R, device: string): unknown {
  if (chance(r, 0.03)) return pick(r, [null, [], 'sample', 1]);
  const s: Record<string, unknown> = {
    peripheral: chance(r, 0.9) ? pick(r, ['printer0', 'host', 'reader-1']) : idString(r),
    kind: chance(r, 0.93) ? pick(r, ['host', 'printer', 'card-reader', 'fingerprint', 'clock']) : pick(r, ['Printer', '', 'scanner', 1]),
    ts: chance(r, 0.93) ? 1_700_000_000_000 + Math.floor(r() * 1e6) : pick(r, [...WEIRD_NUMBERS, '1', null]),
    health: chance(r, 0.93) ? pick(r, ['ok', 'warning', 'critical', 'absent', 'unknown']) : pick(r, ['OK', '', 'bad', null]),
    metrics: record(r),
    counters: record(r),
    faults: chance(r, 0.9)
      ? Array.from({ length: Math.floor(r() * 3) }, () =>
          chance(r, 0.85) ? pick(r, ['paper-end', 'cover-open', 'e1']) : pick(r, ['Paper', '-x', '', 'a_b', 3, 'x'.repeat(65)]),
        )
      : pick(r, [null, 'paper-end', Array(33).fill('x')]),
  };
  void device;
  mutate(r, s, ['peripheral', 'kind', 'ts', 'health', 'metrics', 'counters', 'faults']);
  return s;
}

/** Occasionally drops a key (default or required), or adds an unknown one. */
function mutate(r: R, o: Record<string, unknown>, keys: string[]): void {
  if (chance(r, 0.08)) delete o[pick(r, keys)];
  if (chance(r, 0.04)) o[pick(r, ['extra', '__proto__', 'constructor', 'Samples'])] = 1;
}

function telemetry(r: R, device: string): unknown {
  const m: Record<string, unknown> = {
    v: chance(r, 0.95) ? 1 : pick(r, [2, '1', 0, null]),
    device: chance(r, 0.95) ? device : idString(r),
    seq: chance(r, 0.93) ? 1 + Math.floor(r() * 1e9) : pick(r, [...WEIRD_NUMBERS, '5', null]),
    ts: chance(r, 0.95) ? 1_700_000_000_000 : pick(r, [...WEIRD_NUMBERS, null]),
    samples: chance(r, 0.95)
      ? Array.from({ length: chance(r, 0.05) ? 0 : 1 + Math.floor(r() * 3) }, () => sample(r, device))
      : pick(r, [[], null, {}, Array(501).fill(0)]),
  };
  mutate(r, m, ['v', 'device', 'seq', 'ts', 'samples']);
  return m;
}

function event(r: R, device: string): unknown {
  const m: Record<string, unknown> = {
    v: chance(r, 0.95) ? 1 : pick(r, [2, '1']),
    device: chance(r, 0.95) ? device : idString(r),
    seq: chance(r, 0.93) ? 1 + Math.floor(r() * 1e9) : pick(r, WEIRD_NUMBERS),
    ts: 1_700_000_000_000,
    type: chance(r, 0.93) ? pick(r, ['fault-raised', 'fault-cleared', 'outbox-dropped', 'driver-error']) : pick(r, ['fault', '', 3]),
  };
  if (chance(r, 0.8)) m.severity = chance(r, 0.93) ? pick(r, ['info', 'warning', 'critical']) : pick(r, ['Info', '', 1]);
  if (chance(r, 0.5)) m.peripheral = chance(r, 0.9) ? 'printer0' : idString(r);
  if (chance(r, 0.5)) m.code = chance(r, 0.9) ? 'paper-end' : pick(r, ['x'.repeat(65), 3, '']);
  if (chance(r, 0.4)) m.message = chance(r, 0.95) ? 'paper ran out' : pick(r, ['x'.repeat(1001), null]);
  if (chance(r, 0.3)) {
    const d: Record<string, unknown> = {};
    for (let i = 0; i < 1 + Math.floor(r() * 3); i++)
      d[metricName(r)] = chance(r, 0.8) ? pick(r, [120, 'x', true, false, 1.5]) : pick(r, [null, [], {}, 'y'.repeat(201), Number.POSITIVE_INFINITY]);
    m.data = d;
  }
  mutate(r, m, ['v', 'device', 'seq', 'ts', 'type', 'severity', 'data']);
  return m;
}

/** JSON text, sometimes with a non-finite number (JSON.parse gives Infinity) or broken. */
function text(r: R, value: unknown): string {
  let s = JSON.stringify(value) ?? 'null';
  if (chance(r, 0.01)) s = s.replace(/\d+(\.\d+)?/, '1e999');
  if (chance(r, 0.01)) s = s.slice(0, Math.floor(s.length / 2));
  return s;
}

test('fast decode gives the same verdict and value as zod on generated payloads', () => {
  const seed = Number(process.env.FAST_DECODE_SEED ?? 20261123);
  const r = rng(seed);
  const N = 30_000;
  let fastAccepted = 0;
  let valid = 0;
  const verdicts = { ok: 0, bad: 0 };
  for (let i = 0; i < N; i++) {
    const channel = chance(r, 0.7) ? 'telemetry' : 'event';
    const device = chance(r, 0.97) ? pick(r, ['pos-001', 'A', 'kiosk.7_b']) : idString(r);
    const topic = chance(r, 0.97)
      ? `fleet/v1/${device}/${channel}`
      : pick(r, [`fleet/v1/${device}/ack`, `fleet/v2/${device}/${channel}`, `fleet/v1/+/${channel}`, `fleet/v1/${device}/status`]);
    const value = channel === 'telemetry' ? telemetry(r, device) : event(r, device);
    const payload = chance(r, 0.5) ? text(r, value) : Buffer.from(text(r, value));
    const viaZod = decodeDeviceMessage(topic, payload);
    const viaFast = decodeDeviceMessageFast(topic, payload);
    const ctx = `seed ${seed} case ${i}: ${topic} ${String(payload).slice(0, 400)}`;
    assert.equal(viaFast, viaZod, ctx);
    if (viaZod.ok) valid++;
    verdicts[viaZod.ok ? 'ok' : 'bad']++;
    // The fast predicates on their own: accepting means zod accepts it unchanged.
    let parsed: unknown;
    try {
      parsed = JSON.parse(String(payload));
    } catch {
      continue;
    }
    const schema = channel === 'telemetry' ? telemetryMessage : eventMessage;
    if (channel === 'telemetry' ? telemetryOk(parsed) : eventOk(parsed)) {
      fastAccepted++;
      const z = schema.safeParse(parsed);
      assert.ok(z.success, ctx);
      assert.equal(z.data, parsed, ctx);
    }
  }
  // The generator must exercise both sides, and the fast path must take most valid messages.
  assert.ok(verdicts.ok > N * 0.2 && verdicts.bad > N * 0.2, JSON.stringify(verdicts));
  assert.ok(fastAccepted > valid * 0.6, `fast path took ${fastAccepted} of ${valid} valid messages`);
});

test('canonical agent telemetry and events take the fast path', () => {
  const t = {
    v: 1,
    device: 'pos-001',
    seq: 9,
    ts: 1,
    samples: [{ peripheral: 'host', kind: 'host', ts: 1, health: 'ok', metrics: { load1: 0.1 }, counters: { n: 3 }, faults: ['paper-end'] }],
  };
  assert.ok(telemetryOk(t));
  assert.ok(
    eventOk({
      v: 1,
      device: 'pos-001',
      seq: 9,
      ts: 1,
      type: 'fault-raised',
      severity: 'warning',
      peripheral: 'printer0',
      code: 'paper-end',
      data: { dropped: 3 },
    }),
  );
  // Defaults missing or keys zod would strip: deferred to zod (which accepts), not accepted here.
  assert.not.ok(eventOk({ v: 1, device: 'pos-001', seq: 9, ts: 1, type: 'fault-raised' }));
  assert.not.ok(telemetryOk({ ...t, extra: 1 }));
  const r = decodeDeviceMessageFast('fleet/v1/pos-001/event', JSON.stringify({ v: 1, device: 'pos-001', seq: 9, ts: 1, type: 'fault-raised' }));
  assert.ok(r.ok && r.value.channel === 'event' && r.value.message.severity === 'info');
});

test('parseTopicFast equals parseTopic', () => {
  const r = rng(7);
  const parts = [
    'fleet',
    'v1',
    'v2',
    '',
    '+',
    '#',
    'pos-001',
    'a',
    '-a',
    'x'.repeat(64),
    'x'.repeat(65),
    'telemetry',
    'cmd',
    'res',
    'ack',
    'status',
    'cmd/res',
    'cmd/req',
    '__proto__',
    'toString',
    'é',
  ];
  for (let i = 0; i < 20_000; i++) {
    const n = 1 + Math.floor(r() * 5);
    const segs = chance(r, 0.6) ? ['fleet', 'v1'] : [];
    for (let k = 0; k < n; k++) segs.push(pick(r, parts));
    const topic = segs.join('/');
    assert.equal(parseTopicFast(topic), parseTopic(topic), topic);
  }
});

test.run();
