// Free loopback ports, temp dirs and condition polling: the product's loopback utilities (cluster/local-net.ts).
export { freePort, tempDir, sleep, waitFor, type TempDir } from '../../cluster/local-net.js';
