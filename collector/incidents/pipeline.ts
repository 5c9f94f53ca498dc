// The driver step: evaluate the detectors at `now` and apply their findings to the incident
// store, saving the detectors' state in the same transaction, so that a restart (restoreEngine)
// resumes with the same trailing windows and the same incidents — nothing lost, nothing doubled.
//
// Cost stays proportional to what changed, not to the fleet: only devices observed since the
// last step (plus those with a hold running, a live incident, or a staleness turn) are evaluated
// (DetectorEngine.evaluateChanged), and only the state of devices observed since the last save is
// written, one row per device.
import type { DetectorEngine, DeviceSnapshot, EngineSnapshot, Finding } from '../detectors/index.js';
import type { ApplyHooks, IncidentChange, IncidentStore } from './store.js';

/** The whole-engine snapshot of earlier versions (one JSON document); migrated to per-device rows. */
const LEGACY_STATE = 'detector-engine';

/** What one step did and what it cost (ms), for the service's stats and bench/detector-tick. */
export type DetectStats = {
  evaluated: number;
  findings: number;
  savedDevices: number;
  savedBytes: number;
  evaluateMs: number;
  applyMs: number;
  saveMs: number;
};

export function detectAndApply(
  engine: DetectorEngine,
  store: IncidentStore,
  now: number,
  hooks: ApplyHooks = {},
  /** Save the state of the devices observed since the last save with this apply. A caller may
   * save every few ticks: after a crash the detectors re-learn from newer samples, and the
   * incident store's one-live-incident-per-key rule keeps a re-fired finding from doubling. */
  saveState = true,
): { findings: Finding[]; changes: IncidentChange[]; stats: DetectStats } {
  let t = performance.now();
  const { findings, devices } = engine.evaluateChanged(now, store.liveDevices());
  const stats: DetectStats = {
    evaluated: devices.length,
    findings: findings.length,
    savedDevices: 0,
    savedBytes: 0,
    evaluateMs: performance.now() - t,
    applyMs: 0,
    saveMs: 0,
  };
  const unsaved = saveState ? engine.unsavedDevices() : [];
  let changes: IncidentChange[];
  try {
    changes = store.db.transaction(() => {
      t = performance.now();
      const cs = store.apply(findings, now, hooks);
      stats.applyMs = performance.now() - t;
      if (saveState) {
        t = performance.now();
        stats.savedBytes = store.saveDeviceStates(snapshots(engine, unsaved), now);
        stats.savedDevices = unsaved.length;
        stats.saveMs = performance.now() - t;
      }
      return cs;
    })();
  } catch (e) {
    engine.requeue(devices); // rolled back: these findings were never applied
    throw e;
  }
  engine.markSaved(unsaved);
  return { findings, changes, stats };
}

function* snapshots(engine: DetectorEngine, devices: readonly string[]): Generator<[string, DeviceSnapshot]> {
  for (const d of devices) {
    const s = engine.snapshotDevice(d);
    if (s) yield [d, s];
  }
}

/** Loads the detector state saved by detectAndApply; false when there is none yet. */
export function restoreEngine(engine: DetectorEngine, store: IncidentStore): boolean {
  const legacy = store.loadDetectorState<EngineSnapshot>(LEGACY_STATE);
  const devices = store.loadDeviceStates<DeviceSnapshot>();
  if (!legacy && !devices.length) return false;
  if (legacy) {
    engine.restore(legacy);
    // Migrate: every device to its own row, the single document removed, in one transaction.
    store.db.transaction(() => {
      store.saveDeviceStates(snapshots(engine, engine.unsavedDevices()), Date.now());
      store.deleteDetectorState(LEGACY_STATE);
    })();
  }
  for (const s of devices) engine.restoreDevice(s);
  engine.markSaved(engine.unsavedDevices());
  return true;
}
