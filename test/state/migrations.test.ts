// Versioned schema migrations on both implementations: a fresh store is brought to the current
// version, a second run does nothing, a store written before versioning adopts it, and a store
// that ran a migration this build does not know is refused with nothing written.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { StateSchemaTooNewError } from '../../state/migrations.js';
import { createPgClient } from '../../state/postgres/db.js';
import { migratePostgres, postgresMigrations } from '../../state/postgres/migrations.js';
import { migrateSqlite, sqliteMigrations } from '../../state/sqlite/migrations.js';
import { TicketOutbox } from '../../collector/tickets/index.js';
import { IncidentStore } from '../../collector/incidents/index.js';
import { freePort } from '../helpers/net.js';
import { tempDir, type TempDir } from '../helpers/tmp.js';
import { TestPostgres } from '../helpers/postgres.js';
import { createCmd } from '../tickets/support.js';

const sqlite = suite('state migrations (sqlite)');
let dir: TempDir;
sqlite.before.each(() => {
  dir = tempDir('fleetcare-migr-');
});
sqlite.after.each(() => dir.remove());

const tables = (db: Database.Database) =>
  db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).pluck().all() as string[];

sqlite('a fresh file gets every migration once; a second run applies nothing', async () => {
  const db = new Database(join(dir.path, 'incidents.db'));
  const first = await migrateSqlite(db, 'incidents');
  assert.equal(
    first.applied,
    sqliteMigrations.incidents.map((m) => m.name),
  );
  for (const t of ['incidents', 'tickets', 'ticket_outbox', 'ticket_link', 'ticket_status_log', 'ticket_changes', 'fleetcare_migrations'])
    assert.ok(tables(db).includes(t), t);
  const second = await migrateSqlite(db, 'incidents');
  assert.equal(second.applied, []);
  db.close();
});

sqlite('a file written before versioning keeps its rows and adopts the schema', async () => {
  const path = join(dir.path, 'incidents.db');
  const old = new Database(path);
  const store = new IncidentStore(old);
  const outbox = new TicketOutbox(old, { sinks: [] });
  outbox.enqueue(createCmd('posA/-/offline'));
  void store;
  old.close();
  const db = new Database(path);
  const r = await migrateSqlite(db, 'incidents');
  assert.equal(r.applied, ['0001-incidents-and-tickets', '0002-dispatch']);
  assert.is(db.prepare('SELECT count(*) FROM tickets').pluck().get(), 1);
  db.close();
});

sqlite('a file from a newer fleetcare is refused, naming the file and the unknown migration, and nothing is written', async () => {
  const path = join(dir.path, 'incidents.db');
  const newer = new Database(path);
  newer.exec(`CREATE TABLE fleetcare_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL);
    INSERT INTO fleetcare_migrations VALUES ('0001-incidents-and-tickets', 1), ('0099-from-the-future', 2);`);
  newer.close();
  const db = new Database(path);
  let err: unknown;
  try {
    await migrateSqlite(db, 'incidents');
  } catch (e) {
    err = e;
  }
  assert.instance(err, StateSchemaTooNewError);
  assert.match((err as Error).message, path);
  assert.match((err as Error).message, '0099-from-the-future');
  assert.match((err as Error).message, 'newer fleetcare');
  assert.equal(tables(db), ['fleetcare_migrations']);
  assert.is(db.inTransaction, false);
  db.close();
});

sqlite.run();

const postgres = suite('state migrations (postgres)');
let pg: TestPostgres;
postgres.before(async () => {
  pg = await TestPostgres.create();
});
postgres.after(async () => {
  await pg?.destroy();
});

async function pgTables(url: string): Promise<string[]> {
  const c = createPgClient(url);
  await c.connect();
  try {
    return (await c.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`)).rows.map(
      (r: { tablename: string }) => r.tablename,
    );
  } finally {
    await c.end();
  }
}

postgres('a fresh database gets every migration once, also when several nodes start together', async () => {
  const url = await pg.createDatabase('migr');
  const runs = await Promise.all([migratePostgres(url), migratePostgres(url), migratePostgres(url)]);
  assert.equal(runs.map((r) => r.applied.length).sort(), [0, 0, postgresMigrations.length]);
  const t = await pgTables(url);
  for (const name of ['tickets', 'ticket_outbox', 'ticket_link', 'ticket_status_log', 'ticket_changes', 'ticket_comments', 'fleetcare_migrations'])
    assert.ok(t.includes(name), name);
  assert.equal((await migratePostgres(url)).applied, []);
});

postgres('a database from a newer fleetcare is refused and nothing is written', async () => {
  const url = await pg.createDatabase('newer');
  const c = createPgClient(url);
  await c.connect();
  await c.query(`CREATE TABLE fleetcare_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL);
    INSERT INTO fleetcare_migrations VALUES ('0099-from-the-future', 1)`);
  await c.end();
  let err: unknown;
  try {
    await migratePostgres(url);
  } catch (e) {
    err = e;
  }
  assert.instance(err, StateSchemaTooNewError);
  assert.match((err as Error).message, '0099-from-the-future');
  assert.equal(await pgTables(url), ['fleetcare_migrations']);
});

postgres('an unreachable server is named in the error, without its password', async () => {
  let err: unknown;
  try {
    await migratePostgres(`postgres://fleetcare:secret@127.0.0.1:${await freePort()}/x`);
  } catch (e) {
    err = e;
  }
  assert.match((err as Error).message, /PostgreSQL at postgres:\/\/fleetcare:\*\*\*@127\.0\.0\.1:\d+\/x: cannot connect/);
  assert.not.match((err as Error).message, 'secret');
});

postgres.run();
