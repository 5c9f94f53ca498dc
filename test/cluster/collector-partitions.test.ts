// The collector in cluster mode, on real PostgreSQL (leases, dedup), real InfluxDB, a real aedes
// broker and mqtt.js devices that re-send what is not acked (as the agent's outbox does):
// two owner collectors share the partitions and one is killed (SIGKILL, its own process) mid-stream;
// an observer keeps fleet state and sends commands but never acks or stores; a store outage acks
// nothing and loses nothing.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { pino } from 'pino';
import { startCollector, type CollectorHandle, type CollectorClusterOptions, type CollectorConfigInput, type IngestRecord } from '../../collector/index.js';
import { leaseTable } from '../../cluster/leases.js';
import { partitionOf } from '../../cluster/partitions.js';
import { CONTRACT_VERSION, commandRequest, decodeDeviceMessage, topicFor } from '../../protocol/index.js';
import { Influxd, haveInfluxd } from '../helpers/influxd.js';
import { TestPostgres, havePostgres } from '../helpers/postgres.js';
import { waitFor, sleep } from '../helpers/net.js';
import { tempDir, type TempDir } from '../helpers/tmp.js';
import { closeTracked, track, FakeDevice, range, telemetry } from '../collector/fixtures.js';
import { TestBroker } from '../helpers/broker.js';

const NODE_SCRIPT = fileURLToPath(new URL('./collector-node.js', import.meta.url));
const log = pino({ level: 'silent' });
const LEASES = { partitions: 8, leaseMs: 1500, renewEveryMs: 400 };
/** The agents' outbox.ackTimeoutMs, shortened for the test. */
const RESEND_AFTER_MS = 2000;

let pgServer: TestPostgres | undefined;
let influxd: Influxd | undefined;
let broker: TestBroker;
const dirs: TempDir[] = [];
const children = new Set<ChildProcess>();
const pools: pg.Pool[] = [];

test.before(async () => {
  broker = await TestBroker.create();
  if (havePostgres()) pgServer = await TestPostgres.create();
  if (haveInfluxd()) influxd = await Influxd.create();
});
test.after.each(async () => {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
  await closeTracked();
  await influxd?.start(); // a test that failed while influxd was stopped must not take the next ones down
});
test.after(async () => {
  for (const p of pools) await p.end().catch(() => {});
  await broker.close();
  await influxd?.destroy();
  await pgServer?.destroy();
  for (const d of dirs) d.remove();
});

const skip = () => !pgServer || !influxd;

function newDir(): string {
  const d = tempDir('fleetcare-ccollector-');
  dirs.push(d);
  return d.path;
}

function collectorConfig(database: string): CollectorConfigInput {
  return {
    dataDir: newDir(),
    mqtt: { url: broker.url, clientId: `collector-${database}` },
    influx: { url: influxd!.url, database, timeoutMs: 1000 },
    batch: { maxDelayMs: 50 },
    spool: { retryInitialMs: 100, retryMaxMs: 400 },
  };
}

function owner(pgUrl: string, nodeId: string, partitions = LEASES.partitions): CollectorClusterOptions {
  return { pgUrl, nodeId, mode: 'owner', leases: { ...LEASES, partitions } };
}

/** A new database on the test server and a pool on it (ended after the file). */
async function freshDatabase(name: string): Promise<{ pgUrl: string; db: pg.Pool }> {
  const pgUrl = await pgServer!.createDatabase(name);
  const db = new pg.Pool({ connectionString: pgUrl, max: 2 });
  db.on('error', () => {});
  pools.push(db);
  return { pgUrl, db };
}

/** A collector node in its own process (so that it can be killed like a crashed machine). */
async function spawnNode(config: CollectorConfigInput, cluster: CollectorClusterOptions): Promise<ChildProcess> {
  const child = spawn(process.execPath, [NODE_SCRIPT, JSON.stringify({ config, cluster })], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('"ready":true')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`collector node exited ${code}: ${err}`)));
  });
  return child;
}

/**
 * A device that publishes seq'd telemetry and, like the agent's outbox, publishes again every seq
 * not acked within RESEND_AFTER_MS.
 */
