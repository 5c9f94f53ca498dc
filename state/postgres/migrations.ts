// PostgreSQL schema versions of the state tier (one database holds every domain). New changes
// are new entries at the end, never edits of old ones. Columns mirror the SQLite layout so that
// `fleetcare migrate --from-sqlite` copies rows as they are; times are epoch ms (BIGINT).
import type pg from 'pg';
import type { UmzugStorage } from 'umzug';
import { runMigrations, type MigrationReport, type StateMigration } from '../migrations.js';
import { createPgClient, transactionOn } from './db.js';

export type PgContext = { client: pg.ClientBase };

/** A schema version that is one DDL script. */
function ddl(name: string, sql: string): StateMigration<PgContext> {
  return {
    name,
    up: async ({ client }) => {
      await client.query(sql);
    },
  };
}

export const postgresMigrations: ReadonlyArray<StateMigration<PgContext>> = [
  ddl(
    '0001-tickets',
    `
        CREATE TABLE tickets (
          ref TEXT PRIMARY KEY,
          dedup_key TEXT NOT NULL,
          occurrence INTEGER NOT NULL,
          version INTEGER NOT NULL,
          status TEXT NOT NULL,
          priority TEXT NOT NULL,
          issue_type TEXT NOT NULL,
          customer TEXT NOT NULL,
          site TEXT,
          device TEXT NOT NULL,
          peripheral TEXT,
          opened_at BIGINT NOT NULL,
          updated_at BIGINT NOT NULL,
          closed_at BIGINT,
          resolution TEXT,
          fields JSONB NOT NULL,
          UNIQUE (dedup_key, occurrence)
        );
        CREATE INDEX tickets_status ON tickets (status, customer);
        CREATE INDEX tickets_device ON tickets (device);
        CREATE INDEX tickets_opened ON tickets (opened_at);
        CREATE TABLE ticket_comments (
          id BIGSERIAL PRIMARY KEY,
          ref TEXT NOT NULL REFERENCES tickets (ref),
          at BIGINT NOT NULL,
          version INTEGER NOT NULL,
          event_id TEXT,
          body TEXT NOT NULL
        );
        CREATE INDEX ticket_comments_ref ON ticket_comments (ref, id);
        CREATE TABLE ticket_changes (
          id BIGSERIAL PRIMARY KEY,
          ref TEXT NOT NULL,
          dedup_key TEXT NOT NULL,
          version INTEGER NOT NULL,
          status TEXT NOT NULL,
          priority TEXT NOT NULL,
          device TEXT NOT NULL,
          at BIGINT NOT NULL
        );
        CREATE TABLE ticket_status_log (
          id BIGSERIAL PRIMARY KEY,
          ref TEXT NOT NULL,
          at BIGINT NOT NULL,
          status TEXT NOT NULL
        );
        CREATE INDEX ticket_status_log_ref ON ticket_status_log (ref, id);
        CREATE TABLE ticket_outbox (
          id BIGSERIAL PRIMARY KEY,
          sink TEXT NOT NULL,
          ref TEXT NOT NULL,
          dedup_key TEXT NOT NULL,
          version INTEGER NOT NULL,
          kind TEXT NOT NULL,
          command TEXT NOT NULL,
          state TEXT NOT NULL DEFAULT 'pending',
          attempts INTEGER NOT NULL DEFAULT 0,
          next_at BIGINT NOT NULL DEFAULT 0,
          maybe_created INTEGER NOT NULL DEFAULT 0,
          last_error TEXT,
          created_at BIGINT NOT NULL,
          updated_at BIGINT NOT NULL
        );
        CREATE INDEX ticket_outbox_ticket ON ticket_outbox (sink, ref, id);
        CREATE INDEX ticket_outbox_due ON ticket_outbox (sink, state, next_at);
        CREATE TABLE ticket_link (
          system TEXT NOT NULL,
          ref TEXT NOT NULL,
          dedup_key TEXT NOT NULL,
          external_id TEXT NOT NULL,
          state TEXT NOT NULL,
          adopted INTEGER NOT NULL DEFAULT 0,
          updated_at BIGINT NOT NULL,
          PRIMARY KEY (system, ref)
        );
      `,
  ),
  ddl(
    '0002-registry',
    `
        CREATE TABLE devices (
          id TEXT PRIMARY KEY,
          site TEXT,
          tenant TEXT,
          token_hash TEXT NOT NULL,
          created_at BIGINT NOT NULL,
          disabled INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE service_accounts (
          name TEXT PRIMARY KEY,
          role TEXT NOT NULL CHECK (role IN ('collector', 'viewer')),
          token_hash TEXT NOT NULL,
          created_at BIGINT NOT NULL
        );
      `,
  ),
  // The SQLite names (users, sessions, api_tokens in noc.db) get a noc_ prefix here, where
  // every domain shares one database; `user` is quoted (a reserved word in PostgreSQL).
  ddl(
    '0003-noc-accounts',
    `
        CREATE TABLE noc_users (
          name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL, created_at BIGINT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE noc_sessions (
          id_hash TEXT PRIMARY KEY, "user" TEXT NOT NULL REFERENCES noc_users (name) ON DELETE CASCADE, csrf TEXT NOT NULL,
          created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL
        );
        CREATE INDEX noc_sessions_user ON noc_sessions ("user");
        CREATE TABLE noc_api_tokens (
          id TEXT PRIMARY KEY, "user" TEXT NOT NULL REFERENCES noc_users (name) ON DELETE CASCADE, name TEXT NOT NULL,
          token_hash TEXT NOT NULL, created_at BIGINT NOT NULL
        );
      `,
  ),
  // remote_commands of noc.db; `seq` keeps insertion order for commands sent in the same ms.
  ddl(
    '0004-noc-commands',
    `
        CREATE TABLE noc_commands (
          id TEXT PRIMARY KEY, seq BIGSERIAL NOT NULL, device TEXT NOT NULL, name TEXT NOT NULL, peripheral TEXT, args TEXT NOT NULL,
          "user" TEXT NOT NULL, status TEXT NOT NULL, sent_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
          answered_at BIGINT, result TEXT, error TEXT
        );
        CREATE INDEX noc_commands_device ON noc_commands (device, sent_at);
        CREATE INDEX noc_commands_pending ON noc_commands (status, expires_at);
      `,
  ),
  ddl(
    '0005-collector-dedup',
    `
        CREATE TABLE received (device TEXT NOT NULL, seq BIGINT NOT NULL, at BIGINT NOT NULL, PRIMARY KEY (device, seq));
        CREATE INDEX received_at ON received (at);
      `,
  ),
  ddl(
    '0006-warranty',
    `
        CREATE TABLE serials (serial_no TEXT PRIMARY KEY, item_code TEXT NOT NULL, kind TEXT NOT NULL,
          customer TEXT, device_id TEXT, delivery_date TEXT, warranty_expiry_date TEXT, amc_expiry_date TEXT);
        CREATE INDEX serials_customer ON serials (customer);
        CREATE INDEX serials_device ON serials (device_id);
        CREATE TABLE warranty_claims (name TEXT PRIMARY KEY, year INTEGER NOT NULL, number INTEGER NOT NULL,
          serial_no TEXT NOT NULL, incident_key TEXT UNIQUE, status TEXT NOT NULL, claim TEXT NOT NULL, UNIQUE (year, number));
        CREATE INDEX warranty_claims_serial ON warranty_claims (serial_no);
      `,
  ),
  ddl(
    '0007-maintenance-windows',
    `
        CREATE TABLE maintenance_windows (id BIGSERIAL PRIMARY KEY, site TEXT NOT NULL, spec TEXT NOT NULL);
        CREATE INDEX maintenance_windows_site ON maintenance_windows (site);
      `,
  ),
  ddl(
    '0008-noc-report-units',
    `
        CREATE TABLE noc_report_units (
          device TEXT NOT NULL, unit TEXT NOT NULL, model TEXT NOT NULL, kind TEXT NOT NULL, first_seen BIGINT NOT NULL,
          PRIMARY KEY (device, unit)
        );
      `,
  ),
  // incidents.db's incidents, incident_log and detector_devices, plus the partition each row
  // belongs to (cluster/partitions.ts: only the partition's owner writes it).
  ddl(
    '0009-incidents',
    `
        CREATE TABLE incidents (
          id BIGSERIAL PRIMARY KEY, key TEXT NOT NULL, device TEXT NOT NULL, peripheral TEXT NOT NULL,
          failure_mode TEXT NOT NULL, site TEXT, scope TEXT NOT NULL, detector TEXT NOT NULL, kind TEXT NOT NULL,
          priority TEXT NOT NULL, issue_type TEXT NOT NULL, state TEXT NOT NULL, figures TEXT NOT NULL, eta BIGINT,
          runbook TEXT NOT NULL, inhibitable INTEGER NOT NULL, first_seen BIGINT NOT NULL, last_firing BIGINT NOT NULL,
          opened_at BIGINT, recovering_since BIGINT, resolved_at BIGINT, closed_at BIGINT, hold_ms BIGINT NOT NULL,
          recover_ms BIGINT NOT NULL, reopen_count INTEGER NOT NULL DEFAULT 0, flapping INTEGER NOT NULL DEFAULT 0,
          transitions TEXT NOT NULL DEFAULT '[]', ticketed INTEGER NOT NULL DEFAULT 0, muted INTEGER NOT NULL DEFAULT 0,
          inhibited_by TEXT, updated_at BIGINT NOT NULL, partition INTEGER NOT NULL DEFAULT 0
        );
        -- One live incident per dedup key, whichever node writes it.
        CREATE UNIQUE INDEX incidents_live_key ON incidents (key) WHERE state IN ('pending', 'open', 'resolved');
        CREATE INDEX incidents_state ON incidents (state, site);
        CREATE INDEX incidents_live_partition ON incidents (partition) WHERE state IN ('pending', 'open', 'resolved');
        CREATE TABLE incident_log (
          id BIGSERIAL PRIMARY KEY, incident BIGINT NOT NULL, at BIGINT NOT NULL, type TEXT NOT NULL, ticket TEXT NOT NULL,
          suppressed TEXT, figures TEXT NOT NULL
        );
        CREATE INDEX incident_log_incident ON incident_log (incident, id);
        CREATE TABLE detector_devices (device TEXT PRIMARY KEY, partition INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL, at BIGINT NOT NULL);
        CREATE INDEX detector_devices_partition ON detector_devices (partition);
      `,
  ),
  ddl(
    '0010-dispatch',
    `
        CREATE TABLE dispatch_teams (id TEXT PRIMARY KEY, body JSONB NOT NULL);
        CREATE TABLE dispatch_technicians (id TEXT PRIMARY KEY, team TEXT NOT NULL REFERENCES dispatch_teams (id), body JSONB NOT NULL);
        CREATE TABLE known_fix_edits (id TEXT PRIMARY KEY, body JSONB NOT NULL, by_user TEXT NOT NULL, at BIGINT NOT NULL);
      `,
  ),
  // collector/service-records.db: what technicians did (re-bases wear; feeds the fleet's life fit).
  ddl(
    '0011-service-records',
    `
        CREATE TABLE service_records (
          id BIGSERIAL PRIMARY KEY, device TEXT NOT NULL, peripheral TEXT NOT NULL, part TEXT NOT NULL, kind TEXT NOT NULL,
          at BIGINT NOT NULL, failed INTEGER NOT NULL, profile TEXT, serial TEXT, usage DOUBLE PRECISION, source TEXT NOT NULL,
          ref TEXT, note TEXT, recorded_at BIGINT NOT NULL
        );
        CREATE INDEX service_records_device ON service_records (device, at);
      `,
  ),
  // broker/registry.ts credential_changes: every broker node of a cluster polls it and closes the
  // live sessions of a login whose token was rotated, removed or disabled (revocation).
  ddl(
    '0012-credential-changes',
    `
        CREATE TABLE credential_changes (seq BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, at BIGINT NOT NULL);
        CREATE INDEX credential_changes_at ON credential_changes (at);
      `,
  ),
];

