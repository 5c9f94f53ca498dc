// Warranty seam: serial numbers with their warranty/AMC expiry and the Warranty Claims raised
// against them. Same method names as collector/warranty/registry.ts WarrantyRegistry (the SQLite
// implementation wraps it); PostgreSQL in state/postgres/warranty.ts.
import type { ImportError } from '../collector/warranty/import.js';
import type { SerialFilter } from '../collector/warranty/registry.js';
import type { SerialRecord, WarrantyAmcStatus, WarrantyClaim, WarrantyClaimDraft, WarrantyClaimStatus } from '../collector/warranty/schema.js';

export type { ImportError, SerialFilter, SerialRecord, WarrantyAmcStatus, WarrantyClaim, WarrantyClaimDraft, WarrantyClaimStatus };

export type ClaimChange = { status: WarrantyClaimStatus; resolution_date?: string; resolved_by?: string; resolution_details?: string };

export interface WarrantyStateStore {
  upsert(record: SerialRecord): Promise<void>;
  /** Upserts many records in one transaction. */
  upsertMany(records: SerialRecord[]): Promise<void>;
  get(serialNo: string): Promise<SerialRecord | undefined>;
  list(filter?: SerialFilter): Promise<SerialRecord[]>;
  remove(serialNo: string): Promise<boolean>;
  /** Status of a serial on a date; undefined for an unknown serial. */
  statusOf(serialNo: string, at: number | Date | string, timeZone?: string): Promise<WarrantyAmcStatus | undefined>;
  /** Serials whose warranty or AMC ends within [from, to] (YYYY-MM-DD, inclusive). */
  expiring(from: string, to: string): Promise<SerialRecord[]>;
  /** CSV or JSON; bad rows reported and skipped, or with `atomic` nothing imported. */
  import(text: string, format: 'csv' | 'json', options?: { atomic?: boolean }): Promise<{ imported: number; errors: ImportError[] }>;
  /** Stores a claim under the next `SER-WRN-YYYY-NNNNN`; an already claimed incident_key returns that claim. */
  createClaim(draft: WarrantyClaimDraft): Promise<WarrantyClaim>;
  getClaim(name: string): Promise<WarrantyClaim | undefined>;
  claimsFor(serialNo: string): Promise<WarrantyClaim[]>;
  updateClaim(name: string, change: ClaimChange): Promise<WarrantyClaim | undefined>;
  close(): Promise<void>;
}