class ResendingDevice {
  /** Unacked seq → when it was last published. */
  readonly unacked = new Map<number, number>();
  resends = 0;
  private constructor(readonly dev: FakeDevice) {
    dev.onAck((ranges) => {
      for (const [a, b] of ranges) for (let s = a; s <= b; s++) this.unacked.delete(s);
    });
  }

  static async connect(id: string): Promise<ResendingDevice> {
    return new ResendingDevice(track(await FakeDevice.connect(broker.url, id)));
  }

  get id(): string {
    return this.dev.id;
  }

  async send(seq: number): Promise<void> {
    this.unacked.set(seq, Date.now());
    await this.dev.publish('telemetry', telemetry(this.id, seq));
  }

  async resendDue(now: number): Promise<void> {
    for (const [seq, at] of this.unacked) {
      if (now - at < RESEND_AFTER_MS) continue;
      this.resends++;
      await this.send(seq);
    }
  }
}

/** Re-sends due seqs of every device until stopped (the outboxes' retry loop). */
function resendLoop(devices: ResendingDevice[]): { stop(): Promise<void> } {
  let running: Promise<void> | null = null;
  const timer = setInterval(() => {
    if (running) return; // the previous pass is still publishing: no pile-up on a slow machine
    running = Promise.all(devices.map((d) => d.resendDue(Date.now())))
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => (running = null));
  }, 200);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

async function receivedRows(p: pg.Pool): Promise<number> {
  return Number((await p.query('SELECT count(*) AS n FROM received')).rows[0].n);
}

/** Seqs 1..`seqs` of each device are in InfluxDB one point each, and the dedup table holds exactly those. */
async function assertExactlyOnce(store: CollectorHandle['store'], db: pg.Pool, devices: string[], seqs: number): Promise<void> {
  for (const device of devices)
    assert.equal(
      await store.seqCounts(device),
      range(1, seqs).map((seq) => ({ seq, points: 1 })),
      device,
    );
  assert.is(await receivedRows(db), devices.length * seqs);
}

test('two owner collectors share 8 partitions; one is killed mid-stream; every seq reaches InfluxDB exactly once', async () => {
  if (skip()) return console.log('skipped: PostgreSQL or InfluxDB is not installed');
  const { pgUrl, db } = await freshDatabase('cc_failover');
  const DEVICES = 200;
  const SEQS = 12;

  // Node a alone owns everything while the fleet starts publishing; node b joins mid-stream and a
  // hands half back (the rebalance hook, with batches in flight); then a is killed (kill -9).
  const a = await spawnNode(collectorConfig('cc_failover'), owner(pgUrl, 'a'));
  await waitFor('a owns all 8 partitions', async () => (await leaseTable(db)).every((r) => r.owner === 'a'), 20_000);
  const devices = await Promise.all(range(1, DEVICES).map((i) => ResendingDevice.connect(`pos-${String(i).padStart(4, '0')}`)));
  const resender = resendLoop(devices);

  let b: CollectorHandle | undefined;
  const announcedByB = new Map<string, number>();
  let notOwnedAnnounced = 0;
  let onA: ResendingDevice[] = [];
  let killedAt = 0;
  for (const seq of range(1, SEQS)) {
    await Promise.all(devices.map((d) => d.send(seq)));
    if (seq === 3) {
      b = track(await startCollector(collectorConfig('cc_failover'), { log, cluster: owner(pgUrl, 'b') }));
      b.onIngested((records: readonly IngestRecord[]) => {
        for (const r of records) {
          announcedByB.set(`${r.device}/${r.seq}`, (announcedByB.get(`${r.device}/${r.seq}`) ?? 0) + 1);
          if (!b!.partitions!.ownsDevice(r.device)) notOwnedAnnounced++;
        }
      });
      const split = await waitFor(
        'an even split',
        async () => {
          const t = await leaseTable(db);
          return t.filter((r) => r.owner === 'a').length === 4 && t.filter((r) => r.owner === 'b').length === 4 ? t : null;
        },
        20_000,
      );
      const partitionsOfA = new Set(split.filter((r) => r.owner === 'a').map((r) => r.partition));
      await waitFor("b's view of the split", () => b!.partitions!.owned().length === 4);
      assert.equal(
        b.partitions!.owned(),
        split.filter((r) => r.owner === 'b').map((r) => r.partition),
      );
      onA = devices.filter((d) => partitionsOfA.has(partitionOf(d.id, 8)));
      assert.ok(onA.length > 50 && onA.length < 150, `a's partitions hold ${onA.length} of ${DEVICES} devices`);
    }
    if (seq === SEQS / 2) {
      // Mid-stream, once a has acked the first seqs of its devices: kill -9.
      await waitFor('a acking', () => onA.every((d) => d.dev.acked.has(1)), 20_000);
      a.kill('SIGKILL');
      killedAt = Date.now();
    }
    await sleep(100); // the fleet's publishing pace, not a wait for a result
  }
  b = b!;

  const moved = await waitFor('b owns all 8 partitions', async () => ((await leaseTable(db)).every((r) => r.owner === 'b') ? Date.now() : null), 20_000, 20);
  console.log(
    `partitions of the killed collector moved to the survivor ${moved - killedAt} ms after kill -9 (lease ${LEASES.leaseMs} ms, renewal ${LEASES.renewEveryMs} ms)`,
  );
  await waitFor('every seq of every device acked', () => devices.every((d) => d.dev.acked.size === SEQS && d.unacked.size === 0), 120_000, 100);
  await resender.stop();
  console.log(`${DEVICES} devices × ${SEQS} seqs acked ${Date.now() - killedAt} ms after the kill; ${devices.reduce((n, d) => n + d.resends, 0)} re-sends`);

  // Exactly once in InfluxDB (1 point per seq) and in the dedup table; b announced each record at most once.
  await assertExactlyOnce(
    b.store,
    db,
    devices.map((d) => d.id),
    SEQS,
  );
  assert.ok(
    [...announcedByB.values()].every((n) => n === 1),
    'b announced no record twice',
  );
  assert.is(notOwnedAnnounced, 0, 'b announced only records of partitions it owned');
  const st = b.stats().cluster!;
  assert.is(st.node, 'b');
  assert.equal(st.owned, range(0, 7));
  assert.is(st.failovers, 4);
  assert.ok(st.notOwned > 0, "b dropped the messages of a's partitions while a owned them");
  assert.is(b.stats().ingest.spooled, 0);
});

