// `fleetcare migrate --from-sqlite DIR --to postgres://…`: a single-node data dir written by the
// real SQLite stores is moved into PostgreSQL, where the PostgreSQL stores serve it (logins,
// tickets with their outbox, status history and change feed, NOC sessions, commands, dedup); a
// version mismatch or a non-empty target is refused with one clear line, exit 1, nothing copied.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import * as assert from 'uvu/assert';
import { DeviceRegistry } from '../../broker/registry.js';
import { CollectorDb } from '../../collector/telemetry/collector-db.js';
import { UserStore } from '../../noc/auth.js';
import { WarrantyRegistry } from '../../collector/warranty/registry.js';
import { PgWarrantyState } from '../../state/postgres/warranty.js';
import { createPgClient } from '../../state/postgres/db.js';
import { PgCommandState } from '../../state/postgres/commands.js';
import { PgDedup } from '../../state/postgres/dedup.js';
import { PgNocAccounts } from '../../state/postgres/noc-accounts.js';
import { PgRegistryState } from '../../state/postgres/registry.js';
import { PgTicketState } from '../../state/postgres/tickets.js';
import { PgIncidentState } from '../../state/postgres/incidents.js';
import { PgServiceRecordStore } from '../../state/postgres/service-records.js';
import { SqliteServiceRecordStore } from '../../state/sqlite/service-records.js';
import { IncidentStore } from '../../collector/incidents/store.js';
import { partitionOf } from '../../cluster/partitions.js';
import { finding } from './incidents-suite.js';
import { SqliteCommandState } from '../../state/sqlite/commands.js';
import { SqliteTicketState } from '../../state/sqlite/tickets.js';
import { migrateSqliteFile, sqliteStateFiles } from '../../state/startup.js';
import { runToEnd, stateCommandSuite } from './command-suite.js';
import { createCmd } from '../tickets/support.js';

const run = (args: string[]) => runToEnd(args, 60_000);

const { test, env } = stateCommandSuite('fleetcare migrate --from-sqlite', 'fleetcare-move-');

