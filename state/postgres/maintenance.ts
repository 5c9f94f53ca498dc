// Maintenance windows on PostgreSQL (cluster mode): every collector mutes the same sites.
import { maintenanceWindow, windowActive } from '../../collector/incidents/maintenance.js';
import type { MaintenanceStore, MaintenanceWindow } from '../maintenance.js';
import { PgPooledStore } from './db.js';

/** Over the database at a URL, or a pool shared with other stores of the node (not closed here). */
export class PgMaintenance extends PgPooledStore implements MaintenanceStore {
  async addMaintenance(w: MaintenanceWindow): Promise<number> {
    const parsed = maintenanceWindow.parse(w);
    return (await this.pool.query('INSERT INTO maintenance_windows (site, spec) VALUES ($1, $2) RETURNING id', [parsed.site, JSON.stringify(parsed)])).rows[0]
      .id as number;
  }

  async removeMaintenance(id: number): Promise<boolean> {
    return ((await this.pool.query('DELETE FROM maintenance_windows WHERE id = $1', [id])).rowCount ?? 0) > 0;
  }

  async maintenance(): Promise<Array<MaintenanceWindow & { id: number }>> {
    const rows = (await this.pool.query('SELECT id, spec FROM maintenance_windows ORDER BY id')).rows as Array<{ id: number; spec: string }>;
    return rows.map((r) => ({ id: r.id, ...(JSON.parse(r.spec) as MaintenanceWindow) }));
  }

  async inMaintenance(site: string | null | undefined, at: number): Promise<boolean> {
    if (!site) return false;
    const rows = (await this.pool.query('SELECT spec FROM maintenance_windows WHERE site = $1', [site])).rows as Array<{ spec: string }>;
    return rows.some((r) => windowActive(JSON.parse(r.spec) as MaintenanceWindow, at));
  }
}