test('an observer keeps fleet state and sends commands, but never acks, stores or takes a lease', async () => {
  if (skip()) return console.log('skipped: PostgreSQL or InfluxDB is not installed');
  const { pgUrl, db } = await freshDatabase('cc_observer');
  const own = track(await startCollector(collectorConfig('cc_observer'), { log, cluster: owner(pgUrl, 'own', 4) }));
  const obs = track(
    await startCollector(collectorConfig('cc_observer_obs'), { log, cluster: { pgUrl, nodeId: 'obs', mode: 'observer', leases: { partitions: 4 } } }),
  );
  const dev = track(await FakeDevice.connect(broker.url, 'pos-obs'));
  await dev.publish('status', { v: CONTRACT_VERSION, device: 'pos-obs', seq: 1, ts: Date.now(), state: 'online', agentVersion: '0.1.0' });
  await dev.publish('inventory', {
    v: CONTRACT_VERSION,
    device: 'pos-obs',
    seq: 2,
    ts: Date.now(),
    agentVersion: '0.1.0',
    model: 'POS-X',
    site: 'store-7',
    tenant: 'acme',
    peripherals: [{ id: 'printer0', kind: 'printer', model: 'TM-T88V' }],
  });
  for (const s of range(3, 12)) await dev.publish('telemetry', telemetry('pos-obs', s));

  await waitFor('the owner acked every seq', () => dev.acked.size === 10);
  await waitFor('the observer saw every telemetry message', () => obs.stats().cluster!.notOwned === 10);
  const seen = obs.device('pos-obs')!;
  assert.ok(seen.online);
  assert.is(seen.site, 'store-7');
  assert.is(seen.health.printer0.health, 'ok');
  assert.is(seen.lastSeq, 12);
  assert.is(obs.stats().acks.messages, 0, 'the observer sent no ack');
  assert.is(obs.stats().ingest.accepted, 0);
  assert.is(obs.stats().ingest.written.messages, 0);
  assert.is(
    dev.ackMessages.flat().reduce((n, [x, y]) => n + y - x + 1, 0),
    10,
    'each seq acked once, by the owner',
  );
  assert.equal(await obs.store.seqCounts('pos-obs'), [], "nothing in the observer's store");
  assert.is((await own.store.seqCounts('pos-obs')).length, 10);
  assert.equal(obs.partitions!.owned(), []);
  assert.is(obs.stats().cluster!.mode, 'observer');
  assert.ok((await leaseTable(db)).every((r) => r.owner === 'own'));
  assert.is((await db.query(`SELECT node FROM cluster_nodes WHERE node = 'obs'`)).rowCount, 0);

  // Commands: the observer publishes the request and sees the device's result.
  dev.client.on('message', (topic, payload) => {
    if (topic !== topicFor('pos-obs', 'cmd/req')) return;
    const req = commandRequest.parse(JSON.parse(payload.toString()));
    void dev.client.publishAsync(
      topicFor('pos-obs', 'cmd/res'),
      JSON.stringify({ v: CONTRACT_VERSION, device: 'pos-obs', seq: 13, ts: Date.now(), id: req.id, ok: true, result: { pong: true } }),
      { qos: 1 },
    );
  });
  await dev.client.subscribeAsync(topicFor('pos-obs', 'cmd/req'), { qos: 1 });
  const results: unknown[] = [];
  obs.onCommandResult((r) => results.push(r));
  const req = await obs.sendCommand('pos-obs', { name: 'ping' }, 5000);
  const res = await waitFor('the command result at the observer', () => results.find((r) => (r as { id: string }).id === req.id));
  assert.ok(decodeDeviceMessage(topicFor('pos-obs', 'cmd/res'), JSON.stringify(res)).ok);
  assert.is(obs.stats().acks.messages, 0);
});

