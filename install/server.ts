// `fleetcare server install` / `uninstall`: a systemd unit that runs `fleetcare server` from the
// fleetcare tree this command runs from (e.g. /opt/fleetcare), as system user `fleetcare`, with
// its config in /etc/fleetcare/server.json and its state in /var/lib/fleetcare. The server's
// data is never removed by uninstall (back it up and delete it yourself).
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, posix, resolve } from 'node:path';
import { serverConfigSchema } from '../cli/server-config.js';
import { SERVER_NODE_FLAGS } from '../cli/server-heap.js';
import { formatZodError } from '../protocol/index.js';
import { InstallError, packageRoot } from './payload.js';
import { renderServerUnit, renderSysusers, SERVER_SERVICE } from './systemd.js';
import { enableLink, isLiveRoot, run, under, WANTS_DIR } from './system.js';

export const SERVER_DEFAULTS = { configPath: '/etc/fleetcare/server.json', dataDir: '/var/lib/fleetcare', user: 'fleetcare' };
const SYSUSERS = '/usr/lib/sysusers.d/fleetcare-server.conf';

export type ServerInstallOptions = { root?: string; config?: string; start?: boolean; from?: string };

/** The config to install: the file given (dataDir made explicit), the installed one, or a default. */
function configText(file: string | undefined, installed: string): { text: string | null; dataDir: string; note: string } {
  const source = file ?? (existsSync(installed) ? installed : null);
  if (!source)
    return {
      text: JSON.stringify({ dataDir: SERVER_DEFAULTS.dataDir }, null, 2) + '\n',
      dataDir: SERVER_DEFAULTS.dataDir,
      note: `default config (dataDir ${SERVER_DEFAULTS.dataDir})`,
    };
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(source, 'utf8'));
  } catch (e) {
    throw new InstallError(`${source}: ${(e as Error).message}`);
  }
  const r = serverConfigSchema.safeParse(raw);
  if (!r.success) throw new InstallError(`${source}: ${formatZodError(r.error)}`);
  if (raw.dataDir === undefined) {
    // The service's working dir is /: the default ./data would be /data.
    raw = { dataDir: SERVER_DEFAULTS.dataDir, ...raw };
    return { text: JSON.stringify(raw, null, 2) + '\n', dataDir: SERVER_DEFAULTS.dataDir, note: `config with dataDir ${SERVER_DEFAULTS.dataDir} added` };
  }
  if (!posix.isAbsolute(r.data.dataDir))
    throw new InstallError(`${source}: dataDir: must be an absolute path for the service (e.g. ${SERVER_DEFAULTS.dataDir}), got "${r.data.dataDir}"`);
  return { text: file ? readFileSync(file, 'utf8') : null, dataDir: r.data.dataDir, note: file ? 'config installed' : 'config kept' };
}

export function installServer(opts: ServerInstallOptions = {}): { steps: string[] } {
  const root = resolve(opts.root ?? '/');
  const live = isLiveRoot(root);
  if (live && process.getuid?.() !== 0) throw new InstallError('installing the service needs root (sudo), or stage it with --root DIR');
  const tree = opts.from ?? packageRoot();
  const cli = join(tree, 'dist', 'cli', 'fleetcare.js');
  if (!existsSync(cli)) throw new InstallError(`${cli} is missing: build first (npm run build)`);
  if (/^\/(home|root)(\/|$)/.test(tree))
    throw new InstallError(
      `fleetcare is in ${tree}: the unit's ProtectHome=yes hides /home and /root from the service; put the tree under /opt or /usr/local/lib`,
    );
  const installed = under(root, SERVER_DEFAULTS.configPath);
  const cfg = configText(opts.config, installed);
  const steps: string[] = [];
  if (cfg.text !== null) {
    mkdirSync(dirname(installed), { recursive: true });
    writeFileSync(installed, cfg.text, { mode: 0o640 });
    chmodSync(installed, 0o640);
  }
  steps.push(`${cfg.note} → ${SERVER_DEFAULTS.configPath}`);
  const unit = under(root, `/etc/systemd/system/${SERVER_SERVICE}`);
  mkdirSync(dirname(unit), { recursive: true });
  writeFileSync(
    unit,
    renderServerUnit({
      execStart: `${process.execPath} ${SERVER_NODE_FLAGS.join(' ')} ${cli}`,
      configPath: SERVER_DEFAULTS.configPath,
      dataDir: cfg.dataDir,
      user: SERVER_DEFAULTS.user,
    }),
    { mode: 0o644 },
  );
  steps.push(`unit → /etc/systemd/system/${SERVER_SERVICE} (runs ${cli})`);
  const sysusers = under(root, SYSUSERS);
  mkdirSync(dirname(sysusers), { recursive: true });
  writeFileSync(sysusers, renderSysusers(SERVER_DEFAULTS.user, 'fleetcare server', SERVER_DEFAULTS.dataDir, []), { mode: 0o644 });
  steps.push(`system user ${SERVER_DEFAULTS.user} → ${SYSUSERS}`);
  enableLink(root, SERVER_SERVICE);
  steps.push('enabled (multi-user.target.wants)');
  if (live) {
    run('systemd-sysusers', [SYSUSERS]);
    run('chown', [`root:${SERVER_DEFAULTS.user}`, installed]);
    run('systemctl', ['daemon-reload']);
    if (opts.start !== false) {
      run('systemctl', ['restart', SERVER_SERVICE]);
      steps.push('service (re)started: systemctl status fleetcare-server; fleetcare doctor -c /etc/fleetcare/server.json');
    }
  } else steps.push(`staged under ${root}: on the host, run systemd-sysusers, systemctl daemon-reload, systemctl start ${SERVER_SERVICE}`);
  return { steps };
}

export function uninstallServer(opts: { root?: string } = {}): { steps: string[] } {
  const root = resolve(opts.root ?? '/');
  const live = isLiveRoot(root);
  if (live && process.getuid?.() !== 0) throw new InstallError('uninstalling the service needs root (sudo)');
  const steps: string[] = [];
  if (live) {
    spawnSync('systemctl', ['disable', '--now', SERVER_SERVICE]);
    steps.push('service stopped and disabled');
  }
  for (const p of [`${WANTS_DIR}/${SERVER_SERVICE}`, `/etc/systemd/system/${SERVER_SERVICE}`, SYSUSERS]) {
    rmSync(under(root, p), { force: true });
    steps.push(`removed ${p}`);
  }
  steps.push(`kept ${SERVER_DEFAULTS.configPath} and the data dir (back it up with fleetcare backup DIR before deleting it)`);
  if (live) spawnSync('systemctl', ['daemon-reload']);
  return { steps };
}
