// Collector dedup on PostgreSQL (cluster mode): a collector that takes over a dead one's
// partitions still knows what was committed. One round trip per batch both ways.
import type { DedupStore, ReceivedRef } from '../dedup.js';
import { PgPooledStore } from './db.js';

/** Over a URL (own pool) or a node's shared pool (cluster mode: closed by its owner, not here). */
export class PgDedup extends PgPooledStore implements DedupStore {
  async seen(records: readonly ReceivedRef[]): Promise<boolean[]> {
    if (!records.length) return [];
    const rows = (
      await this.pool.query(
        'SELECT r.device, r.seq FROM received r JOIN unnest($1::text[], $2::bigint[]) AS q (device, seq) ON r.device = q.device AND r.seq = q.seq',
        [records.map((r) => r.device), records.map((r) => r.seq)],
      )
    ).rows as Array<{ device: string; seq: number }>;
    const hit = new Set(rows.map((r) => `${r.device}\u0000${r.seq}`));
    return records.map((r) => hit.has(`${r.device}\u0000${r.seq}`));
  }

  async markReceived(records: readonly ReceivedRef[], at: number): Promise<void> {
    if (!records.length) return;
    await this.pool.query(
      'INSERT INTO received (device, seq, at) SELECT device, seq, $3 FROM unnest($1::text[], $2::bigint[]) AS q (device, seq) ON CONFLICT DO NOTHING',
      [records.map((r) => r.device), records.map((r) => r.seq), at],
    );
  }

  async pruneReceived(before: number): Promise<number> {
    return (await this.pool.query('DELETE FROM received WHERE at < $1', [before])).rowCount ?? 0;
  }
}
