// bench/ingest's server child when INGEST_TRACE=FILE is set: `fleetcare server` (same flags) plus
// one JSON line of broker/collector queue figures per second into FILE, to see where messages wait.
import { appendFileSync } from 'node:fs';
import { parseBenchArgs } from './help.js';
import { runServer } from '../cli/server.js';
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
const server = await runServer(loadServerConfig(values));
const trace = process.env.INGEST_TRACE ?? '/dev/null';
let last = performance.now();
// Event-loop lag: how late a 1 s timer fires.
setInterval(() => {
  const now = performance.now();
  const b = server.broker?.stats();
  const c = server.collector?.stats();
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
    }) + '\n',
  );
  last = now;
}, 1000).unref();
process.on('SIGTERM', () => void server.close('signal SIGTERM').then(() => process.exit(0)));
