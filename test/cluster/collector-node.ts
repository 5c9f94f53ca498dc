// One collector cluster node in its own process, for tests that crash it with SIGKILL.
// Usage: node collector-node.js '{"config": CollectorConfigInput, "cluster": CollectorClusterOptions}'
// Prints `{"ready":true,...}` on stdout once started; SIGTERM closes it gracefully.
import { pino } from 'pino';
import { startCollector } from '../../collector/index.js';

const { config, cluster } = JSON.parse(process.argv[2] ?? '{}');
const collector = await startCollector(config, { log: pino({ level: 'warn' }, pino.destination(2)), cluster });
process.stdout.write(JSON.stringify({ ready: true, owned: collector.partitions?.owned() ?? [] }) + '\n');
process.on('SIGTERM', () => void collector.close().then(() => process.exit(0)));
