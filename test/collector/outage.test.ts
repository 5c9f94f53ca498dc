// The telemetry store failing in each of its ways: influxd killed (unreachable), answering 500
// (server error), refusing points with 400 (type conflict, beyond retention); the spool filling
// up; a collector restart with a non-empty spool. Every seq must end up stored exactly once.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import { startCollector, type CollectorHandle } from '../../collector/index.js';
import { Influxd } from '../helpers/influxd.js';
import { waitFor, sleep } from '../helpers/net.js';
import { tempDir, type TempDir } from '../helpers/tmp.js';
import { closeTracked, track, FakeDevice, range, telemetry, event } from './fixtures.js';
import { captureLog } from '../helpers/log.js';
import { TestBroker } from '../helpers/broker.js';

let influxd: Influxd;
let broker: TestBroker;
const dirs: TempDir[] = [];

test.before(async () => {
  influxd = await Influxd.create();
  broker = await TestBroker.create();
});
test.after.each(async () => {
  await closeTracked();
  await influxd.start(); // a test that failed while influxd was stopped must not take the next ones down
});
test.after(async () => {
  await broker.close();
  await influxd.destroy();
  for (const d of dirs) d.remove();
});

function newDir(): TempDir {
  const d = tempDir('fleetcare-collector-');
  dirs.push(d);
  return d;
}

async function collector(
  dataDir: string,
  database: string,
  log: ReturnType<typeof captureLog>['log'],
  extra: { influxUrl?: string; spoolMaxBytes?: number } = {},
): Promise<CollectorHandle> {
  return startCollector(
    {
      dataDir,
      mqtt: { url: broker.url, clientId: `collector-${database}` },
      influx: { url: extra.influxUrl ?? influxd.url, database, timeoutMs: 2000 },
      batch: { maxDelayMs: 50 },
      spool: { retryInitialMs: 100, retryMaxMs: 400, ...(extra.spoolMaxBytes ? { maxBytes: extra.spoolMaxBytes } : {}) },
    },
    { log },
  );
}

/** Asserts that each of `seqs` is stored exactly once with `points` points. */
async function assertExactlyOnce(c: CollectorHandle, device: string, seqs: number[], points = 2): Promise<void> {
  const counts = await c.store.seqCounts(device);
  assert.equal(
    counts,
    seqs.map((seq) => ({ seq, points })),
  );
}

test('InfluxDB killed: batches are spooled and acked, then drained in order after restart, each seq exactly once', async () => {
  const cap = captureLog('info');
  const c = track(await collector(newDir().path, 'fc_down', cap.log));
  const dev = track(await FakeDevice.connect(broker.url, 'pos-down'));
  for (const s of range(1, 10)) await dev.publish('telemetry', telemetry('pos-down', s, { samples: 2 }));
  await waitFor('acks before the outage', () => dev.acked.size === 10);

  await influxd.stop();
  for (const s of range(11, 40)) await dev.publish('telemetry', telemetry('pos-down', s, { samples: 2 }));
  await waitFor('acks while InfluxDB is down (spooled)', () => dev.acked.size === 40);
  const during = c.stats().ingest;
  assert.ok(during.storeErrors.unreachable >= 1);
  assert.is(during.spooled, 30);
  assert.is(during.spool.rows, 30);
  assert.ok(cap.find('telemetry store unreachable').length >= 1, 'specific log line for an unreachable store');
  await waitFor('drainer retrying', () => cap.find('retrying with backoff').length >= 1);

  await influxd.start();
  await waitFor('spool drained', () => c.stats().ingest.spool.rows === 0, 20_000);
  for (const s of range(41, 45)) await dev.publish('telemetry', telemetry('pos-down', s, { samples: 2 }));
  await waitFor('acks after recovery', () => dev.acked.size === 45);
  await assertExactlyOnce(c, 'pos-down', range(1, 45));
  assert.ok(cap.find('spool drained').length >= 1);
  assert.is(c.stats().ingest.drained, 30);
  await dev.close();
  await c.close();
});

