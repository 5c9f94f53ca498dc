// A ZKTeco clock with a comm key monitored end to end: the virtual clock on loopback TCP, the
// agent's code (startAgent) with the key in its config, a whole `fleetcare server` (broker,
// collector, NOC) over MQTT. The clock's store and time offset arrive in the collector's store,
// and the NOC's `sync-clock-time` command reaches the clock and sets its time. A wrong key
// arrives as an event naming the reason. A clock whose time is off opens a clock-drift ticket
// that the sync from the NOC resolves through the ordinary recovery path.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { pino } from 'pino';
import { startAgent, agentConfigSchema, type AgentHandle } from '../../agent/index.js';
import { VirtualZkClock } from '../../sim/zk-clock.js';
import type { TicketDetail, TicketsAnswer } from '../../noc/api.js';
import { ApiClient, startNocServer, type NocTestServer } from '../helpers/noc.js';
import { waitFor } from '../helpers/net.js';

const KEY = 731904;

test('comm-key clock: agent → broker → collector, and sync-clock-time from the NOC sets the clock', async () => {
  const clock = await VirtualZkClock.start({ commKey: KEY, stored: { users: 25, records: 1234 }, clockOffsetSec: -754, clockDriftPpm: 40 });
  let s: NocTestServer | null = null;
  let agent: AgentHandle | null = null;
  try {
    s = await startNocServer({ noc: { commandTimeoutMs: 5000 } });
    const token = s.server.broker!.registry.addDevice('pos-zk1', { site: 'riyadh-1', tenant: 'acme' });
    const config = agentConfigSchema.parse({
      device: { id: 'pos-zk1', token, site: 'riyadh-1', tenant: 'acme' },
      broker: { url: s.brokerUrl, reconnect: { minMs: 100, maxMs: 1000 } },
      dataDir: join(s.dir.path, 'agent'),
      telemetry: { publishIntervalMs: 200 },
      discovery: false,
      peripherals: [
        { id: 'host', driver: 'host', intervalMs: 1000 },
        { id: 'clock0', driver: 'zk-clock-tcp', host: clock.host, port: clock.port, commKey: KEY, intervalMs: 200, timeoutMs: 2000 },
        // The same clock configured with a wrong key: reported, with its reason, not silently absent.
        { id: 'clock1', driver: 'zk-clock-tcp', host: clock.host, port: clock.port, commKey: KEY + 1, intervalMs: 200, timeoutMs: 2000 },
      ],
    });
    agent = await startAgent(config, { log: pino({ level: 'silent' }) });
    const collector = s.server.collector!;
    const sample = await waitFor(
      'clock sample stored',
      async () => {
        const d = collector.device('pos-zk1');
        const latest = (await collector.store.latest('pos-zk1')).find((l) => l.peripheral === 'clock0');
        return d?.peripherals.some((p) => p.id === 'clock0' && p.profile === 'zkteco-k40') && latest?.metrics.clockOffsetSec !== undefined ? latest : null;
      },
      20_000,
      100,
    );
    // 754 s behind is far beyond the profile's limit: the clock's time is a fault at the edge.
    assert.is(sample.health, 'warning');
    assert.equal(sample.faults, ['clock-drift']);
    assert.is(sample.metrics.records, 1234);
    assert.is(sample.metrics.users, 25);
    assert.ok(Math.abs(sample.metrics.clockOffsetSec + 754) <= 1, `offset ${sample.metrics.clockOffsetSec}`);
    assert.ok(clock.stats.connections >= 1);
    const refusedKey = await waitFor(
      'wrong-key event stored',
      async () => {
        const events = await collector.store.events('pos-zk1', 0, Date.now() + 60_000, 100);
        return events.find((e) => e.peripheral === 'clock1' && e.code === 'comm-key-rejected') ?? null;
      },
      20_000,
      100,
    );
    assert.match(refusedKey.message ?? '', /refused the configured comm key/);
    assert.not.match(refusedKey.message ?? '', new RegExp(String(KEY + 1)), 'the key itself is not in the message');
    assert.ok(clock.stats.authRejected >= 1);

    const operator = await ApiClient.login(s.url, 'operator');
    const done = await operator.runCommand('pos-zk1', { name: 'sync-clock-time', peripheral: 'clock0' });
    assert.is(done.status, 'ok', done.error ?? '');
    const result = done.result as { offsetBeforeSec: number; offsetAfterSec: number };
    assert.ok(Math.abs(result.offsetBeforeSec + 754) <= 1);
    assert.ok(Math.abs(result.offsetAfterSec) <= 1);
    assert.ok(Math.abs(clock.clockOffsetSec()) <= 1);
    await waitFor(
      'a corrected offset stored',
      async () => {
        const latest = (await collector.store.latest('pos-zk1')).find((l) => l.peripheral === 'clock0');
        return latest && Math.abs(latest.metrics.clockOffsetSec) <= 1;
      },
      10_000,
      100,
    );

    // A peripheral that has no clock refuses the command with its reason.
    const refused = await operator.runCommand('pos-zk1', { name: 'sync-clock-time', peripheral: 'host' });
    assert.equal([refused.status, refused.error], ['failed', 'peripheral host (host) does not support sync-clock-time']);
  } finally {
    await agent?.close('test done').catch(() => {});
    await s?.close();
    await clock.close();
  }
});

