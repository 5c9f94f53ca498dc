// The poller with the real host driver and controllable fake drivers: a hung driver does not
// block the host, absent peripherals are re-probed with backoff, fault changes are events at once.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Poller, deriveHealth, severityOf, withDeadline, type PollerEvent } from '../../agent/poller.js';
import { faultLevels, shippedFirmwareProfiles } from '../../firmware-profiles/index.js';
import { createHostDriver } from '../../agent/drivers/host.js';
import { hostPeripheralConfigSchema } from '../../agent/config.js';
import { sample as sampleSchema, type Sample } from '../../protocol/index.js';
import { waitFor, sleep } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { ControlledDriver } from './fakes.js';
import { agentRig } from './support.js';
import { using } from '../helpers/rig.js';
import { silentLog } from '../helpers/log.js';

function harness(drivers: Array<{ driver: any; intervalMs: number; timeoutMs: number }>) {
  const samples: Sample[] = [];
  const events: PollerEvent[] = [];
  const identities: string[] = [];
  const poller = new Poller(drivers, {
    log: silentLog(),
    onSample: (s) => samples.push(s),
    onEvent: (e) => events.push(e),
    onIdentity: (id) => identities.push(id),
    maxProbeMs: 400,
  });
  return { poller, samples, events, identities };
}

test('a hung driver never blocks the host: host samples keep coming, the hung one goes absent', async () => {
  const dir = tempDir();
  const host = createHostDriver(hostPeripheralConfigSchema.parse({ driver: 'host' }), {
    log: silentLog(),
    defaultDiskPath: dir.path,
    clockOffsetMs: () => undefined,
  });
  const hung = new ControlledDriver('printer0');
  hung.hang = true;
  const h = harness([
    { driver: host, intervalMs: 50, timeoutMs: 500 },
    { driver: hung, intervalMs: 50, timeoutMs: 150 },
  ]);
  h.poller.start();
  try {
    await waitFor('10 host samples', () => h.samples.filter((s) => s.peripheral === 'host').length >= 10);
    await waitFor('hung printer marked absent', () => h.events.find((e) => e.type === 'peripheral-detached' && e.peripheral === 'printer0'));
    const hs = h.samples.find((s) => s.peripheral === 'host')!;
    assert.ok(sampleSchema.safeParse(hs).success, 'host sample passes the contract');
    for (const k of ['uptimeSec', 'load1', 'diskFreeBytes', 'diskTotalBytes', 'memFreeBytes', 'memTotalBytes', 'agentRssBytes', 'agentHeapUsedBytes']) {
      assert.type(hs.metrics[k], 'number', k);
    }
    assert.not.ok('clockOffsetMs' in hs.metrics, 'no clock offset before the first ack');
    assert.ok(
      h.samples.some((s) => s.peripheral === 'printer0' && s.health === 'absent'),
      'absent sample for the hung one',
    );
    const detached = h.events.find((e) => e.type === 'peripheral-detached')!;
    assert.match(detached.message ?? '', /timed out after 150 ms/);
    assert.is(detached.code, 'timeout', 'the error code goes on the wire, not a class name');
  } finally {
    await h.poller.stop();
    dir.remove();
  }
});

test('absent peripheral: detached event, absent samples, re-probed with backoff, attached with identity when back', async () => {
  const d = new ControlledDriver('printer0');
  d.present = false;
  const h = harness([{ driver: d, intervalMs: 40, timeoutMs: 100 }]);
  h.poller.start();
  try {
    await waitFor('detached', () => h.events.find((e) => e.type === 'peripheral-detached'));
    await sleep(600);
    // Backoff: 40, 80, 160, 320, 400 (cap) → far fewer opens than ticks.
    const ticks = h.samples.length;
    assert.ok(d.opens >= 3 && d.opens <= 7, `opens ${d.opens} with backoff (ticks ${ticks})`);
    assert.ok(h.samples.every((s) => s.health === 'absent'));
    assert.is(h.events.filter((e) => e.type === 'peripheral-detached').length, 1, 'one detached event, not one per probe');
    d.present = true;
    const attached = await waitFor('attached', () => h.events.find((e) => e.type === 'peripheral-attached'), 3000);
    assert.match(attached.message ?? '', /ACME TP-1 serial SN1/);
    assert.ok(h.identities.includes('printer0'), 'identity reported (inventory republished)');
    await waitFor('ok sample', () => h.samples.find((s) => s.health === 'ok'));
    // Vanishes mid-run: poll fails → absent again.
    d.present = false;
    await waitFor('second detach', () => h.events.filter((e) => e.type === 'peripheral-detached').length === 2);
    assert.ok(d.closes >= 1, 'driver closed when it went absent');
  } finally {
    await h.poller.stop();
  }
});

