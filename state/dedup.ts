// Collector dedup: which (device, seq) records were already committed, so a resent message
// (the agent did not get our ack) is acked again but not stored twice. In cluster mode it must
// outlive any one collector's disk, hence PostgreSQL (state/postgres/dedup.ts); SQLite is the
// collector.db `received` table (collector/telemetry/collector-db.ts). The spool and dead letters stay local.
export type ReceivedRef = { device: string; seq: number };

export interface DedupStore {
  /** For each record, in order: was it committed before? Batched: one round trip per call. */
  seen(records: readonly ReceivedRef[]): Promise<boolean[]>;
  /** Marks records committed (idempotent). */
  markReceived(records: readonly ReceivedRef[], at: number): Promise<void>;
  /** Forgets marks older than `before` (the agents' resend window is bounded); returns how many. */
  pruneReceived(before: number): Promise<number>;
  close(): Promise<void>;
}
