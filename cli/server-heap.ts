// V8 heap tuning of `fleetcare server`, applied by the process itself so that every way of
// starting it (systemd unit, npm script, a shell, the benches) gets it. Why (issue 11,
// docs/benchmarks-ingest.md "Where the RSS goes"): at 10k agents the old generation holds
// ~125 MB of live objects, and messages in flight (batched, awaiting InfluxDB) are promoted to it
// at ~2.6 MB/s and die there. V8's default growth let the old generation reach about twice its
// live size before the next full GC, and kept the pages it grew into: ~110 MB of RSS holding
// garbage and free space. A fixed growth makes the full GC come at live × (1 + N/100).
//
// Set at run time: V8 reads heap_growing_percent at each GC (unlike the semi-space size, fixed when
// the heap is set up), so no re-exec with flags is needed. A value given on node's command line
// (or NODE_OPTIONS) wins.
import { setFlagsFromString } from 'node:v8';

/** Old-generation growth between full GCs, in % of the live size after the last one. */
export const SERVER_HEAP_GROWING_PERCENT = 20;

/** Applies the server's heap settings unless node was started with its own. Returns what applies. */
export function tuneServerHeap(execArgv = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string | null {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].find((a) => /^--heap[-_]growing[-_]percent\b/.test(a));
  if (given) return given;
  const flag = `--heap-growing-percent=${SERVER_HEAP_GROWING_PERCENT}`;
  setFlagsFromString(flag);
  return flag;
}
