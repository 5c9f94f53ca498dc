// A cluster node as an operator starts and inspects it: `fleetcare server --cluster FILE` refuses a
// bad cluster config, an unreachable PostgreSQL and a newer schema with the reason, exit 1 and
// nothing written; a good broker node starts under its node id; `fleetcare cluster status` shows
// real PartitionLeases nodes, their partitions, leases and epochs (real PostgreSQL and Redis).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import pg from 'pg';
import pino from 'pino';
import { PartitionLeases } from '../../cluster/leases.js';
import { migratePostgres } from '../../state/postgres/migrations.js';
import { TestPostgres, havePostgres } from '../helpers/postgres.js';
import { RedisServer, haveRedis } from '../helpers/redis.js';
import { freePort, waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import type { ClusterStatus } from '../../cli/cluster.js';

const CLI = fileURLToPath(new URL('../../cli/fleetcare.js', import.meta.url));
const log = pino({ level: 'silent' });
let server: TestPostgres;
let redis: RedisServer;
const pools: pg.Pool[] = [];
const leases: PartitionLeases[] = [];

function run(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Writes a cluster node config into `dir` and returns its path. */
function nodeConfig(dir: string, config: Record<string, unknown>): string {
  const f = join(dir, 'node.json');
  writeFileSync(f, JSON.stringify({ dataDir: join(dir, 'data'), logLevel: 'info', ...config }));
  return f;
}

test.before(async () => {
  if (havePostgres()) server = await TestPostgres.create();
  if (haveRedis()) redis = await RedisServer.create();
});
test.after(async () => {
  for (const l of leases) await l.stop({ release: false });
  for (const p of pools) await p.end().catch(() => {});
  await server?.destroy();
  await redis?.remove();
});

test('server --cluster: every cluster rule that fails is listed with its path; exit 1; no data dir', () => {
  const dir = tempDir();
  try {
    const f = nodeConfig(dir.path, {
      role: 'broker',
      cluster: { nodeId: 'node 1', roles: ['broker', 'collector', 'collector'], leaseMs: 3000, renewEveryMs: 2000 },
      noc: { enabled: false },
    });
    const r = run(['server', '--cluster', f]);
    assert.is(r.code, 1, r.stderr);
    for (const path of ['cluster.nodeId', 'cluster.roles', 'cluster.renewEveryMs']) assert.ok(r.stderr.includes(`  ${path}: `), `${path} not in:\n${r.stderr}`);
    assert.not.ok(existsSync(join(dir.path, 'data')), 'data dir created');

    // The cluster part parses; the cross-part rules name each missing piece.
    writeFileSync(
      f,
      JSON.stringify({
        dataDir: join(dir.path, 'data'),
        role: 'broker',
        cluster: { nodeId: 'n1', roles: ['broker', 'collector', 'noc'] },
        noc: { enabled: false },
      }),
    );
    const x = run(['server', '--cluster', f]);
    assert.is(x.code, 1, x.stderr);
    assert.match(x.stderr, / {2}state\.kind: cluster mode keeps shared state in PostgreSQL/);
    assert.match(x.stderr, / {2}role: cluster\.roles \[broker, collector, noc\] run as role "all"/);
    assert.match(x.stderr, / {2}broker\.cluster\.redisUrl: a broker node of a cluster needs the Redis/);
    assert.match(x.stderr, / {2}noc\.enabled: the node has role noc but noc\.enabled is false/);
    assert.match(x.stderr, / {2}collector\.influx: a collector node of a cluster needs a shared telemetry store/);
    assert.not.ok(existsSync(join(dir.path, 'data')), 'data dir created');

    // --cluster on a file without a cluster part.
    writeFileSync(f, JSON.stringify({ dataDir: join(dir.path, 'data') }));
    const n = run(['server', '--cluster', f]);
    assert.is(n.code, 1);
    assert.match(n.stderr, 'cluster: --cluster needs a "cluster" part');
    assert.not.ok(existsSync(join(dir.path, 'data')), 'data dir created');
  } finally {
    dir.remove();
  }
});

test('server --cluster: an unreachable PostgreSQL stops the start naming it; exit 1; nothing written', async () => {
  const dir = tempDir();
  try {
    const port = await freePort(); // nothing listens there
    const f = nodeConfig(dir.path, {
      cluster: { nodeId: 'b1', roles: ['broker'] },
      state: { kind: 'postgres', url: `postgres://fleetcare:secret@127.0.0.1:${port}/fleetcare` },
      broker: { port: 0, cluster: { redisUrl: 'redis://127.0.0.1:1' } },
      noc: { enabled: false },
    });
    const r = run(['server', '--cluster', f]);
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, `fleetcare: PostgreSQL at postgres://fleetcare:***@127.0.0.1:${port}/fleetcare: cannot connect`);
    assert.not.match(r.stderr, 'secret');
    assert.not.ok(existsSync(join(dir.path, 'data')), 'data dir created');
  } finally {
    dir.remove();
  }
});

test('server --cluster: a schema from a newer fleetcare is refused; exit 1; database and data dir untouched', async () => {
  if (!server) return console.log('  (skipped: no PostgreSQL)');
  const url = await server.createDatabase('newer');
  await migratePostgres(url);
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`INSERT INTO fleetcare_migrations (name, applied_at) VALUES ('9999-from-the-future', 0)`);
    const before = (await c.query('SELECT name FROM fleetcare_migrations ORDER BY name')).rows;
    const dir = tempDir();
    try {
      const f = nodeConfig(dir.path, {
        cluster: { nodeId: 'b1', roles: ['broker'] },
        state: { kind: 'postgres', url },
        broker: { port: 0, cluster: { redisUrl: 'redis://127.0.0.1:1' } },
        noc: { enabled: false },
      });
      const r = run(['server', '--cluster', f]);
      assert.is(r.code, 1, r.stderr);
      assert.match(r.stderr, 'the schema was written by a newer fleetcare (migrations 9999-from-the-future are unknown');
      assert.match(r.stderr, 'nothing was changed');
      assert.not.ok(existsSync(join(dir.path, 'data')), 'data dir created');
      assert.equal((await c.query('SELECT name FROM fleetcare_migrations ORDER BY name')).rows, before);
    } finally {
      dir.remove();
    }
  } finally {
    await c.end();
  }
});

