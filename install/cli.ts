// The agent package's installer command: `install.sh` of the offline tarball runs this (bundled as
// dist/install/install.mjs), and `fleetcare agent install|uninstall` calls the same functions.
import { parseArgs } from 'node:util';
import { installAgent, uninstallAgent } from './agent.js';
import { InstallError } from './payload.js';

export const AGENT_INSTALL_USAGE = `install [--config FILE] [--root DIR] [--no-start]
    puts the agent in /opt/fleetcare-agent, FILE in /etc/fleetcare/agent.json (mode 640) and the
    systemd unit fleetcare-agent.service (user fleetcare-agent, groups dialout and lp, restart
    always, ProtectSystem=strict, NoNewPrivileges); on / it creates the user and (re)starts the
    service. Again over an installed agent: upgrade (config and data kept; --config replaces it).
    --root DIR   install under DIR instead of / (staging, image building); nothing is started
uninstall [--root DIR] [--purge]
    removes the unit and the code; --purge also the config and the agent's data (its outbox)`;

export type InstallFlags = { root?: string; config?: string; 'no-start'?: boolean; purge?: boolean };

export function agentInstallCommand(action: string | undefined, flags: InstallFlags): string[] {
  const root = flags.root;
  if (action === 'install') return installAgent({ root, config: flags.config, start: !flags['no-start'] }).steps;
  if (action === 'uninstall') return uninstallAgent({ root, purge: !!flags.purge }).steps;
  throw new InstallError(`unknown action "${action ?? ''}": install or uninstall`);
}

/** Entry of the bundled installer: `node dist/install/install.mjs install --config FILE`. */
export function installerMain(argv: string[]): void {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        root: { type: 'string' },
        config: { type: 'string' },
        'no-start': { type: 'boolean' },
        purge: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    console.error(`${(e as Error).message}\n\nusage: install.sh ${AGENT_INSTALL_USAGE}`);
    process.exit(64);
  }
  if (parsed.values.help || !parsed.positionals[0]) {
    console.log(`usage: install.sh ${AGENT_INSTALL_USAGE}`);
    return;
  }
  try {
    for (const s of agentInstallCommand(parsed.positionals[0], parsed.values)) console.log(`  ${s}`);
  } catch (e) {
    console.error(`fleetcare-agent install: ${(e as Error).message}`);
    process.exit(e instanceof InstallError ? 1 : 2);
  }
}
