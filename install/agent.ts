// `fleetcare agent install` / `uninstall` (and the agent package's install.sh): puts the agent
// package, its config and a hardened systemd unit in place on a store device. With --root DIR
// everything goes under DIR (a staging tree, an image being built, a test); only on the live
// root (/) are the system user created and the service enabled and started. Installing again
// over an installed agent is an upgrade: the code is replaced, the config and data are kept.
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, posix, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { agentConfigSchema } from '../agent/config.js';
import { formatZodError } from '../protocol/index.js';
import { agentPayload, copyPayload, InstallError, packageRoot } from './payload.js';
import { AGENT_SERVICE, renderAgentUnit, renderSysusers } from './systemd.js';
import { enableLink, isLiveRoot, run, under, WANTS_DIR } from './system.js';

export type AgentInstallOptions = {
  /** Filesystem root to install under (default /). */
  root?: string;
  /** Agent config to install (from `fleetcare device add … --write-config FILE`); kept when omitted on an upgrade. */
  config?: string;
  /** fleetcare tree to take the agent from (the repository, or an unpacked agent package). */
  from?: string;
  prefix?: string;
  configPath?: string;
  user?: string;
  deviceGroups?: string[];
  /** Enable and start the service (live root only; default true there). */
  start?: boolean;
};

export const AGENT_DEFAULTS = {
  prefix: '/opt/fleetcare-agent',
  configPath: '/etc/fleetcare/agent.json',
  user: 'fleetcare-agent',
  deviceGroups: ['dialout', 'lp'],
};

const SYSUSERS = 'usr/lib/sysusers.d/fleetcare-agent.conf';

/** Reads and checks the agent config; the dataDir must be absolute (the service's cwd is /). */
function readAgentConfig(file: string): { text: string; dataDir: string; caFile: string | null } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InstallError(`${file}: cannot read: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new InstallError(`${file}: not valid JSON: ${(e as Error).message}`);
  }
  const r = agentConfigSchema.safeParse(raw);
  if (!r.success) throw new InstallError(`${file}: ${formatZodError(r.error)}`);
  if (!posix.isAbsolute(r.data.dataDir))
    throw new InstallError(
      `${file}: dataDir: must be an absolute path on the device (e.g. /var/lib/fleetcare-agent/${r.data.device.id}), got "${r.data.dataDir}"`,
    );
  const ca = r.data.broker.tls?.ca;
  return { text, dataDir: r.data.dataDir, caFile: ca && !isAbsolute(ca) ? resolve(dirname(file), ca) : null };
}

export type InstallReport = { root: string; steps: string[] };

export function installAgent(opts: AgentInstallOptions = {}): InstallReport {
  const root = resolve(opts.root ?? '/');
  const live = isLiveRoot(root);
  const prefix = opts.prefix ?? AGENT_DEFAULTS.prefix;
  const configPath = opts.configPath ?? AGENT_DEFAULTS.configPath;
  const user = opts.user ?? AGENT_DEFAULTS.user;
  const groups = opts.deviceGroups ?? AGENT_DEFAULTS.deviceGroups;
  if (live && process.getuid?.() !== 0) throw new InstallError('installing into / needs root (sudo), or stage it with --root DIR');
  const installedConfig = under(root, configPath);
  if (!opts.config && !existsSync(installedConfig))
    throw new InstallError(
      `no agent config: pass --config FILE (write one with \`fleetcare device add ID --write-config FILE --broker-url URL\`); ${installedConfig} does not exist yet`,
    );
  // Check everything before changing anything.
  const config = readAgentConfig(opts.config ?? installedConfig);
  const payload = agentPayload(opts.from ?? packageRoot());
  const steps: string[] = [];

  // Code: replaced whole (an upgrade leaves no file of the old version behind).
  const prefixDir = under(root, prefix);
  rmSync(prefixDir, { recursive: true, force: true });
  mkdirSync(prefixDir, { recursive: true });
  copyPayload(payload, prefixDir);
  chmodSync(join(prefixDir, 'bin', 'fleetcare-agent'), 0o755);
  steps.push(`agent package → ${prefix}`);

  // Config: holds the device token, so root-owned and readable by the service's group only.
  mkdirSync(dirname(installedConfig), { recursive: true, mode: 0o755 });
  if (opts.config) {
    writeFileSync(installedConfig, config.text, { mode: 0o640 });
    chmodSync(installedConfig, 0o640);
    if (config.caFile) {
      const caTarget = resolve(dirname(installedConfig), readCaName(config.text));
      copyFileSync(config.caFile, caTarget);
      chmodSync(caTarget, 0o644);
      steps.push(`broker CA → ${caTarget.slice(root.length) || caTarget}`);
    }
    steps.push(`config → ${configPath} (mode 640)`);
  } else steps.push(`config kept: ${configPath}`);

  const unitPath = under(root, `/etc/systemd/system/${AGENT_SERVICE}`);
  mkdirSync(dirname(unitPath), { recursive: true });
  writeFileSync(unitPath, renderAgentUnit({ prefix, configPath, dataDir: config.dataDir, user, deviceGroups: groups }), { mode: 0o644 });
  steps.push(`unit → /etc/systemd/system/${AGENT_SERVICE}`);
  const sysusers = under(root, SYSUSERS);
  mkdirSync(dirname(sysusers), { recursive: true });
  writeFileSync(sysusers, renderSysusers(user, 'fleetcare device agent', `/var/lib/${user}`, groups), { mode: 0o644 });
  steps.push(`system user ${user} (groups ${groups.join(', ')}) → /${SYSUSERS}`);
  // What `systemctl enable` does: the WantedBy= link (also valid in a staging root).
  enableLink(root, AGENT_SERVICE);
  steps.push(`enabled (multi-user.target.wants)`);

  if (live) {
    run('systemd-sysusers', [`/${SYSUSERS}`]);
    run('chown', [`root:${user}`, installedConfig]);
    if (!posix.normalize(config.dataDir).startsWith(`/var/lib/${user}`)) {
      mkdirSync(config.dataDir, { recursive: true });
      run('chown', [`${user}:${user}`, config.dataDir]);
    }
    run('systemctl', ['daemon-reload']);
    if (opts.start !== false) {
      // restart, not start: on an upgrade the new code must run.
      run('systemctl', ['restart', AGENT_SERVICE]);
      steps.push('service (re)started: systemctl status fleetcare-agent; journalctl -u fleetcare-agent');
    }
  } else {
    steps.push(
      `staged under ${root}: on the device, run systemd-sysusers, chown root:${user} ${configPath}, systemctl daemon-reload, systemctl start ${AGENT_SERVICE}`,
    );
  }
  return { root, steps };
}

