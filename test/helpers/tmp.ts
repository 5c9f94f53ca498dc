// Temporary directories for tests: one per test under the OS temp dir, removed by the test
// (cluster/local-net.ts, shared with the local cluster launcher).
export { tempDir, type TempDir } from '../../cluster/local-net.js';