test('a drifting clock: clock-drift ticket with its runbook → operator syncs the clock from the NOC → fault clears → the ticket resolves by itself', async () => {
  // A clock that lost its time (10 minutes behind) and keeps drifting.
  const clock = await VirtualZkClock.start({ deviceName: 'K40', clockOffsetSec: -600, clockDriftPpm: 40 });
  let s: NocTestServer | null = null;
  let agent: AgentHandle | null = null;
  const ref = 'pos-zk2/clock0/clock-drift';
  try {
    s = await startNocServer({
      noc: { commandTimeoutMs: 5000 },
      // Hold and recovery of seconds instead of minutes; the path is the production one.
      collector: { incidents: { tickMs: 100, detectors: { reactive: { holdMs: { 'clock-drift': 300 }, recoverMs: 300 } } } },
    });
    const token = s.server.broker!.registry.addDevice('pos-zk2', { site: 'riyadh-2', tenant: 'acme' });
    agent = await startAgent(
      agentConfigSchema.parse({
        device: { id: 'pos-zk2', token, site: 'riyadh-2', tenant: 'acme' },
        broker: { url: s.brokerUrl, reconnect: { minMs: 100, maxMs: 1000 } },
        dataDir: join(s.dir.path, 'agent'),
        telemetry: { publishIntervalMs: 200 },
        discovery: false,
        peripherals: [{ id: 'clock0', driver: 'zk-clock-tcp', host: clock.host, port: clock.port, intervalMs: 200, timeoutMs: 2000 }],
      }),
      { log: pino({ level: 'silent' }) },
    );
    const operator = await ApiClient.login(s.url, 'operator');
    const ticket = await waitFor(
      'clock-drift ticket opened',
      async () => {
        const t = (await operator.get<TicketDetail>(`/api/tickets/${encodeURIComponent(ref)}`)).body;
        return t?.ref === ref ? t : null;
      },
      20_000,
      100,
    );
    assert.is(ticket.status, 'Open');
    assert.is(ticket.priority, 'Medium');
    assert.is(ticket.peripheral, 'clock0');
    assert.match(ticket.description, /Sync clock time/, 'the runbook points at the remote fix');
    assert.match(ticket.description, /RTC/, '…and at the battery if it drifts again');
    assert.is(ticket.incident?.kind, 'fault');

    const done = await operator.runCommand('pos-zk2', { name: 'sync-clock-time', peripheral: 'clock0' });
    assert.is(done.status, 'ok', done.error ?? '');
    const result = done.result as { offsetBeforeSec: number; offsetAfterSec: number };
    assert.ok(Math.abs(result.offsetBeforeSec + 600) <= 1, `before ${result.offsetBeforeSec}`);
    assert.ok(Math.abs(result.offsetAfterSec) <= 1, `after ${result.offsetAfterSec}`);

    const collector = s.server.collector!;
    const cleared = await waitFor(
      'fault-cleared event stored',
      async () => {
        const events = await collector.store.events('pos-zk2', 0, Date.now() + 60_000, 100);
        return events.find((e) => e.peripheral === 'clock0' && e.type === 'fault-cleared' && e.code === 'clock-drift') ?? null;
      },
      10_000,
      100,
    );
    assert.ok(cleared.ts >= done.sentAt, 'cleared after the sync');
    const resolved = await waitFor(
      'ticket resolved by recovery',
      async () => {
        const t = (await operator.get<TicketDetail>(`/api/tickets/${encodeURIComponent(ref)}`)).body;
        return t.status === 'Resolved' ? t : null;
      },
      20_000,
      100,
    );
    assert.equal(
      resolved.statusHistory.map((h) => h.status),
      ['Open', 'Resolved'],
    );
    // Nothing else opened on the way: one ticket for the clock, resolved.
    const all = (await operator.get<TicketsAnswer>('/api/tickets?device=pos-zk2&limit=100')).body.items;
    assert.equal(
      all.map((t) => [t.ref, t.status]),
      [[ref, 'Resolved']],
    );
  } finally {
    await agent?.close('test done').catch(() => {});
    await s?.close();
    await clock.close();
  }
});

test.run();