test('a store outage acks nothing and loses nothing; the batch waits in memory and holds the reader back', async () => {
  if (skip()) return console.log('skipped: PostgreSQL or InfluxDB is not installed');
  const { pgUrl, db } = await freshDatabase('cc_outage');
  const config = { ...collectorConfig('cc_outage'), batch: { maxDelayMs: 50, maxPoints: 4 } };
  const c: CollectorHandle = track(await startCollector(config, { log, cluster: owner(pgUrl, 'solo', 4) }));
  assert.equal(c.partitions!.owned(), [0, 1, 2, 3]);
  const dev = track(await FakeDevice.connect(broker.url, 'pos-outage'));
  await dev.publish('telemetry', telemetry('pos-outage', 1));
  await waitFor('ack before the outage', () => dev.acked.size === 1);

  await influxd!.stop();
  for (const s of range(2, 41)) await dev.publish('telemetry', telemetry('pos-outage', s));
  await waitFor('the batch retried', () => c.stats().cluster!.storeRetries >= 3, 20_000);
  const during = c.stats();
  assert.is(dev.acked.size, 1, 'nothing acked while InfluxDB is down');
  assert.is(during.ingest.spooled, 0, 'no spool in cluster mode');
  assert.ok(during.ingest.storeErrors.unreachable >= 1);
  // Backpressure: at most the high-water mark (4 × maxPoints points, 2 points a message) was read.
  assert.ok(during.byChannel.telemetry! <= 12, `read ${during.byChannel.telemetry} messages while the store was down`);
  assert.is(await receivedRows(db), 1, 'nothing marked received');

  await influxd!.start();
  await waitFor('every seq acked after recovery', () => dev.acked.size === 41, 30_000);
  await assertExactlyOnce(c.store, db, ['pos-outage'], 41);

  // The agent missed an ack and re-sends: acked again, not written again.
  const acksBefore = dev.ackMessages.length;
  await dev.publish('telemetry', telemetry('pos-outage', 7));
  await waitFor('re-ack of a stored seq', () => dev.ackMessages.length > acksBefore);
  assert.is(c.stats().ingest.duplicates, 1);
  assert.is(await receivedRows(db), 41);
});

