// Degraded modes seen from the collector: a long outage fills the outbox (thinned, reported),
// a corrupt outbox at start is replaced and reported; the host reports a nearly full disk.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAgent } from '../../agent/index.js';
import { createHostDriver } from '../../agent/drivers/host.js';
import { hostPeripheralConfigSchema } from '../../agent/config.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { FakeCollector, agentConfig, agentRig } from './support.js';
import { using } from '../helpers/rig.js';
import { TestBroker } from '../helpers/broker.js';
import { silentLog } from '../helpers/log.js';

test('broker down long enough to fill the outbox: old telemetry thinned, outbox-dropped reaches the collector after', async () => {
  const broker = await TestBroker.create();
  await broker.stop();
  const dir = tempDir();
  const agent = await startAgent(
    agentConfig({
      dataDir: dir.path,
      brokerUrl: broker.url,
      outbox: { maxRows: 20 },
      telemetry: { publishIntervalMs: 20 },
      peripherals: [{ driver: 'host', intervalMs: 10 }],
    }),
    { log: silentLog() },
  );
  let collector: FakeCollector | null = null;
  try {
    await waitFor('drops while offline', () => agent.stats().outbox.droppedMessages >= 20, 10_000);
    assert.ok(agent.outboxCounts().rows <= 20);
    await broker.start();
    collector = await FakeCollector.connect(broker.url);
    const rep = await waitFor('outbox-dropped event', () => collector!.on('event').find((r) => r.msg.type === 'outbox-dropped'), 10_000);
    assert.ok(rep.msg.data.dropped > 0, 'data.dropped counts the lost points');
    assert.is(rep.msg.data.droppedEvents, 0, 'no events dropped while there was telemetry');
    assert.ok(
      collector.on('event').some((r) => r.msg.type === 'agent-started'),
      'the agent-started event survived the thinning',
    );
  } finally {
    await agent.close();
    await collector?.close();
    await broker.stop();
    dir.remove();
  }
});

test('an outbox file that is garbage at start: the agent runs and says so in an event', () =>
  using(agentRig({}, { prepare: (dataDir) => writeFileSync(join(dataDir, 'outbox.db'), Buffer.alloc(8192, 0x5a)) }), async ({ collector }) => {
    const ev = await waitFor('outbox-corrupt event', () => collector.on('event').find((r) => r.msg.code === 'outbox-corrupt'), 5000);
    assert.is(ev.msg.type, 'outbox-dropped');
    assert.is(ev.msg.severity, 'critical');
    await waitFor('telemetry flows', () => collector.on('telemetry').length > 0);
  }));

test('host: disk nearly full raises disk-low / disk-critical with health', async () => {
  const dir = tempDir();
  try {
    const warn = createHostDriver(hostPeripheralConfigSchema.parse({ driver: 'host', diskWarnFreePct: 100, diskCriticalFreePct: 0 }), {
      log: silentLog(),
      defaultDiskPath: dir.path,
      clockOffsetMs: () => -42,
    });
    await warn.open(new AbortController().signal);
    const r1 = await warn.poll(new AbortController().signal);
    assert.is(r1.health, 'warning');
    assert.equal(r1.faults, ['disk-low']);
    assert.is(r1.metrics.clockOffsetMs, -42);
    assert.ok(r1.metrics.diskFreeBytes <= r1.metrics.diskTotalBytes);
    await warn.close();
    const crit = createHostDriver(hostPeripheralConfigSchema.parse({ driver: 'host', diskWarnFreePct: 100, diskCriticalFreePct: 100 }), {
      log: silentLog(),
      defaultDiskPath: dir.path,
      clockOffsetMs: () => undefined,
    });
    const r2 = await crit.poll(new AbortController().signal);
    assert.is(r2.health, 'critical');
    assert.equal(r2.faults, ['disk-critical']);
    const missing = createHostDriver(hostPeripheralConfigSchema.parse({ driver: 'host', diskPath: join(dir.path, 'nope') }), {
      log: silentLog(),
      defaultDiskPath: dir.path,
      clockOffsetMs: () => undefined,
    });
    let err = '';
    await missing.open(new AbortController().signal).catch((e) => (err = e.code));
    assert.is(err, 'ENOENT', 'a wrong disk path makes the host absent with the reason');
  } finally {
    dir.remove();
  }
});

test.run();