/** Starts `fleetcare server --cluster f`; resolves with its `fleetcare server started` line and a stop. */
async function startNode(f: string): Promise<{ started: Record<string, unknown>; stop(): Promise<number | null>; out(): string; err(): string }> {
  const p = spawn(process.execPath, [CLI, 'server', '--cluster', f], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  p.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
  const stop = () => (p.kill('SIGTERM'), exited);
  try {
    const started = await waitFor(
      'the node started',
      () =>
        out
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .find((l) => l.msg === 'fleetcare server started'),
      30_000,
    );
    return { started, stop, out: () => out, err: () => err };
  } catch (e) {
    await stop();
    throw new Error(`${(e as Error).message}: ${err}`);
  }
}

test('server --cluster: a broker node starts under its node id on PostgreSQL + Redis and stops on SIGTERM', async () => {
  if (!server || !redis) return console.log('  (skipped: no PostgreSQL or Redis)');
  const dir = tempDir();
  try {
    const url = await server.createDatabase('broker');
    const f = nodeConfig(dir.path, {
      cluster: { nodeId: 'broker-a', roles: ['broker'] },
      state: { kind: 'postgres', url },
      broker: { port: 0, scryptCost: 1024, cluster: { redisUrl: redis.url } },
      noc: { enabled: false },
    });
    const node = await startNode(f);
    try {
      assert.is(node.started.node, 'broker-a');
      assert.equal(node.started.roles, ['broker']);
      assert.is(node.started.role, 'broker');
      assert.ok(node.out().includes('"msg":"broker listening"'), node.out());
    } finally {
      assert.is(await node.stop(), 0, node.err());
    }
  } finally {
    dir.remove();
  }
});

test('server --cluster: broker nodes check logins against the registry in PostgreSQL; the CLI provisions there and a rotate closes the session on any node', async () => {
  if (!server || !redis) return console.log('  (skipped: no PostgreSQL or Redis)');
  const dir = tempDir();
  const nodes: Array<{ stop(): Promise<number | null>; err(): string }> = [];
  try {
    const url = await server.createDatabase('registry');
    const configOf = (nodeId: string) => {
      const d = join(dir.path, nodeId);
      mkdirSync(d);
      return nodeConfig(d, {
        cluster: { nodeId, roles: ['broker'] },
        state: { kind: 'postgres', url },
        broker: { port: 0, scryptCost: 1024, registryPollMs: 100, cluster: { redisUrl: redis.url } },
        noc: { enabled: false },
      });
    };
    // Each node its own data dir: nothing about logins is on a node's disk.
    const [a, b] = await Promise.all([startNode(configOf('broker-a')), startNode(configOf('broker-b'))]);
    nodes.push(a, b);
    const urlOf = (n: { started: Record<string, unknown> }) => String(n.started.brokerUrl);
    // Provisioned once, through the CLI with a node's config: the row is in PostgreSQL.
    const add = run(['device', 'add', 'pos-7', '--site', 'store-3', '--config', join(dir.path, 'broker-a', 'node.json')]);
    assert.is(add.code, 0, add.stderr);
    const token = add.stdout.trim();
    const list = run(['device', 'list', '--json', '--config', join(dir.path, 'broker-b', 'node.json')]);
    assert.equal(
      (JSON.parse(list.stdout) as Array<{ id: string; site: string }>).map((d) => [d.id, d.site]),
      [['pos-7', 'store-3']],
    );
    assert.not.ok(existsSync(join(dir.path, 'broker-a', 'data', 'broker', 'registry.sqlite')), 'no local registry on a cluster node');
    const login = (n: { started: Record<string, unknown> }, password: string) =>
      mqtt.connectAsync(urlOf(n), { clientId: 'pos-7', username: 'pos-7', password, reconnectPeriod: 0, connectTimeout: 10_000 });
    /** Why a login was refused ('' when it got in). */
    const refusal = (n: { started: Record<string, unknown> }, password: string) =>
      login(n, password).then(
        (c) => c.endAsync().then(() => ''),
        (e: Error) => e.message,
      );
    // The same token logs in on either node; a wrong one is refused.
    const onA = await login(a, token);
    await onA.endAsync();
    assert.match(await refusal(b, 'not-the-token'), /Bad username or password/i);
    const onB = await login(b, token);
    const closed = new Promise<void>((r) => onB.once('close', () => r()));
    // A rotate on the shared registry closes the live session on node B (revocation through
    // credential_changes in PostgreSQL), and only the new token gets in.
    const rotate = run(['device', 'rotate', 'pos-7', '--config', join(dir.path, 'broker-a', 'node.json')]);
    assert.is(rotate.code, 0, rotate.stderr);
    await closed;
    await onB.endAsync(true);
    assert.match(await refusal(a, token), /Bad username or password/i);
    const again = await login(b, rotate.stdout.trim());
    await again.endAsync();
  } finally {
    for (const n of nodes) assert.is(await n.stop(), 0, n.err());
    dir.remove();
  }
});

test("cluster status: nodes, partitions per owner, lease left, epochs; a stopped node's partitions show as unowned, then taken over", async () => {
  if (!server) return console.log('  (skipped: no PostgreSQL)');
  const url = await server.createDatabase('status');
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => {});
  pools.push(pool);
  const a = new PartitionLeases(pool, { node: 'collector-a', partitions: 8, leaseMs: 30_000 }, {}, log);
  const b = new PartitionLeases(pool, { node: 'collector-b', partitions: 8, leaseMs: 30_000 }, {}, log);
  leases.push(a, b);
  // Before any node: no cluster tables yet.
  const none = run(['cluster', 'status', '--state', url]);
  assert.is(none.code, 0, none.stderr);
  assert.match(none.stdout, 'no collector node has taken partitions yet');

  await a.start();
  await b.start();
  await a.round(); // a sees b and hands back its extra partitions
  await b.round();
  const status = (): ClusterStatus => {
    const r = run(['cluster', 'status', '--state', url, '--json']);
    assert.is(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as ClusterStatus;
  };
  const s1 = status();
  assert.is(s1.partitions, 8);
  assert.equal(
    s1.nodes.map((n) => [n.node, n.partitions]),
    [
      ['collector-a', a.owned()],
      ['collector-b', b.owned()],
    ],
  );
  assert.equal(
    s1.nodes.map((n) => n.partitions.length),
    [4, 4],
  );
  assert.equal(s1.unowned, []);
  for (const n of s1.nodes) {
    assert.ok(n.leaseRemainingMs! > 20_000 && n.leaseRemainingMs! <= 30_000, `lease left ${n.leaseRemainingMs}`);
    assert.ok(n.heartbeatAgeMs >= 0 && n.heartbeatAgeMs < 20_000, `heartbeat ${n.heartbeatAgeMs}`);
  }

  // The table for a person: one row per node, its partitions as ranges.
  const table = run(['cluster', 'status', '--state', url]);
  assert.is(table.code, 0, table.stderr);
  assert.match(table.stdout, /: 2 collector node\(s\), 8\/8 partitions owned\n/);
  assert.match(table.stdout, /NODE\s+HEARTBEAT\s+PARTITIONS\s+OWNS\s+LEASE LEFT\s+MAX EPOCH\s+STARTED/);
  const bRanges = b.owned();
  assert.match(table.stdout, new RegExp(`\\ncollector-b\\s+\\d+\\.\\d s ago\\s+4\\s+${bRanges[0]}-${bRanges[3]}\\s+\\d+\\.\\d s\\s+\\d+\\s+20`));

  // b stops (hands its partitions back): they are unowned until a takes them, with a new epoch.
  const bOwned = b.owned();
  await b.stop();
  const s2 = status();
  assert.equal(
    s2.nodes.map((n) => n.node),
    ['collector-a'],
  );
  assert.equal(s2.unowned, bOwned);
  const epochsBefore = new Map(s2.leases.map((l) => [l.partition, l.epoch]));
  await a.round();
  const s3 = status();
  assert.equal(s3.nodes[0].partitions, [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(s3.unowned, []);
  for (const p of bOwned) assert.is(s3.leases[p].epoch, epochsBefore.get(p)! + 1, `partition ${p}'s epoch`);
  assert.is(s3.nodes[0].maxEpoch, Math.max(...s3.leases.map((l) => l.epoch)));

  // --config reads the node's state.url; a config without PostgreSQL is refused with the reason.
  const dir = tempDir();
  try {
    const f = nodeConfig(dir.path, { state: { kind: 'postgres', url } });
    const viaConfig = run(['cluster', 'status', '--config', f, '--json']);
    assert.is(viaConfig.code, 0, viaConfig.stderr);
    assert.is((JSON.parse(viaConfig.stdout) as ClusterStatus).nodes.length, 1);
    const g = nodeConfig(dir.path, {});
    const sqlite = run(['cluster', 'status', '--config', g]);
    assert.is(sqlite.code, 1);
    assert.match(sqlite.stderr, 'state.kind is "sqlite"');
  } finally {
    dir.remove();
  }
  const usage = run(['cluster', 'status']);
  assert.is(usage.code, 64);
  assert.match(usage.stderr, 'needs --state postgres://… or --config FILE');
});

test.run();
