// The README's one command for a cluster on loopback (`npm run cluster` = `fleetcare cluster local`):
// it starts PostgreSQL, Redis, InfluxDB, 3 broker, 2 collector and 2 NOC nodes and a simulated
// fleet, and prints the NOC addresses. Here: both printed NOC nodes log the admin in and list the
// simulated devices (their telemetry went agent → broker node → Redis → owning collector →
// PostgreSQL/InfluxDB → NOC); the printed provisioning command adds a device to the shared
// registry; Ctrl-C (SIGINT) stops everything and removes the temp dir.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { DevicesAnswer } from '../../noc/api.js';
import { haveInfluxd } from '../helpers/influxd.js';
import { waitFor } from '../helpers/net.js';
import { ApiClient } from '../helpers/noc.js';
import { havePostgres } from '../helpers/postgres.js';
import { haveRedis } from '../helpers/redis.js';

const CLI = fileURLToPath(new URL('../../cli/fleetcare.js', import.meta.url));
const PASSWORD = 'local-cluster-test-pw';

test('fleetcare cluster local: 3 brokers, 2 collectors, 2 NOC nodes; both NOC addresses show the simulated fleet; Ctrl-C stops and removes it all', async () => {
  if (!havePostgres() || !haveRedis() || !haveInfluxd()) return console.log('  (skipped: PostgreSQL, Redis or InfluxDB missing)');
  const p = spawn(process.execPath, [CLI, 'cluster', 'local', '--devices', '2', '--interval-ms', '1000'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FLEETCARE_DEMO_PASSWORD: PASSWORD },
  });
  let out = '';
  let err = '';
  p.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  p.stderr!.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => p.once('exit', (code, signal) => r({ code, signal })));
  let stopped = false;
  try {
    const banner = await waitFor(
      'the cluster banner',
      () => {
        if (p.exitCode !== null) throw new Error(`cluster local exited ${p.exitCode}: ${err}`);
        return /Ctrl-C stops everything/.test(out) ? out : null;
      },
      180_000,
      200,
    );
    const line = (label: string) => new RegExp(`^\\s*${label}:\\s+(.+)$`, 'm').exec(banner)?.[1].trim() ?? '';
    const nocs = line('NOC').split(/\s+/);
    assert.is(nocs.length, 2, banner);
    assert.is(line('brokers').split(/\s+/).length, 3, banner);
    assert.match(line('nodes'), /broker-1 .*broker-2 .*broker-3 .*collector-1 .*collector-2 .*noc-1 .*noc-2/);
    assert.match(banner, /password \$FLEETCARE_DEMO_PASSWORD/, 'the password from the environment is not printed');
    assert.not.match(banner, new RegExp(PASSWORD));

    for (const noc of nocs) {
      const api = new ApiClient(noc);
      const login = await api.post('/api/login', { username: 'admin', password: PASSWORD });
      assert.is(login.status, 200, login.text);
      const devices = await waitFor(
        `both simulated devices listed on ${noc}`,
        async () => {
          const r = await api.get<DevicesAnswer>('/api/devices');
          return r.status === 200 && r.body.total === 2 ? r.body.items.map((d) => d.device).sort() : null;
        },
        120_000,
        500,
      );
      assert.is(devices.length, 2);
    }

    // The printed provisioning command writes to the registry every broker node checks.
    const provision = line('provision').split('   ')[0].replace('node dist/cli/fleetcare.js ', '').split(/\s+/);
    assert.equal(provision.slice(0, 3), ['device', 'add', 'ID']);
    const added = spawnSync(process.execPath, [CLI, 'device', 'add', 'pos-new', ...provision.slice(3)], { encoding: 'utf8', timeout: 60_000 });
    assert.is(added.status, 0, added.stderr);
    assert.ok(added.stdout.trim().length > 20, 'a token');
    const listed = spawnSync(process.execPath, [CLI, 'device', 'list', '--json', ...provision.slice(3)], { encoding: 'utf8', timeout: 60_000 });
    assert.ok(
      (JSON.parse(listed.stdout) as Array<{ id: string }>).some((d) => d.id === 'pos-new'),
      listed.stdout,
    );

    const dir = line('logs').replace(/\/logs\/?$/, '');
    assert.ok(existsSync(dir), banner);
    p.kill('SIGINT');
    stopped = true;
    const exit = await exited;
    assert.equal(exit, { code: 0, signal: null }, err);
    assert.not.ok(existsSync(dir), 'the temp dir is removed');
  } finally {
    if (!stopped || p.exitCode === null) p.kill('SIGKILL');
  }
});

test.run();
