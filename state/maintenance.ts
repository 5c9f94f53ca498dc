// Maintenance windows per site (collector/incidents/maintenance.ts says what a window is): during
// one, incidents are recorded but their tickets are muted. Same method names as IncidentStore's
// (the SQLite implementation wraps it); PostgreSQL in state/postgres/maintenance.ts.
import type { MaintenanceWindow } from '../collector/incidents/maintenance.js';

export type { MaintenanceWindow };

export interface MaintenanceStore {
  /** Validates and stores a window; returns its id. */
  addMaintenance(w: MaintenanceWindow): Promise<number>;
  removeMaintenance(id: number): Promise<boolean>;
  maintenance(): Promise<Array<MaintenanceWindow & { id: number }>>;
  /** Is `site` inside one of its windows at `at`? False without a site. */
  inMaintenance(site: string | null | undefined, at: number): Promise<boolean>;
  close(): Promise<void>;
}
