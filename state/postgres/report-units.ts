// Report units on PostgreSQL (cluster mode): one first sighting per unit for every NOC node.
import type pg from 'pg';
import type { ReportUnit, ReportUnitStore } from '../report-units.js';
import { createPgPool } from './db.js';

export class PgReportUnits implements ReportUnitStore {
  private readonly pool: pg.Pool;

  constructor(url: string) {
    this.pool = createPgPool(url);
  }

  async keys(): Promise<string[]> {
    return (await this.pool.query(`SELECT device || '/' || unit AS k FROM noc_report_units`)).rows.map((r: { k: string }) => r.k);
  }

  async add(units: readonly ReportUnit[], firstSeen: number): Promise<void> {
    if (!units.length) return;
    await this.pool.query(
      `INSERT INTO noc_report_units (device, unit, model, kind, first_seen)
       SELECT d, u, m, k, $5 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS x (d, u, m, k)
       ON CONFLICT (device, unit) DO UPDATE SET first_seen = LEAST(noc_report_units.first_seen, EXCLUDED.first_seen)`,
      [units.map((u) => u.device), units.map((u) => u.unit), units.map((u) => u.model), units.map((u) => u.kind), firstSeen],
    );
  }

  async all(): Promise<Array<ReportUnit & { firstSeen: number }>> {
    return (await this.pool.query('SELECT device, unit, model, kind, first_seen AS "firstSeen" FROM noc_report_units')).rows as Array<
      ReportUnit & { firstSeen: number }
    >;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
