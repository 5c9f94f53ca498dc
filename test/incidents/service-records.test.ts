// Service records end to end on the real server (broker + collector + incident service): an Epson
// TM-T88VI whose cutter counter is never reset reaches its rated life and is ticketed; the
// technician's `fleetcare service record pos-1 printer0 cutter` makes it a young part again (the
// incident resolves, the record carries the life the part reached). A unit swap — the inventory
// reports a new serial and the counters start again — re-bases by itself and is recorded.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pino } from 'pino';
import { runServer, type RunningServer } from '../../cli/server.js';
import { parseServiceDate, reliabilityCommand, serviceRecordCommand } from '../../cli/service.js';
import { CONTRACT_VERSION } from '../../protocol/index.js';
import { FakeDevice } from '../collector/fixtures.js';
import { waitFor } from '../helpers/net.js';
import { oneNodeConfig } from './one-node.js';
import { ApiClient, startNocServer } from '../helpers/noc.js';
import type { ReliabilityAnswer, ServiceHistoryAnswer } from '../../noc/api.js';

const HOUR = 3_600_000;
const KEY = 'pos-1/printer0/cutter-wear-out';

/**
 * What pos-1 sends about its Epson printer0, each message numbered on from seq 1 and waited for:
 * `inventory` its serial; `feed` hourly cutter counters (6 a message) for `hours` from hour `from`
 * after `start`, ticking the detectors after each message at its last sample.
 */
function printerFeed(srv: RunningServer, dev: FakeDevice, start: number) {
  const inc = srv.incidents!;
  let seq = 1;
  let fed = 0;
  return {
    async inventory(serial: string, ts: number): Promise<void> {
      await dev.publish('inventory', {
        v: CONTRACT_VERSION,
        device: 'pos-1',
        seq: seq++,
        ts,
        agentVersion: 'test',
        peripherals: [{ id: 'printer0', kind: 'printer', serial, profile: 'epson-tm-t88vi' }],
      });
      await waitFor('inventory', () => srv.collector!.device('pos-1')?.peripherals.some((p) => p.serial === serial), 10_000);
    },
    async feed(from: number, hours: number, cuts: (h: number) => number): Promise<void> {
      for (let h = from; h < from + hours; h += 6) {
        const samples = Array.from({ length: 6 }, (_, i) => ({
          peripheral: 'printer0',
          kind: 'printer',
          ts: start + (h + i) * HOUR,
          health: 'ok',
          metrics: {},
          counters: { autocutterCuts: cuts(h + i), linesFed: 1000 },
          faults: [],
        }));
        await dev.publish('telemetry', { v: CONTRACT_VERSION, device: 'pos-1', seq: seq++, ts: samples[5].ts, samples });
        fed += 6;
        await waitFor('samples reach the detectors', () => inc.stats().samples >= fed, 10_000);
        inc.tick(samples[5].ts + 60_000);
      }
    },
  };
}

