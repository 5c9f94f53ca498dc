// The firmware profile a simulator impersonates, given as a profile or a profile id.
import { defaultFirmwareProfilesDir, loadFirmwareProfiles } from '../firmware-profiles/loader.js';
import type { FirmwareProfile } from '../firmware-profiles/schema.js';

/** `p` itself, or the profile with id `p` among `profiles` (the shipped ones when not given). */
export function simulatedProfile(
  p: FirmwareProfile | string | undefined,
  profiles: readonly FirmwareProfile[] | undefined,
  simulator: string,
): FirmwareProfile | null {
  if (!p) return null;
  if (typeof p !== 'string') return p;
  const found = (profiles ?? loadFirmwareProfiles(defaultFirmwareProfilesDir())).find((x) => x.id === p);
  if (!found) throw new Error(`${simulator}: no firmware profile "${p}"`);
  return found;
}
