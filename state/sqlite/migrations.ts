// SQLite schema versions, per database file. Migration 0001 of a file is the schema as it was
// before versioning (CREATE ... IF NOT EXISTS), so files written by earlier builds adopt it
// as they are. Later changes are new entries at the end, never edits of old ones.
import type Database from 'better-sqlite3';
import type { UmzugStorage } from 'umzug';
import { CREDENTIAL_CHANGES_DDL, REGISTRY_DDL } from '../../broker/registry.js';
import { NOC_ACCOUNTS_DDL } from '../../noc/auth.js';
import { REMOTE_COMMANDS_DDL } from './commands.js';
import { REPORT_UNITS_DDL } from './report-units.js';
import { DISPATCH_DDL } from './dispatch.js';
import { WARRANTY_DDL } from '../../collector/warranty/registry.js';
import { SERVICE_RECORDS_DDL } from './service-records.js';
import { INCIDENT_STORE_DDL } from '../../collector/incidents/store.js';
import { TICKET_STATUS_LOG_DDL } from '../../collector/tickets/actions.js';
import { TICKET_OUTBOX_DDL } from '../../collector/tickets/outbox.js';
import { TICKET_STORE_DDL } from '../../collector/tickets/store.js';
import { runMigrations, type MigrationReport, type StateMigration } from '../migrations.js';

export type SqliteContext = { db: Database.Database };

/** A schema version that is one DDL script. */
function ddl(name: string, sql: string): StateMigration<SqliteContext> {
  return {
    name,
    up: ({ db }) => {
      db.exec(sql);
    },
  };
}

/** The database files that carry a schema version, and their migrations. */
export const sqliteMigrations = {
  /** incidents.db: incidents, maintenance windows, detector state, tickets, outbox, links, status log, change feed. */
  incidents: [
    ddl('0001-incidents-and-tickets', INCIDENT_STORE_DDL + TICKET_STORE_DDL + TICKET_OUTBOX_DDL + TICKET_STATUS_LOG_DDL),
    ddl('0002-dispatch', DISPATCH_DDL),
  ],
  /** broker/registry.sqlite: devices and service accounts. */
  registry: [ddl('0001-registry', REGISTRY_DDL), ddl('0002-credential-changes', CREDENTIAL_CHANGES_DDL)],
  /** noc.db: NOC users, sessions, API tokens, remote commands, report units. */
  noc: [ddl('0001-noc', NOC_ACCOUNTS_DDL + REMOTE_COMMANDS_DDL + REPORT_UNITS_DDL)],
  /** collector/warranty.db: serials and warranty claims. */
  warranty: [ddl('0001-warranty', WARRANTY_DDL)],
  /** collector/service-records.db: parts replaced, preventive swaps, unit swaps. */
  serviceRecords: [ddl('0001-service-records', SERVICE_RECORDS_DDL)],
} satisfies Record<string, ReadonlyArray<StateMigration<SqliteContext>>>;

export type SqliteSchema = keyof typeof sqliteMigrations;

const MIGRATIONS_DDL = 'CREATE TABLE IF NOT EXISTS fleetcare_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)';

/** umzug storage in the database itself. executed() does not create the table: a refused run writes nothing. */
export const sqliteMigrationStorage: UmzugStorage<SqliteContext> = {
  async executed({ context: { db } }) {
    const has = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'fleetcare_migrations'`).get();
    return has ? (db.prepare('SELECT name FROM fleetcare_migrations ORDER BY name').pluck().all() as string[]) : [];
  },
  async logMigration({ name, context: { db } }) {
    db.exec(MIGRATIONS_DDL);
    db.prepare('INSERT INTO fleetcare_migrations (name, applied_at) VALUES (?, ?)').run(name, Date.now());
  },
  async unlogMigration({ name, context: { db } }) {
    db.prepare('DELETE FROM fleetcare_migrations WHERE name = ?').run(name);
  },
};

/**
 * Brings `db` to this build's schema `schema`, in one IMMEDIATE transaction (no other writer
 * can interleave; a failure or a refusal rolls everything back). Throws StateSchemaTooNewError
 * when the file is newer than the code. Call before anything else uses the connection.
 */
export async function migrateSqlite(db: Database.Database, schema: SqliteSchema, file = db.name): Promise<MigrationReport> {
  db.exec('BEGIN IMMEDIATE');
  try {
    const r = await runMigrations(`${file} (${schema})`, sqliteMigrations[schema], sqliteMigrationStorage, { db });
    db.exec('COMMIT');
    return r;
  } catch (e) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw e;
  }
}