test('a spool left by a stopped collector drains after its restart; dedup survives the restart', async () => {
  const dir = newDir();
  const cap = captureLog('info');
  let c = track(await collector(dir.path, 'fc_restart', cap.log));
  const dev = track(await FakeDevice.connect(broker.url, 'pos-restart'));
  await influxd.stop();
  for (const s of range(1, 12)) await dev.publish('telemetry', telemetry('pos-restart', s, { samples: 2 }));
  await waitFor('spooled and acked', () => dev.acked.size === 12);
  await c.close();

  await influxd.start();
  c = track(await collector(dir.path, 'fc_restart', cap.log));
  await waitFor('spool drained after restart', () => c.stats().ingest.spool.rows === 0, 20_000);
  // The agent re-sends seq 5 (it missed the ack): re-acked, not re-written.
  const before = dev.ackMessages.length;
  await dev.publish('telemetry', telemetry('pos-restart', 5, { samples: 2 }));
  await waitFor('re-ack after restart', () => dev.ackMessages.length > before);
  assert.is(c.stats().ingest.duplicates, 1);
  await assertExactlyOnce(c, 'pos-restart', range(1, 12));
  await dev.close();
  await c.close();
});

test('InfluxDB unreachable at start: the collector starts anyway, spools, and sets up the database once it appears', async () => {
  await influxd.stop();
  const cap = captureLog('info');
  const c = track(await collector(newDir().path, 'fc_late', cap.log));
  const dev = track(await FakeDevice.connect(broker.url, 'pos-late'));
  for (const s of range(1, 8)) await dev.publish('telemetry', telemetry('pos-late', s, { samples: 2 }));
  await waitFor('acked from the spool', () => dev.acked.size === 8);
  const line = cap.find('telemetry store not available at start');
  assert.is(line.length, 1);
  assert.is(line[0].failure, 'unreachable', String(line[0].error));
  await influxd.start();
  await waitFor('drained', () => c.stats().ingest.spool.rows === 0, 20_000);
  await assertExactlyOnce(c, 'pos-late', range(1, 8));
  const rps = await influxd.query('SHOW RETENTION POLICIES ON fc_late');
  assert.ok(rps.some((r) => r.name === 'raw' && r.default === true));
});