test('fault changes are events at once with severity from the table; health follows the worst fault', async () => {
  const d = new ControlledDriver('printer0');
  const h = harness([{ driver: d, intervalMs: 30, timeoutMs: 100 }]);
  h.poller.start();
  try {
    await waitFor('first sample', () => h.samples.length > 0);
    d.faults = ['paper-near-end'];
    const near = await waitFor('near-end raised', () => h.events.find((e) => e.type === 'fault-raised' && e.code === 'paper-near-end'));
    assert.is(near.severity, 'warning');
    d.faults = ['paper-end', 'autocutter-error'];
    await waitFor('two raised, one cleared', () => h.events.length >= 4);
    const byCode = Object.fromEntries(h.events.map((e) => [`${e.type}:${e.code}`, e.severity]));
    assert.equal(byCode, {
      'fault-raised:paper-near-end': 'warning',
      'fault-cleared:paper-near-end': 'info',
      'fault-raised:autocutter-error': 'critical',
      'fault-raised:paper-end': 'critical',
    });
    const last = await waitFor('critical sample', () => h.samples.find((s) => s.faults.includes('paper-end')));
    assert.is(last.health, 'critical');
    assert.equal(last.metrics, { temperature: 40.5 }, 'non-finite and badly named metrics are left out');
    const n = h.events.length;
    await sleep(150);
    assert.is(h.events.length, n, 'no events while the fault set is unchanged');
  } finally {
    await h.poller.stop();
  }
  const levels = faultLevels(shippedFirmwareProfiles());
  assert.is(severityOf('unrecoverable-error', levels), 'critical');
  assert.is(deriveHealth({ health: 'ok', metrics: {}, counters: {}, faults: ['something-new'] }, levels), 'warning', 'unknown fault codes are warnings');
});

test('withDeadline aborts the signal and stops waiting for a driver that ignores it', async () => {
  let aborted = false;
  const t0 = Date.now();
  try {
    await withDeadline('poll x', 50, (s) => {
      s.addEventListener('abort', () => (aborted = true));
      return new Promise(() => {});
    });
    assert.unreachable('should time out');
  } catch (e) {
    assert.match((e as Error).message, 'poll x timed out after 50 ms');
  }
  assert.ok(aborted);
  assert.ok(Date.now() - t0 < 5000);
  let syncErr = '';
  await withDeadline('sync throw', 50, () => {
    throw new Error('boom');
  }).catch((e) => (syncErr = (e as Error).message));
  assert.is(syncErr, 'boom', 'a driver that throws synchronously is a rejection, not a crash');
});

test('through the agent: a fault event reaches the collector before the next telemetry tick', async () => {
  const printer = new ControlledDriver('printer0');
  const extraPeripherals = [{ driver: printer, intervalMs: 50, timeoutMs: 200 }];
  await using(agentRig({ telemetry: { publishIntervalMs: 60_000 } }, { extraPeripherals }), async ({ collector, agent }) => {
    await waitFor('connected', () => agent.stats().link.connected);
    printer.faults = ['cover-open'];
    const ev = await waitFor('fault-raised event', () => collector.on('event').find((r) => r.msg.type === 'fault-raised'), 5000);
    assert.is(ev.msg.code, 'cover-open');
    assert.is(ev.msg.peripheral, 'printer0');
    assert.is(collector.on('telemetry').length, 0, 'no telemetry tick has happened yet (60 s interval)');
    const inv = await waitFor('inventory with the printer', () =>
      collector.on('inventory').find((r) => r.msg.peripherals.some((p: any) => p.id === 'printer0' && p.serial === 'SN1')),
    );
    assert.ok(inv);
  });
});

test.run();
