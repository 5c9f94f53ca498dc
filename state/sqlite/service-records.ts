// Service records on SQLite (collector/service-records.db, the embedded default).
import Database from 'better-sqlite3';
import {
  SERVICE_RECORD_COLUMNS,
  serviceRecordFromRow,
  serviceRecordValues,
  type ServiceRecord,
  type ServiceRecordInput,
  type ServiceRecordQuery,
  type ServiceRecordStore,
} from '../../collector/service-records/index.js';

// Migration 0001 of service-records.db (state/sqlite/migrations.ts): the table as earlier builds made it.
export const SERVICE_RECORDS_DDL = `CREATE TABLE IF NOT EXISTS service_records (
  id INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL, peripheral TEXT NOT NULL, part TEXT NOT NULL, kind TEXT NOT NULL,
  at INTEGER NOT NULL, failed INTEGER NOT NULL, profile TEXT, serial TEXT, usage REAL, source TEXT NOT NULL, ref TEXT, note TEXT, recorded_at INTEGER NOT NULL);
  CREATE INDEX IF NOT EXISTS service_records_device ON service_records (device, at);`;

/** Over a migrated file (`fleetcare server` migrates it at start; state/startup.ts). */
export class SqliteServiceRecordStore implements ServiceRecordStore {
  readonly db: Database.Database;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    // A file a CLI command opens before any server ran: the same DDL as migration 0001 (idempotent).
    this.db.exec(SERVICE_RECORDS_DDL);
  }

  async add(input: ServiceRecordInput, now = Date.now()): Promise<ServiceRecord> {
    const { record, values } = serviceRecordValues(input, now);
    const info = this.db
      .prepare(`INSERT INTO service_records (${SERVICE_RECORD_COLUMNS.join(', ')}) VALUES (${SERVICE_RECORD_COLUMNS.map(() => '?').join(', ')})`)
      .run(...values);
    return { ...record, id: Number(info.lastInsertRowid) };
  }

  async list(q: ServiceRecordQuery = {}): Promise<ServiceRecord[]> {
    const rows = this.db
      .prepare(`SELECT * FROM service_records WHERE id > ? ${q.device !== undefined ? 'AND device = ?' : ''} ORDER BY id LIMIT ?`)
      .all(...[q.afterId ?? 0, ...(q.device !== undefined ? [q.device] : []), q.limit ?? 1_000_000]) as Array<Record<string, unknown>>;
    return rows.map(serviceRecordFromRow);
  }

  async annotate(id: number, facts: { usage?: number; profile?: string }): Promise<void> {
    this.db
      .prepare('UPDATE service_records SET usage = COALESCE(usage, ?), profile = COALESCE(profile, ?) WHERE id = ?')
      .run(facts.usage ?? null, facts.profile ?? null, id);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
