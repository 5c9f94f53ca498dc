// Collector → real influxd: schema objects at start, integer counters, acks only after the
// write, duplicates re-acked and not re-written, escaping, and the embedded store answering
// the same queries the same way.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pino } from 'pino';
import { startCollector, InfluxStore, SqliteStore, type CollectorHandle, type IngestRecord } from '../../collector/index.js';
import { Influxd } from '../helpers/influxd.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { CONTRACT_VERSION, type EventMessage } from '../../protocol/index.js';
import { closeTracked, track, FakeDevice, T0, event, range, telemetry } from './fixtures.js';
import { TestBroker } from '../helpers/broker.js';
import { using } from '../helpers/rig.js';

const silent = pino({ level: 'silent' });
let influxd: Influxd;
let broker: TestBroker;
const dirs: Array<{ remove(): void }> = [];

test.before(async () => {
  influxd = await Influxd.create();
  broker = await TestBroker.create();
});
test.after.each(closeTracked);
test.after(async () => {
  await broker.close();
  await influxd.destroy();
  for (const d of dirs) d.remove();
});

async function collector(database: string, extra: Record<string, unknown> = {}): Promise<CollectorHandle> {
  const dir = tempDir('fleetcare-collector-');
  dirs.push(dir);
  return startCollector(
    {
      dataDir: dir.path,
      mqtt: { url: broker.url, clientId: `collector-${database}` },
      influx: { url: influxd.url, database },
      batch: { maxDelayMs: 50 },
      ...extra,
    },
    { log: silent },
  );
}

/** A collector writing to `database` and a fake device `device` talking to it; close() closes the device, then the collector. */
async function collectorAndDevice(database: string, device: string) {
  const c = track(await collector(database));
  const dev = track(await FakeDevice.connect(broker.url, device));
  const close = async () => {
    await dev.close();
    await c.close();
  };
  return { c, dev, close };
}

test('creates the database, both retention policies and the downsampling CQ at start, idempotently', async () => {
  const c1 = track(await collector('fc_schema'));
  await c1.close();
  const dir = tempDir('fleetcare-collector-');
  dirs.push(dir);
  // Second start with a different interval: nothing fails, the CQ is replaced.
  const c2 = track(
    await startCollector(
      {
        dataDir: dir.path,
        mqtt: { url: broker.url, clientId: 'collector-schema2' },
        influx: { url: influxd.url, database: 'fc_schema', downsample: { every: '30m' } },
      },
      { log: silent },
    ),
  );
  await c2.close();
  const rps = await influxd.query('SHOW RETENTION POLICIES ON fc_schema');
  const raw = rps.find((r) => r.name === 'raw');
  const down = rps.find((r) => r.name === 'downsampled');
  assert.ok(raw && down, JSON.stringify(rps));
  assert.is(raw!.duration, '2160h0m0s');
  assert.is(raw!.default, true);
  assert.is(down!.duration, '17520h0m0s');
  assert.is(down!.default, false);
  const cqs = await influxd.query('SHOW CONTINUOUS QUERIES');
  const mine = cqs.filter((q) => q.name === 'telemetry_downsample' && String(q.query).includes('fc_schema'));
  assert.is(mine.length, 1, JSON.stringify(cqs));
  assert.match(String(mine[0].query), 'GROUP BY time(30m)');
  assert.match(String(mine[0].query), 'mean(*), max(*)');
});