function readCaName(configText: string): string {
  return (JSON.parse(configText) as { broker: { tls: { ca: string } } }).broker.tls.ca;
}

export function uninstallAgent(opts: { root?: string; prefix?: string; configPath?: string; user?: string; purge?: boolean } = {}): InstallReport {
  const root = resolve(opts.root ?? '/');
  const live = isLiveRoot(root);
  const prefix = opts.prefix ?? AGENT_DEFAULTS.prefix;
  const configPath = opts.configPath ?? AGENT_DEFAULTS.configPath;
  const user = opts.user ?? AGENT_DEFAULTS.user;
  if (live && process.getuid?.() !== 0) throw new InstallError('uninstalling from / needs root (sudo)');
  const steps: string[] = [];
  if (live) {
    // Stop first: the agent says "offline (stopping)" and closes its outbox cleanly.
    spawnSync('systemctl', ['disable', '--now', AGENT_SERVICE], { encoding: 'utf8' });
    steps.push('service stopped and disabled');
  }
  for (const p of [`${WANTS_DIR}/${AGENT_SERVICE}`, `/etc/systemd/system/${AGENT_SERVICE}`, `/${SYSUSERS}`, prefix]) {
    rmSync(under(root, p), { recursive: true, force: true });
    steps.push(`removed ${p}`);
  }
  if (opts.purge) {
    const installed = under(root, configPath);
    let dataDir: string | null = null;
    try {
      dataDir = (JSON.parse(readFileSync(installed, 'utf8')) as { dataDir?: string }).dataDir ?? null;
    } catch {
      // no config left: only the default state dir
    }
    for (const p of [configPath, `/var/lib/${user}`, ...(dataDir && posix.isAbsolute(dataDir) ? [dataDir] : [])]) {
      rmSync(under(root, p), { recursive: true, force: true });
      steps.push(`purged ${p}`);
    }
  } else steps.push(`kept ${configPath} and the agent's data (--purge removes them; unsent reports are in its outbox)`);
  if (live) spawnSync('systemctl', ['daemon-reload']);
  return { root, steps };
}
