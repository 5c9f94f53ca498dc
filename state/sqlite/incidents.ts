// The incident store on SQLite: collector/incidents/store.ts IncidentStore (incidents.db) seen
// through IncidentStateStore. The embedded incident service keeps calling IncidentStore directly
// (its apply shares one synchronous transaction with the ticket outbox); readers such as the NOC
// and the behaviour suite go through this class.
import type { Finding } from '../../collector/detectors/types.js';
import { IncidentStore, type IncidentChange } from '../../collector/incidents/store.js';
import type { Incident, IncidentApplyHooks, IncidentFilter, IncidentHistoryEntry, IncidentStateStore } from '../incidents.js';
import { SqliteMaintenance } from './maintenance.js';

/** The incidents, and their maintenance windows as SqliteMaintenance answers them. */
export class SqliteIncidentState extends SqliteMaintenance implements IncidentStateStore {
  private readonly owned: boolean;

  /** Over an open IncidentStore (the incident service's), or a new one on `path`. */
  constructor(source: IncidentStore | { path: string }) {
    super(source instanceof IncidentStore ? source : new IncidentStore(source.path));
    this.owned = !(source instanceof IncidentStore);
  }

  get store(): IncidentStore {
    return this.incidents;
  }

  async apply(findings: readonly Finding[], now: number, hooks: IncidentApplyHooks = {}): Promise<IncidentChange[]> {
    return this.store.apply(findings, now, hooks);
  }
  async get(key: string): Promise<Incident | null> {
    return this.store.get(key);
  }
  async byId(id: number): Promise<Incident | null> {
    return this.store.byId(id);
  }
  async list(filter: IncidentFilter = {}): Promise<Incident[]> {
    return this.store.list(filter);
  }
  async history(id: number): Promise<IncidentHistoryEntry[]> {
    return this.store.history(id);
  }
  async liveDevices(): Promise<string[]> {
    return this.store.liveDevices();
  }
  async saveDeviceStates(states: Iterable<[string, unknown]>, at: number): Promise<number> {
    return this.store.db.transaction(() => this.store.saveDeviceStates(states, at))();
  }
  async loadDeviceStates<T>(): Promise<T[]> {
    return this.store.loadDeviceStates<T>();
  }
  /** Closes the store only when this class opened it. */
  override async close(): Promise<void> {
    if (this.owned) this.store.close();
  }
}
