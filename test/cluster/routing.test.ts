// Partition routing (docs/cluster.md): real `fleetcare server --role broker` nodes on a real
// redis-server route device messages by partition, and owner collectors (real PostgreSQL leases,
// real InfluxDB) subscribe only to the partitions they own: each receives its own partitions'
// telemetry and nothing else, before and after a lease moves to a collector that joins.
import { join } from 'node:path';
import pino from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DeviceRegistry, startBroker } from '../../broker/index.js';
import { LocalBrokers } from '../../cluster/local-brokers.js';
import { partitionOf } from '../../cluster/partitions.js';
import { startCollector, type CollectorHandle } from '../../collector/index.js';
import { FakeDevice, closeTracked, range, telemetry, track } from '../collector/fixtures.js';
import { Influxd, haveInfluxd } from '../helpers/influxd.js';
import { TestPostgres, havePostgres } from '../helpers/postgres.js';
import { RedisServer, haveRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/net.js';
import { tempDir, type TempDir } from '../helpers/tmp.js';

const PARTITIONS = 4;
const LEASES = { partitions: PARTITIONS, leaseMs: 1500, renewEveryMs: 400 };
const log = pino({ level: 'silent' });

let dir: TempDir;
let redis: RedisServer | undefined;
let pgServer: TestPostgres | undefined;
let influxd: Influxd | undefined;
let brokers: LocalBrokers | undefined;
const tokens: Record<string, string> = {};
/** Two devices in each partition. */
const devices: string[] = [];

test.before(async () => {
  dir = tempDir('fleetcare-routing-');
  if (!haveRedis() || !havePostgres() || !haveInfluxd()) return;
  const perPartition = new Map<number, number>();
  for (let i = 0; devices.length < 2 * PARTITIONS; i++) {
    const id = `pos-route-${i}`;
    const p = partitionOf(id, PARTITIONS);
    if ((perPartition.get(p) ?? 0) >= 2) continue;
    perPartition.set(p, (perPartition.get(p) ?? 0) + 1);
    devices.push(id);
  }
  const reg = DeviceRegistry.open(join(dir.path, 'broker'), { scryptCost: 1024 });
  for (const id of devices) tokens[id] = reg.addDevice(id);
  tokens.collector = reg.addServiceAccount('collector', 'collector');
  reg.close();
  [redis, pgServer, influxd] = await Promise.all([RedisServer.create(), TestPostgres.create(), Influxd.create()]);
  brokers = await LocalBrokers.start({
    dataDir: dir.path,
    redisUrl: redis.url,
    nodes: 2,
    partitions: PARTITIONS,
    heartbeatIntervalMs: 300,
    broker: { scryptCost: 1024 },
  });
});

test.after.each(async () => {
  await closeTracked();
});

test.after(async () => {
  await brokers?.stop();
  await redis?.remove();
  await influxd?.destroy();
  await pgServer?.destroy();
  dir?.remove();
});

const skip = () => !brokers;

/** An owner collector on broker node 1 (the devices are on node 0: Redis carries their messages). */
function collectorNode(pgUrl: string, nodeId: string): Promise<CollectorHandle> {
  return startCollector(
    {
      dataDir: join(dir.path, `collector-${nodeId}`),
      mqtt: { url: brokers!.urls[1], clientId: 'collector', username: 'collector', password: tokens.collector },
      influx: { url: influxd!.url, database: 'routing', timeoutMs: 2000 },
      batch: { maxDelayMs: 50 },
    },
    { log, cluster: { pgUrl, nodeId, mode: 'owner', routed: true, leases: LEASES } },
  );
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

/** Every partition owned by exactly one of them, and each one subscribed to exactly what it owns. */
function settled(collectors: CollectorHandle[]): boolean {
  const owned = collectors.flatMap((c) => c.partitions!.owned());
  if (owned.length !== PARTITIONS || new Set(owned).size !== PARTITIONS) return false;
  return collectors.every((c) => JSON.stringify(c.stats().routedPartitions) === JSON.stringify(sorted(c.partitions!.owned())));
}

const telemetryOf = (c: CollectorHandle) => c.stats().byChannel.telemetry ?? 0;
const devicesOf = (c: CollectorHandle) => devices.filter((d) => c.partitions!.ownsDevice(d));

/** Each device publishes seqs from..to and waits until all of them are acked. */
async function publishAll(fleet: FakeDevice[], from: number, to: number): Promise<void> {
  for (const d of fleet) for (const seq of range(from, to)) await d.publish('telemetry', telemetry(d.id, seq));
  await waitFor('every seq acked', () => fleet.every((d) => range(from, to).every((s) => d.acked.has(s))), 20_000);
}

test('routed cluster: each collector receives only its own partitions, before and after a lease moves', async () => {
  if (skip()) return console.log('  (skipped: needs redis-server, PostgreSQL and influxd)');
  const pgUrl = await pgServer!.createDatabase('routing');
  const a = track(await collectorNode(pgUrl, 'a'));
  const b = track(await collectorNode(pgUrl, 'b'));
  const share = (cs: CollectorHandle[], n: number[]) => JSON.stringify(sorted(cs.map((x) => x.partitions!.owned().length))) === JSON.stringify(n);
  await waitFor('a and b share the partitions, subscribed', () => share([a, b], [2, 2]) && settled([a, b]), 20_000);

  const fleet: FakeDevice[] = [];
  for (const id of devices) fleet.push(track(await FakeDevice.connect(brokers!.urls[0], id, { token: tokens[id] })));
  await publishAll(fleet, 1, 3);
  // Exactly its own devices' messages reached each collector: none dropped for not owning them.
  for (const c of [a, b]) {
    assert.is(telemetryOf(c), 3 * devicesOf(c).length, `${c.partitions!.nodeId}: telemetry received`);
    assert.is(c.stats().cluster!.notOwned, 0, `${c.partitions!.nodeId}: messages of other partitions received`);
  }

  // A third collector joins: partitions move to it (rebalance), and their messages follow.
  const before = new Map([a, b].map((c) => [c, { owned: c.partitions!.owned(), telemetry: telemetryOf(c) }]));
  const c = track(await collectorNode(pgUrl, 'c'));
  await waitFor('c took its share, everyone subscribed to what it owns', () => share([a, b, c], [1, 1, 2]) && settled([a, b, c]), 20_000);
  const moved = c.partitions!.owned();
  assert.ok(moved.every((p) => before.get(a)!.owned.includes(p) || before.get(b)!.owned.includes(p)));

  await publishAll(fleet, 4, 6);
  assert.is(telemetryOf(c), 3 * devicesOf(c).length, 'c: telemetry of the moved partitions');
  for (const old of [a, b]) {
    // The old owner received the new messages of the partitions it kept, none of the moved ones.
    assert.is(telemetryOf(old) - before.get(old)!.telemetry, 3 * devicesOf(old).length, `${old.partitions!.nodeId}: telemetry after the move`);
    assert.is(old.stats().cluster!.notOwned, 0, `${old.partitions!.nodeId}: messages of other partitions received`);
  }
  assert.is(c.stats().cluster!.notOwned, 0);
});

test('a broker node routing by another partition count than the cluster refuses to start, naming both', async () => {
  if (skip()) return console.log('  (skipped: needs redis-server, PostgreSQL and influxd)');
  const d = tempDir('fleetcare-routing-odd-');
  try {
    const err = await startBroker(
      { dataDir: d.path, port: 0, scryptCost: 1024, cluster: { redisUrl: redis!.url, nodeId: 'odd', partitions: 8 } },
      { log },
    ).then(
      async (b) => {
        await b.close();
        return null;
      },
      (e: Error) => e,
    );
    assert.ok(err, 'the node started');
    assert.match(err.message, `this node routes by 8 partitions but the cluster's broker nodes use ${PARTITIONS}`);
  } finally {
    d.remove();
  }
});

test.run();
