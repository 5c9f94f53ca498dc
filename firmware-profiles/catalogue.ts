// The fault catalogue: what each fault code means, read from the firmware profiles (and the
// shipped `host` profile) and nowhere else. A fault's health is also the severity of the event
// that raises it, and it is the same in every profile that defines the code, so the agent can
// publish a consistent event and sample even for a peripheral no profile matched.
import type { FirmwareProfile } from './schema.js';

export type FaultLevel = FirmwareProfile['faults'][string]['health'];
/** Fault code → health at the edge (= severity of its `fault-raised` event). */
export type FaultLevels = ReadonlyMap<string, FaultLevel>;

export type FaultLevelConflict = { code: string; profile: string; level: FaultLevel; otherProfile: string; otherLevel: FaultLevel };

/** The first profile's level of every code, and each profile that disagrees with it. */
export function collectFaultLevels(profiles: readonly FirmwareProfile[]): { levels: Map<string, FaultLevel>; conflicts: FaultLevelConflict[] } {
  const levels = new Map<string, FaultLevel>();
  const from = new Map<string, string>();
  const conflicts: FaultLevelConflict[] = [];
  for (const p of profiles) {
    for (const [code, f] of Object.entries(p.faults)) {
      const seen = levels.get(code);
      if (seen === undefined) {
        levels.set(code, f.health);
        from.set(code, p.id);
      } else if (seen !== f.health) conflicts.push({ code, profile: p.id, level: f.health, otherProfile: from.get(code)!, otherLevel: seen });
    }
  }
  return { levels, conflicts };
}

const cache = new WeakMap<readonly FirmwareProfile[], FaultLevels>();

/** Every code's level (profiles are checked for agreement when loaded). Memoised per profile set. */
export function faultLevels(profiles: readonly FirmwareProfile[]): FaultLevels {
  let l = cache.get(profiles);
  if (!l) cache.set(profiles, (l = collectFaultLevels(profiles).levels));
  return l;
}
