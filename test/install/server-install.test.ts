// `fleetcare server install --root DIR`: the unit (accepted by systemd-analyze verify), the
// config with an explicit data dir, the system user and the enable link; uninstall keeps data.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/tmp.js';
import { SERVER_NODE_FLAGS } from '../../cli/server-heap.js';

const CLI = fileURLToPath(new URL('../../cli/fleetcare.js', import.meta.url));
const run = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });

test('server install --root: unit verified by systemd-analyze, config gets an absolute dataDir, uninstall keeps config', () => {
  const dir = tempDir('fleetcare-server-install-');
  try {
    const root = join(dir.path, 'root');
    const cfg = join(dir.path, 'server.json');
    writeFileSync(cfg, JSON.stringify({ broker: { host: '0.0.0.0' }, collector: { influx: { url: 'http://127.0.0.1:8086' } } }));
    const r = run(process.execPath, [CLI, 'server', 'install', '--root', root, '--config', cfg]);
    assert.is(r.status, 0, r.stderr);
    const installed = JSON.parse(readFileSync(join(root, 'etc/fleetcare/server.json'), 'utf8'));
    assert.is(installed.dataDir, '/var/lib/fleetcare', 'the service cwd is /: ./data would be /data');
    assert.is(installed.broker.host, '0.0.0.0');
    assert.is(statSync(join(root, 'etc/fleetcare/server.json')).mode & 0o777, 0o640);
    const unitFile = join(root, 'etc/systemd/system/fleetcare-server.service');
    const unit = readFileSync(unitFile, 'utf8');
    assert.ok(unit.includes(`ExecStart=${process.execPath} ${SERVER_NODE_FLAGS.join(' ')} ${CLI} server --config /etc/fleetcare/server.json`), unit);
    for (const line of ['User=fleetcare', 'StateDirectory=fleetcare', 'ProtectSystem=strict', 'NoNewPrivileges=yes', 'Restart=always'])
      assert.ok(unit.split('\n').includes(line), line);
    // ExecStart is this host's node and this tree's CLI: verify the installed file as it is.
    const v = run('systemd-analyze', ['verify', unitFile]);
    assert.is(v.status, 0, v.stderr);
    assert.is(v.stderr.trim(), '');
    assert.is(readlinkSync(join(root, 'etc/systemd/system/multi-user.target.wants/fleetcare-server.service')), '/etc/systemd/system/fleetcare-server.service');
    assert.match(readFileSync(join(root, 'usr/lib/sysusers.d/fleetcare-server.conf'), 'utf8'), /^u fleetcare - "fleetcare server" \/var\/lib\/fleetcare/m);

    const relative = join(dir.path, 'relative.json');
    writeFileSync(relative, JSON.stringify({ dataDir: './data' }));
    const bad = run(process.execPath, [CLI, 'server', 'install', '--root', root, '--config', relative]);
    assert.is(bad.status, 1);
    assert.match(bad.stderr, 'dataDir: must be an absolute path');

    const un = run(process.execPath, [CLI, 'server', 'uninstall', '--root', root]);
    assert.is(un.status, 0, un.stderr);
    assert.not.ok(existsSync(unitFile));
    assert.ok(existsSync(join(root, 'etc/fleetcare/server.json')), 'config kept');
  } finally {
    dir.remove();
  }
});

test.run();
