// The clock plausibility decision on its own: a dead RTC cell (1970), a clock far ahead, a clock
// older than the retention; placement at arrival keeps the device's times and the samples' spacing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultClockGuard, deviceTimeOf, judgeDeviceTime, placeByArrival } from '../../collector/telemetry/clock-guard.js';
import type { IngestRecord } from '../../collector/telemetry/store.js';
import { event, telemetry } from './fixtures.js';

const NOW = Date.UTC(2026, 5, 1, 12);
const DAY = 86_400_000;

test('judgeDeviceTime: reset clock, future clock, too old; a normal drift and a backlog are plausible', () => {
  assert.is(judgeDeviceTime(0, NOW), 'before-floor');
  assert.is(judgeDeviceTime(Date.UTC(1970, 0, 1, 0, 5), NOW), 'before-floor');
  assert.is(judgeDeviceTime(Date.UTC(2019, 11, 31), NOW), 'before-floor');
  assert.is(judgeDeviceTime(NOW + 2 * 3_600_000, NOW), 'future');
  assert.is(judgeDeviceTime(Date.UTC(2038, 0, 19), NOW), 'future');
  assert.is(judgeDeviceTime(NOW + 5 * 60_000, NOW), 'plausible', 'a few minutes ahead is drift, not a reset');
  assert.is(judgeDeviceTime(NOW - 20 * DAY, NOW), 'plausible', 'an outbox backlog after an outage');
  assert.is(judgeDeviceTime(NOW - 100 * DAY, NOW, { ...defaultClockGuard, maxBehindMs: 90 * DAY }), 'too-old');
});

test('placeByArrival: telemetry from 1970 placed at arrival, spacing kept, device times kept; plausible records untouched', () => {
  const t = telemetry('pos-rtc', 7, { ts: 120_000, samples: 3 });
  const r: IngestRecord = { channel: 'telemetry', device: 'pos-rtc', seq: 7, arrivedAt: NOW, tags: {}, message: t };
  const p = placeByArrival(r);
  assert.ok(p.clock);
  assert.is(p.clock!.verdict, 'before-floor');
  assert.is(p.clock!.deviceTs, 120_000);
  assert.equal(p.clock!.sampleDeviceTs, [119_800, 119_900, 120_000]);
  assert.is(p.message.ts, NOW);
  assert.equal(p.channel === 'telemetry' && p.message.samples.map((s) => s.ts), [NOW - 200, NOW - 100, NOW]);
  assert.is(deviceTimeOf(p), 120_000, 'the offset is computed from the device time');
  assert.is(r.message.ts, 120_000, 'the original record is not changed (the fleet view reads it)');
  const ok: IngestRecord = { ...r, message: telemetry('pos-rtc', 8, { ts: NOW - 1000 }) };
  assert.is(placeByArrival(ok), ok);
});

test('placeByArrival: a future event, and one sample gone bad inside a sane message', () => {
  const e: IngestRecord = { channel: 'event', device: 'd', seq: 3, arrivedAt: NOW, tags: {}, message: event('d', 3, { ts: NOW + 400 * DAY }) };
  const p = placeByArrival(e);
  assert.is(p.clock?.verdict, 'future');
  assert.is(p.message.ts, NOW);
  assert.is(p.clock?.deviceTs, NOW + 400 * DAY);
  const t = telemetry('d', 9, { ts: NOW - 1000, samples: 2 });
  t.samples[0] = { ...t.samples[0], ts: 5 };
  const q = placeByArrival({ channel: 'telemetry', device: 'd', seq: 9, arrivedAt: NOW, tags: {}, message: t });
  assert.is(q.clock?.verdict, 'before-floor');
  assert.is(q.message.ts, NOW - 1000, 'a sane envelope keeps its time');
  assert.equal(q.channel === 'telemetry' && q.message.samples.map((s) => s.ts), [NOW, NOW - 1000]);
});

test.run();
