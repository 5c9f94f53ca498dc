// TLS (self-signed cert made with openssl here), WebSocket, the config schema and the registry.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { brokerConfigSchema, DeviceRegistry, RegistryError } from '../../broker/index.js';
import { formatZodError } from '../../protocol/index.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { connectMqtt, killStrays, mosquitto, recorder } from './helpers.js';
import { startFleetcareBroker } from '../helpers/broker.js';

test.after(() => killStrays());

test('TLS listener with a self-signed cert: mqtt.js with ca and mosquitto_pub --cafile get in; no ca is refused', async () => {
  const certs = tempDir('fleetcare-tls-');
  const cert = join(certs.path, 'cert.pem');
  const key = join(certs.path, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
  const tb = await startFleetcareBroker({ tlsCertPath: cert, tlsKeyPath: key, tlsPort: 0, wsPort: 0 });
  try {
    assert.ok(tb.broker.tlsPort && tb.broker.tlsPort !== tb.broker.port);
    const rec = await recorder(tb.broker.port, tb.tokens.collector, ['fleet/v1/+/telemetry']);
    const dev = await connectMqtt(`mqtts://127.0.0.1:${tb.broker.tlsPort}`, {
      ca: readFileSync(cert),
      clientId: 'dev-a',
      username: 'dev-a',
      password: tb.tokens['dev-a'],
    });
    await dev.publishAsync('fleet/v1/dev-a/telemetry', 'over-tls', { qos: 1 });
    await waitFor('TLS telemetry', () => rec.seen('fleet/v1/dev-a/telemetry', 'over-tls'));
    await dev.endAsync();

    const noCa = await connectMqtt(`mqtts://127.0.0.1:${tb.broker.tlsPort}`, { clientId: 'dev-a', username: 'dev-a', password: tb.tokens['dev-a'] }).then(
      () => null,
      (e: Error) => e,
    );
    assert.match(String(noCa?.message), /self[- ]signed/i);

    const pub = await mosquitto('pub', [
      '-p',
      String(tb.broker.tlsPort),
      '--cafile',
      cert,
      '-i',
      'dev-b',
      '-u',
      'dev-b',
      '-P',
      tb.tokens['dev-b'],
      '-t',
      'fleet/v1/dev-b/telemetry',
      '-q',
      '1',
      '-m',
      'mosq-tls',
    ]);
    assert.is(pub.code, 0, pub.stderr);
    await waitFor('mosquitto TLS telemetry', () => rec.seen('fleet/v1/dev-b/telemetry', 'mosq-tls'));

    // Same rules over WebSocket.
    const ws = await connectMqtt(`ws://127.0.0.1:${tb.broker.wsPort}/mqtt`, { clientId: 'dev-b', username: 'dev-b', password: tb.tokens['dev-b'] });
    await ws.publishAsync('fleet/v1/dev-b/telemetry', 'over-ws', { qos: 1 });
    await waitFor('WebSocket telemetry', () => rec.seen('fleet/v1/dev-b/telemetry', 'over-ws'));
    await ws.endAsync();
    await rec.client.endAsync();
  } finally {
    await tb.close();
    certs.remove();
  }
});

test('config schema: defaults, TLS needs both paths, errors as path: message', () => {
  const c = brokerConfigSchema.parse({ dataDir: '/tmp/x' });
  assert.is(c.host, '127.0.0.1');
  assert.is(c.port, 1883);
  assert.is(c.allowAnonymous, false);
  assert.is(c.maxPayloadBytes, 256 * 1024);
  assert.is(c.publishRate.perSecond, 200);
  assert.is(c.tlsCertPath, undefined);
  assert.is(c.wsPort, undefined);
  const half = brokerConfigSchema.safeParse({ dataDir: '/tmp/x', tlsCertPath: '/c.pem' });
  assert.not.ok(half.success);
  assert.match(formatZodError(half.error!), /^tlsKeyPath: TLS needs both/);
  const wrong = brokerConfigSchema.safeParse({ dataDir: '/tmp/x', port: '1883' });
  assert.match(formatZodError(wrong.error!), /^port: /);
  assert.not.ok(brokerConfigSchema.safeParse({}).success);
});

test('registry: tokens shown once, stored hashed, rotate/remove/disable, no name clashes', async () => {
  const dir = tempDir('fleetcare-reg-');
  const reg = DeviceRegistry.open(dir.path);
  try {
    const t1 = reg.addDevice('pos-1', { site: 'store-9' });
    assert.ok(Buffer.from(t1, 'base64url').length >= 32);
    assert.throws(
      () => reg.addDevice('pos-1'),
      (e: unknown) => e instanceof RegistryError && e.code === 'exists',
    );
    assert.throws(
      () => reg.addDevice('bad/id'),
      (e: unknown) => e instanceof RegistryError && e.code === 'invalid' && /device id/.test(e.message),
    );
    const db = stored(reg.path);
    assert.not.ok(db.includes(t1), 'token stored in clear');
    assert.ok(db.includes('sha256$'), 'a generated token: salted SHA-256');
    assert.not.ok(db.includes('scrypt$'));

    assert.equal(await reg.verify('pos-1', t1), { kind: 'device', id: 'pos-1', site: 'store-9', tenant: null });
    assert.is(await reg.verify('pos-1', t1 + 'x'), null);
    assert.is(await reg.verify('nobody', t1), null);

    const t2 = reg.rotateDeviceToken('pos-1');
    assert.is(await reg.verify('pos-1', t1), null);
    assert.ok(await reg.verify('pos-1', t2));
    const t3 = reg.addDevice('pos-1', { rotate: true });
    assert.is(await reg.verify('pos-1', t2), null);
    assert.is(reg.getDevice('pos-1')!.site, 'store-9');

    reg.setDeviceDisabled('pos-1', true);
    assert.is(await reg.verify('pos-1', t3), null);
    assert.is(reg.listDevices()[0].disabled, true);

    const c1 = reg.addServiceAccount('collector', 'collector');
    assert.equal(await reg.verify('collector', c1), { kind: 'service', name: 'collector', role: 'collector' });
    const c2 = reg.rotateServiceToken('collector', 'collector');
    assert.is(await reg.verify('collector', c1), null);
    assert.ok(await reg.verify('collector', c2));
    const v = reg.rotateServiceToken('noc', 'viewer'); // created when missing
    assert.equal(await reg.verify('noc', v), { kind: 'service', name: 'noc', role: 'viewer' });
    assert.throws(
      () => reg.addServiceAccount('pos-1', 'viewer'),
      (e: unknown) => e instanceof RegistryError && e.code === 'exists',
    );
    assert.throws(
      () => reg.addDevice('noc'),
      (e: unknown) => e instanceof RegistryError && e.code === 'exists',
    );

    assert.is(reg.removeDevice('pos-1'), true);
    assert.is(reg.removeDevice('pos-1'), false);
    assert.throws(
      () => reg.rotateDeviceToken('pos-1'),
      (e: unknown) => e instanceof RegistryError && e.code === 'not-found',
    );
    assert.equal(
      reg.listServiceAccounts().map((a) => a.name),
      ['collector', 'noc'],
    );
  } finally {
    reg.close();
    dir.remove();
  }
});

/** The registry file's bytes (with its write-ahead log), to look for what it stores. */
function stored(path: string): string {
  const wal = (() => {
    try {
      return readFileSync(path + '-wal').toString('latin1');
    } catch {
      return '';
    }
  })();
  return readFileSync(path).toString('latin1') + wal;
}

test('registry: tokens hashed with scrypt (tokenHash scrypt, or a registry made before SHA-256) keep logging in, and are hashed again with SHA-256 at that login', async () => {
  const dir = tempDir('fleetcare-reg-');
  try {
    const old = DeviceRegistry.open(dir.path, { tokenHash: 'scrypt', scryptCost: 1024 });
    const t1 = old.addDevice('pos-1');
    const c1 = old.addServiceAccount('collector', 'collector');
    assert.ok(stored(old.path).includes('scrypt$1024$8$1$'));
    assert.ok(await old.verify('pos-1', t1));
    old.close();

    const reg = DeviceRegistry.open(dir.path);
    const hashes = () => {
      const db = new Database(reg.path, { readonly: true });
      try {
        return db
          .prepare('SELECT id AS name, token_hash AS hash FROM devices UNION ALL SELECT name, token_hash FROM service_accounts ORDER BY 1')
          .all() as Array<{ name: string; hash: string }>;
      } finally {
        db.close();
      }
    };
    try {
      assert.is(await reg.verify('pos-1', t1.slice(0, -1)), null);
      assert.ok(
        hashes().every((h) => h.hash.startsWith('scrypt$')),
        'a wrong token changes nothing',
      );
      assert.equal(await reg.verify('pos-1', t1), { kind: 'device', id: 'pos-1', site: null, tenant: null });
      assert.ok(await reg.verify('collector', c1));
      // Each token that logged in is stored again the new way (an upgraded installation gets fast logins without a rotate).
      assert.equal(
        hashes().map((h) => [h.name, h.hash.split('$')[0]]),
        [
          ['collector', 'sha256'],
          ['pos-1', 'sha256'],
        ],
      );
      assert.ok(await reg.verify('pos-1', t1), 'the same token logs in against its new hash');
      assert.ok(await reg.verify('collector', c1));
      const t2 = reg.rotateDeviceToken('pos-1');
      assert.is(await reg.verify('pos-1', t1), null);
      assert.ok(await reg.verify('pos-1', t2));
    } finally {
      reg.close();
    }
  } finally {
    dir.remove();
  }
});

test.run();