test('a replaced Epson cutter stops being "worn"; a unit swap (new serial) re-bases by itself', async () => {
  // The cutter judged by its rating (no failed-cuts signal in this feed to defer to).
  const { dir, config } = await oneNodeConfig('fleetcare-service-records-', {
    batch: { maxDelayMs: 20 },
    incidents: { tickMs: 3_600_000, detectors: { wear: { deferToErrorRate: false } } },
  });
  let server: RunningServer | null = null;
  let dev: FakeDevice | null = null;
  try {
    server = await runServer(config, { log: pino({ level: 'silent' }) });
    const srv = server;
    const inc = srv.incidents!;
    const token = srv.broker!.registry.addDevice('pos-1', { site: 'store-1', tenant: 'acme' })!;
    dev = await FakeDevice.connect(srv.brokerUrl!, 'pos-1', { token });
    const start = Date.now() - 12 * 24 * HOUR;
    const { inventory, feed } = printerFeed(srv, dev, start);
    await inventory('TM88-A', start);
    // 1.93 M of 2 M rated cuts at 6,000/day: 12 days left, inside the 21-day lead time.
    await feed(0, 72, (h) => 1_930_000 + h * 250);
    const ticket = inc.tickets.byKey(KEY);
    assert.ok(ticket, 'the worn cutter is ticketed');
    assert.is(inc.incidents.get(KEY)!.state, 'open');

    // The technician replaces the cutter; the counter keeps counting (Epson never resets it).
    await serviceRecordCommand(['record', 'pos-1', 'printer0', 'cutter'], { 'data-dir': dir.path });
    assert.is(await inc.syncServiceRecords(), 1);
    // Recovered once the part's error-rate side has held its recovery time too (3 days).
    await feed(72, 96, (h) => 1_930_000 + h * 250);
    const after = inc.incidents.get(KEY)!;
    // The counter reads 1.95 M of 2 M — worn by the rating — yet the part is young: resolved, not re-fired.
    assert.is(after.state, 'resolved', 'a young part again');
    assert.is(after.reopenCount, 0);
    const [record] = await inc.serviceRecords.list({ device: 'pos-1' });
    assert.equal([record.kind, record.part, record.failed, record.source, record.profile], ['part-replaced', 'cutter', true, 'cli', 'epson-tm-t88vi']);
    assert.ok(Math.abs(record.usage! - (1_930_000 + 72 * 250)) < 2000, `the life the part reached: ${record.usage}`);

    // Unit swap: a new printer (new serial), its counters from a worn-looking 1.95 M (a refurbished unit).
    await inventory('TM88-B', start + 180 * HOUR);
    inc.tick(start + 180 * HOUR);
    await waitFor('unit swap recorded', async () => (await inc.serviceRecords.list({ device: 'pos-1' })).some((r) => r.kind === 'unit-swap'), 10_000);
    const swap = (await inc.serviceRecords.list({ device: 'pos-1' })).find((r) => r.kind === 'unit-swap')!;
    assert.equal([swap.serial, swap.source, swap.failed], ['TM88-B', 'inventory', false]);
    await feed(180, 24, (h) => 10_000 + (h - 180) * 250);
    assert.not.ok(
      inc.incidents.list().some((i) => i.key === KEY && (i.state === 'open' || i.state === 'pending')),
      'no new incident for the new unit',
    );
    // `fleetcare reliability` reads the records and the detectors' saved state: one failure, no fit yet.
    const out: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    (process.stdout as { write: unknown }).write = (chunk: string) => out.push(String(chunk)) > 0;
    try {
      await reliabilityCommand({ 'data-dir': dir.path, json: true });
    } finally {
      (process.stdout as { write: unknown }).write = write;
    }
    assert.equal(JSON.parse(out.join('')), []);
    assert.is(parseServiceDate('2026-03-02'), Date.UTC(2026, 2, 2));
    assert.throws(() => parseServiceDate('yesterday'), /--date/);
    // (The device's clock-drift ticket is this test's doing: every message it sends is days old.)
    assert.equal(
      inc.tickets
        .list()
        .filter((t) => t.peripheral === 'printer0')
        .map((t) => t.key),
      [KEY],
      'one printer ticket: the worn cutter',
    );
  } finally {
    await dev?.close().catch(() => {});
    await server?.close('test done');
    dir.remove();
  }
});

test('NOC: resolving the ticket with "part replaced" writes the service record; the device page lists the history', async () => {
  const noc = await startNocServer({
    collector: { batch: { maxDelayMs: 20 }, incidents: { tickMs: 3_600_000, detectors: { wear: { deferToErrorRate: false } } } },
  });
  let dev: FakeDevice | null = null;
  try {
    const srv = noc.server;
    const inc = srv.incidents!;
    const token = srv.broker!.registry.addDevice('pos-1', { site: 'store-1', tenant: 'acme' })!;
    dev = await FakeDevice.connect(noc.brokerUrl, 'pos-1', { token });
    const start = Date.now() - 6 * 24 * HOUR;
    const { inventory, feed } = printerFeed(srv, dev, start);
    await inventory('TM88-A', Date.now());
    await feed(0, 96, (h) => 1_930_000 + h * 250);
    const ticket = inc.tickets.byKey(KEY)!;
    assert.ok(ticket, 'worn cutter ticketed');
    const operator = await ApiClient.login(noc.url, 'operator');
    const r = await operator.post<{ serviceRecord: number }>(`/api/tickets/${encodeURIComponent(ticket.ref)}/actions`, {
      action: 'resolve',
      text: 'cutter replaced',
      partReplaced: true,
    });
    assert.is(r.status, 200, r.text);
    assert.ok(r.body.serviceRecord > 0);
    const history = await operator.get<ServiceHistoryAnswer>('/api/devices/pos-1/service');
    assert.is(history.status, 200);
    assert.equal(
      history.body.items.map((x) => [x.peripheral, x.part, x.kind, x.source, x.ref]),
      [['printer0', 'cutter', 'part-replaced', 'noc', ticket.ref]],
    );
    // Not a worn-part ticket: the part must be named.
    const bad = await operator.post(`/api/tickets/${encodeURIComponent(ticket.ref)}/actions`, { action: 'close', partReplaced: true, part: 'Bad Part' });
    assert.is(bad.status, 400);
    assert.is(await inc.syncServiceRecords(), 1);
    const usage = (await inc.serviceRecords.list({ device: 'pos-1' }))[0].usage!;
    assert.ok(usage > 1_950_000, `the life the cutter reached is recorded: ${usage}`);
    const rel = await operator.get<ReliabilityAnswer>('/api/reliability');
    assert.is(rel.status, 200);
    assert.equal(rel.body.models, [], 'one failure: no fit yet');
  } finally {
    await dev?.close().catch(() => {});
    await noc.close();
  }
});

test.run();
