// When the NOC first saw each unit (a device, or one of its peripherals): where MTBF exposure
// starts (noc/reports.ts). Shared in cluster mode so every NOC node reports the same figures.
export type ReportUnit = { device: string; unit: string; model: string; kind: string };

export interface ReportUnitStore {
  /** `device/unit` of every known unit. */
  keys(): Promise<string[]>;
  /** Records units seen at `firstSeen`; a unit already known keeps its earliest sighting (imported history may be older). */
  add(units: readonly ReportUnit[], firstSeen: number): Promise<void>;
  all(): Promise<Array<ReportUnit & { firstSeen: number }>>;
  close(): Promise<void>;
}
