// The warranty registry: serial numbers of devices and peripherals with their warranty and AMC
// expiry, and the Warranty Claims raised against them, in one SQLite file. Several registries
// may be open in one process (one per path).
import Database from 'better-sqlite3';
import {
  serialRecordSchema,
  warrantyClaimDraftSchema,
  warrantyClaimSchema,
  type SerialRecord,
  type WarrantyAmcStatus,
  type WarrantyClaim,
  type WarrantyClaimDraft,
  type WarrantyClaimStatus,
} from './schema.js';
import { parseSerials, type ImportError } from './import.js';
import { warrantyStatus } from './status.js';

export type SerialFilter = { customer?: string; kind?: SerialRecord['kind']; device_id?: string };

export const serialColumns = ['serial_no', 'item_code', 'kind', 'customer', 'device_id', 'delivery_date', 'warranty_expiry_date', 'amc_expiry_date'] as const;

/** A stored serial row (SQL NULL = absent field) as a record. */
export function serialFromRow(row: Record<string, unknown>): SerialRecord {
  const clean: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) if (v !== null) clean[k] = v;
  return serialRecordSchema.parse(clean);
}

/** The warranty registry's tables (state/sqlite/migrations.ts runs the same at start). */
export const WARRANTY_DDL = `
      CREATE TABLE IF NOT EXISTS serials (serial_no TEXT PRIMARY KEY, item_code TEXT NOT NULL, kind TEXT NOT NULL,
        customer TEXT, device_id TEXT, delivery_date TEXT, warranty_expiry_date TEXT, amc_expiry_date TEXT) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS serials_customer ON serials (customer);
      CREATE INDEX IF NOT EXISTS serials_device ON serials (device_id);
      CREATE TABLE IF NOT EXISTS warranty_claims (name TEXT PRIMARY KEY, year INTEGER NOT NULL, number INTEGER NOT NULL,
        serial_no TEXT NOT NULL, incident_key TEXT UNIQUE, status TEXT NOT NULL, claim TEXT NOT NULL, UNIQUE (year, number)) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS warranty_claims_serial ON warranty_claims (serial_no);
`;

export class WarrantyRegistry {
  readonly db: Database.Database;
  private readonly upsertStmt: Database.Statement;
  private readonly getStmt: Database.Statement;
  private readonly insertClaimStmt: Database.Statement;
  private readonly nextClaimStmt: Database.Statement;
  private readonly getClaimStmt: Database.Statement;
  private readonly claimByIncidentStmt: Database.Statement;
  /** Upserts many records in one transaction. */
  readonly upsertMany: (records: SerialRecord[]) => void;
  private readonly insertClaimTx: (draft: WarrantyClaimDraft) => WarrantyClaim;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(WARRANTY_DDL);
    this.upsertStmt = this.db.prepare(
      `INSERT INTO serials (${serialColumns.join(', ')}) VALUES (${serialColumns.map((c) => '@' + c).join(', ')})
       ON CONFLICT (serial_no) DO UPDATE SET ${serialColumns
         .slice(1)
         .map((c) => `${c} = excluded.${c}`)
         .join(', ')}`,
    );
    this.getStmt = this.db.prepare('SELECT * FROM serials WHERE serial_no = ?');
    this.insertClaimStmt = this.db.prepare(
      'INSERT INTO warranty_claims (name, year, number, serial_no, incident_key, status, claim) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.nextClaimStmt = this.db.prepare('SELECT coalesce(max(number), 0) + 1 FROM warranty_claims WHERE year = ?').pluck();
    this.getClaimStmt = this.db.prepare('SELECT claim FROM warranty_claims WHERE name = ?').pluck();
    this.claimByIncidentStmt = this.db.prepare('SELECT claim FROM warranty_claims WHERE incident_key = ?').pluck();
    this.upsertMany = this.db.transaction((records: SerialRecord[]) => {
      for (const r of records) this.upsertStmt.run(Object.fromEntries(serialColumns.map((c) => [c, r[c] ?? null])));
    });
    this.insertClaimTx = this.db.transaction((draft: WarrantyClaimDraft): WarrantyClaim => {
      if (draft.incident_key !== undefined) {
        const existing = this.claimByIncidentStmt.get(draft.incident_key) as string | undefined;
        if (existing !== undefined) return warrantyClaimSchema.parse(JSON.parse(existing));
      }
      const year = Number(draft.complaint_date.slice(0, 4));
      const number = this.nextClaimStmt.get(year) as number;
      const claim = warrantyClaimSchema.parse({ ...draft, name: `SER-WRN-${year}-${String(number).padStart(5, '0')}` });
      this.insertClaimStmt.run(claim.name, year, number, claim.serial_no, claim.incident_key ?? null, claim.status, JSON.stringify(claim));
      return claim;
    });
  }

