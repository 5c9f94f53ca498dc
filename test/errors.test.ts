// One error model: FleetcareError codes (never class names) go on the wire; the three kinds of
// timeout (poll deadline, serial reply, clock TCP) are one code that isTimeout recognises.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FleetcareError, errorCode, faultCode, fleetcareErrorCode, isFleetcareError, isTimeout } from '../protocol/index.js';
import { withDeadline } from '../agent/poller.js';
import { ZkLink } from '../agent/drivers/zk-clock/link.js';
import { UsageError, ConfigError } from '../cli/errors.js';
import { RegistryError } from '../broker/registry.js';
import { StoreWriteError } from '../collector/telemetry/store.js';
import { SinkError } from '../collector/tickets/sink.js';
import { FirmwareProfileError } from '../firmware-profiles/loader.js';
import { createServer, type Server, type Socket } from 'node:net';
import pino from 'pino';

test('every code is a valid wire code; errors that are not ours become a code, never a class name', () => {
  for (const c of fleetcareErrorCode.options) assert.ok(faultCode.safeParse(c).success, c);
  assert.is(errorCode(new FleetcareError('usb-stall', 'x')), 'usb-stall');
  assert.is(errorCode(Object.assign(new Error('open /dev/ttyS9'), { code: 'ENOENT' })), 'enoent');
  assert.is(errorCode(new TypeError('boom')), 'error');
  assert.is(errorCode(Object.assign(new Error('x'), { code: 42 })), 'error');
  assert.is(errorCode('a string'), 'error');
  assert.is(errorCode(null), 'error');
});

test('the domain errors are FleetcareErrors with their code', () => {
  const cases: Array<[FleetcareError, string]> = [
    [new UsageError('x'), 'usage'],
    [new ConfigError('x'), 'config-invalid'],
    [new RegistryError('x', 'exists'), 'exists'],
    [new StoreWriteError('unreachable', 'x'), 'store-unreachable'],
    [new SinkError('retry', 'x', 503, 1000), 'sink-retry'],
    [new FirmwareProfileError('a.json', 'faults', 'x'), 'profile-invalid'],
  ];
  for (const [e, code] of cases) {
    assert.ok(isFleetcareError(e), e.name);
    assert.is(e.code, code, e.name);
    assert.is(errorCode(e), code);
  }
  assert.ok(isFleetcareError(new RegistryError('x', 'not-found'), 'not-found', 'exists'));
  assert.not.ok(isFleetcareError(new RegistryError('x', 'invalid'), 'not-found'));
});

test('isTimeout: a poll deadline, a clock that does not answer, and AbortSignal.timeout', async () => {
  const deadline = await withDeadline('poll x', 20, () => new Promise(() => {})).then(
    () => null,
    (e) => e,
  );
  assert.ok(isTimeout(deadline));
  assert.is(errorCode(deadline), 'timeout');
  assert.equal((deadline as FleetcareError).context, { what: 'poll x', ms: 20 });

  // A TCP peer that accepts and never answers: the clock link's reply timeout.
  const peers: Socket[] = [];
  const server: Server = createServer((s) => void peers.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const link = new ZkLink('127.0.0.1', port, pino({ level: 'silent' }));
  try {
    await link.connect(AbortSignal.timeout(5000), 2000);
    const err = await link.request(1000, new Uint8Array(0), 'CMD_CONNECT', 50, AbortSignal.timeout(5000)).then(
      () => null,
      (e) => e,
    );
    assert.ok(isTimeout(err), String(err));
    assert.is(errorCode(err), 'timeout');
  } finally {
    link.destroy();
    for (const s of peers) s.destroy();
    await new Promise((r) => server.close(r));
  }

  // AbortSignal.timeout's timer does not keep the process alive; this one does meanwhile.
  const keepAlive = setTimeout(() => {}, 10_000);
  const platform = await new Promise((_, reject) => {
    const s = AbortSignal.timeout(5);
    s.addEventListener('abort', () => reject(s.reason));
  }).catch((e) => e);
  clearTimeout(keepAlive);
  assert.ok(isTimeout(platform));
  assert.not.ok(isTimeout(new FleetcareError('usb-stall', 'x')));
  assert.not.ok(isTimeout(new Error('timeout')));
});

test.run();
