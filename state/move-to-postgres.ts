// `fleetcare migrate --from-sqlite DIR --to postgres://…`: moves a single-node installation's
// shared state (the stores that have a PostgreSQL implementation) into the cluster database.
//
// Refuses, before writing anything, when a SQLite file's schema is not exactly this build's
// (older: start this version's server on DIR once, which upgrades the files; newer: upgrade
// fleetcare), when the target's schema is newer, or when the target already holds state (no
// merging of two installations). Everything is copied in ONE PostgreSQL transaction: a failure
// leaves the target empty. The SQLite files are only read.
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import type pg from 'pg';
import { sqliteMigrationStorage, sqliteMigrations, type SqliteSchema } from './sqlite/migrations.js';
import { sqliteStateFiles } from './startup.js';
import { createPgClient } from './postgres/db.js';
import { migratePostgres, redactUrl } from './postgres/migrations.js';
import { join } from 'node:path';
import { DEFAULT_PARTITIONS, partitionOf } from '../cluster/partitions.js';

export class StateMoveError extends Error {
  override name = 'StateMoveError';
}

/**
 * What is copied: SQLite file → its tables → the PostgreSQL table each goes to, with the same
 * columns; `partitionOf`: the device column whose cluster partition fills PostgreSQL's `partition`.
 */
const COPIES: Array<{ file: SqliteSchema | 'collector'; from: string; to: string; columns: string[]; serial?: string; partitionOf?: string }> = [
  {
    file: 'incidents',
    from: 'tickets',
    to: 'tickets',
    columns: [
      'ref',
      'dedup_key',
      'occurrence',
      'version',
      'status',
      'priority',
      'issue_type',
      'customer',
      'site',
      'device',
      'peripheral',
      'opened_at',
      'updated_at',
      'closed_at',
      'resolution',
      'fields',
    ],
  },
  { file: 'incidents', from: 'ticket_comments', to: 'ticket_comments', columns: ['id', 'ref', 'at', 'version', 'event_id', 'body'], serial: 'id' },
  {
    file: 'incidents',
    from: 'ticket_changes',
    to: 'ticket_changes',
    columns: ['id', 'ref', 'dedup_key', 'version', 'status', 'priority', 'device', 'at'],
    serial: 'id',
  },
  { file: 'incidents', from: 'ticket_status_log', to: 'ticket_status_log', columns: ['id', 'ref', 'at', 'status'], serial: 'id' },
  {
    file: 'incidents',
    from: 'ticket_outbox',
    to: 'ticket_outbox',
    columns: [
      'id',
      'sink',
      'ref',
      'dedup_key',
      'version',
      'kind',
      'command',
      'state',
      'attempts',
      'next_at',
      'maybe_created',
      'last_error',
      'created_at',
      'updated_at',
    ],
    serial: 'id',
  },
  { file: 'incidents', from: 'ticket_link', to: 'ticket_link', columns: ['system', 'ref', 'dedup_key', 'external_id', 'state', 'adopted', 'updated_at'] },
  {
    file: 'incidents',
    from: 'incidents',
    to: 'incidents',
    columns: [
      'id',
      'key',
      'device',
      'peripheral',
      'failure_mode',
      'site',
      'scope',
      'detector',
      'kind',
      'priority',
      'issue_type',
      'state',
      'figures',
      'eta',
      'runbook',
      'inhibitable',
      'first_seen',
      'last_firing',
      'opened_at',
      'recovering_since',
      'resolved_at',
      'closed_at',
      'hold_ms',
      'recover_ms',
      'reopen_count',
      'flapping',
      'transitions',
      'ticketed',
      'muted',
      'inhibited_by',
      'updated_at',
    ],
    serial: 'id',
    partitionOf: 'device',
  },
  { file: 'incidents', from: 'incident_log', to: 'incident_log', columns: ['id', 'incident', 'at', 'type', 'ticket', 'suppressed', 'figures'], serial: 'id' },
  { file: 'incidents', from: 'detector_devices', to: 'detector_devices', columns: ['device', 'state', 'at'], partitionOf: 'device' },
  { file: 'incidents', from: 'maintenance_windows', to: 'maintenance_windows', columns: ['id', 'site', 'spec'], serial: 'id' },
  { file: 'incidents', from: 'dispatch_teams', to: 'dispatch_teams', columns: ['id', 'body'] },
  { file: 'incidents', from: 'dispatch_technicians', to: 'dispatch_technicians', columns: ['id', 'team', 'body'] },
  { file: 'incidents', from: 'known_fix_edits', to: 'known_fix_edits', columns: ['id', 'body', 'by_user', 'at'] },
  { file: 'registry', from: 'devices', to: 'devices', columns: ['id', 'site', 'tenant', 'token_hash', 'created_at', 'disabled'] },
  { file: 'registry', from: 'service_accounts', to: 'service_accounts', columns: ['name', 'role', 'token_hash', 'created_at'] },
  { file: 'noc', from: 'users', to: 'noc_users', columns: ['name', 'role', 'password_hash', 'created_at', 'disabled'] },
  { file: 'noc', from: 'sessions', to: 'noc_sessions', columns: ['id_hash', 'user', 'csrf', 'created_at', 'expires_at'] },
  { file: 'noc', from: 'api_tokens', to: 'noc_api_tokens', columns: ['id', 'user', 'name', 'token_hash', 'created_at'] },
  {
    file: 'noc',
    from: 'remote_commands',
    to: 'noc_commands',
    columns: ['id', 'device', 'name', 'peripheral', 'args', 'user', 'status', 'sent_at', 'expires_at', 'answered_at', 'result', 'error'],
  },
  { file: 'noc', from: 'report_units', to: 'noc_report_units', columns: ['device', 'unit', 'model', 'kind', 'first_seen'] },
  { file: 'collector', from: 'received', to: 'received', columns: ['device', 'seq', 'at'] },
  {
    file: 'warranty',
    from: 'serials',
    to: 'serials',
    columns: ['serial_no', 'item_code', 'kind', 'customer', 'device_id', 'delivery_date', 'warranty_expiry_date', 'amc_expiry_date'],
  },
  { file: 'warranty', from: 'warranty_claims', to: 'warranty_claims', columns: ['name', 'year', 'number', 'serial_no', 'incident_key', 'status', 'claim'] },
  {
    file: 'serviceRecords',
    from: 'service_records',
    to: 'service_records',
    columns: ['id', 'device', 'peripheral', 'part', 'kind', 'at', 'failed', 'profile', 'serial', 'usage', 'source', 'ref', 'note', 'recorded_at'],
    serial: 'id',
  },
];

