// bench/ingest's server child when INGEST_TRACE=FILE is set: `fleetcare server` (same flags) plus
// one JSON line of broker/collector queue figures per second into FILE, to see where messages wait,
// and where the RSS goes (process.memoryUsage, V8's heap spaces, /proc's anonymous vs file-backed
// RSS) and what GC costs (cumulative count and ms per GC kind), which bench/ingest turns into a
// memory split at the end of the measured window and GC ms per acked message.
// INGEST_ALLOC_PROFILE=FILE also samples every allocation (objects the GC has since collected
// included: the garbage a message leaves) from the first message on, written to FILE (a
// .heapprofile) at SIGTERM; bench/ingest-alloc.js summarises it by allocating function and owner.
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { parseBenchArgs } from './help.js';
import { runServer } from '../cli/server.js';
import { tuneServerHeap } from '../cli/server-heap.js';
import { loadServerConfig } from '../cli/server-config.js';

const { values } = parseBenchArgs(import.meta.url, {
  args: process.argv.slice(2).filter((a) => a !== 'server'),
  options: {
    config: { type: 'string' },
    'data-dir': { type: 'string' },
    port: { type: 'string' },
    'log-level': { type: 'string' },
    'no-http': { type: 'boolean' },
  },
});
tuneServerHeap(); // as `fleetcare server` does
const server = await runServer(loadServerConfig(values));
const trace = process.env.INGEST_TRACE ?? '/dev/null';
const gc = { scavenges: 0, scavengeMs: 0, markSweeps: 0, markSweepMs: 0, otherGcs: 0, otherGcMs: 0 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
    if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
      gc.scavenges++;
      gc.scavengeMs += e.duration;
    } else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
      gc.markSweeps++;
      gc.markSweepMs += e.duration;
    } else {
      gc.otherGcs++;
      gc.otherGcMs += e.duration;
    }
  }
}).observe({ entryTypes: ['gc'] });
const MB = (n: number) => Math.round((n / 1048576) * 10) / 10;
/** RssAnon / RssFile / RssShmem from /proc/self/status, in MB. */
function rssParts(): Record<string, number> {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { rssAnon: MB(kb('RssAnon') * 1024), rssFile: MB(kb('RssFile') * 1024), rssShmem: MB(kb('RssShmem') * 1024) };
}
function memory() {
  const m = process.memoryUsage();
  const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, { size: MB(s.space_size), used: MB(s.space_used_size) }]));
  return {
    rss: MB(m.rss),
    ...rssParts(),
    heapTotal: MB(m.heapTotal),
    heapUsed: MB(m.heapUsed),
    external: MB(m.external),
    arrayBuffers: MB(m.arrayBuffers),
    spaces,
  };
}
const allocProfile = process.env.INGEST_ALLOC_PROFILE;
let sampling: Session | null = null;
/** Starts sampling allocations (once), when the first message has come in: after the connect storm. */
async function startAllocSampling(): Promise<void> {
  if (!allocProfile || sampling) return;
  sampling = new Session();
  sampling.connect();
  await sampling.post('HeapProfiler.startSampling', {
    samplingInterval: 16384,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
}
async function writeAllocProfile(): Promise<void> {
  if (!allocProfile || !sampling) return;
  const { profile } = await sampling.post('HeapProfiler.stopSampling');
  writeFileSync(allocProfile, JSON.stringify(profile));
}
let last = performance.now();
// Event-loop lag: how late a 1 s timer fires.
setInterval(() => {
  const now = performance.now();
  const b = server.broker?.stats();
  const c = server.collector?.stats();
  if ((b?.messagesIn ?? 0) > 0) void startAllocSampling();
  appendFileSync(
    trace,
    JSON.stringify({
      t: Date.now(),
      lagMs: Math.round(now - last - 1000),
      mqQueued: b?.mqQueued,
      in: b?.messagesIn,
      out: b?.messagesOut,
      accepted: c?.ingest.accepted,
      written: c?.ingest.written.messages,
      batches: c?.ingest.batches,
      acks: c?.acks.messages,
      mqtt: c?.mqtt,
      conns: b?.connections,
      rss: Math.round(process.memoryUsage().rss / 1048576),
      memory: memory(),
      gc: { ...gc, scavengeMs: Math.round(gc.scavengeMs), markSweepMs: Math.round(gc.markSweepMs), otherGcMs: Math.round(gc.otherGcMs) },
    }) + '\n',
  );
  last = now;
}, 1000).unref();
process.on(
  'SIGTERM',
  () =>
    void writeAllocProfile()
      .then(() => server.close('signal SIGTERM'))
      .then(() => process.exit(0)),
);
