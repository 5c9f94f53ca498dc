// Detectors judge a sample by when it was measured, not when it arrived (issue 17). Two devices
// report the same card-reader series over the real broker and collector: one live, one silent for
// a 3-day outage and then flushing its backlog in one burst. The incident service is ticked on the
// series' own 6-hour clock (tick(now)); the same findings must come out — identical tickets — and
// the usage rate of the flushed device must read as the days the backlog covers.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pino } from 'pino';
import { runServer, type RunningServer } from '../../cli/server.js';
import { CONTRACT_VERSION, type TelemetryMessage } from '../../protocol/index.js';
import { seededRandom } from '../../sim/wear.js';
import { FakeDevice } from '../collector/fixtures.js';
import { waitFor } from '../helpers/net.js';
import { oneNodeConfig } from './one-node.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const DAYS = 40;
const OUTAGE_FROM = 30 * DAY; // the burst device is silent for days 30–33, then flushes
const OUTAGE_TO = 33 * DAY;

type Sample = TelemetryMessage['samples'][number];

/** An MSR read head at 94 % of its 1 M rated swipes; read errors 1 % rising to ~20 % from day 26 (a precursor). */
function series(start: number): Sample[] {
  const rnd = seededRandom(17);
  const out: Sample[] = [];
  let swipes = 940_000;
  let failed = 9_400;
  for (let h = 0; h < DAYS * 24; h++) {
    const t = start + h * HOUR;
    const day = h / 24;
    if (h % 24 >= 8 && h % 24 < 20) {
      const n = 150 + Math.floor(rnd() * 100);
      const p = day < 26 ? 0.01 : Math.min(0.2, 0.01 + 0.02 * (day - 26));
      for (let i = 0; i < n; i++) if (rnd() < p) failed++;
      swipes += n;
    }
    out.push({ peripheral: 'msr', kind: 'card-reader', ts: t, health: 'ok', metrics: {}, counters: { swipes, failedReadCount: failed }, faults: [] });
  }
  return out;
}

test('a backlog flushed after a 3-day outage gives the same tickets as the same series received live', async () => {
  const log = pino({ level: 'silent' });
  // Ticks come from the test (on the series' clock); the service's own timer stays out of the way.
  const { dir, config } = await oneNodeConfig('fleetcare-backlog-', { batch: { maxDelayMs: 20 }, incidents: { tickMs: 3_600_000 } });
  let server: RunningServer | null = null;
  const devices: FakeDevice[] = [];
  try {
    server = await runServer(config, { log });
    const srv = server;
    // The series ends an hour ago: measurement times are in the past, as a backlog's are.
    const start = Date.now() - DAYS * DAY - HOUR;
    const samples = series(start);
    const seq = new Map<string, number>();
    for (const id of ['pos-live', 'pos-burst']) {
      const token = srv.broker!.registry.addDevice(id, { site: 'store-1', tenant: 'acme' })!;
      const dev = await FakeDevice.connect(srv.brokerUrl!, id, { token });
      devices.push(dev);
      seq.set(id, 1);
      await dev.publish('inventory', {
        v: CONTRACT_VERSION,
        device: id,
        seq: 1,
        ts: start,
        agentVersion: 'test',
        site: 'store-1',
        tenant: 'acme',
        peripherals: [{ id: 'msr', kind: 'card-reader', serial: `MSR-${id}`, profile: 'generic-serial-msr' }],
      });
    }
    await waitFor(
      'inventory with the MSR profile',
      () => ['pos-live', 'pos-burst'].every((id) => srv.collector!.device(id)?.peripherals.some((p) => p.profile === 'generic-serial-msr')),
      10_000,
    );
    const send = async (i: number, list: Sample[]) => {
      const dev = devices[i];
      const s = seq.get(dev.id)! + 1;
      seq.set(dev.id, s);
      await dev.publish('telemetry', { v: CONTRACT_VERSION, device: dev.id, seq: s, ts: list[list.length - 1].ts, samples: list });
    };
    let fed = 0;
    let pendingBurst: Sample[] = [];
    // Every 6 hours of the series: the live device sends its 6 samples, the burst device too
    // unless it is in its outage (then they wait in its outbox); then one tick at that time.
    for (let k = 0; k < samples.length / 6; k++) {
      const chunk = samples.slice(k * 6, k * 6 + 6);
      const at = chunk[5].ts;
      await send(0, chunk);
      fed += chunk.length;
      const inOutage = at - start >= OUTAGE_FROM && at - start < OUTAGE_TO;
      pendingBurst.push(...chunk);
      if (!inOutage) {
        // Back online: the backlog goes out as fast as the agent can send it (messages of 6 samples).
        for (let i = 0; i < pendingBurst.length; i += 6) await send(1, pendingBurst.slice(i, i + 6));
        fed += pendingBurst.length;
        pendingBurst = [];
      }
      await waitFor('samples reach the detectors', () => srv.incidents!.stats().samples >= fed, 10_000);
      srv.incidents!.tick(at + 60_000);
    }
    assert.is(srv.incidents!.stats().untrustedTimes, 0, 'every device time was plausible');
    const tickets = srv.incidents!.tickets.list();
    const of = (device: string) =>
      tickets
        .filter((t) => t.device === device)
        .map((t) => ({ key: (t.key ?? '').replace(device, 'DEV'), priority: t.priority, issueType: t.issueType }))
        .sort((a, b) => a.key.localeCompare(b.key));
    assert.ok(of('pos-live').length >= 1, 'the precursor is ticketed (the test would be empty otherwise)');
    assert.equal(of('pos-burst'), of('pos-live'), 'identical tickets');
    // The usage rate of the flushed device reads as the days its backlog covers.
    const live = srv.incidents!.incidents.get('pos-live/msr/read-head-wear-out')!;
    const burst = srv.incidents!.incidents.get('pos-burst/msr/read-head-wear-out')!;
    assert.ok(burst && live, 'both incidents exist');
    const rl = live.figures.ratePerDay as number;
    const rb = burst.figures.ratePerDay as number;
    assert.ok(Math.abs(rb - rl) / rl < 0.1, `usage rate live ${rl}/day vs after the backlog ${rb}/day`);
    // Ticketed while the error rate was rising, at the same point of the series.
    assert.ok(Math.abs(burst.firstSeen - live.firstSeen) <= 3 * DAY + 6 * HOUR, 'the backlog is judged when it arrives, not before');
  } finally {
    for (const d of devices) await d.close().catch(() => {});
    await server?.close('test done');
    dir.remove();
  }
});

test.run();
