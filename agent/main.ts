// Entry point of the agent process: `node dist/agent/main.js --config FILE`. Loads and validates
// the config, starts the agent, stops it gracefully on SIGTERM/SIGINT (retained offline status
// with the reason), and keeps running through driver bugs that escape as uncaught errors.
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { AgentConfigError, loadAgentConfig } from './config.js';
import { startAgent } from './index.js';

const USAGE = 'usage: fleetcare agent --config FILE';

/**
 * Runs the agent until SIGTERM/SIGINT. Throws `AgentConfigError` (`file: field: reason`) for a bad
 * config file; the caller prints it. `logLevel` overrides the config's.
 */
export async function runAgentMain(configPath: string, logLevel?: string): Promise<void> {
  const config = loadAgentConfig(configPath);
  const log = pino({ level: logLevel ?? config.logLevel });

  // A driver bug must not take the agent down (it runs unattended for years): log and go on.
  process.on('uncaughtException', (err) => log.error({ err }, 'uncaught exception (agent keeps running)'));
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection (agent keeps running)'));

  const agent = await startAgent(config, { log });
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'stopping');
    agent.close(signal.toLowerCase()).then(
      () => process.exit(0),
      (e) => {
        log.error({ err: e }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

export async function main(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(`${USAGE}\n\nRuns the device agent with the JSON config FILE (see README, "Agent configuration").`);
    return;
  }
  const i = argv.indexOf('--config');
  const path = i >= 0 ? argv[i + 1] : argv.find((a) => !a.startsWith('-'));
  if (!path) {
    console.error(USAGE);
    process.exitCode = 2;
    return;
  }
  try {
    await runAgentMain(path);
  } catch (e) {
    console.error(e instanceof AgentConfigError ? `invalid agent config: ${e.message}` : (e as Error).message);
    process.exitCode = 2;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main(process.argv.slice(2));
}
