// V8 heap tuning of `fleetcare server`. The old generation's growth is set by the process itself,
// so every way of starting it (systemd unit, npm script, a shell, the benches) gets it. Why (issue
// 11, docs/benchmarks-ingest.md "Memory and GC: where the RSS goes"): at 10k agents the old generation holds
// ~125 MB of live objects, and messages in flight (batched, awaiting InfluxDB) are promoted to it
// at ~2.6 MB/s and die there. V8's default growth let the old generation reach about twice its
// live size before the next full GC, and kept the pages it grew into: ~110 MB of RSS holding
// garbage and free space. A fixed growth makes the full GC come at live × (1 + N/100).
//
// Set at run time: V8 reads heap_growing_percent at each GC (unlike the semi-space size, fixed when
// the heap is set up), so no re-exec with flags is needed. A value given on node's command line
// wins (node refuses this flag in NODE_OPTIONS).
//
// The young generation's size can only be given on node's command line: SERVER_NODE_FLAGS, which
// the systemd unit (install/server.ts), `npm run server` and bench/ingest pass. Twice V8's default
// semi-space (16 → 32 MB) halves the scavenges per message (4.3 → 2.1 per 1,000 at 10k agents:
// a scavenge's cost is mostly fixed, ~7 ms here, not proportional to the space) and promotes fewer
// in-flight messages to the old generation, for 32 MB more RSS. A plain `node dist/cli/fleetcare.js
// server` runs without it (V8's default), which works the same, with that GC cost.
import { setFlagsFromString } from 'node:v8';

/** node flags for launching `fleetcare server` (see above); keep package.json's `server` script in step. */
export const SERVER_NODE_FLAGS = ['--max-semi-space-size=32'];

/** Old-generation growth between full GCs, in % of the live size after the last one. */
export const SERVER_HEAP_GROWING_PERCENT = 20;

/** Sets the old generation's growth unless node was started with its own. Returns the flag that applies. */
export function tuneServerHeap(execArgv = process.execArgv): string {
  const given = execArgv.find((a) => /^--heap[-_]growing[-_]percent\b/.test(a));
  if (given) return given;
  const flag = `--heap-growing-percent=${SERVER_HEAP_GROWING_PERCENT}`;
  setFlagsFromString(flag);
  return flag;
}
