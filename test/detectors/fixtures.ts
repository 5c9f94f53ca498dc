// Shared imports of the detector tests.
export * from '../../collector/detectors/index.js';
export { seededRandom } from '../../sim/wear.js';