test('InfluxDB answering 500: spooled with a server-error log line, drained once it recovers', async () => {
  let failWrites = true;
  let writes500 = 0;
  // A tiny proxy in front of the real influxd that fails /write with 500 until told otherwise.
  const proxy = http.createServer((req, res) => {
    if (failWrites && req.url?.startsWith('/write')) {
      writes500++;
      req.resume();
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"engine: timeout"}');
      return;
    }
    const up = http.request(new URL(req.url ?? '/', influxd.url), { method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
  const cap = captureLog('info');
  const c = track(await collector(newDir().path, 'fc_500', cap.log, { influxUrl: url }));
  const dev = track(await FakeDevice.connect(broker.url, 'pos-500'));
  for (const s of range(1, 15)) await dev.publish('telemetry', telemetry('pos-500', s, { samples: 2 }));
  await waitFor('acked from the spool', () => dev.acked.size === 15);
  await waitFor('drainer retried', () => writes500 >= 3);
  const st = c.stats().ingest;
  assert.ok(st.storeErrors.server >= 1);
  assert.is(st.storeErrors.unreachable, 0);
  const line = cap.find('telemetry store failing (server error)');
  assert.ok(line.length >= 1);
  assert.is(line[0].status, 500);
  failWrites = false;
  await waitFor('drained', () => c.stats().ingest.spool.rows === 0, 20_000);
  await assertExactlyOnce(c, 'pos-500', range(1, 15));
  await dev.close();
  await c.close();
  proxy.closeAllConnections();
  await new Promise<void>((r) => proxy.close(() => r()));
});

test('InfluxDB refusing points (400): only the bad messages are dead-lettered, the rest stored, all acked', async () => {
  const cap = captureLog('info');
  const c = track(await collector(newDir().path, 'fc_400', cap.log));
  const dev = track(await FakeDevice.connect(broker.url, 'pos-400'));
  await dev.publish('telemetry', telemetry('pos-400', 1, { counters: { paper: 5 } }));
  await waitFor('first', () => dev.acked.has(1));
  // seq 2 sends `paper` as a float: field type conflict. seq 3 is fine. seq 4 has a dead RTC
  // (year 2001): InfluxDB would refuse it (beyond the retention policy), so it is stored at
  // arrival time instead (collector/telemetry/clock-guard.ts). seq 5 is an event. All in one batch.
  await Promise.all([
    dev.publish('telemetry', telemetry('pos-400', 2, { counters: {}, metrics: { paper: 5.5 } })),
    dev.publish('telemetry', telemetry('pos-400', 3, { counters: { paper: 6 } })),
    dev.publish('telemetry', telemetry('pos-400', 4, { ts: 1_000_000_000_000 })),
    dev.publish('event', event('pos-400', 5)),
  ]);
  await waitFor('all acked', () => range(1, 5).every((s) => dev.acked.has(s)));
  const dead = c.deadLetters(10, 'store-rejected');
  assert.is(dead.length, 1, JSON.stringify(dead));
  const byDetail = (re: RegExp) => dead.find((d) => re.test(d.detail));
  assert.ok(byDetail(/seq 2: .*field type conflict/), JSON.stringify(dead));
  assert.match(byDetail(/seq 2/)!.payload, '"paper":5.5');
  const st = c.stats();
  assert.is(st.rejected['store-rejected'], 1);
  assert.is(st.ingest.storeRejected, 1);
  assert.is(st.ingest.clockPlaced['before-floor'], 1, 'the dead RTC is stored, not refused');
  assert.is(st.ingest.spool.rows, 0, 'refused points are not spooled forever');
  assert.ok(cap.find('rejected points (client error)').length >= 1);
  const counts = await c.store.seqCounts('pos-400');
  assert.equal(
    counts.map((x) => x.seq),
    [1, 3, 4, 5],
  );
  const fields = await influxd.query('SHOW FIELD KEYS FROM telemetry', 'fc_400');
  assert.is(fields.find((f) => f.fieldKey === 'paper')?.fieldType, 'integer');
  await dev.close();
  await c.close();
});

test('spool full: stop acking (agents keep their data), resume after the drain, nothing lost', async () => {
  const cap = captureLog('info');
  const c = track(await collector(newDir().path, 'fc_full', cap.log, { spoolMaxBytes: 6000 }));
  const dev = track(await FakeDevice.connect(broker.url, 'pos-full'));
  await influxd.stop();
  for (const s of range(1, 30)) {
    await dev.publish('telemetry', telemetry('pos-full', s, { samples: 2 }));
    await sleep(5);
  }
  await waitFor('refusals', () => c.stats().ingest.refusedSpoolFull > 0);
  await sleep(300);
  const acked = dev.acked.size;
  assert.ok(acked > 0 && acked < 30, `acked ${acked}`);
  assert.ok(c.stats().ingest.spool.full);
  assert.ok(cap.find('spool full').length >= 1);
  await influxd.start();
  await waitFor('drained', () => c.stats().ingest.spool.rows === 0, 20_000);
  // What an agent does: re-send every unacked row.
  for (const s of range(1, 30)) if (!dev.acked.has(s)) await dev.publish('telemetry', telemetry('pos-full', s, { samples: 2 }));
  await waitFor('all acked', () => dev.acked.size === 30, 20_000);
  await assertExactlyOnce(c, 'pos-full', range(1, 30));
  assert.is(c.stats().ingest.spool.full, false);
  await dev.close();
  await c.close();
});

test.run();