async function countRows(url: string, table: string): Promise<number> {
  const c = createPgClient(url);
  await c.connect();
  try {
    return (await c.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n as number;
  } finally {
    await c.end();
  }
}

/** A single-node data dir as this version's server leaves it. */
async function singleNode(d: string) {
  const files = sqliteStateFiles(d);
  for (const f of Object.values(files)) mkdirSync(join(f, '..'), { recursive: true });
  for (const [schema, path] of Object.entries(files)) await migrateSqliteFile(path, schema as keyof typeof files);
  const registry = new DeviceRegistry(files.registry, { scryptCost: 16 });
  const deviceToken = registry.addDevice('pos-0001', { site: 'store-12', tenant: 'acme' });
  const serviceToken = registry.rotateServiceToken('grafana', 'viewer');
  registry.close();
  const incidents = new Database(files.incidents);
  const tickets = new SqliteTicketState({ db: incidents, sinks: ['erpnext'] });
  await tickets.enqueue(createCmd('pos-0001/printer/paper-out', {}, 1000));
  await tickets.enqueue({ kind: 'update', key: 'pos-0001/printer/paper-out', at: 2000, comment: 'still out' });
  await tickets.enqueue({ kind: 'set-status', key: 'pos-0001/printer/paper-out', at: 3000, status: 'Replied' }, { recordStatus: 'Replied' });
  const [row] = await tickets.rowsOf('erpnext', 'pos-0001/printer/paper-out', 1);
  await tickets.complete(
    [row.id],
    { system: 'erpnext', ref: 'pos-0001/printer/paper-out', key: 'pos-0001/printer/paper-out', externalId: 'ISS-1', state: 'Open' },
    2500,
  );
  // An open incident (its hold passed) and one device's detector state.
  const incidentStore = new IncidentStore(incidents, { holdMs: 1000 });
  incidentStore.apply([finding('pos-0001/printer/autocutter-error', 'firing', { site: 'store-12' })], 1000);
  incidentStore.apply([finding('pos-0001/printer/autocutter-error', 'firing', { site: 'store-12' })], 2500);
  incidentStore.saveDeviceStates([['pos-0001', { device: 'pos-0001', cutter: 123 }]], 2500);
  incidents.close();
  const users = new UserStore(files.noc, { sessionTtlMs: 3_600_000, scryptCost: 16 });
  users.addUser('alice', 'admin', 'correct horse battery');
  const session = users.createSession({ name: 'alice', role: 'admin' });
  const apiToken = users.createApiToken('alice', 'script');
  await new SqliteCommandState(users.db).insert({
    id: 'cmd-1',
    device: 'pos-0001',
    name: 'self-test',
    peripheral: 'printer',
    args: {},
    user: 'alice',
    sentAt: 1000,
    expiresAt: 31_000,
  });
  users.close();
  const warranty = new WarrantyRegistry(files.warranty);
  warranty.upsert({ serial_no: 'PT-0001', item_code: 'POS-T650', kind: 'device', customer: 'acme', warranty_expiry_date: '2027-05-31' });
  warranty.createClaim({
    status: 'Open',
    complaint_date: '2026-04-02',
    customer: 'acme',
    serial_no: 'PT-0001',
    item_code: 'POS-T650',
    complaint: 'cutter',
    warranty_amc_status: 'Under Warranty',
  });
  warranty.close();
  const collector = new CollectorDb(join(d, 'collector', 'collector.db'));
  collector.commit(
    [
      { device: 'pos-0001', seq: 7 },
      { device: 'pos-0001', seq: 8 },
    ] as never,
    null,
    1000,
  );
  collector.close();
  const records = new SqliteServiceRecordStore(files.serviceRecords);
  const replaced = await records.add({ device: 'pos-0001', peripheral: 'printer', part: 'cutter', usage: 1_950_000, source: 'cli', at: 2000 }, 2100);
  await records.close();
  return { deviceToken, serviceToken, session, apiToken, replaced };
}

test('a single-node data dir moves into PostgreSQL and is served from there', async () => {
  const before = await singleNode(env.dir.path);
  const url = await env.pg.createDatabase('move');
  const bad = run(['migrate', '--from-sqlite', env.dir.path, '--to', url, '--partitions', 'many']);
  assert.ok(bad.code !== 0, 'a bad partition count is refused');
  assert.match(bad.stderr, /--partitions: the cluster's partition count \(cluster.partitions, 1–4096\), got "many"/);
  const r = run(['migrate', '--from-sqlite', env.dir.path, '--to', url, '--partitions', '16']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /tickets\s+1/);
  assert.match(r.stdout, /ticket_outbox\s+2/);
  assert.match(r.stdout, /incidents\s+1/);
  assert.match(r.stdout, /kept in .*detector_state/);
  assert.match(r.stdout, /serials\s+1/);
  assert.match(r.stdout, /service_records\s+1/);

  const registry = new PgRegistryState(url, { scryptCost: 16 });
  const tickets = new PgTicketState(url, { sinks: ['erpnext'] });
  const accounts = new PgNocAccounts(url, { sessionTtlMs: 3_600_000, scryptCost: 16 });
  const commands = new PgCommandState(url);
  const dedup = new PgDedup(url);
  const warranty = new PgWarrantyState(url);
  const incidentState = new PgIncidentState(url, { partitions: 16 });
  const records = new PgServiceRecordStore(url);
  try {
    // The service history, and `fleetcare service record` on the cluster's config writes after it.
    assert.equal(await records.list(), [before.replaced]);
    const config = join(env.dir.path, 'cluster-node.json');
    writeFileSync(config, JSON.stringify({ dataDir: join(env.dir.path, 'node'), state: { kind: 'postgres', url } }));
    const rec = run(['service', 'record', 'pos-0001', 'printer', 'cutter', '--date', '2026-03-02', '--config', config]);
    assert.is(rec.code, 0, rec.stderr);
    assert.equal(
      (await records.list({ device: 'pos-0001' })).map((x) => [x.id, x.at, x.source]),
      [
        [before.replaced.id, 2000, 'cli'],
        [before.replaced.id + 1, Date.UTC(2026, 2, 2), 'cli'],
      ],
    );
    // The open incident and its log, filed under the device's partition of a 16-partition cluster.
    const incident = await incidentState.get('pos-0001/printer/autocutter-error');
    assert.equal([incident?.state, incident?.site, incident?.openedAt], ['open', 'store-12', 2500]);
    assert.equal(
      (await incidentState.history(incident!.id)).map((h) => h.type),
      ['opened'],
    );
    const mine = { partitions: [partitionOf('pos-0001', 16)] };
    assert.equal(await incidentState.liveDevices(mine), ['pos-0001']);
    assert.equal(await incidentState.loadDeviceStates(mine), [{ device: 'pos-0001', cutter: 123 }]);
    assert.equal(await incidentState.loadDeviceStates({ partitions: [(partitionOf('pos-0001', 16) + 1) % 16] }), []);
    assert.equal(await registry.verify('pos-0001', before.deviceToken), { kind: 'device', id: 'pos-0001', site: 'store-12', tenant: 'acme' });
    assert.equal(await registry.verify('grafana', before.serviceToken), { kind: 'service', name: 'grafana', role: 'viewer' });
    const t = await tickets.get('pos-0001/printer/paper-out');
    assert.equal([t?.status, t?.version, t?.subject], ['Replied', 3, 'Cutter blade near end of life (posA / printer)']);
    assert.equal(
      (await tickets.comments('pos-0001/printer/paper-out')).map((c) => c.body),
      ['still out'],
    );
    assert.equal(await tickets.statusLog('pos-0001/printer/paper-out'), [{ status: 'Replied', at: 3000 }]);
    assert.is(await tickets.pending('erpnext'), 2);
    assert.is((await tickets.link('erpnext', 'pos-0001/printer/paper-out'))?.externalId, 'ISS-1');
    const feed = await tickets.changesSince(0);
    assert.equal(
      feed.changes.map((c) => c.version),
      [1, 2, 3],
    );
    // New rows continue after the copied ids.
    await tickets.enqueue({ kind: 'close', key: 'pos-0001/printer/paper-out', at: 4000 });
    const next = await tickets.changesSince(feed.cursor);
    assert.equal(
      next.changes.map((c) => [c.version, c.status]),
      [[4, 'Closed']],
    );
    assert.equal(await accounts.session(before.session.id), {
      id: before.session.id,
      user: { name: 'alice', role: 'admin' },
      csrfToken: before.session.csrfToken,
      expiresAt: before.session.expiresAt,
    });
    assert.equal(await accounts.checkApiToken(before.apiToken), { name: 'alice', role: 'admin' });
    assert.ok(await accounts.checkPassword('alice', 'correct horse battery'));
    assert.is((await commands.get('cmd-1'))?.status, 'pending');
    assert.equal(
      await dedup.seen([
        { device: 'pos-0001', seq: 7 },
        { device: 'pos-0001', seq: 9 },
      ]),
      [true, false],
    );
    assert.is(await warranty.statusOf('PT-0001', '2026-06-01'), 'Under Warranty');
    assert.is(
      (
        await warranty.createClaim({
          status: 'Open',
          complaint_date: '2026-05-02',
          customer: 'acme',
          serial_no: 'PT-0001',
          item_code: 'POS-T650',
          complaint: 'again',
          warranty_amc_status: 'Under Warranty',
        })
      ).name,
      'SER-WRN-2026-00002',
    );
  } finally {
    await Promise.all([
      registry.close(),
      tickets.close(),
      accounts.close(),
      commands.close(),
      dedup.close(),
      warranty.close(),
      incidentState.close(),
      records.close(),
    ]);
  }

  // Again into the same database: refused, nothing added.
  const again = run(['migrate', '--from-sqlite', env.dir.path, '--to', url]);
  assert.is(again.code, 1);
  assert.match(
    again.stderr,
    /fleetcare: PostgreSQL postgres:\/\/.* already holds state \(tickets, .*\); migrate only into an empty database — nothing was copied/,
  );
  assert.is(await countRows(url, 'ticket_comments'), 1);
});

test('a source file from another version is refused and nothing is copied', async () => {
  await singleNode(env.dir.path);
  const files = sqliteStateFiles(env.dir.path);
  const url = await env.pg.createDatabase('mismatch');
  const newer = new Database(files.noc);
  newer.prepare('INSERT INTO fleetcare_migrations (name, applied_at) VALUES (?, ?)').run('0002-from-the-future', 1);
  newer.close();
  const r = run(['migrate', '--from-sqlite', env.dir.path, '--to', url]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /noc\.db: written by a newer fleetcare \(migrations 0002-from-the-future unknown to this version\)/);
  const older = new Database(files.noc);
  older.exec('DELETE FROM fleetcare_migrations');
  older.close();
  const r2 = run(['migrate', '--from-sqlite', env.dir.path, '--to', url]);
  assert.is(r2.code, 1);
  assert.match(r2.stderr, /noc\.db: schema older than this fleetcare .*start this version's `fleetcare server --data-dir/);
  // The refusals came before the target was touched.
  const c = createPgClient(url);
  await c.connect();
  const tables = (await c.query(`SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public'`)).rows[0].n;
  await c.end();
  assert.is(tables, 0);
  const usage = run(['migrate', '--from-sqlite', env.dir.path, '--to', 'mysql://x']);
  assert.is(usage.code, 64);
  assert.match(usage.stderr, /--to: expected postgres:\/\//);
});

test.run();