export const pgMigrationStorage: UmzugStorage<PgContext> = {
  async executed({ context: { client } }) {
    const has = await client.query(`SELECT to_regclass('fleetcare_migrations') IS NOT NULL AS has`);
    if (!has.rows[0].has) return [];
    return (await client.query('SELECT name FROM fleetcare_migrations ORDER BY name')).rows.map((r: { name: string }) => r.name);
  },
  async logMigration({ name, context: { client } }) {
    await client.query('CREATE TABLE IF NOT EXISTS fleetcare_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)');
    await client.query('INSERT INTO fleetcare_migrations (name, applied_at) VALUES ($1, $2)', [name, Date.now()]);
  },
  async unlogMigration({ name, context: { client } }) {
    await client.query('DELETE FROM fleetcare_migrations WHERE name = $1', [name]);
  },
};

// Any constant: nodes starting together take turns, so each migration runs once.
const MIGRATION_LOCK = 0x666c6d01;

/** Names the unreachable server in the error (no password: the URL is shown without it). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

/**
 * Brings the database at `url` to this build's schema in one transaction, under an advisory lock
 * (several nodes may start at once). Throws StateSchemaTooNewError for a newer schema, and an
 * Error naming the server when it cannot connect.
 */
export async function migratePostgres(url: string): Promise<MigrationReport> {
  const client = createPgClient(url);
  try {
    await client.connect();
  } catch (e) {
    throw new Error(`PostgreSQL at ${redactUrl(url)}: cannot connect: ${(e as Error).message}`);
  }
  try {
    return await transactionOn(client, async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      return runMigrations(`PostgreSQL ${redactUrl(url)}`, postgresMigrations, pgMigrationStorage, { client: c });
    });
  } finally {
    await client.end().catch(() => undefined);
  }
}
