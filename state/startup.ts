// Run at server start, before anything binds a port: brings every store this node uses to the
// build's schema (state/sqlite/migrations.ts, state/postgres/migrations.ts) and refuses, with a
// clear error and nothing written, a store written by a newer fleetcare or an unreachable PostgreSQL.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { StateConfig } from './config.js';
import { migratePostgres, redactUrl } from './postgres/migrations.js';
import { migrateSqlite, type SqliteSchema } from './sqlite/migrations.js';

/** The versioned SQLite files of a server data dir (the collector's part lives in `collector/`). */
export const sqliteStateFiles = (dataDir: string): Record<SqliteSchema, string> => ({
  incidents: join(dataDir, 'collector', 'incidents.db'),
  registry: join(dataDir, 'broker', 'registry.sqlite'),
  noc: join(dataDir, 'noc.db'),
  warranty: join(dataDir, 'collector', 'warranty.db'),
  serviceRecords: join(dataDir, 'collector', 'service-records.db'),
});

/** Which versioned files a role's components open. */
const schemasOf = (role: string): SqliteSchema[] =>
  role === 'broker'
    ? ['registry']
    : role === 'collector'
      ? ['incidents', 'warranty', 'serviceRecords', 'noc']
      : ['incidents', 'warranty', 'serviceRecords', 'registry', 'noc'];

export async function migrateSqliteFile(path: string, schema: SqliteSchema): Promise<string[]> {
  const db = new Database(path, { timeout: 10_000 });
  try {
    return (await migrateSqlite(db, schema, path)).applied;
  } finally {
    db.close();
  }
}

export async function migrateServerState(config: { dataDir: string; role: string; state: StateConfig; cluster?: unknown }, log: Logger): Promise<void> {
  const clusterNode = config.cluster !== undefined && config.state.kind === 'postgres';
  // PostgreSQL first: an unreachable or newer database stops the start before any file is made.
  if (config.state.kind === 'postgres') {
    const r = await migratePostgres(config.state.url);
    log.info({ postgres: redactUrl(config.state.url), applied: r.applied, current: r.current }, 'PostgreSQL state schema ready');
    // What runs on PostgreSQL outside cluster mode is listed in docs/state.md.
    if (!clusterNode)
      log.warn(
        'state.kind postgres: NOC users, sessions, API tokens, commands and report units are in PostgreSQL; the registry, incidents, tickets, warranty and dedup of this process still use the data dir (docs/state.md)',
      );
  }
  const files = sqliteStateFiles(config.dataDir);
  // A cluster node's broker checks logins against the registry in PostgreSQL: no local registry file.
  for (const schema of schemasOf(config.role).filter((x) => !(clusterNode && x === 'registry'))) {
    mkdirSync(dirname(files[schema]), { recursive: true });
    const applied = await migrateSqliteFile(files[schema], schema);
    if (applied.length) log.info({ file: files[schema], applied }, 'state schema migrated');
  }
}
