// The driver step: evaluate the detectors at `now` and apply their findings to the incident
// store, saving the detectors' state in the same transaction, so that a restart (restoreEngine)
// resumes with the same trailing windows and the same incidents — nothing lost, nothing doubled.
import type { DetectorEngine, EngineSnapshot, Finding } from '../detectors/index.js';
import type { ApplyHooks, IncidentChange, IncidentStore } from './store.js';

const STATE = 'detector-engine';

export function detectAndApply(
  engine: DetectorEngine,
  store: IncidentStore,
  now: number,
  hooks: ApplyHooks = {},
  /** Save the detectors' state with this apply. The state of a large fleet is big, so a caller
   * may save it every few ticks: after a crash the detectors re-learn from newer samples, and the
   * incident store's one-live-incident-per-key rule keeps a re-fired finding from doubling. */
  saveState = true,
): { findings: Finding[]; changes: IncidentChange[] } {
  const findings = engine.evaluate(now);
  const changes = store.db.transaction(() => {
    const cs = store.apply(findings, now, hooks);
    if (saveState) store.saveDetectorState(STATE, engine.snapshot(), now);
    return cs;
  })();
  return { findings, changes };
}

/** Loads the detector state saved by detectAndApply; false when there is none yet. */
export function restoreEngine(engine: DetectorEngine, store: IncidentStore): boolean {
  const s = store.loadDetectorState<EngineSnapshot>(STATE);
  if (!s) return false;
  engine.restore(s);
  return true;
}
