// Revocation that bites: `fleetcare device rotate|remove|disable` and `fleetcare service remove`,
// run as separate processes against the registry of a running broker, close the sessions that are
// open at the time (real mosquitto_sub and mqtt.js clients) and drop the persistent session.
// Also: a SUBACK grants the QoS the broker really gives (MQTT-3.8.4-5).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { waitFor } from '../helpers/net.js';
import { tempDir, type TempDir } from '../helpers/tmp.js';
import { connectMqtt, creds, finished, killStrays, spawnMosquitto } from './helpers.js';
import { hasLog } from '../helpers/log.js';
import { startFleetcareBroker, type FleetcareBroker } from '../helpers/broker.js';

const CLI = fileURLToPath(new URL('../../cli/fleetcare.js', import.meta.url));

let dir: TempDir;
let tb: FleetcareBroker;
let url: string;

test.before(async () => {
  dir = tempDir('fleetcare-revoke-');
  // The CLI finds the registry in <data-dir>/broker, as `fleetcare server` lays it out.
  tb = await startFleetcareBroker({ dataDir: join(dir.path, 'broker'), registryPollMs: 50 });
  url = `mqtt://127.0.0.1:${tb.broker.port}`;
});

test.after(async () => {
  killStrays();
  await tb?.close();
  dir?.remove();
});

function cli(...args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args, '--data-dir', dir.path], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`fleetcare ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** Publishes a command to `device` from a collector session, as the collector does. */
async function sendCommand(device: string, body: string): Promise<void> {
  const c = await connectMqtt(url, { clientId: `cmd-${Math.random().toString(36).slice(2)}`, username: 'collector', password: tb.tokens.collector });
  await c.publishAsync(`fleet/v1/${device}/cmd/req`, body, { qos: 1 });
  await c.endAsync();
}

test('device rotate: an open mosquitto_sub session is closed at once, and the old token no longer gets in', async () => {
  const id = 'dev-rot';
  const token = tb.broker.registry.addDevice(id);
  // A persistent session (-c) listening for commands, as an agent's is.
  const sub = spawnMosquitto('sub', [...creds(tb.broker.port, id, token), '-c', '-t', `fleet/v1/${id}/cmd/req`, '-q', '1', '-v']);
  await waitFor('mosquitto_sub connected', () => tb.broker.stats().clients.device >= 1);
  await sendCommand(id, 'before');
  await waitFor('command before the rotation received', () => sub.out.includes('before'));

  const newToken = cli('device', 'rotate', id);
  assert.ok(newToken.length > 20);
  // mosquitto_sub reconnects with its (old) token after the close, is refused and exits.
  const r = await finished(sub, 10_000);
  assert.ok(r.code !== 0, `mosquitto_sub should have been cut off: ${r.stderr}`);
  assert.ok(hasLog(tb.logs, 'credentials changed: closing the session', { client: id }));
  assert.ok(tb.broker.stats().revokedSessions >= 1);
  await sendCommand(id, 'after');
  assert.not.ok(r.stdout.includes('after'));

  // The new token logs in, and the persistent session (with the command sent meanwhile) is gone.
  const { client: c, sessionPresent } = await connectWithConnack({ clientId: id, username: id, password: newToken, clean: false });
  const got: string[] = [];
  c.on('message', (_t, p) => got.push(p.toString()));
  assert.is(sessionPresent, false, 'persistent session dropped');
  await c.subscribeAsync(`fleet/v1/${id}/cmd/req`, { qos: 1 });
  await sendCommand(id, 'fresh');
  await waitFor('a command after re-subscribing', () => got.includes('fresh'));
  assert.not.ok(got.includes('after'), 'nothing queued for the revoked session is delivered');
  await c.endAsync();
});

test('device remove and device disable close live mqtt.js sessions', async () => {
  for (const action of ['remove', 'disable'] as const) {
    const id = `dev-${action}`;
    const token = tb.broker.registry.addDevice(id);
    const c = await connectMqtt(url, { clientId: id, username: id, password: token, clean: false });
    await c.subscribeAsync(`fleet/v1/${id}/cmd/req`, { qos: 1 });
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    cli('device', action, id);
    await closed;
    assert.ok(hasLog(tb.logs, 'credentials changed: closing the session', { client: id }), action);
    assert.ok(
      await connectMqtt(url, { clientId: id, username: id, password: token }).then(
        () => false,
        () => true,
      ),
      `${action}: the token is refused`,
    );
    c.end(true);
  }
});

test('service remove closes the service account sessions, whatever their client ids', async () => {
  const token = tb.broker.registry.addServiceAccount('ops-viewer', 'viewer');
  const a = await connectMqtt(url, { clientId: 'noc-1', username: 'ops-viewer', password: token });
  const b = await connectMqtt(url, { clientId: 'noc-2', username: 'ops-viewer', password: token });
  const closed = Promise.all([a, b].map((c) => new Promise<void>((r) => c.once('close', () => r()))));
  cli('service', 'remove', 'ops-viewer');
  await closed;
  a.end(true);
  b.end(true);
});

test('a session that logged in after the rotation, with the new token, stays', async () => {
  const id = 'dev-new';
  tb.broker.registry.addDevice(id);
  const fresh = cli('device', 'rotate', id);
  const c = await connectMqtt(url, { clientId: id, username: id, password: fresh });
  // Another change afterwards (of someone else) is seen by the broker; this session is not touched.
  const other = cli('device', 'add', 'dev-other');
  assert.ok(other);
  cli('device', 'rotate', 'dev-other');
  await waitFor('the later change was processed', () =>
    tb.logs.some((l) => l.msg === 'persistent session dropped after a credential change' && l.client === 'dev-other'),
  );
  assert.ok(c.connected);
  await c.endAsync();
});

test('SUBACK grants QoS 1 where QoS 2 was asked (the broker delivers at most QoS 1)', async () => {
  const c = await connectMqtt(url, { clientId: 'col-q2', username: 'collector', password: tb.tokens.collector });
  const granted = await c.subscribeAsync({ 'fleet/v1/+/telemetry': { qos: 2 }, 'fleet/v1/+/event': { qos: 0 } });
  assert.equal(
    granted.map((g) => g.qos),
    [1, 0],
  );
  await c.endAsync();
});

function connectWithConnack(opts: IClientOptions): Promise<{ client: MqttClient; sessionPresent: boolean }> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5_000, ...opts });
    c.once('connect', (connack) => resolve({ client: c, sessionPresent: connack.sessionPresent }));
    c.once('error', reject);
  });
}

test.run();