/** Kept in the data dir: no PostgreSQL store yet (docs/state.md). */
export const NOT_MOVED = [
  'the fleet-wide detector state (incidents.db detector_state: rebuilt by the detectors)',
  'the collector spool and dead letters (collector.db)',
];

export type MoveReport = { target: string; copied: Record<string, number>; notMoved: string[] };

/**
 * `partitions`: the cluster's partition count (`cluster.partitions`, 64 by default); incidents and
 * detector state are filed under their device's partition, so it must be the one the cluster uses.
 */
export async function moveSqliteToPostgres(dataDir: string, url: string, opts: { partitions?: number } = {}): Promise<MoveReport> {
  const partitions = opts.partitions ?? DEFAULT_PARTITIONS;
  if (!Number.isInteger(partitions) || partitions < 1) throw new StateMoveError(`partitions: a whole number ≥ 1, got ${partitions}`);
  if (!existsSync(dataDir)) throw new StateMoveError(`${dataDir}: no such data dir`);
  const files: Record<SqliteSchema | 'collector', string> = { ...sqliteStateFiles(dataDir), collector: join(dataDir, 'collector', 'collector.db') };
  const present = (Object.keys(files) as Array<SqliteSchema | 'collector'>).filter((f) => existsSync(files[f]));
  if (!present.length) throw new StateMoveError(`${dataDir}: no fleetcare state files (looked for ${Object.values(files).join(', ')})`);

  // 1. Source versions: exactly this build's, file by file (read-only).
  const dbs = new Map<string, Database.Database>();
  try {
    for (const f of present) {
      const db = new Database(files[f], { readonly: true, fileMustExist: true });
      dbs.set(f, db);
      if (f === 'collector') continue; // not versioned: only its `received` table is read
      const known = sqliteMigrations[f].map((m) => m.name);
      const executed = await sqliteMigrationStorage.executed({ context: { db } });
      const newer = executed.filter((n) => !known.includes(n));
      if (newer.length)
        throw new StateMoveError(
          `${files[f]}: written by a newer fleetcare (migrations ${newer.join(', ')} unknown to this version); upgrade fleetcare, then migrate — nothing was copied`,
        );
      const missing = known.filter((n) => !executed.includes(n));
      if (missing.length)
        throw new StateMoveError(
          `${files[f]}: schema older than this fleetcare (missing ${missing.join(', ')}); start this version's \`fleetcare server --data-dir ${dataDir}\` once (it upgrades the files), stop it, then migrate — nothing was copied`,
        );
    }

    // 2. Target: this build's schema (a newer one is refused by migratePostgres), and empty.
    await migratePostgres(url);
    const client = createPgClient(url);
    await client.connect();
    try {
      const busy: string[] = [];
      for (const c of COPIES) if ((await client.query(`SELECT EXISTS (SELECT 1 FROM ${c.to}) AS x`)).rows[0].x) busy.push(c.to);
      if (busy.length)
        throw new StateMoveError(
          `PostgreSQL ${redactUrl(url)} already holds state (${busy.join(', ')}); migrate only into an empty database — nothing was copied`,
        );

      // 3. Copy, one transaction.
      const copied: Record<string, number> = {};
      await client.query('BEGIN');
      try {
        for (const c of COPIES) {
          const db = dbs.get(c.file);
          if (!db) continue;
          copied[c.to] = await copyTable(db, client, c, partitions);
        }
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw e;
      }
      return { target: redactUrl(url), copied, notMoved: NOT_MOVED };
    } finally {
      await client.end().catch(() => undefined);
    }
  } finally {
    for (const db of dbs.values()) db.close();
  }
}

