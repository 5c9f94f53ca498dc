// The NOC's store queries on both telemetry stores: a downsampled series (mean per bucket, at most
// N buckets aligned on `from`) and a device's events newest first. The embedded SQLite store and a
// real influxd are given the same records and must give the same answers; the buckets are checked
// against the raw points themselves.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pino } from 'pino';
import { InfluxStore, SqliteStore, bucketWidth, type IngestRecord, type SeriesPoint, type TelemetryStore } from '../../collector/index.js';
import { CONTRACT_VERSION, type EventMessage, type TelemetryMessage } from '../../protocol/index.js';
import { Influxd } from '../helpers/influxd.js';
import { tempDir } from '../helpers/tmp.js';

const silent = pino({ level: 'silent' });
const T0 = Date.UTC(2025, 0, 6, 8, 0, 0, 137); // not aligned on anything
const DEVICE = 'pos-ds';

let influxd: Influxd;
let influx: InfluxStore;
let sqlite: SqliteStore;
const dir = tempDir('fleetcare-store-q-');

// 600 telemetry messages ~1 s apart (two peripherals), with irregular gaps, and 40 events,
// several sharing a millisecond.
function records(): IngestRecord[] {
  const out: IngestRecord[] = [];
  let ts = T0;
  for (let seq = 1; seq <= 600; seq++) {
    ts += seq % 97 === 0 ? 60_000 : 700 + ((seq * 37) % 600);
    const m: TelemetryMessage = {
      v: CONTRACT_VERSION,
      device: DEVICE,
      seq,
      ts,
      samples: [
        {
          peripheral: 'printer0',
          kind: 'printer',
          ts,
          health: 'ok',
          metrics: { temperature: 35 + Math.sin(seq / 7) * 5 + (seq % 3) / 10 },
          counters: { autocutterCuts: 1000 + seq * 3 },
          faults: [],
        },
        { peripheral: 'host', kind: 'host', ts: ts - 5, health: 'ok', metrics: { cpuPct: (seq * 13) % 100 }, counters: {}, faults: [] },
      ],
    };
    out.push({ channel: 'telemetry', device: DEVICE, seq, arrivedAt: ts + 40, tags: { site: 'riyadh-1', tenant: 'acme' }, message: m });
  }
  for (let i = 0; i < 40; i++) {
    const seq = 1000 + i;
    const e: EventMessage = {
      v: CONTRACT_VERSION,
      device: DEVICE,
      seq,
      ts: T0 + Math.floor(i / 3) * 20_000, // three events per ms
      type: i % 2 ? 'fault-cleared' : 'fault-raised',
      ...(i % 5 ? { peripheral: 'printer0', code: 'paper-end' } : {}),
      severity: i % 4 ? 'warning' : 'info',
      ...(i % 3 ? { message: `event "${i}", with, commas` } : {}),
      ...(i % 6 === 0 ? { data: { dropped: i, why: 'full', ok: false } } : {}),
    };
    out.push({ channel: 'event', device: DEVICE, seq, arrivedAt: e.ts + 10, tags: {}, message: e });
  }
  return out;
}

test.before(async () => {
  influxd = await Influxd.create();
  influx = new InfluxStore(
    { url: influxd.url, database: 'fc_noc_q', retentionDays: 3650, downsample: { every: '1h', retentionDays: 3650 }, timeoutMs: 10_000 },
    silent,
  );
  sqlite = new SqliteStore(`${dir.path}/telemetry.db`, silent);
  await influx.init();
  await sqlite.init();
  const all = records();
  for (const s of [influx, sqlite] as TelemetryStore[]) for (let i = 0; i < all.length; i += 100) await s.write(all.slice(i, i + 100));
});
test.after(async () => {
  await influx.close();
  await sqlite.close();
  await influxd.destroy();
  dir.remove();
});

/** Means of the raw points per bucket, computed here from the raw series. */
function expectedBuckets(raw: SeriesPoint[], from: number, bucketMs: number): SeriesPoint[] {
  const sums = new Map<number, { sum: number; n: number }>();
  for (const p of raw) {
    const k = Math.floor((p.ts - from) / bucketMs);
    const s = sums.get(k) ?? { sum: 0, n: 0 };
    s.sum += p.value;
    s.n++;
    sums.set(k, s);
  }
  return [...sums].sort((a, b) => a[0] - b[0]).map(([k, s]) => ({ ts: from + k * bucketMs, value: s.sum / s.n }));
}

function assertClose(actual: SeriesPoint[], expected: SeriesPoint[], what: string): void {
  assert.equal(
    actual.map((p) => p.ts),
    expected.map((p) => p.ts),
    `${what}: bucket times`,
  );
  actual.forEach((p, i) => {
    const want = expected[i].value;
    // The stores sum in different orders: equal up to float rounding.
    assert.ok(Math.abs(p.value - want) <= 1e-9 * Math.max(1, Math.abs(want)), `${what}: bucket ${i} ${p.value} vs ${want}`);
  });
}

