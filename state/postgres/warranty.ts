// Warranty on PostgreSQL (cluster mode). Same rules as WarrantyRegistry (same suite): claims are
// numbered per year under a transaction-scoped advisory lock, so two nodes never hand out the
// same SER-WRN number, and one incident gets one claim.
import type pg from 'pg';
import { parseSerials } from '../../collector/warranty/import.js';
import { serialColumns, serialFromRow, type SerialFilter } from '../../collector/warranty/registry.js';
import { serialRecordSchema, warrantyClaimDraftSchema, warrantyClaimSchema } from '../../collector/warranty/schema.js';
import { warrantyStatus } from '../../collector/warranty/status.js';
import type { ClaimChange, ImportError, SerialRecord, WarrantyAmcStatus, WarrantyClaim, WarrantyClaimDraft, WarrantyStateStore } from '../warranty.js';
import { createPgPool, inTransaction, type Queryable } from './db.js';

const CLAIM_LOCK = 0x666c7701;

export class PgWarrantyState implements WarrantyStateStore {
  private readonly pool: pg.Pool;

  constructor(url: string) {
    this.pool = createPgPool(url);
  }

  private async upsertOn(c: Queryable, records: SerialRecord[]): Promise<void> {
    const cols = serialColumns.join(', ');
    const sets = serialColumns
      .slice(1)
      .map((k) => `${k} = excluded.${k}`)
      .join(', ');
    for (const r of records) {
      await c.query(
        `INSERT INTO serials (${cols}) VALUES (${serialColumns.map((_, i) => `$${i + 1}`).join(', ')}) ON CONFLICT (serial_no) DO UPDATE SET ${sets}`,
        serialColumns.map((k) => r[k] ?? null),
      );
    }
  }

  async upsert(record: SerialRecord): Promise<void> {
    await this.upsertMany([serialRecordSchema.parse(record)]);
  }

  async upsertMany(records: SerialRecord[]): Promise<void> {
    if (!records.length) return;
    await inTransaction(this.pool, (c) => this.upsertOn(c, records));
  }

  async get(serialNo: string): Promise<SerialRecord | undefined> {
    const row = (await this.pool.query('SELECT * FROM serials WHERE serial_no = $1', [serialNo])).rows[0] as Record<string, unknown> | undefined;
    return row && serialFromRow(row);
  }

  async list(filter: SerialFilter = {}): Promise<SerialRecord[]> {
    const where: string[] = [];
    const args: string[] = [];
    for (const k of ['customer', 'kind', 'device_id'] as const) {
      if (filter[k] !== undefined) {
        args.push(filter[k]);
        where.push(`${k} = $${args.length}`);
      }
    }
    const rows = (await this.pool.query(`SELECT * FROM serials ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY serial_no`, args)).rows as Record<
      string,
      unknown
    >[];
    return rows.map(serialFromRow);
  }

  async remove(serialNo: string): Promise<boolean> {
    return ((await this.pool.query('DELETE FROM serials WHERE serial_no = $1', [serialNo])).rowCount ?? 0) > 0;
  }

  async statusOf(serialNo: string, at: number | Date | string, timeZone?: string): Promise<WarrantyAmcStatus | undefined> {
    const r = await this.get(serialNo);
    return r && warrantyStatus(r, at, timeZone);
  }

  async expiring(from: string, to: string): Promise<SerialRecord[]> {
    const rows = (
      await this.pool.query('SELECT * FROM serials WHERE warranty_expiry_date BETWEEN $1 AND $2 OR amc_expiry_date BETWEEN $1 AND $2 ORDER BY serial_no', [
        from,
        to,
      ])
    ).rows as Record<string, unknown>[];
    return rows.map(serialFromRow);
  }

  async import(text: string, format: 'csv' | 'json', options: { atomic?: boolean } = {}): Promise<{ imported: number; errors: ImportError[] }> {
    const { records, errors } = parseSerials(text, format);
    if (options.atomic && errors.length) return { imported: 0, errors };
    await this.upsertMany(records);
    return { imported: records.length, errors };
  }

  async createClaim(input: WarrantyClaimDraft): Promise<WarrantyClaim> {
    const draft = warrantyClaimDraftSchema.parse(input);
    return inTransaction(this.pool, async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [CLAIM_LOCK]);
      if (draft.incident_key !== undefined) {
        const existing = (await c.query('SELECT claim FROM warranty_claims WHERE incident_key = $1', [draft.incident_key])).rows[0] as
          | { claim: string }
          | undefined;
        if (existing) return warrantyClaimSchema.parse(JSON.parse(existing.claim));
      }
      const year = Number(draft.complaint_date.slice(0, 4));
      const number = (await c.query('SELECT coalesce(max(number), 0) + 1 AS n FROM warranty_claims WHERE year = $1', [year])).rows[0].n as number;
      const claim = warrantyClaimSchema.parse({ ...draft, name: `SER-WRN-${year}-${String(number).padStart(5, '0')}` });
      await c.query('INSERT INTO warranty_claims (name, year, number, serial_no, incident_key, status, claim) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
        claim.name,
        year,
        number,
        claim.serial_no,
        claim.incident_key ?? null,
        claim.status,
        JSON.stringify(claim),
      ]);
      return claim;
    });
  }

  async getClaim(name: string): Promise<WarrantyClaim | undefined> {
    const r = (await this.pool.query('SELECT claim FROM warranty_claims WHERE name = $1', [name])).rows[0] as { claim: string } | undefined;
    return r === undefined ? undefined : warrantyClaimSchema.parse(JSON.parse(r.claim));
  }

  async claimsFor(serialNo: string): Promise<WarrantyClaim[]> {
    const rows = (await this.pool.query('SELECT claim FROM warranty_claims WHERE serial_no = $1 ORDER BY year, number', [serialNo])).rows as Array<{
      claim: string;
    }>;
    return rows.map((r) => warrantyClaimSchema.parse(JSON.parse(r.claim)));
  }

  async updateClaim(name: string, change: ClaimChange): Promise<WarrantyClaim | undefined> {
    return inTransaction(this.pool, async (c) => {
      const r = (await c.query('SELECT claim FROM warranty_claims WHERE name = $1 FOR UPDATE', [name])).rows[0] as { claim: string } | undefined;
      if (!r) return undefined;
      const next = warrantyClaimSchema.parse({ ...warrantyClaimSchema.parse(JSON.parse(r.claim)), ...change });
      await c.query('UPDATE warranty_claims SET status = $2, claim = $3 WHERE name = $1', [name, next.status, JSON.stringify(next)]);
      return next;
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
