// Shared imports of the detector tests, and the samples they feed most.
export * from '../../collector/detectors/index.js';
export { seededRandom } from '../../sim/wear.js';
import type { SampleObservation } from '../../collector/detectors/index.js';

/** Swipe counters of the card reader most detector tests follow: pos-m's msr, a generic serial MSR. */
export const msrSample = (at: number, swipes: number, failedReadCount: number): SampleObservation => ({
  device: 'pos-m',
  peripheral: 'msr',
  kind: 'card-reader',
  profile: 'generic-serial-msr',
  at,
  counters: { swipes, failedReadCount },
});

/** Counters of a device's receipt printer (peripheral `printer`) of firmware profile `profile`. */
export const printerSample = (device: string, profile: string, at: number, counters: Record<string, number>): SampleObservation => ({
  device,
  peripheral: 'printer',
  kind: 'printer',
  profile,
  at,
  counters,
});
