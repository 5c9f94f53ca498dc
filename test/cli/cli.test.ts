// The `fleetcare` command as a user runs it: help, provisioning, config errors that name the
// field, and a server whose ports and data dir come from flags.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { freePort, waitFor } from '../helpers/net.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

const CLI = fileURLToPath(new URL('../../cli/fleetcare.js', import.meta.url));

function run(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// Each test gets a fresh temp dir, removed after it whatever the outcome.
let dir: TempDir;
test.before.each(() => {
  dir = tempDir();
});
test.after.each(() => dir.remove());

test('--help lists every command and each command has its own help', () => {
  const r = run(['--help']);
  assert.is(r.code, 0);
  for (const c of ['server', 'agent', 'device', 'service', 'sim', 'demo']) assert.match(r.stdout, c);
  for (const c of ['server', 'agent', 'device', 'sim', 'demo']) {
    const h = run([c, '--help']);
    assert.is(h.code, 0, c);
    assert.match(h.stdout, `fleetcare ${c}`);
  }
});

test('unknown command and unknown flag are usage errors (exit 64) with one clear line', () => {
  const a = run(['frobnicate']);
  assert.is(a.code, 64);
  assert.match(a.stderr, 'unknown command "frobnicate"');
  const b = run(['server', '--no-such-flag']);
  assert.is(b.code, 64);
  assert.match(b.stderr, "Unknown option '--no-such-flag'");
});

test('device add prints the token once, stores it hashed, writes a 0600 agent config', () => {
  const empty = run(['device', 'list', '--data-dir', dir.path]);
  assert.is(empty.stdout, 'no devices\n');
  const cfg = join(dir.path, 'agent.json');
  const r = run([
    'device',
    'add',
    'pos-7',
    '--site',
    'riyadh-07',
    '--tenant',
    'acme',
    '--data-dir',
    dir.path,
    '--write-config',
    cfg,
    '--broker-url',
    'mqtt://127.0.0.1:1999',
  ]);
  assert.is(r.code, 0, r.stderr);
  const token = r.stdout.trim();
  assert.ok(token.length >= 40, 'a long random token');
  const written = JSON.parse(readFileSync(cfg, 'utf8'));
  assert.is(written.device.token, token);
  assert.is(written.broker.url, 'mqtt://127.0.0.1:1999');
  assert.is(statSync(cfg).mode & 0o777, 0o600);
  const list = run(['device', 'list', '--data-dir', dir.path]);
  assert.is(list.code, 0);
  assert.match(list.stdout, /^DEVICE\s+SITE\s+TENANT\s+STATE\s+ADDED\n/);
  assert.match(list.stdout, /\npos-7\s+riyadh-07\s+acme\s+enabled\s+20\d\d-/);
  const json = JSON.parse(run(['device', 'list', '--json', '--data-dir', dir.path]).stdout) as Array<{ id: string; site: string }>;
  assert.equal(
    json.map((d) => [d.id, d.site]),
    [['pos-7', 'riyadh-07']],
  );
  assert.not.match(list.stdout, token);
  for (const f of readdirSync(join(dir.path, 'broker'))) assert.not.match(readFileSync(join(dir.path, 'broker', f), 'latin1'), token, `token in clear in ${f}`);
  const again = run(['device', 'add', 'pos-7', '--data-dir', dir.path]);
  assert.is(again.code, 1);
  assert.match(again.stderr, 'pos-7');
  const bad = run(['device', 'add', 'bad/id', '--data-dir', dir.path]);
  assert.is(bad.code, 1);
});

test('a broken server config is refused naming the file and the field', () => {
  const f = join(dir.path, 'server.json');
  writeFileSync(f, JSON.stringify({ broker: { port: 'eighteen' } }));
  const r = run(['server', '--config', f, '--data-dir', dir.path]);
  assert.is(r.code, 1);
  assert.match(r.stderr, 'broker.port');
  writeFileSync(f, '{ "broker": ');
  const j = run(['server', '--config', f]);
  assert.is(j.code, 1);
  assert.match(j.stderr, 'not valid JSON');
  const p = run(['server', '--port', '99999']);
  assert.is(p.code, 1);
  assert.match(p.stderr, '--port');
});

test('fleetcare server --config bad.json lists every error of every part, with paths, and binds nothing', async () => {
  const data = join(dir.path, 'data');
  const f = join(dir.path, 'bad.json');
  const bad = {
    dataDir: data,
    role: 'everything',
    colector: {},
    broker: { port: await freePort(), tlsCertPath: join(dir.path, 'cert.pem'), portt: 1884 },
    collector: {
      staleAfterMs: -1,
      batch: { maxPoints: 'many' },
      influx: { url: 'not a url' },
      incidents: { tickMs: 'soon' },
      mqtt: { urls: ['mqtt://127.0.0.1:1883', 'http://broker-2'] },
    },
    noc: { port: 70000, sessionTtlHours: 0 },
  };
  writeFileSync(f, JSON.stringify(bad));
  const r = run(['server', '--config', f]);
  assert.is(r.code, 1);
  const lines = r.stderr.split('\n');
  const listed = (path: string) => lines.some((l) => l.startsWith(`  ${path}: `));
  for (const path of [
    'role',
    'broker.tlsKeyPath',
    'collector.staleAfterMs',
    'collector.batch.maxPoints',
    'collector.influx.url',
    'collector.incidents.tickMs',
    'collector.mqtt.urls.1',
    'noc.port',
    'noc.sessionTtlHours',
  ]) {
    assert.ok(listed(path), `${path} not listed in:\n${r.stderr}`);
  }
  // Misspelt keys are errors too, at the root and inside a part.
  assert.match(r.stderr, /\(root\): Unrecognized key: "colector"/);
  assert.match(r.stderr, /broker: Unrecognized key: "portt"/);
  assert.match(r.stderr, new RegExp(`^fleetcare: ${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: 11 errors:`));
  // Nothing started: no log line, no data dir, and the broker port is still free to bind.
  assert.is(r.stdout, '');
  assert.not.ok(existsSync(data), 'data dir created');
});

test('docs/server-config.schema.json is generated from the schema and up to date', async () => {
  const { serverConfigJsonSchema } = await import('../../cli/server-config-json-schema.js');
  const onDisk = JSON.parse(readFileSync(fileURLToPath(new URL('../../../docs/server-config.schema.json', import.meta.url)), 'utf8'));
  assert.equal(onDisk, JSON.parse(JSON.stringify(serverConfigJsonSchema())));
  // An editor sees the parts' own fields, without the dataDir the server fills in.
  assert.ok(onDisk.properties.collector.properties.incidents);
  assert.ok(onDisk.properties.broker.properties.publishRate);
  assert.not.ok('dataDir' in onDisk.properties.broker.properties);
  assert.is(onDisk.properties.noc.additionalProperties, false);
});

test('a broken agent config is refused naming the field', () => {
  const f = join(dir.path, 'agent.json');
  writeFileSync(
    f,
    JSON.stringify({
      device: { id: 'pos-1', token: 'x' },
      broker: { url: 'mqtt://127.0.0.1:1' },
      dataDir: dir.path,
      peripherals: [{ id: 'host', driver: 'host', intervalMs: 'often' }],
    }),
  );
  const r = run(['agent', '--config', f]);
  assert.is(r.code, 1);
  assert.match(r.stderr, 'peripherals.0.intervalMs');
});

test('server runs on the flags given and a provisioned device can publish', async () => {
  const port = await freePort();
  const token = run(['device', 'add', 'pos-9', '--data-dir', dir.path]).stdout.trim();
  const server = spawn(process.execPath, [CLI, 'server', '--data-dir', dir.path, '--port', String(port), '--http-port', '0', '--log-level', 'info'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logs = '';
  server.stdout.on('data', (b) => (logs += b));
  server.stderr.on('data', (b) => (logs += b));
  try {
    await waitFor('server started', () => logs.includes('fleetcare server started'), 20_000);
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'pos-9', username: 'pos-9', password: token, reconnectPeriod: 0 });
    await client.endAsync();
    const refused = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'pos-9', username: 'pos-9', password: 'wrong', reconnectPeriod: 0 }).then(
      (c) => (c.end(), false),
      () => true,
    );
    assert.ok(refused, 'wrong token refused');
    assert.not.match(logs, token);
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
});

test.run();
