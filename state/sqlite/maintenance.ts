// Maintenance windows on SQLite: the maintenance_windows table of incidents.db, through IncidentStore.
import type { IncidentStore } from '../../collector/incidents/store.js';
import type { MaintenanceStore, MaintenanceWindow } from '../maintenance.js';

export class SqliteMaintenance implements MaintenanceStore {
  constructor(readonly incidents: IncidentStore) {}

  async addMaintenance(w: MaintenanceWindow): Promise<number> {
    return this.incidents.addMaintenance(w);
  }
  async removeMaintenance(id: number): Promise<boolean> {
    return this.incidents.removeMaintenance(id);
  }
  async maintenance(): Promise<Array<MaintenanceWindow & { id: number }>> {
    return this.incidents.maintenance();
  }
  async inMaintenance(site: string | null | undefined, at: number): Promise<boolean> {
    return this.incidents.inMaintenance(site, at);
  }
  /** The incident store belongs to whoever opened it. */
  async close(): Promise<void> {}
}
