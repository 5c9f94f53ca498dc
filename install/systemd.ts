// systemd units for the two long-running fleetcare processes, rendered from a few install
// choices (paths, user). Both run as their own unprivileged system user (declared with a
// sysusers.d file, so the same files work in a staging root and on the host), restart forever
// (a store device is unattended for years; a server must come back after any crash), and are
// hardened: read-only OS (ProtectSystem=strict) with only their state dir writable, no privilege
// gain, no home dirs, private /tmp, no kernel tunables/modules.
import { posix } from 'node:path';

export const AGENT_SERVICE = 'fleetcare-agent.service';
export const SERVER_SERVICE = 'fleetcare-server.service';

export type AgentUnitOptions = {
  /** Where the agent package lives (bin/fleetcare-agent, dist/bundle, node_modules). */
  prefix: string;
  /** The agent config file. */
  configPath: string;
  /** The agent's dataDir from its config; writable. Under /var/lib/<user> it is the StateDirectory. */
  dataDir: string;
  user: string;
  /** Groups that own the peripherals' device nodes: serial ports (dialout), USB printers (lp). */
  deviceGroups: string[];
};

export type ServerUnitOptions = {
  /** Command that runs `fleetcare` (node + dist/cli/fleetcare.js of the installed tree). */
  execStart: string;
  configPath: string;
  dataDir: string;
  user: string;
};

/** Hardening shared by both units (systemd.exec(5)); each line says what it takes away. */
const HARDENING = [
  'NoNewPrivileges=yes',
  'ProtectSystem=strict',
  'ProtectHome=yes',
  'PrivateTmp=yes',
  'ProtectKernelTunables=yes',
  'ProtectKernelModules=yes',
  'ProtectKernelLogs=yes',
  'ProtectControlGroups=yes',
  'ProtectClock=yes',
  'ProtectHostname=yes',
  'RestrictSUIDSGID=yes',
  'RestrictRealtime=yes',
  'RestrictNamespaces=yes',
  'LockPersonality=yes',
  'SystemCallArchitectures=native',
  'CapabilityBoundingSet=',
  'UMask=0027',
];

/** systemd quoting: a path with spaces must be quoted (ExecStart=, ReadWritePaths=). */
const q = (s: string) => (/[\s"\\]/.test(s) ? `"${s.replace(/(["\\])/g, '\\$1')}"` : s);

/** StateDirectory= when `dataDir` is /var/lib/<name>[/…]; otherwise ReadWritePaths=. */
function writableState(dataDir: string, user: string): string[] {
  const m = /^\/var\/lib\/([^/]+)(\/.*)?$/.exec(posix.normalize(dataDir));
  if (m) return [`StateDirectory=${m[1]}`, 'StateDirectoryMode=0750'];
  return [`StateDirectory=${user}`, 'StateDirectoryMode=0750', `ReadWritePaths=${q(dataDir)}`];
}

/** What both units share: started after the network, restarted forever, as their own user, hardened. */
function renderUnit(u: {
  comment: string;
  /** [Unit] lines before Wants= (Description, Documentation, After). */
  unit: string[];
  user: string;
  dataDir: string;
  /** [Service] lines from ExecStart= on (with what must come before it). */
  exec: string[];
  /** [Service] lines after Restart= (stop timeout, limits). */
  stop: string[];
  /** [Service] lines after the shared hardening (devices, address families, memory). */
  confinement: string[];
}): string {
  return [
    u.comment,
    '[Unit]',
    ...u.unit,
    'Wants=network-online.target',
    // Never give up restarting: nobody is at the store to notice.
    'StartLimitIntervalSec=0',
    '',
    '[Service]',
    'Type=simple',
    `User=${u.user}`,
    `Group=${u.user}`,
    ...u.exec,
    'Restart=always',
    'RestartSec=5',
    ...u.stop,
    ...writableState(u.dataDir, u.user),
    ...HARDENING,
    ...u.confinement,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

export function renderAgentUnit(o: AgentUnitOptions): string {
  return renderUnit({
    comment: '# fleetcare device agent — installed by `fleetcare agent install`; docs/operations.md',
    unit: [
      'Description=fleetcare agent (health of this store device and its peripherals)',
      'Documentation=file:' + posix.join(o.prefix, 'README.md'),
      'After=network-online.target',
    ],
    user: o.user,
    dataDir: o.dataDir,
    exec: [
      ...(o.deviceGroups.length ? [`SupplementaryGroups=${o.deviceGroups.join(' ')}`] : []),
      `ExecStart=${q(posix.join(o.prefix, 'bin', 'fleetcare-agent'))} --config ${q(o.configPath)}`,
    ],
    // SIGTERM: the agent publishes its "offline (stopping)" status and closes its outbox.
    stop: ['TimeoutStopSec=20'],
    confinement: [
      // Serial and USB device nodes are needed, so no PrivateDevices; MQTT over IP, udev netlink.
      'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK',
      // The agent's budget is 55 MB RSS (docs/benchmarks-agent.md); a leak gets it restarted.
      'MemoryMax=160M',
    ],
  });
}

export function renderServerUnit(o: ServerUnitOptions): string {
  return renderUnit({
    comment: '# fleetcare server (broker + collector + NOC) — installed by `fleetcare server install`; docs/operations.md',
    unit: ['Description=fleetcare server (MQTT broker, collector, incidents, tickets, NOC)', 'After=network-online.target influxdb.service'],
    user: o.user,
    dataDir: o.dataDir,
    exec: [`ExecStart=${o.execStart} server --config ${q(o.configPath)}`],
    stop: [
      // The collector flushes its batch and the detectors save their state on SIGTERM.
      'TimeoutStopSec=60',
      // One TCP connection per device: 10,000 devices need more than the default 1024 descriptors.
      'LimitNOFILE=65536',
    ],
    confinement: ['PrivateDevices=yes', 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX'],
  });
}

/** sysusers.d(5): the service's system user, its home = state dir, added to the device groups. */
export function renderSysusers(user: string, description: string, home: string, groups: string[]): string {
  return [`# ${description}`, `u ${user} - "${description}" ${home} /usr/sbin/nologin`, ...groups.map((g) => `m ${user} ${g}`), ''].join('\n');
}
