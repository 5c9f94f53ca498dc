// `fleetcare doctor` against real conditions: a port taken by another program, InfluxDB down and
// up (a real influxd), a certificate about to expire and a key that does not match it, a running
// server whose ports are its own. Each problem names what is wrong and how to fix it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { runServer } from '../../cli/server.js';
import { serverConfigSchema } from '../../cli/server-config.js';
import { Influxd, haveInfluxd } from '../helpers/influxd.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';

const CLI = fileURLToPath(new URL('../../cli/fleetcare.js', import.meta.url));

type Finding = { level: 'ok' | 'warn' | 'fail'; check: string; message: string; fix?: string };

function doctor(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, 'doctor', ...args], { encoding: 'utf8', timeout: 60_000 });
  const json = spawnSync(process.execPath, [CLI, 'doctor', '--json', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, findings: JSON.parse(json.stdout) as Finding[] };
}

const listen = (port: number) =>
  new Promise<Server>((r) => {
    const s = createServer();
    s.listen(port, '127.0.0.1', () => r(s));
  });

test('a healthy setup is all good; a taken port and an unreachable InfluxDB fail with a fix', async () => {
  const dir = tempDir('fleetcare-doctor-');
  const [port, httpPort, deadInflux] = [await freePort(), await freePort(), await freePort()];
  try {
    const flags = ['--data-dir', join(dir.path, 'data'), '--port', String(port), '--http-port', String(httpPort)];
    const good = doctor(flags);
    assert.is(good.code, 0, good.stdout);
    assert.ok(
      good.findings.every((f) => f.level !== 'fail'),
      good.stdout,
    );
    assert.match(good.stdout, 'does not exist yet; the server creates it at start');

    const squatter = await listen(port);
    try {
      const bad = doctor([...flags, '--influx-url', `http://127.0.0.1:${deadInflux}`]);
      assert.is(bad.code, 1);
      const portFinding = bad.findings.find((f) => f.check === 'port' && f.level === 'fail')!;
      assert.match(portFinding.message, `127.0.0.1:${port} (MQTT) is used by another program`);
      assert.match(portFinding.fix!, 'broker.port');
      const influx = bad.findings.find((f) => f.check === 'influxdb')!;
      assert.is(influx.level, 'fail');
      assert.match(influx.message, 'unreachable');
      assert.match(bad.stdout, /FAIL {2}port .*\n\s+fix: see which: ss -ltnp/);
      assert.match(bad.stdout, '2 problem(s)');
    } finally {
      squatter.close();
    }
  } finally {
    dir.remove();
  }
});

test('a running server: its ports are its own; InfluxDB reachable', async () => {
  if (!haveInfluxd()) {
    console.log('  (skipped: no influxd here)');
    return;
  }
  const dir = tempDir('fleetcare-doctor-');
  const influxd = await Influxd.create();
  const port = await freePort();
  const data = join(dir.path, 'data');
  const server = await runServer(serverConfigSchema.parse({ dataDir: data, logLevel: 'silent', broker: { port, scryptCost: 1024 }, noc: { enabled: false } }), {
    log: pino({ level: 'silent' }),
  });
  try {
    const r = doctor(['--data-dir', data, '--port', String(port), '--no-http', '--influx-url', influxd.url]);
    assert.is(r.code, 0, r.stdout);
    assert.match(r.stdout, `running (pid ${process.pid}`);
    assert.match(r.stdout, `127.0.0.1:${port} (MQTT) is in use by the running server`);
    assert.match(r.stdout, `${influxd.url} answers (InfluxDB`);
    assert.match(r.stdout, /collector\/incidents\.db: ok/);
  } finally {
    await server.close();
    await influxd.destroy();
    dir.remove();
  }
});

test('certificates: one about to expire is a warning, a key that does not match is a failure', () => {
  const dir = tempDir('fleetcare-doctor-');
  try {
    const cert = join(dir.path, 'broker.crt');
    const key = join(dir.path, 'broker.key');
    const otherKey = join(dir.path, 'other.key');
    for (const [k, c] of [
      [key, cert],
      [otherKey, join(dir.path, 'other.crt')],
    ]) {
      const r = spawnSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-keyout',
          k,
          '-out',
          c,
          '-days',
          '3',
          '-subj',
          '/CN=mqtt.example.test',
        ],
        { encoding: 'utf8' },
      );
      assert.is(r.status, 0, r.stderr);
    }
    const config = (keyFile: string) => {
      const f = join(dir.path, `server-${keyFile === key ? 'a' : 'b'}.json`);
      spawnSync('sh', ['-c', `cat > ${f}`], {
        input: JSON.stringify({
          dataDir: join(dir.path, 'data'),
          broker: { port: 0, tlsPort: 0, tlsCertPath: cert, tlsKeyPath: keyFile },
          noc: { enabled: false },
        }),
      });
      return f;
    };
    const soon = doctor(['-c', config(key)]);
    const tls = soon.findings.filter((f) => f.check === 'tls');
    assert.equal(
      tls.map((f) => f.level),
      ['warn'],
      soon.stdout,
    );
    assert.match(tls[0].message, /CN=mqtt\.example\.test.*expires in [0-3] day\(s\)/);
    assert.match(tls[0].fix!, 'renew');
    assert.is(soon.code, 0, 'a warning does not fail');
    const wrong = doctor(['-c', config(otherKey)]);
    assert.is(wrong.code, 1);
    assert.ok(
      wrong.findings.some((f) => f.check === 'tls' && f.level === 'fail' && f.message.includes('is not the key of')),
      wrong.stdout,
    );
  } finally {
    dir.remove();
  }
});

test.run();
