// `fleetcare sim` (a simulated fleet against a running server) and `fleetcare demo` (server +
// simulated fleet in one process, embedded store unless --influx-url; demo/ has the scenario).
import { join, resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { DeviceRegistry } from '../broker/index.js';
import { startFleet, type Fleet } from '../sim/fleet.js';
import { provisioner, SCENARIOS, startDemo, type Scenario } from '../demo/index.js';
import { loadServerConfig } from './server-config.js';
import { UsageError } from './errors.js';
import { type Flags, wholeNumberFlag } from './flags.js';

export { DEMO_PASSWORD } from '../demo/index.js';

export async function runSimCommand(flags: Flags): Promise<Fleet> {
  const dataDir = resolve(typeof flags['data-dir'] === 'string' ? flags['data-dir'] : './data');
  const log = pino({ name: 'fleetcare-sim', level: typeof flags['log-level'] === 'string' ? flags['log-level'] : 'info' });
  const registry = DeviceRegistry.open(join(dataDir, 'broker'));
  try {
    return await startFleet({
      devices: wholeNumberFlag(flags, 'devices', 3, 1, 1000),
      seed: wholeNumberFlag(flags, 'seed', 1, 0, 2 ** 31),
      intervalMs: wholeNumberFlag(flags, 'interval-ms', 5000, 100, 3_600_000),
      brokerUrl: typeof flags['broker-url'] === 'string' ? flags['broker-url'] : 'mqtt://127.0.0.1:1883',
      provision: provisioner(registry),
      dataDir: join(dataDir, 'sim-agents'),
      log,
    });
  } finally {
    registry.close();
  }
}

/**
 * How the demo talks: on a terminal, readable log lines (pino-pretty, warnings and up unless
 * --log-level) and the narration as plain text; otherwise (a pipe, a file, --log-format json)
 * JSON log lines as before, the narration among them.
 */
function demoOutput(flags: Flags): { log: Logger; narrate: (line: string, fields?: Record<string, unknown>) => void } {
  const format = typeof flags['log-format'] === 'string' ? flags['log-format'] : process.stdout.isTTY ? 'pretty' : 'json';
  if (format !== 'pretty' && format !== 'json') throw new UsageError('--log-format: pretty or json');
  const level = typeof flags['log-level'] === 'string' ? flags['log-level'] : format === 'pretty' ? 'warn' : 'info';
  if (format === 'json') {
    const log = pino({ name: 'fleetcare', level });
    return { log, narrate: (line, fields = {}) => log.info({ component: 'demo', ...fields }, line.split('\n')[0]) };
  }
  const log = pino({ name: 'fleetcare', level }, pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname,name', sync: true }));
  return { log, narrate: (line) => void process.stdout.write(line + '\n') };
}

export async function runDemo(flags: Flags): Promise<{ close(): Promise<void> }> {
  const dataDir = typeof flags['data-dir'] === 'string' ? flags['data-dir'] : './data/demo';
  const scenario = (typeof flags.scenario === 'string' ? flags.scenario : 'showcase') as Scenario;
  if (!SCENARIOS.includes(scenario)) throw new UsageError(`--scenario: one of ${SCENARIOS.join(', ')}`);
  const { log, narrate } = demoOutput(flags);
  const config = loadServerConfig({
    ...flags,
    'data-dir': dataDir,
    'log-format': undefined,
    scenario: undefined,
    devices: undefined,
    seed: undefined,
    'interval-ms': undefined,
  });
  return startDemo({
    config,
    scenario,
    devices: wholeNumberFlag(flags, 'devices', 8, 1, 1000),
    seed: wholeNumberFlag(flags, 'seed', 1, 0, 2 ** 31),
    intervalMs: wholeNumberFlag(flags, 'interval-ms', 5000, 100, 3_600_000),
    log,
    narrate,
  });
}
