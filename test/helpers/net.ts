// Free loopback ports and condition polling (temp dirs: tmp.ts): the product's loopback utilities
// (cluster/local-net.ts), which the local cluster launcher shares with the tests.
export { freePort, sleep, waitFor } from '../../cluster/local-net.js';
