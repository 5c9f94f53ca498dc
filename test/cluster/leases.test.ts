// Partition leases on a real PostgreSQL: fair shares, no partition with two owners, takeover of a
// dead node's partitions, a node cut off from PostgreSQL stops by itself, clear config errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import pino from 'pino';
import { fairShare, partitionOf } from '../../cluster/partitions.js';
import { PartitionLeases, PartitionCountMismatch, ensureLeaseTables, leaseTable } from '../../cluster/leases.js';
import { TestPostgres, havePostgres } from '../helpers/postgres.js';
import { waitFor } from '../helpers/net.js';

const log = pino({ level: 'silent' });
let server: TestPostgres;
const pools: pg.Pool[] = [];
const nodes: PartitionLeases[] = [];

/** A fresh database per test, so tests share nothing but the server. */
async function freshPool(): Promise<pg.Pool> {
  const pool = new pg.Pool({ connectionString: await server.createDatabase('leases'), max: 4, connectionTimeoutMillis: 2000, query_timeout: 5000 });
  pool.on('error', () => {}); // a killed server's idle connections error; the next query reconnects
  pools.push(pool);
  return pool;
}

function node(pool: pg.Pool, name: string, events: string[] = [], leaseMs = 1500, partitions = 16): PartitionLeases {
  const n = new PartitionLeases(
    pool,
    { node: name, partitions, leaseMs, renewEveryMs: 400 },
    {
      acquired: (ps) => void events.push(`${name}+${ps.join(',')}`),
      released: (ps, why) => void events.push(`${name}-${ps.join(',')}:${why}`),
    },
    log,
  );
  nodes.push(n);
  return n;
}

function assertNoDoubleOwner(all: PartitionLeases[]): void {
  const seen = new Map<number, string>();
  for (const n of all)
    for (const p of n.owned()) {
      assert.not.ok(seen.has(p), `partition ${p} owned by ${seen.get(p)} and ${n.config.node}`);
      seen.set(p, n.config.node);
    }
}

test.before(async () => {
  // Durable: one test crashes PostgreSQL and relies on what it acknowledged.
  if (havePostgres()) server = await TestPostgres.create({ durable: true });
});
test.after(async () => {
  for (const n of nodes) await n.stop({ release: false });
  for (const p of pools) await p.end().catch(() => {});
  await server?.destroy();
});

test('partitionOf is FNV-1a of the id mixed by fmix32, stable, and spreads a fleet evenly', () => {
  // FNV-1a 32 of "a" is 0xe40c292c (the reference test vector); fmix32 of it, worked by hand.
  const fmix32 = (h: number) => {
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
    return (h ^ (h >>> 16)) >>> 0;
  };
  assert.is(partitionOf('a', 2 ** 31), fmix32(0xe40c292c) % 2 ** 31);
  assert.is(partitionOf('pos-0001', 64), partitionOf('pos-0001', 64));
  const counts = new Array(64).fill(0);
  for (let i = 0; i < 20_000; i++) counts[partitionOf(`store-${i % 400}-pos-${i}`, 64)]++;
  const mean = 20_000 / 64;
  for (const c of counts) assert.ok(c > mean * 0.75 && c < mean * 1.25, `uneven partition: ${c} vs mean ${mean}`);
  const live = ['c', 'a', 'b'];
  assert.is(
    live.map((n) => fairShare(64, live, n)).reduce((a, b) => a + b),
    64,
  );
  assert.equal(
    live.map((n) => fairShare(64, live, n)),
    [21, 22, 21],
  ); // 'a' sorts first and takes the extra one
});

test('one node takes every partition; a second one joins and they split them, never both owning one', async () => {
  if (!server) return console.log('skipped: PostgreSQL is not installed');
  const pool = await freshPool();
  const a = node(pool, 'a');
  await a.start();
  assert.is(a.owned().length, 16);
  const b = node(pool, 'b');
  await b.start();
  await waitFor(
    'an even split',
    async () => {
      await a.round();
      assertNoDoubleOwner([a, b]);
      await b.round();
      assertNoDoubleOwner([a, b]);
      return a.owned().length === 8 && b.owned().length === 8;
    },
    20_000,
    0,
  );
  const table = await leaseTable(pool);
  assert.is(table.filter((r) => r.owner === 'a').length, 8);
  assert.is(table.filter((r) => r.owner === 'b').length, 8);
});

test("a dead node's partitions move to the survivor after the lease, with a new epoch", async () => {
  if (!server) return console.log('skipped: PostgreSQL is not installed');
  const pool = await freshPool();
  const events: string[] = [];
  const a = node(pool, 'a', events);
  const b = node(pool, 'b', events);
  await a.start();
  await b.start();
  await waitFor('an even split', async () => (await a.round(), await b.round(), a.owned().length === 8 && b.owned().length === 8), 20_000, 0);
  const aHad = a.owned();
  const epochs = new Map(aHad.map((p) => [p, a.epochOf(p)!]));
  // a dies: it stops renewing and hands nothing back (kill -9).
  await a.stop({ release: false });
  const died = Date.now();
  await waitFor('b owns all', async () => (await b.round(), b.owned().length === 16), 20_000, 50);
  const moved = Date.now() - died;
  console.log(`partition move after a dead owner: ${moved} ms (lease 1500 ms, renew every 400 ms)`);
  for (const p of aHad) assert.ok(b.epochOf(p)! > epochs.get(p)!, `epoch of ${p} bumped on takeover`);
  assert.is(b.stats().failovers, 8);
  const bAcquired = new Set(events.filter((e) => e.startsWith('b+')).flatMap((e) => e.slice(2).split(',').map(Number)));
  for (const p of aHad) assert.ok(bAcquired.has(p), `b's acquired hook ran for partition ${p}`);
});

test('a node cut off from PostgreSQL stops using its leases before they can expire, and takes them back later', async () => {
  if (!server) return console.log('skipped: PostgreSQL is not installed');
  const pool = await freshPool();
  const events: string[] = [];
  const a = node(pool, 'a', events, 2000);
  await a.start();
  assert.is(a.owned().length, 16);
  await server.kill();
  try {
    // Rounds fail; the leases are dropped by the node's own clock, not by a later round.
    await waitFor('leases dropped', () => a.owned().length === 0 && events.some((e) => e.endsWith(':expired')), 10_000, 50);
  } finally {
    await server.start();
  }
  await waitFor('leases back', async () => (await a.round(), a.owned().length === 16), 20_000, 100);
});

test('a node configured with another partition count is refused with the reason', async () => {
  if (!server) return console.log('skipped: PostgreSQL is not installed');
  const pool = await freshPool();
  await node(pool, 'a', [], 1500, 16).start();
  try {
    await node(pool, 'b', [], 1500, 32).start();
    assert.unreachable('started with a different partition count');
  } catch (e) {
    assert.instance(e, PartitionCountMismatch);
    assert.match((e as Error).message, 'created with 16 partitions but this node is configured with 32');
  }
});

test('nodes starting at the same moment on an empty database all create the lease tables without error', async () => {
  if (!server) return console.log('skipped: PostgreSQL is not installed');
  // Without a lock, concurrent CREATE TABLE IF NOT EXISTS fails on pg_type's unique index (seen
  // when the failover test's two collectors started together).
  const fresh = await Promise.all(Array.from({ length: 4 }, () => freshPool()));
  for (let round = 0; round < 5; round++) {
    const pool = fresh[round % fresh.length];
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => ensureLeaseTables(pool, 16)));
    const failed = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
    assert.equal(failed, [], 'every concurrent start succeeded');
    assert.is((await leaseTable(pool)).length, 16);
  }
});

test.run();
