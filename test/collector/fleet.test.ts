// Fleet state: online/offline from birth and LWT, the staleness timer, inventory and health per
// peripheral, clock offset; and a collector restart keeping fleet state and dedup.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pino } from 'pino';
import { startCollector, type CollectorHandle, type FleetChange } from '../../collector/index.js';
import { CONTRACT_VERSION } from '../../protocol/index.js';
import { waitFor } from '../helpers/net.js';
import { tempDir, type TempDir } from '../helpers/tmp.js';
import { closeTracked, track, FakeDevice, telemetry, event } from './fixtures.js';
import { TestBroker } from '../helpers/broker.js';

const silent = pino({ level: 'silent' });
let broker: TestBroker;
const dirs: TempDir[] = [];

test.before(async () => {
  broker = await TestBroker.create();
});
test.after.each(closeTracked);
test.after(async () => {
  await broker.close();
  for (const d of dirs) d.remove();
});

function start(dataDir: string, staleAfterMs = 60_000): Promise<CollectorHandle> {
  return startCollector(
    { dataDir, mqtt: { url: broker.url, clientId: `collector-${dataDir.slice(-6)}` }, staleAfterMs, batch: { maxDelayMs: 50 } },
    { log: silent },
  );
}
function newDir(): TempDir {
  const d = tempDir('fleetcare-collector-');
  dirs.push(d);
  return d;
}
const status = (device: string, seq: number, state: 'online' | 'offline', reason?: string) => ({
  v: CONTRACT_VERSION,
  device,
  seq,
  ts: Date.now(),
  state,
  reason,
  agentVersion: '0.1.0',
});

test('birth → online, LWT → offline (reason lwt), inventory, health per peripheral and clock offset', async () => {
  const c = track(await start(newDir().path));
  const changes: FleetChange[] = [];
  c.onFleetChange((x) => changes.push(x));
  const dev = track(await FakeDevice.connect(broker.url, 'pos-lwt', { will: true }));
  await dev.publish('status', status('pos-lwt', 2, 'online'), true);
  await dev.publish(
    'inventory',
    {
      v: CONTRACT_VERSION,
      device: 'pos-lwt',
      seq: 3,
      ts: Date.now(),
      agentVersion: '0.1.0',
      model: 'POS-X',
      site: 'store-7',
      tenant: 'acme',
      peripherals: [{ id: 'printer0', kind: 'printer', model: 'TM-T88V' }],
    },
    true,
  );
  // Device clock 5 s behind.
  const m = telemetry('pos-lwt', 4, { ts: Date.now() - 5000 });
  m.samples[0].health = 'warning';
  m.samples[0].faults = ['paper-near-end'];
  await dev.publish('telemetry', m);
  await waitFor('telemetry acked', () => dev.acked.has(4));
  let d = c.fleet().find((x) => x.device === 'pos-lwt')!;
  assert.is(d.online, true);
  assert.is(d.site, 'store-7');
  assert.is(d.tenant, 'acme');
  assert.is(d.model, 'POS-X');
  assert.is(d.peripherals[0].model, 'TM-T88V');
  assert.is(d.health.printer0.health, 'warning');
  assert.equal(d.health.printer0.faults, ['paper-near-end']);
  assert.ok(d.clockOffsetMs! >= 5000 && d.clockOffsetMs! < 15_000, String(d.clockOffsetMs));
  assert.is(d.lastSeq, 4);

  dev.crash();
  await waitFor('LWT applied', () => c.fleet().find((x) => x.device === 'pos-lwt')?.online === false);
  d = c.fleet().find((x) => x.device === 'pos-lwt')!;
  assert.is(d.reason, 'lwt');
  assert.equal(
    changes.map((x) => [x.online, x.reason]),
    [
      [true, 'birth'],
      [false, 'lwt'],
    ],
  );
});

test('no message for staleAfterMs → offline (stale); the next message brings it back', async () => {
  const c = track(await start(newDir().path, 400));
  const dev = track(await FakeDevice.connect(broker.url, 'pos-stale'));
  await dev.publish('status', status('pos-stale', 1, 'online'));
  await dev.publish('telemetry', telemetry('pos-stale', 2));
  await waitFor('online', () => c.fleet().find((x) => x.device === 'pos-stale')?.online);
  await waitFor('stale', () => c.fleet().find((x) => x.device === 'pos-stale')?.reason === 'stale', 5000);
  assert.is(c.fleet().find((x) => x.device === 'pos-stale')!.online, false);
  await dev.publish('event', event('pos-stale', 3));
  await waitFor('back online', () => c.fleet().find((x) => x.device === 'pos-stale')?.online);
  assert.is(c.fleet().find((x) => x.device === 'pos-stale')!.reason, 'seen');
  assert.is(c.stats().devices.online >= 1, true);
});

test('a collector restart keeps fleet state and dedup', async () => {
  const dir = newDir();
  let c = track(await start(dir.path));
  const dev = track(await FakeDevice.connect(broker.url, 'pos-keep'));
  await dev.publish('inventory', { v: CONTRACT_VERSION, device: 'pos-keep', seq: 2, ts: Date.now(), agentVersion: '0.1.0', site: 'store-9', peripherals: [] });
  for (const s of [3, 4, 5]) await dev.publish('telemetry', telemetry('pos-keep', s));
  await waitFor('acked', () => [3, 4, 5].every((s) => dev.acked.has(s)));
  await dev.publish('status', status('pos-keep', 6, 'offline', 'agent-stopping'));
  await waitFor('offline', () => c.fleet().find((x) => x.device === 'pos-keep')?.reason === 'agent-stopping');
  await c.close();

  c = track(await start(dir.path));
  const d = c.fleet().find((x) => x.device === 'pos-keep');
  assert.ok(d, 'device known after restart');
  assert.is(d!.site, 'store-9');
  assert.is(d!.online, false);
  assert.is(d!.reason, 'agent-stopping');
  assert.is(d!.lastSeq, 6);
  // Re-delivery after the restart: re-acked, not re-written.
  const before = dev.ackMessages.length;
  await dev.publish('telemetry', telemetry('pos-keep', 4));
  await waitFor('re-ack', () => dev.ackMessages.length > before);
  assert.is(c.stats().ingest.duplicates, 1);
  assert.is(c.stats().ingest.written.messages, 0);
  assert.equal(
    await c.store.seqCounts('pos-keep'),
    [3, 4, 5].map((seq) => ({ seq, points: 1 })),
  );
});

test.run();
