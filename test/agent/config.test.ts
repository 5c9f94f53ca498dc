// Agent config file: defaults, and a bad file refused with the file and the exact field.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentConfigSchema, loadAgentConfig, AgentConfigError } from '../../agent/config.js';
import { tempDir } from '../helpers/tmp.js';

const minimal = { device: { id: 'pos-001', token: 't0k3n' }, broker: { url: 'mqtt://127.0.0.1:1883' }, dataDir: 'data' };

/** Runs `body` on `agent.json` in a fresh temp dir (written with `content` unless undefined), then removes the dir. */
function withAgentFile<T>(content: unknown, body: (file: string, dir: string) => T): T {
  const dir = tempDir();
  const file = join(dir.path, 'agent.json');
  try {
    if (content !== undefined) writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
    return body(file, dir.path);
  } finally {
    dir.remove();
  }
}

/** The reason a config file with `content` is refused, after the file name it starts with. */
function refused(content: unknown): string {
  return withAgentFile(content, (file) => {
    try {
      loadAgentConfig(file);
    } catch (e) {
      assert.instance(e, AgentConfigError);
      assert.ok((e as Error).message.startsWith(`${file}: `), 'message starts with the file');
      return (e as Error).message.slice(file.length + 2);
    }
    throw new Error('config was accepted');
  });
}

test('minimal config gets every default; no peripherals means host', () => {
  const c = agentConfigSchema.parse(minimal);
  assert.is(c.broker.keepaliveSec, 30);
  assert.equal(c.broker.reconnect, { minMs: 1000, maxMs: 60_000, jitter: 0.5 });
  assert.is(c.telemetry.publishIntervalMs, 5000);
  assert.equal(c.outbox, { maxRows: 100_000, maxBytes: 50 * 1024 * 1024, thinKeepEvery: 4, ackTimeoutMs: 15_000, maxInFlight: 200, journal: false });
  assert.is(c.peripherals.length, 1);
  assert.is(c.peripherals[0].driver, 'host');
  assert.is(c.peripherals[0].id, 'host');
  assert.is(agentConfigSchema.parse({ ...minimal, peripherals: [] }).peripherals[0].driver, 'host');
  const tls = agentConfigSchema.parse({ ...minimal, broker: { url: 'mqtts://broker:8883', tls: { ca: 'ca.pem' } } });
  assert.is(tls.broker.tls?.rejectUnauthorized, true);
});

test('broker: one url, or a list of cluster nodes (urls), not both, not neither', () => {
  assert.equal(agentConfigSchema.parse(minimal).broker.urls, ['mqtt://127.0.0.1:1883']);
  const c = agentConfigSchema.parse({ ...minimal, broker: { urls: ['mqtt://b1:1883', 'mqtt://b2:1883'] } });
  assert.equal(c.broker.urls, ['mqtt://b1:1883', 'mqtt://b2:1883']);
  assert.is(c.broker.url, 'mqtt://b1:1883');
  assert.match(refused({ ...minimal, broker: { url: 'mqtt://a:1', urls: ['mqtt://b:1'] } }), /^broker\.url: give either url or urls/);
  assert.match(refused({ ...minimal, broker: {} }), /^broker\.url: give either url or urls/);
  assert.match(refused({ ...minimal, broker: { urls: ['http://b:1'] } }), /^broker\.urls\.0: must be mqtt/);
  assert.match(refused({ ...minimal, broker: { urls: [] } }), /^broker\.urls: /);
});

test("escpos-serial peripherals are validated by the driver's own schema", () => {
  const c = agentConfigSchema.parse({ ...minimal, peripherals: [{ driver: 'host' }, { driver: 'escpos-serial', id: 'printer0', path: '/dev/ttyS0' }] });
  assert.is(c.peripherals.length, 2);
  assert.match(refused({ ...minimal, peripherals: [{ driver: 'escpos-serial', id: 'printer0' }] }), /^peripherals\.0\.path: /);
  assert.match(refused({ ...minimal, peripherals: [{ driver: 'laser-printer', id: 'p' }] }), /^peripherals\.0\.driver: /);
});

test('loadAgentConfig resolves relative paths against the config file', () => {
  withAgentFile({ ...minimal, broker: { url: 'mqtts://b:8883', tls: { ca: 'certs/ca.pem' } } }, (file, dir) => {
    const c = loadAgentConfig(file);
    assert.is(c.dataDir, join(dir, 'data'));
    assert.is(c.broker.tls?.ca, join(dir, 'certs/ca.pem'));
  });
});

test('errors name the file and the exact field', () => {
  withAgentFile(undefined, (missing) =>
    assert.throws(
      () => loadAgentConfig(missing),
      (e: Error) => e.message === `${missing}: file not found`,
    ),
  );
  assert.match(refused('{"device": '), /^invalid JSON: /);
  assert.match(refused({ ...minimal, broker: { url: 'mqtt://x:1883', keepaliveSec: '30' } }), /^broker\.keepaliveSec: .*number/);
  assert.match(refused({ ...minimal, broker: { url: 'http://x' } }), /^broker\.url: must be mqtt:\/\/host:port or mqtts:\/\/host:port/);
  assert.match(refused({ ...minimal, device: { id: 'pos/001', token: 'x' } }), /^device\.id: /);
  assert.match(refused({ ...minimal, device: { id: 'pos-001' } }), /^device\.token: /);
  assert.match(refused({ ...minimal, outbox: { maxRows: -5 } }), /^outbox\.maxRows: /);
  assert.match(refused({ ...minimal, outbox: { journal: 'yes' } }), /^outbox\.journal: /);
  assert.match(
    refused({ ...minimal, broker: { url: 'mqtt://x:1', reconnect: { minMs: 5000, maxMs: 100 } } }),
    /^broker\.reconnect\.minMs: minMs must be <= maxMs/,
  );
  assert.match(refused({ ...minimal, peripherals: [{ driver: 'host', intervalMs: 'fast' }] }), /^peripherals\.0\.intervalMs: /);
  assert.match(refused({ ...minimal, peripherals: [{ driver: 'host' }, { driver: 'host' }] }), /^peripherals\.1\.id: duplicate peripheral id "host"/);
  assert.match(refused({ ...minimal, telemetry: { publishIntervalMs: 5000, maxSamplesPerMesage: 10 } }), /^telemetry: .*maxSamplesPerMesage/);
  assert.match(refused([1, 2]), /^\(root\): /);
});

test.run();
