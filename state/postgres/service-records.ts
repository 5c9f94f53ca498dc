// Service records on PostgreSQL (cluster mode): a part replaced is recorded once for the fleet,
// whichever node the technician's NOC request or CLI reached, and applied by the node that owns
// the device's partition (collector/incidents/cluster-service.ts).
import {
  SERVICE_RECORD_COLUMNS,
  serviceRecordFromRow,
  serviceRecordValues,
  type ServiceRecord,
  type ServiceRecordInput,
  type ServiceRecordQuery,
  type ServiceRecordStore,
} from '../../collector/service-records/index.js';
import { PgPooledStore } from './db.js';

/** Over the database at a URL, or a pool shared with other stores of the node (not closed here). */
export class PgServiceRecordStore extends PgPooledStore implements ServiceRecordStore {
  async add(input: ServiceRecordInput, now = Date.now()): Promise<ServiceRecord> {
    const { record, values } = serviceRecordValues(input, now);
    const sql = `INSERT INTO service_records (${SERVICE_RECORD_COLUMNS.join(', ')}) VALUES (${SERVICE_RECORD_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING id`;
    return { ...record, id: Number((await this.pool.query(sql, values)).rows[0].id) };
  }

  async list(q: ServiceRecordQuery = {}): Promise<ServiceRecord[]> {
    const params: unknown[] = [q.afterId ?? 0, q.limit ?? 1_000_000];
    const byDevice = q.device !== undefined ? `AND device = $${params.push(q.device)}` : '';
    const rows = (await this.pool.query(`SELECT * FROM service_records WHERE id > $1 ${byDevice} ORDER BY id LIMIT $2`, params)).rows;
    return rows.map(serviceRecordFromRow);
  }

  async annotate(id: number, facts: { usage?: number; profile?: string }): Promise<void> {
    await this.pool.query('UPDATE service_records SET usage = COALESCE(usage, $1), profile = COALESCE(profile, $2) WHERE id = $3', [
      facts.usage ?? null,
      facts.profile ?? null,
      id,
    ]);
  }
}