test('telemetry and events land in InfluxDB with integer counters; every ack comes after the write', () =>
  using(collectorAndDevice('fc_ingest', 'pos-ingest'), async ({ c, dev }) => {
    const notYetStored: number[] = [];
    let checks = 0;
    // The moment an ack arrives, what it covers must already be queryable.
    dev.onAck(async (ranges) => {
      for (const [a, b] of ranges) {
        for (let s = a; s <= b; s++) {
          const rows = [
            ...(await influxd.query(`SELECT count(health) FROM telemetry WHERE device = 'pos-ingest' AND seq = ${s}`, 'fc_ingest')),
            ...(await influxd.query(`SELECT count(severity) FROM event WHERE device = 'pos-ingest' AND seq = ${s}`, 'fc_ingest')),
          ];
          checks++;
          if (rows.length === 0) notYetStored.push(s);
        }
      }
    });
    for (const s of range(1, 30)) await dev.publish('telemetry', telemetry('pos-ingest', s, { samples: 3 }));
    for (const s of range(31, 35)) await dev.publish('event', event('pos-ingest', s));
    await waitFor('all 35 seqs acked', () => dev.acked.size === 35);
    await waitFor('ack checks done', () => checks >= 35);
    assert.equal(notYetStored, []);

    const fields = await influxd.query('SHOW FIELD KEYS FROM telemetry', 'fc_ingest');
    const type = (k: string) => fields.find((f) => f.fieldKey === k)?.fieldType;
    assert.is(type('linesPrinted'), 'integer');
    assert.is(type('cutterCuts'), 'integer');
    assert.is(type('seq'), 'integer');
    assert.is(type('temperature'), 'float');
    assert.is(type('health'), 'string');

    const counts = await c.store.seqCounts('pos-ingest');
    assert.equal(counts, [...range(1, 30).map((seq) => ({ seq, points: 3 })), ...range(31, 35).map((seq) => ({ seq, points: 1 }))]);
    const clock = await influxd.query(`SELECT count(offset_ms) FROM device_clock WHERE device = 'pos-ingest'`, 'fc_ingest');
    assert.is(clock[0].count, 35);
    const ev = await influxd.query(`SELECT * FROM event WHERE seq = 31`, 'fc_ingest');
    assert.is(ev[0].code, 'paper-end');
    assert.is(ev[0].type, 'fault-raised');
    assert.is(ev[0].severity, 'warning');

    const latest = await c.store.latest('pos-ingest');
    assert.is(latest.length, 1);
    assert.is(latest[0].seq, 30);
    assert.is(latest[0].counters.linesPrinted, 1000 + 300 + 2);
    assert.ok(Math.abs(latest[0].metrics.temperature - 40.2) < 1e-9);
    assert.is(c.stats().ingest.written.messages, 35);
  }));

test('a duplicate seq is re-acked but not re-written', () =>
  using(collectorAndDevice('fc_dup', 'pos-dup'), async ({ c, dev }) => {
    await dev.publish('telemetry', telemetry('pos-dup', 7, { metrics: { temperature: 41 } }));
    await waitFor('first ack', () => dev.acked.has(7));
    const acksBefore = dev.ackMessages.length;
    // The agent missed the ack and re-sends; a different body proves we did not write it again.
    await dev.publish('telemetry', telemetry('pos-dup', 7, { metrics: { temperature: 99 } }));
    await waitFor('re-ack', () => dev.ackMessages.length > acksBefore);
    assert.ok(dev.ackMessages.slice(acksBefore).some((rs) => rs.some(([a, b]) => a <= 7 && 7 <= b)));
    const rows = await influxd.query(`SELECT temperature FROM telemetry WHERE device = 'pos-dup'`, 'fc_dup');
    assert.equal(
      rows.map((r) => r.temperature),
      [41],
    );
    assert.is(c.stats().ingest.duplicates, 1);
    assert.is(c.stats().ingest.written.messages, 1);
  }));

test('losses agents report (outbox-dropped) are added up once per message, and stored', () =>
  using(collectorAndDevice('fc_drops', 'pos-drops'), async ({ c, dev }) => {
    const dropReport = (seq: number, code: string, data: EventMessage['data']) =>
      event('pos-drops', seq, { type: 'outbox-dropped', code, severity: 'warning', peripheral: undefined, data });
    const full = dropReport(1, 'outbox-full', { dropped: 40, droppedMessages: 10, diskFull: true });
    const lost = dropReport(2, 'outbox-memory-lost', { dropped: 6, droppedMessages: 3, lostAtRestart: true });
    await dev.publish('event', full);
    await dev.publish('event', lost);
    await dev.publish('event', full); // re-sent after a missed ack: not counted twice
    await waitFor('acked', () => dev.acked.has(1) && dev.acked.has(2) && c.stats().ingest.duplicates === 1);
    assert.is(c.stats().ingest.agentReportedDrops, 46);
    const rows = await influxd.query(`SELECT code, data FROM event WHERE device = 'pos-drops'`, 'fc_drops');
    assert.equal(
      rows.map((r) => r.code),
      ['outbox-full', 'outbox-memory-lost'],
    );
  }));