  upsert(record: SerialRecord): void {
    this.upsertMany([serialRecordSchema.parse(record)]);
  }

  get(serialNo: string): SerialRecord | undefined {
    const row = this.getStmt.get(serialNo) as Record<string, unknown> | undefined;
    return row && serialFromRow(row);
  }

  list(filter: SerialFilter = {}): SerialRecord[] {
    const where: string[] = [];
    const args: string[] = [];
    for (const k of ['customer', 'kind', 'device_id'] as const) {
      if (filter[k] !== undefined) {
        where.push(`${k} = ?`);
        args.push(filter[k]);
      }
    }
    const sql = `SELECT * FROM serials ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY serial_no`;
    return (this.db.prepare(sql).all(...args) as Record<string, unknown>[]).map(serialFromRow);
  }

  remove(serialNo: string): boolean {
    return this.db.prepare('DELETE FROM serials WHERE serial_no = ?').run(serialNo).changes > 0;
  }

  /** Status of a serial on a date; undefined for a serial the registry does not know. */
  statusOf(serialNo: string, at: number | Date | string, timeZone?: string): WarrantyAmcStatus | undefined {
    const r = this.get(serialNo);
    return r && warrantyStatus(r, at, timeZone);
  }

  /** Serials whose warranty or AMC ends within [from, to] (YYYY-MM-DD, inclusive) — renewal lists. */
  expiring(from: string, to: string): SerialRecord[] {
    const rows = this.db
      .prepare('SELECT * FROM serials WHERE warranty_expiry_date BETWEEN @from AND @to OR amc_expiry_date BETWEEN @from AND @to ORDER BY serial_no')
      .all({ from, to }) as Record<string, unknown>[];
    return rows.map(serialFromRow);
  }

  /**
   * Imports CSV or JSON. Good rows are upserted in one transaction, bad rows are reported (line and
   * field) and skipped; with `atomic`, any bad row imports nothing.
   */
  import(text: string, format: 'csv' | 'json', options: { atomic?: boolean } = {}): { imported: number; errors: ImportError[] } {
    const { records, errors } = parseSerials(text, format);
    if (options.atomic && errors.length) return { imported: 0, errors };
    this.upsertMany(records);
    return { imported: records.length, errors };
  }

  /** Stores a claim under the next `SER-WRN-YYYY-NNNNN`; a draft whose incident_key is already claimed returns that claim. */
  createClaim(draft: WarrantyClaimDraft): WarrantyClaim {
    return this.insertClaimTx(warrantyClaimDraftSchema.parse(draft));
  }

  getClaim(name: string): WarrantyClaim | undefined {
    const json = this.getClaimStmt.get(name) as string | undefined;
    return json === undefined ? undefined : warrantyClaimSchema.parse(JSON.parse(json));
  }

  claimsFor(serialNo: string): WarrantyClaim[] {
    const rows = this.db.prepare('SELECT claim FROM warranty_claims WHERE serial_no = ? ORDER BY year, number').pluck().all(serialNo) as string[];
    return rows.map((j) => warrantyClaimSchema.parse(JSON.parse(j)));
  }

  /** Moves a claim to a new status; Closed records the resolution. Undefined for an unknown claim. */
  updateClaim(
    name: string,
    change: { status: WarrantyClaimStatus; resolution_date?: string; resolved_by?: string; resolution_details?: string },
  ): WarrantyClaim | undefined {
    const current = this.getClaim(name);
    if (!current) return undefined;
    const next = warrantyClaimSchema.parse({ ...current, ...change });
    this.db.prepare('UPDATE warranty_claims SET status = ?, claim = ? WHERE name = ?').run(next.status, JSON.stringify(next), name);
    return next;
  }

  close(): void {
    this.db.close();
  }
}
