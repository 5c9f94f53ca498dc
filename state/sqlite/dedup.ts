// Collector dedup on SQLite: the `received` table of collector.db through CollectorDb, whose
// per-device max-seq fast path keeps the ingest hot path cheap.
import { CollectorDb } from '../../collector/telemetry/collector-db.js';
import type { DedupStore, ReceivedRef } from '../dedup.js';

export class SqliteDedup implements DedupStore {
  readonly db: CollectorDb;
  private readonly owned: boolean;

  constructor(source: CollectorDb | { path: string }) {
    this.owned = !(source instanceof CollectorDb);
    this.db = source instanceof CollectorDb ? source : new CollectorDb(source.path);
  }

  async seen(records: readonly ReceivedRef[]): Promise<boolean[]> {
    return records.map((r) => this.db.isReceived(r.device, r.seq));
  }

  async markReceived(records: readonly ReceivedRef[], at: number): Promise<void> {
    // Only the dedup marks: CollectorDb.commit with no spool rows.
    this.db.commit(records as Parameters<CollectorDb['commit']>[0], null, at);
  }

  async pruneReceived(before: number): Promise<number> {
    return this.db.pruneReceived(before);
  }

  async close(): Promise<void> {
    if (this.owned) this.db.close();
  }
}