test('tag and string escaping round-trips through influxd', () =>
  using(collectorAndDevice('fc_escape', 'pos-esc'), async ({ c, dev }) => {
    const site = 'Shop 12, "Main" = St';
    const tenant = 'acme=corp co,ltd';
    await dev.publish('inventory', {
      v: CONTRACT_VERSION,
      device: 'pos-esc',
      seq: 1,
      ts: T0,
      agentVersion: '0.1.0',
      site,
      tenant,
      peripherals: [{ id: 'printer0', kind: 'printer' }],
    });
    await waitFor('inventory applied', () => c.fleet().find((d) => d.device === 'pos-esc')?.site === site);
    await dev.publish('telemetry', telemetry('pos-esc', 2));
    const text = 'line one\nline "two" with \\ backslash, comma=equals';
    await dev.publish('event', event('pos-esc', 3, { message: text, code: 'odd code,=x', data: { dropped: 12, note: 'a "b"' } }));
    await waitFor('acks', () => dev.acked.has(2) && dev.acked.has(3));
    const sites = await influxd.query('SHOW TAG VALUES FROM telemetry WITH KEY = site', 'fc_escape');
    assert.equal(
      sites.map((r) => r.value),
      [site],
    );
    const tenants = await influxd.query('SHOW TAG VALUES FROM telemetry WITH KEY = tenant', 'fc_escape');
    assert.equal(
      tenants.map((r) => r.value),
      [tenant],
    );
    const ev = await influxd.query('SELECT * FROM event', 'fc_escape');
    assert.is(ev[0].message, text);
    assert.is(ev[0].code, 'odd code,=x');
    assert.equal(JSON.parse(String(ev[0].data)), { dropped: 12, note: 'a "b"' });
  }));

test('the embedded SQLite store gives the same answers as InfluxDB', async () => {
  const influx = new InfluxStore(
    { url: influxd.url, database: 'fc_same', retentionDays: 90, downsample: { every: '1h', retentionDays: 730 }, timeoutMs: 5000 },
    silent,
  );
  const dir = tempDir('fleetcare-embedded-');
  dirs.push(dir);
  const sqlite = new SqliteStore(`${dir.path}/telemetry.db`, silent);
  await influx.init();
  await sqlite.init();
  const records: IngestRecord[] = [];
  for (const s of range(1, 40)) {
    const m = telemetry('pos-same', s, { samples: 2, peripheral: s % 2 ? 'printer0' : 'host' });
    records.push({ channel: 'telemetry', device: 'pos-same', seq: s, arrivedAt: m.ts + 250, tags: { site: 's1' }, message: m });
  }
  records.push({ channel: 'event', device: 'pos-same', seq: 41, arrivedAt: T0 + 41_500, tags: {}, message: event('pos-same', 41) });
  for (const store of [influx, sqlite]) {
    await store.write(records.slice(0, 20));
    await store.write(records.slice(20));
    await store.write(records.slice(10, 15)); // a re-write changes nothing
  }
  const q = { device: 'pos-same', peripheral: 'printer0', field: 'linesPrinted', from: T0 + 5_000, to: T0 + 25_000 };
  const qm = { ...q, field: 'temperature' };
  const [li, ls] = [await influx.latest('pos-same'), await sqlite.latest('pos-same')];
  assert.equal(li, ls);
  assert.is(li.length, 2);
  assert.equal(await influx.series(q), await sqlite.series(q));
  assert.ok((await sqlite.series(q)).length > 10);
  assert.equal(await influx.series(qm), await sqlite.series(qm));
  const [ci, cs] = [await influx.seqCounts('pos-same'), await sqlite.seqCounts('pos-same')];
  assert.equal(ci, cs);
  assert.is(ci.length, 41);
  assert.is(
    ci.reduce((a, x) => a + x.points, 0),
    81,
  );
  await influx.close();
  await sqlite.close();
});

test.run();