async function copyTable(db: Database.Database, client: pg.Client, c: (typeof COPIES)[number], partitions: number): Promise<number> {
  const exists = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(c.from);
  if (!exists) return 0;
  const cols = c.columns.map((n) => `"${n}"`).join(', ');
  const deviceAt = c.partitionOf ? c.columns.indexOf(c.partitionOf) : -1;
  const targetColumns = deviceAt >= 0 ? [...c.columns, 'partition'] : c.columns;
  const per = targetColumns.length;
  // Multi-row INSERTs; parameters stay under PostgreSQL's 65535 limit.
  const batch = Math.floor(30_000 / per);
  const flush = async (rows: unknown[][]) => {
    const values = rows.map((_, r) => `(${targetColumns.map((_, k) => `$${r * per + k + 1}`).join(', ')})`).join(', ');
    await client.query(`INSERT INTO ${c.to} (${targetColumns.map((n) => `"${n}"`).join(', ')}) VALUES ${values}`, rows.flat());
  };
  let n = 0;
  let rows: unknown[][] = [];
  // Nobody else uses this read-only connection, so the cursor may stay open across awaits.
  for (const row of db.prepare(`SELECT ${cols} FROM ${c.from}`).raw().iterate() as IterableIterator<unknown[]>) {
    rows.push(deviceAt >= 0 ? [...row, partitionOf(String(row[deviceAt]), partitions)] : row);
    if (rows.length === batch) {
      await flush(rows);
      n += rows.length;
      rows = [];
    }
  }
  if (rows.length) await flush(rows);
  n += rows.length;
  // Serial columns continue after the copied ids.
  if (c.serial && n) await client.query(`SELECT setval(pg_get_serial_sequence('${c.to}', '${c.serial}'), (SELECT max(${c.serial}) FROM ${c.to}))`);
  return n;
}
