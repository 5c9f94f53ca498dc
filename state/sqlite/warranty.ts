// Warranty on SQLite: collector/warranty/registry.ts WarrantyRegistry (warranty.db) through WarrantyStateStore.
import { WarrantyRegistry, type SerialFilter } from '../../collector/warranty/registry.js';
import type { ClaimChange, ImportError, SerialRecord, WarrantyAmcStatus, WarrantyClaim, WarrantyClaimDraft, WarrantyStateStore } from '../warranty.js';

export class SqliteWarrantyState implements WarrantyStateStore {
  readonly registry: WarrantyRegistry;

  constructor(source: WarrantyRegistry | { path: string }) {
    this.registry = source instanceof WarrantyRegistry ? source : new WarrantyRegistry(source.path);
  }

  async upsert(record: SerialRecord): Promise<void> {
    this.registry.upsert(record);
  }
  async upsertMany(records: SerialRecord[]): Promise<void> {
    this.registry.upsertMany(records);
  }
  async get(serialNo: string): Promise<SerialRecord | undefined> {
    return this.registry.get(serialNo);
  }
  async list(filter?: SerialFilter): Promise<SerialRecord[]> {
    return this.registry.list(filter);
  }
  async remove(serialNo: string): Promise<boolean> {
    return this.registry.remove(serialNo);
  }
  async statusOf(serialNo: string, at: number | Date | string, timeZone?: string): Promise<WarrantyAmcStatus | undefined> {
    return this.registry.statusOf(serialNo, at, timeZone);
  }
  async expiring(from: string, to: string): Promise<SerialRecord[]> {
    return this.registry.expiring(from, to);
  }
  async import(text: string, format: 'csv' | 'json', options?: { atomic?: boolean }): Promise<{ imported: number; errors: ImportError[] }> {
    return this.registry.import(text, format, options);
  }
  async createClaim(draft: WarrantyClaimDraft): Promise<WarrantyClaim> {
    return this.registry.createClaim(draft);
  }
  async getClaim(name: string): Promise<WarrantyClaim | undefined> {
    return this.registry.getClaim(name);
  }
  async claimsFor(serialNo: string): Promise<WarrantyClaim[]> {
    return this.registry.claimsFor(serialNo);
  }
  async updateClaim(name: string, change: ClaimChange): Promise<WarrantyClaim | undefined> {
    return this.registry.updateClaim(name, change);
  }
  async close(): Promise<void> {
    this.registry.close();
  }
}
