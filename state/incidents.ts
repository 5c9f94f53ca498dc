// The incident store seam: incidents and their lifecycle (collector/incidents/store.ts says what
// an incident is), the per-device detector state saved beside them, and the maintenance windows
// that mute their tickets. Two implementations: SQLite (state/sqlite/incidents.ts, embedded, the
// default; it wraps IncidentStore, which the embedded incident service keeps calling synchronously)
// and PostgreSQL (state/postgres/incidents.ts, cluster mode). One behaviour suite checks both
// (test/state/incidents-suite.ts).
import type { Finding } from '../collector/detectors/types.js';
import type { ChangeType, Incident, IncidentChange, IncidentState, TicketAction } from '../collector/incidents/store.js';
import type { MaintenanceStore } from './maintenance.js';

export type { Incident, IncidentChange, IncidentState };

export type IncidentFilter = { state?: IncidentState | IncidentState[]; site?: string; key?: string };

export type IncidentHistoryEntry = { at: number; type: ChangeType; ticket: TicketAction; suppressed: string | null };

export type IncidentApplyHooks = {
  /** Called inside the apply's transaction for each change, in order; a throw rolls the apply back. */
  onChange?: (change: IncidentChange) => void;
};

export interface IncidentStateStore extends MaintenanceStore {
  /**
   * Applies one evaluation's findings at `now`, then advances the time-based transitions (holds,
   * recoveries, reopen windows, flapping, suppressions ending), in one transaction. Returns the
   * changes in the order they happened.
   */
  apply(findings: readonly Finding[], now: number, hooks?: IncidentApplyHooks): Promise<IncidentChange[]>;

  // ---- reads (the NOC's incident lookup) ----
  /** The live (pending, open or resolved) incident of a dedup key, or null. */
  get(key: string): Promise<Incident | null>;
  byId(id: number): Promise<Incident | null>;
  /** Oldest first. */
  list(filter?: IncidentFilter): Promise<Incident[]>;
  /** Every change an incident went through, oldest first. */
  history(id: number): Promise<IncidentHistoryEntry[]>;
  /** Devices with a live incident (their recovery must be evaluated even when they send nothing). */
  liveDevices(): Promise<string[]>;

  // ---- per-device detector state (it moves with the device's partition in a cluster) ----
  /** Stores (replaces) each device's state; returns the bytes written. */
  saveDeviceStates(states: Iterable<[string, unknown]>, at: number): Promise<number>;
  /** Every saved device state (PostgreSQL: optionally only the devices of some partitions). */
  loadDeviceStates<T>(): Promise<T[]>;
}
