// Installing the agent on a store device, into a temporary root (--root DIR): the files, their
// modes, a unit that `systemd-analyze verify` accepts, an upgrade that keeps the config, an
// uninstall that keeps (or --purge removes) config and data; and the offline package built by
// `npm run package:agent`, whose install.sh installs the same files, and whose installed agent
// runs on its own (its own native modules, nothing from this repository) against a real server.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { runServer } from '../../cli/server.js';
import { serverConfigSchema } from '../../cli/server-config.js';
import { renderAgentUnit, renderServerUnit } from '../../install/systemd.js';
import { packageAgent } from '../../install/package-agent.js';
import { freePort, waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';

const CLI = fileURLToPath(new URL('../../cli/fleetcare.js', import.meta.url));

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function agentConfig(dir: string, extra: { brokerUrl?: string; dataDir?: string; token?: string } = {}): string {
  const file = join(dir, 'agent.json');
  writeFileSync(
    file,
    JSON.stringify({
      device: { id: 'pos-42', token: extra.token ?? 'a-device-token', site: 'tehran-vanak-01', tenant: 'shahrvand-retail' },
      broker: { url: extra.brokerUrl ?? 'mqtt://10.0.0.1:1883' },
      dataDir: extra.dataDir ?? '/var/lib/fleetcare-agent/pos-42',
      peripherals: [{ id: 'host', driver: 'host', intervalMs: 500 }],
      telemetry: { publishIntervalMs: 500 },
    }),
    { mode: 0o600 },
  );
  return file;
}

/** `systemd-analyze verify` of a unit whose ExecStart exists: exit 0 and not one warning. */
function verifyUnit(dir: string, name: string, text: string): void {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  writeFileSync(file, text);
  const r = run('systemd-analyze', ['verify', file]);
  assert.is(r.code, 0, `systemd-analyze verify ${name}: ${r.stderr}`);
  assert.is(r.stderr.trim(), '', `systemd-analyze warnings for ${name}`);
}

test('the agent and server units pass systemd-analyze verify; a broken one does not', () => {
  const dir = tempDir('fleetcare-unit-');
  try {
    // ExecStart must exist for verify: the launcher of this tree and node itself.
    const prefix = fileURLToPath(new URL('../../..', import.meta.url));
    const agent = renderAgentUnit({
      prefix,
      configPath: '/etc/fleetcare/agent.json',
      dataDir: '/var/lib/fleetcare-agent/pos-42',
      user: 'fleetcare-agent',
      deviceGroups: ['dialout', 'lp'],
    });
    for (const line of [
      'User=fleetcare-agent',
      'SupplementaryGroups=dialout lp',
      'Restart=always',
      'ProtectSystem=strict',
      'NoNewPrivileges=yes',
      'StateDirectory=fleetcare-agent',
      'WantedBy=multi-user.target',
    ])
      assert.ok(agent.split('\n').includes(line), `agent unit has ${line}`);
    verifyUnit(dir.path, 'fleetcare-agent.service', agent);
    const elsewhere = renderAgentUnit({
      prefix,
      configPath: '/etc/fleetcare/agent.json',
      dataDir: '/srv/pos data',
      user: 'fleetcare-agent',
      deviceGroups: ['dialout'],
    });
    assert.ok(elsewhere.includes('ReadWritePaths="/srv/pos data"'), 'a data dir outside /var/lib is made writable');
    verifyUnit(join(dir.path, 'b'), 'fleetcare-agent.service', elsewhere);
    const server = renderServerUnit({
      execStart: `${process.execPath} ${CLI}`,
      configPath: '/etc/fleetcare/server.json',
      dataDir: '/var/lib/fleetcare',
      user: 'fleetcare',
    });
    for (const line of ['User=fleetcare', 'Restart=always', 'ProtectSystem=strict', 'NoNewPrivileges=yes', 'StateDirectory=fleetcare', 'LimitNOFILE=65536'])
      assert.ok(server.split('\n').includes(line), `server unit has ${line}`);
    verifyUnit(dir.path, 'fleetcare-server.service', server);
    // The check is real: a unit whose program is missing fails.
    const broken = join(dir.path, 'c', 'fleetcare-agent.service');
    mkdirSync(join(dir.path, 'c'));
    writeFileSync(broken, agent.replace(/^ExecStart=\S+/m, `ExecStart=${dir.path}/no-such-program`));
    assert.is.not(run('systemd-analyze', ['verify', broken]).code, 0);
  } finally {
    dir.remove();
  }
});

test('agent install --root: package, config (640), unit, system user, enable link; upgrade keeps the config; uninstall keeps data unless --purge', () => {
  const dir = tempDir('fleetcare-install-');
  try {
    const root = join(dir.path, 'root');
    const cfg = agentConfig(dir.path);
    const noConfig = run(process.execPath, [CLI, 'agent', 'install', '--root', root]);
    assert.is(noConfig.code, 1);
    assert.match(noConfig.stderr, 'no agent config: pass --config FILE');
    const badFile = join(dir.path, 'bad.json');
    writeFileSync(badFile, JSON.stringify({ device: { id: 'pos-42', token: 't' }, broker: { url: 'http://x' }, dataDir: 'rel' }));
    const bad = run(process.execPath, [CLI, 'agent', 'install', '--root', root, '--config', badFile]);
    assert.is(bad.code, 1);
    assert.match(bad.stderr, 'broker.url');
    assert.not.ok(existsSync(root), 'a refused config changes nothing');

    const r = run(process.execPath, [CLI, 'agent', 'install', '--root', root, '--config', cfg]);
    assert.is(r.code, 0, r.stderr);
    const prefix = join(root, 'opt/fleetcare-agent');
    assert.ok(statSync(join(prefix, 'bin/fleetcare-agent')).mode & 0o111, 'launcher executable');
    assert.ok(existsSync(join(prefix, 'dist/bundle/agent.mjs')));
    assert.ok(readdirSync(join(prefix, 'firmware-profiles/models')).length > 5);
    for (const m of ['better-sqlite3', 'serialport', 'usb', '@serialport/bindings-cpp', 'bindings'])
      assert.ok(existsSync(join(prefix, 'node_modules', m, 'package.json')), m);
    assert.ok(existsSync(join(prefix, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node')), 'better-sqlite3 built for this platform');
    assert.not.ok(existsSync(join(prefix, 'node_modules/better-sqlite3/deps')), 'no C sources');
    assert.equal(readdirSync(join(prefix, 'node_modules/@serialport/bindings-cpp/prebuilds')), [`${process.platform}-${process.arch}`]);
    assert.not.ok(existsSync(join(prefix, 'node_modules/aedes')), 'nothing of the server');
    const installedCfg = join(root, 'etc/fleetcare/agent.json');
    assert.is(readFileSync(installedCfg, 'utf8'), readFileSync(cfg, 'utf8'));
    assert.is(statSync(installedCfg).mode & 0o777, 0o640);
    const unit = readFileSync(join(root, 'etc/systemd/system/fleetcare-agent.service'), 'utf8');
    assert.is(
      unit,
      renderAgentUnit({
        prefix: '/opt/fleetcare-agent',
        configPath: '/etc/fleetcare/agent.json',
        dataDir: '/var/lib/fleetcare-agent/pos-42',
        user: 'fleetcare-agent',
        deviceGroups: ['dialout', 'lp'],
      }),
    );
    assert.is(readlinkSync(join(root, 'etc/systemd/system/multi-user.target.wants/fleetcare-agent.service')), '/etc/systemd/system/fleetcare-agent.service');
    assert.match(readFileSync(join(root, 'usr/lib/sysusers.d/fleetcare-agent.conf'), 'utf8'), /^m fleetcare-agent dialout$/m);

    // Upgrade: no --config, the installed one stays; an old file in the code dir is gone.
    writeFileSync(join(prefix, 'dist/bundle/stale-chunk.mjs'), '');
    const up = run(process.execPath, [CLI, 'agent', 'install', '--root', root]);
    assert.is(up.code, 0, up.stderr);
    assert.match(up.stdout, 'config kept');
    assert.not.ok(existsSync(join(prefix, 'dist/bundle/stale-chunk.mjs')));
    assert.is(readFileSync(installedCfg, 'utf8'), readFileSync(cfg, 'utf8'));

    mkdirSync(join(root, 'var/lib/fleetcare-agent/pos-42'), { recursive: true });
    const un = run(process.execPath, [CLI, 'agent', 'uninstall', '--root', root]);
    assert.is(un.code, 0, un.stderr);
    assert.not.ok(existsSync(prefix));
    assert.not.ok(existsSync(join(root, 'etc/systemd/system/fleetcare-agent.service')));
    assert.ok(existsSync(installedCfg) && existsSync(join(root, 'var/lib/fleetcare-agent/pos-42')), 'config and data kept');
    const purge = run(process.execPath, [CLI, 'agent', 'uninstall', '--root', root, '--purge']);
    assert.is(purge.code, 0, purge.stderr);
    assert.not.ok(existsSync(installedCfg) || existsSync(join(root, 'var/lib/fleetcare-agent')));
  } finally {
    dir.remove();
  }
});

test('npm run package:agent: the tarball installs with install.sh and its agent runs alone against a server', async () => {
  const dir = tempDir('fleetcare-package-');
  let agent: ChildProcess | null = null;
  const port = await freePort();
  const server = await runServer(
    serverConfigSchema.parse({ dataDir: join(dir.path, 'server'), logLevel: 'silent', broker: { port, scryptCost: 1024 }, noc: { enabled: false } }),
    { log: pino({ level: 'silent' }) },
  );
  try {
    const pkg = await packageAgent(undefined, join(dir.path, 'packages'));
    assert.match(pkg.tarball, /fleetcare-agent-\d+\.\d+\.\d+-linux-\w+\.tar\.gz$/);
    const unpack = join(dir.path, 'unpacked');
    mkdirSync(unpack);
    const tar = run('tar', ['-xzf', pkg.tarball, '-C', unpack]);
    assert.is(tar.code, 0, tar.stderr);
    const [top] = readdirSync(unpack);
    for (const f of ['install.sh', 'fleetcare-agent.service', 'bin/fleetcare-agent', 'dist/bundle/agent.mjs', 'dist/install/install.mjs'])
      assert.ok(existsSync(join(unpack, top, f)), f);

    const token = server.broker!.registry.addDevice('pos-42', { site: 'tehran-vanak-01', tenant: 'shahrvand-retail' });
    const dataDir = join(dir.path, 'agent-state');
    const cfg = agentConfig(dir.path, { brokerUrl: server.brokerUrl!, dataDir, token });
    const root = join(dir.path, 'root');
    const r = run(join(unpack, top, 'install.sh'), ['install', '--root', root, '--config', cfg]);
    assert.is(r.code, 0, r.stderr);
    assert.is(readFileSync(join(root, 'etc/systemd/system/fleetcare-agent.service'), 'utf8').includes(`ReadWritePaths=${dataDir}`), true);

    // The installed agent, from the temp root only (its node_modules, its profiles).
    agent = spawn(join(root, 'opt/fleetcare-agent/bin/fleetcare-agent'), ['--config', join(root, 'etc/fleetcare/agent.json')], {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: dir.path,
    });
    let logs = '';
    agent.stdout!.on('data', (b) => (logs += b));
    agent.stderr!.on('data', (b) => (logs += b));
    await waitFor(
      `pos-42 online and reporting (agent log: ${logs.slice(-500)})`,
      () => server.collector!.fleet().find((d) => d.device === 'pos-42' && d.online && d.lastSeq > 2),
      30_000,
    );
    assert.ok(existsSync(join(dataDir)), 'the outbox lives in the config’s dataDir');
  } finally {
    if (agent && agent.exitCode === null) {
      agent.kill('SIGTERM');
      await new Promise((r) => agent!.once('exit', r));
    }
    await server.close('test done');
    dir.remove();
  }
});

test.run();
