// Service records in cluster mode, on a real PostgreSQL with real partition leases: a record written
// to the shared store (what `fleetcare service record` and the NOC's "part replaced" do on any node)
// is applied by the node that owns the device — its worn Epson cutter becomes a young part — and a
// record written while another node owned the device is applied by the node its partition moves to.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { startIncidentService } from '../../collector/incidents/service.js';
import type { ClusterIncidentServiceHandle } from '../../collector/incidents/cluster-service.js';
import { createPgPool } from '../../state/postgres/db.js';
import { migratePostgres } from '../../state/postgres/migrations.js';
import { PgServiceRecordStore } from '../../state/postgres/service-records.js';
import { CONTRACT_VERSION, type TelemetryMessage } from '../../protocol/index.js';
import { TestPostgres, havePostgres } from '../helpers/postgres.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { standInCollector, type StandInOptions } from './stand-in-collector.js';

const log = pino({ level: 'silent' });
const HOUR = 3_600_000;
let server: TestPostgres | null = null;
const closers: Array<() => Promise<unknown>> = [];

test.before(async () => {
  if (havePostgres()) server = await TestPostgres.create();
});
test.after(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await server?.destroy();
});

/** Hourly samples of pos-1's Epson printer0 with the cutter counter `cuts(h)`, 6 to a message. */
function cutterFeed(start: number) {
  let seq = 1;
  return (from: number, hours: number, cuts: (h: number) => number): TelemetryMessage[] => {
    const out: TelemetryMessage[] = [];
    for (let h = from; h < from + hours; h += 6) {
      const samples = Array.from({ length: 6 }, (_, i) => ({
        peripheral: 'printer0',
        kind: 'printer' as const,
        ts: start + (h + i) * HOUR,
        health: 'ok' as const,
        metrics: {},
        counters: { autocutterCuts: cuts(h + i), linesFed: 1000 },
        faults: [],
      }));
      out.push({ v: CONTRACT_VERSION, device: 'pos-1', seq: seq++, ts: samples[5].ts, samples } as TelemetryMessage);
    }
    return out;
  };
}

const cutterUsed = (svc: ClusterIncidentServiceHandle, now: number) =>
  svc.partWear(now).find((w) => w.device === 'pos-1' && w.peripheral === 'printer0' && w.part === 'cutter')?.lifeUsed;

test('a record on the shared store re-bases the worn cutter on its owner; one written meanwhile is applied where the partition moves', async () => {
  if (!server) return console.log('skipped: PostgreSQL is not installed');
  const url = await server.createDatabase('svcrec');
  await migratePostgres(url);
  const dir = tempDir('fleetcare-cluster-svcrec-');
  closers.push(async () => dir.remove());
  const records = new PgServiceRecordStore(url);
  closers.push(() => records.close());
  // One partition: node "a" (first by id) owns it while it lives; "b" owns nothing until then.
  const node = (name: string) => {
    const pool = createPgPool(url, { max: 4 });
    closers.push(() => pool.end());
    const opts: StandInOptions = {
      node: name,
      partitions: 1,
      leaseMs: 1000,
      dataDir: dir.path,
      devices: [
        { device: 'pos-1', site: 'store-1', tenant: 'acme', peripherals: [{ id: 'printer0', kind: 'printer', profile: 'epson-tm-t88vi', serial: 'TM88-A' }] },
      ],
    };
    const n = standInCollector(opts, pool, log);
    let stopped = false;
    const stopLeases = async () => {
      if (!stopped) await n.leases.stop();
      stopped = true;
    };
    return { ...n, stopLeases };
  };
  const incidentsConfig = { tickMs: 3_600_000, detectors: { wear: { deferToErrorRate: false } } };

  const a = node('a');
  await a.leases.start();
  closers.push(a.stopLeases);
  const svcA = (await startIncidentService(a.collector, incidentsConfig, { log, cluster: { pgUrl: url } })) as ClusterIncidentServiceHandle;
  closers.push(() => svcA.close());
  const start = Date.now() - 12 * 24 * HOUR;
  const feed = cutterFeed(start);
  // 1.93 M of the 2 M rated cuts.
  for (const m of feed(0, 72, (h) => 1_930_000 + h * 250)) assert.ok(a.ingest(m), 'a owns pos-1');
  let now = start + 72 * HOUR;
  await svcA.tick(now);
  assert.ok(cutterUsed(svcA, now)! > 0.96, `worn before the record: ${cutterUsed(svcA, now)}`);

  // The technician's record, written to the shared store as the CLI on any node writes it.
  const replaced = await records.add({ device: 'pos-1', peripheral: 'printer0', part: 'cutter', source: 'cli', at: now });
  await svcA.tick(now);
  assert.ok(cutterUsed(svcA, now)! < 0.01, `a young part after the record: ${cutterUsed(svcA, now)}`);
  const [annotated] = await records.list({ device: 'pos-1' });
  assert.is(annotated.id, replaced.id);
  assert.is(annotated.profile, 'epson-tm-t88vi');
  assert.ok(Math.abs(annotated.usage! - (1_930_000 + 71 * 250)) < 2000, `the life the part reached: ${annotated.usage}`);

  // 60,000 more cuts on the new cutter, saved by a's tick.
  for (const m of feed(72, 24, (h) => 1_948_000 + (h - 72) * 2500)) a.ingest(m);
  now = start + 96 * HOUR;
  await svcA.tick(now);
  const usedBefore = cutterUsed(svcA, now)!;
  assert.ok(usedBefore > 0.02, `the new cutter wears: ${usedBefore}`);

  // Node b runs and follows the records, but does not own pos-1 yet.
  const b = node('b');
  await b.leases.start();
  closers.push(b.stopLeases);
  const svcB = (await startIncidentService(b.collector, incidentsConfig, { log, cluster: { pgUrl: url } })) as ClusterIncidentServiceHandle;
  closers.push(() => svcB.close());
  assert.equal(b.leases.owned(), []);
  // a stops (its last tick saves pos-1's state); then the cutter is replaced again and recorded
  // while nobody applies it: b skips it (not its device), a is gone.
  await svcA.close();
  const again = await records.add({ device: 'pos-1', peripheral: 'printer0', part: 'cutter', source: 'noc', at: now + HOUR });
  assert.is(await svcB.syncServiceRecords(), 2, 'b has read both records');
  await a.stopLeases();
  // The partition moves to b: it loads pos-1's saved state and applies what was recorded meanwhile.
  await waitFor('b owns the partition and loaded it', () => svcB.loadedPartitions().includes(0), 15_000);
  assert.ok(b.ingest(feed(96, 6, () => 2_006_000)[0]), 'b takes pos-1 now');
  now = start + 102 * HOUR;
  await svcB.tick(now);
  const usedAfter = cutterUsed(svcB, now)!;
  assert.ok(usedAfter < 0.001, `re-based on b by the record written meanwhile (${usedBefore} before): ${usedAfter}`);
  const reached = (await records.list({ device: 'pos-1' })).find((r) => r.id === again.id)?.usage ?? 0;
  assert.ok(reached > 50_000, `annotated with the life it reached: ${reached}`);
});

test.run();
