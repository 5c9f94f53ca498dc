// The firmware profile a simulator impersonates, given as a profile or a profile id.
import { defaultFirmwareProfilesDir, loadFirmwareProfiles } from '../firmware-profiles/loader.js';
import type { FirmwareProfile } from '../firmware-profiles/schema.js';

/** What every simulated serial peripheral is told: where its line is and which model it is. */
export type SimulatedPeripheralOptions = {
  /** Device end of a PTY pair. Without it the simulator makes its own pair and exposes `hostPath`. */
  path?: string;
  baudRate?: number;
  /** Model to impersonate: a profile, or a profile id looked up in `profiles` / the shipped profiles. */
  profile?: FirmwareProfile | string;
  profiles?: readonly FirmwareProfile[];
  /** Serial number the device reports. */
  serial?: string;
};

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
