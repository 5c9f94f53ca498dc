// The driver step: evaluate the detectors at `now` and apply their findings to the incident
// store, saving the detectors' state in the same transaction, so that a restart (restoreEngine)
// resumes with the same trailing windows and the same incidents — nothing lost, nothing doubled.
import type { DetectorEngine, EngineSnapshot, Finding } from '../detectors/index.js';
import type { ApplyHooks, IncidentChange, IncidentStore } from './store.js';

const STATE = 'detector-engine';

export function detectAndApply(engine: DetectorEngine, store: IncidentStore, now: number, hooks: ApplyHooks = {}): { findings: Finding[]; changes: IncidentChange[] } {
  const findings = engine.evaluate(now);
  const changes = store.db.transaction(() => {
    const cs = store.apply(findings, now, hooks);
    store.saveDetectorState(STATE, engine.snapshot(), now);
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