test('series downsampling: at most N buckets from `from`, each the mean of its raw points, on both stores', async () => {
  const end = T0 + 700_000;
  const cases = [
    { peripheral: 'printer0', field: 'temperature', from: T0 + 1_234, to: end, buckets: 37 },
    { peripheral: 'printer0', field: 'autocutterCuts', from: T0, to: end, buckets: 100 },
    { peripheral: 'host', field: 'cpuPct', from: T0 + 50_000, to: T0 + 90_000, buckets: 7 },
    { peripheral: 'printer0', field: 'temperature', from: T0 - 10_000, to: end + 10_000, buckets: 1 },
    // More buckets than points: every point alone in its bucket.
    { peripheral: 'printer0', field: 'temperature', from: T0 + 10_000, to: T0 + 20_000, buckets: 5000 },
  ];
  for (const c of cases) {
    const q = { device: DEVICE, ...c };
    const raw = await sqlite.series(q);
    assert.equal(await influx.series(q), raw, 'raw series agree');
    assert.ok(raw.length > 0, `${c.field}: raw points in range`);
    const bucketMs = bucketWidth(c.from, c.to, c.buckets);
    assert.ok(Math.ceil((c.to - c.from + 1) / bucketMs) <= c.buckets, 'the range fits in N buckets');
    const want = expectedBuckets(raw, c.from, bucketMs);
    for (const store of [sqlite, influx] as TelemetryStore[]) {
      const got = await store.seriesBuckets(q);
      assert.is(got.bucketMs, bucketMs, `${store.kind} bucketMs`);
      assert.ok(got.points.length <= c.buckets, `${store.kind}: ${got.points.length} ≤ ${c.buckets} points`);
      assertClose(got.points, want, `${store.kind} ${c.field} ×${c.buckets}`);
    }
    if (c.buckets === 1) assert.is(want.length, 1);
    if (c.buckets === 5000) assert.is(want.length, raw.length, 'one point per bucket');
    else assert.ok(want.length < raw.length, 'downsampled');
  }
  // The gaps of a minute leave empty buckets, which are left out rather than filled.
  const sparse = await sqlite.seriesBuckets({ device: DEVICE, peripheral: 'printer0', field: 'temperature', from: T0, to: end, buckets: 600 });
  const steps = sparse.points.slice(1).map((p, i) => p.ts - sparse.points[i].ts);
  assert.ok(
    steps.some((s) => s > sparse.bucketMs),
    'a gap shows as missing buckets',
  );
  assert.ok(
    steps.every((s) => s % sparse.bucketMs === 0),
    'buckets stay on the grid',
  );
});

test('series of an unknown field, peripheral or device is empty on both stores', async () => {
  for (const q of [
    { device: DEVICE, peripheral: 'printer0', field: 'noSuchField' },
    { device: DEVICE, peripheral: 'printer9', field: 'temperature' },
    { device: 'pos-none', peripheral: 'printer0', field: 'temperature' },
  ]) {
    for (const store of [sqlite, influx] as TelemetryStore[]) {
      const r = await store.seriesBuckets({ ...q, from: T0, to: T0 + 700_000, buckets: 10 });
      assert.equal(r.points, [], `${store.kind} ${JSON.stringify(q)}`);
    }
  }
});

test('events: newest first, limited, within from..to inclusive, the same on both stores', async () => {
  const all = await sqlite.events(DEVICE, 0, T0 + 10_000_000, 1000);
  assert.is(all.length, 40);
  assert.equal(await influx.events(DEVICE, 0, T0 + 10_000_000, 1000), all);
  for (let i = 1; i < all.length; i++)
    assert.ok(all[i - 1].ts > all[i].ts || (all[i - 1].ts === all[i].ts && all[i - 1].seq > all[i].seq), 'newest first, then highest seq');
  const e0 = all.find((e) => e.seq === 1000)!;
  assert.equal(e0, {
    ts: T0,
    seq: 1000,
    type: 'fault-raised',
    peripheral: null,
    code: null,
    severity: 'info',
    message: null,
    data: { dropped: 0, why: 'full', ok: false },
  });
  assert.is(all.find((e) => e.seq === 1001)!.message, 'event "1", with, commas');
  // Inclusive bounds, on an instant shared by three events.
  const from = T0 + 2 * 20_000;
  const to = T0 + 5 * 20_000;
  const some = await sqlite.events(DEVICE, from, to, 1000);
  assert.equal(
    some.map((e) => e.seq),
    [1017, 1016, 1015, 1014, 1013, 1012, 1011, 1010, 1009, 1008, 1007, 1006],
  );
  assert.equal(await influx.events(DEVICE, from, to, 1000), some);
  const limited = await sqlite.events(DEVICE, from, to, 4);
  assert.equal(limited, some.slice(0, 4));
  assert.equal(await influx.events(DEVICE, from, to, 4), limited);
  assert.equal(await sqlite.events('pos-none', 0, T0 + 10_000_000, 10), []);
  assert.equal(await influx.events('pos-none', 0, T0 + 10_000_000, 10), []);
});

test.run();