test('PostgreSQL down: nothing acked, the node stops using its leases; after the restart it takes them back and acks each seq once', async () => {
  if (skip()) return console.log('skipped: PostgreSQL or InfluxDB is not installed');
  const { pgUrl, db } = await freshDatabase('cc_pgdown');
  const c = track(await startCollector(collectorConfig('cc_pgdown'), { log, cluster: owner(pgUrl, 'solo', 4) }));
  const dev = await ResendingDevice.connect('pos-pgdown');
  await dev.send(1);
  await waitFor('ack while PostgreSQL is up', () => dev.dev.acked.size === 1);
  const epoch = c.partitions!.epochOf(c.partitions!.partitionOf('pos-pgdown'))!;

  await pgServer!.stop();
  for (const s of range(2, 10)) await dev.send(s);
  // Cut off from PostgreSQL, the node gives its leases up by its own clock (before anyone could take them).
  await waitFor('leases given up', () => c.partitions!.owned().length === 0, 20_000);
  assert.is(dev.dev.acked.size, 1, 'nothing acked without PostgreSQL');
  const resender = resendLoop([dev]);
  await waitFor('re-sent messages dropped while no partition is owned', () => c.stats().cluster!.notOwned > 0, 20_000);
  assert.is(dev.dev.acked.size, 1);

  await pgServer!.start();
  await waitFor('every seq acked after PostgreSQL is back', () => dev.dev.acked.size === 10, 30_000);
  await resender.stop();
  assert.ok(c.partitions!.epochOf(c.partitions!.partitionOf('pos-pgdown'))! > epoch, 'the partition was taken again with a new epoch');
  await assertExactlyOnce(c.store, db, ['pos-pgdown'], 10);
});

test('a gracefully stopped owner hands its partitions back at once; the other takes them (acquired hook first) and nothing is lost', async () => {
  if (skip()) return console.log('skipped: PostgreSQL or InfluxDB is not installed');
  const { pgUrl, db } = await freshDatabase('cc_stop');
  const DEVICES = 40;
  const SEQS = 10;
  const x = track(await startCollector(collectorConfig('cc_stop'), { log, cluster: owner(pgUrl, 'x', 4) }));
  const y = track(await startCollector(collectorConfig('cc_stop'), { log, cluster: owner(pgUrl, 'y', 4) }));
  // y processes a partition's records only after its acquired hooks ran for it.
  const ready = new Set(y.partitions!.owned());
  y.partitions!.onAcquired((ps) => {
    for (const p of ps) ready.add(p);
  });
  let beforeAcquired = 0;
  y.onIngested((records: readonly IngestRecord[]) => {
    for (const r of records) if (!ready.has(y.partitions!.partitionOf(r.device))) beforeAcquired++;
  });
  await waitFor('an even split', async () => (await leaseTable(db)).filter((r) => r.owner === 'x').length === 2 && y.partitions!.owned().length === 2, 20_000);
  const released: string[] = [];
  x.partitions!.onReleased((ps, why) => void released.push(`${ps.join(',')}:${why}`));
  const devices = await Promise.all(range(1, DEVICES).map((i) => ResendingDevice.connect(`pos-stop-${i}`)));
  const resender = resendLoop(devices);

  let stoppedAt = 0;
  for (const seq of range(1, SEQS)) {
    await Promise.all(devices.map((d) => d.send(seq)));
    if (seq === SEQS / 2) {
      await x.close();
      stoppedAt = Date.now();
    }
    await sleep(50); // publishing pace
  }
  const moved = await waitFor('y owns all 4', () => (y.partitions!.owned().length === 4 ? Date.now() : null), 20_000, 20);
  console.log(`partitions of a gracefully stopped collector moved ${moved - stoppedAt} ms after its close (lease ${LEASES.leaseMs} ms)`);
  assert.is(released.length, 1);
  assert.ok(released[0].endsWith(':stopping'), released[0]);
  await waitFor('every seq acked', () => devices.every((d) => d.dev.acked.size === SEQS), 120_000, 100);
  await resender.stop();
  assert.is(y.stats().cluster!.failovers, 0, 'handed back, not taken over from an expired lease');
  assert.is(beforeAcquired, 0);
  await assertExactlyOnce(
    y.store,
    db,
    devices.map((d) => d.id),
    SEQS,
  );
});

test('an owner collector without InfluxDB is refused: acked data would live on one node', async () => {
  try {
    await startCollector(
      { dataDir: newDir(), mqtt: { url: broker.url } },
      { log, cluster: { pgUrl: 'postgres://127.0.0.1:1/none', nodeId: 'n', mode: 'owner' } },
    );
    assert.unreachable('started');
  } catch (e) {
    assert.match((e as Error).message, /owner collector needs the shared telemetry store \(influx\)/);
  }
});

test.run();
