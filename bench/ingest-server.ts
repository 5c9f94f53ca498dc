// bench/ingest's server child when INGEST_TRACE=FILE is set: `fleetcare server` (same flags) plus
// one JSON line of broker/collector queue figures per second into FILE, to see where messages wait.
import { appendFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { pino } from 'pino';
import { startBroker, brokerConfigSchema } from '../broker/index.js';
import { startCollector, collectorConfigSchema } from '../collector/index.js';
import { runServer, INTERNAL_COLLECTOR } from '../cli/server.js';
import { loadServerConfig } from '../cli/server-config.js';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== 'server'),
  options: { config: { type: 'string' }, 'data-dir': { type: 'string' }, port: { type: 'string' }, 'log-level': { type: 'string' } },
});
const config = loadServerConfig(values);
// INGEST_LOCAL_LINK=1: what runServer does, but the collector reaches the broker over an
// in-memory link (BrokerHandle.connectLocal) instead of loopback TCP. An experiment, not the CLI.
const server = process.env.INGEST_LOCAL_LINK
  ? await (async () => {
      const log = pino({ level: config.logLevel });
      const broker = await startBroker(brokerConfigSchema.parse({ ...config.broker, dataDir: join(config.dataDir, 'broker') }), { log });
      const mqtt = { url: 'mqtt://in-process', username: INTERNAL_COLLECTOR, password: broker.registry.rotateServiceToken(INTERNAL_COLLECTOR, 'collector') };
      const collector = await startCollector(collectorConfigSchema.parse({ ...config.collector, mqtt, dataDir: join(config.dataDir, 'collector') }), { log, connectStream: () => broker.connectLocal() });
      return { broker, collector, close: async (_why: string) => (await collector.close(), await broker.close()) };
    })()
  : await runServer(config);
const trace = process.env.INGEST_TRACE ?? '/dev/null';
let last = performance.now();
// Event-loop lag: how late a 1 s timer fires.
setInterval(() => {
  const now = performance.now();
  const b = server.broker?.stats();
  const c = server.collector?.stats();
  appendFileSync(
    trace,
    JSON.stringify({ t: Date.now(), lagMs: Math.round(now - last - 1000), mqQueued: b?.mqQueued, in: b?.messagesIn, out: b?.messagesOut, accepted: c?.ingest.accepted, written: c?.ingest.written.messages, batches: c?.ingest.batches, acks: c?.acks.messages, rss: Math.round(process.memoryUsage().rss / 1048576) }) + '\n',
  );
  last = now;
}, 1000).unref();
process.on('SIGTERM', () => void server.close('signal SIGTERM').then(() => process.exit(0)));
