// Report units on SQLite (the report_units table of noc.db).
import type Database from 'better-sqlite3';
import type { ReportUnit, ReportUnitStore } from '../report-units.js';

export const REPORT_UNITS_DDL = `
CREATE TABLE IF NOT EXISTS report_units (
  device TEXT NOT NULL, unit TEXT NOT NULL, model TEXT NOT NULL, kind TEXT NOT NULL, first_seen INTEGER NOT NULL,
  PRIMARY KEY (device, unit)
) WITHOUT ROWID;
`;

export class SqliteReportUnits implements ReportUnitStore {
  private readonly insert: Database.Statement;

  /** On an open database (noc.db; it belongs to the caller). */
  constructor(private readonly db: Database.Database) {
    db.exec(REPORT_UNITS_DDL);
    this.insert = db.prepare(
      'INSERT INTO report_units (device, unit, model, kind, first_seen) VALUES (?, ?, ?, ?, ?) ON CONFLICT (device, unit) DO UPDATE SET first_seen = min(first_seen, excluded.first_seen)',
    );
  }

  async keys(): Promise<string[]> {
    return this.db.prepare(`SELECT device || '/' || unit FROM report_units`).pluck().all() as string[];
  }

  async add(units: readonly ReportUnit[], firstSeen: number): Promise<void> {
    this.db.transaction(() => {
      for (const u of units) this.insert.run(u.device, u.unit, u.model, u.kind, firstSeen);
    })();
  }

  async all(): Promise<Array<ReportUnit & { firstSeen: number }>> {
    return this.db.prepare('SELECT device, unit, model, kind, first_seen AS firstSeen FROM report_units').all() as Array<ReportUnit & { firstSeen: number }>;
  }

  async close(): Promise<void> {}
}
