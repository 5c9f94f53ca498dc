// A device whose RTC cell died (clock at 1970) or whose clock jumped years ahead, against the real
// server (aedes broker + collector + incident service) and a real influxd, then the embedded
// SQLite store: every message is acked and stored at arrival time with the device's own time kept
// as `device_ts`, nothing is dead-lettered, and the clock fault becomes an incident and a ticket.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { pino } from 'pino';
import { runServer, type RunningServer } from '../../cli/server.js';
import { serverConfigSchema } from '../../cli/server-config.js';
import { CONTRACT_VERSION } from '../../protocol/index.js';
import { Influxd, haveInfluxd } from '../helpers/influxd.js';
import { freePort, waitFor } from '../helpers/net.js';
import { tempDir, type TempDir } from '../helpers/tmp.js';
import { withTeardown, type Later } from '../helpers/rig.js';
import { GOLD_24X7 } from '../helpers/sla.js';
import { FakeDevice, event, telemetry } from '../collector/fixtures.js';

const DEVICE = 'pos-rtc';
const KEY = `${DEVICE}/device/clock-drift`;
const DB = 'fc_dead_rtc';
const DEAD_RTC = Date.UTC(1970, 0, 1, 0, 3); // three minutes after a reset to the epoch
const YEAR = 365 * 86_400_000;

async function server(dataDir: string, influx: Influxd | null): Promise<RunningServer> {
  const config = serverConfigSchema.parse({
    dataDir,
    broker: { port: await freePort(), scryptCost: 1024 },
    noc: { enabled: false },
    collector: {
      batch: { maxDelayMs: 50 },
      ...(influx ? { influx: { url: influx.url, database: DB } } : {}),
      incidents: {
        tickMs: 200,
        detectors: { reactive: { clockDriftHoldMs: 500 } },
        slas: { 'acme-retail': GOLD_24X7 },
      },
    },
  });
  return runServer(config, { log: pino({ level: 'silent' }) });
}

/**
 * The server on a temp dir, and a device sending what a dead-RTC agent sends (birth, telemetry and
 * an event at 1970, then a clock years ahead) until all of it is acked; `later` closes them.
 */
async function deadRtcServer(later: Later, influx: Influxd | null): Promise<{ srv: RunningServer; dir: TempDir; sentAt: number }> {
  const dir = later(tempDir('fleetcare-dead-rtc-'), (d) => d.remove());
  const srv = later(await server(dir.path, influx), (s) => s.close());
  const token = srv.broker!.registry.addDevice(DEVICE, { site: 'store-7', tenant: 'acme-retail' });
  const device = later(await FakeDevice.connect(srv.brokerUrl!, DEVICE, { token }), (d) => d.close());
  const sentAt = Date.now();
  await device.publish('status', { v: CONTRACT_VERSION, device: DEVICE, seq: 1, ts: DEAD_RTC, state: 'online' }, true);
  const seqs = [2, 3, 4, 5];
  await device.publish('telemetry', telemetry(DEVICE, 2, { ts: DEAD_RTC, samples: 3 }));
  await device.publish('telemetry', telemetry(DEVICE, 3, { ts: DEAD_RTC + 1000, samples: 3 }));
  await device.publish('event', event(DEVICE, 4, { ts: DEAD_RTC + 1500 }));
  await device.publish('telemetry', telemetry(DEVICE, 5, { ts: Date.now() + 20 * YEAR, samples: 2 }));
  await waitFor('all acked', () => seqs.every((s) => device.acked.has(s)), 15_000);
  return { srv, dir, sentAt };
}

async function expectTicketed(srv: RunningServer): Promise<void> {
  const ticket = await waitFor('clock-drift ticket', () => srv.incidents!.tickets.byKey(KEY), 20_000);
  assert.is(ticket.status, 'Open');
  const incident = srv.incidents!.incidents.get(KEY)!;
  assert.is(incident.state, 'open');
  assert.ok(Math.abs(Number(incident.figures.clockOffsetS)) > 15 * 365 * 86_400, `the real offset is reported (${incident.figures.clockOffsetS} s)`);
}

test('InfluxDB: a 1970 clock and a clock 20 years ahead are stored at arrival with device_ts, acked, not dead-lettered, and ticketed', () =>
  withTeardown(async (later) => {
    if (!haveInfluxd()) throw new Error('influxd missing (Debian package influxdb)');
    const influx = later(await Influxd.create(), (i) => i.destroy());
    const { srv, sentAt } = await deadRtcServer(later, influx);
    const c = srv.collector!;
    assert.is(c.deadLetters(10).length, 0, 'nothing dead-lettered');
    assert.is(c.stats().ingest.storeRejected, 0);
    assert.equal(c.stats().ingest.clockPlaced, { 'before-floor': 3, future: 1, 'too-old': 0 });
    const rows = await influx.query(`SELECT seq, device_ts, temperature FROM telemetry WHERE device = '${DEVICE}'`, DB);
    assert.is(rows.length, 8, JSON.stringify(rows));
    for (const r of rows) {
      const at = Date.parse(String(r.time));
      assert.ok(at >= sentAt - 1000 && at <= Date.now() + 1000, `stored at arrival time: ${r.time}`);
      assert.ok(typeof r.device_ts === 'number', 'device time kept');
    }
    const old = rows.filter((r) => Number(r.seq) === 2).map((r) => r.device_ts);
    assert.equal(old, [DEAD_RTC - 200, DEAD_RTC - 100, DEAD_RTC]);
    const ev = await influx.query(`SELECT seq, device_ts FROM event WHERE device = '${DEVICE}'`, DB);
    assert.equal(
      ev.map((r) => r.device_ts),
      [DEAD_RTC + 1500],
    );
    const clock = await influx.query(`SELECT offset_ms FROM device_clock WHERE device = '${DEVICE}' AND seq = 2`, DB);
    assert.ok(Number(clock[0]?.offset_ms) > 50 * YEAR, 'device_clock keeps the real offset');
    await expectTicketed(srv);
  }));

test('embedded SQLite store: the same dead-RTC device is stored at arrival with device_ts and ticketed', () =>
  withTeardown(async (later) => {
    const { srv, dir, sentAt } = await deadRtcServer(later, null);
    const db = new Database(join(dir.path, 'collector', 'telemetry.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT seq, ts, device_ts FROM telemetry WHERE device = ? ORDER BY seq, ts').all(DEVICE) as Array<{
        seq: number;
        ts: number;
        device_ts: number | null;
      }>;
      assert.is(rows.length, 8);
      for (const r of rows) assert.ok(r.ts >= sentAt - 1000 && r.ts <= Date.now() + 1000 && r.device_ts !== null, JSON.stringify(r));
      assert.equal(
        rows.filter((r) => r.seq === 2).map((r) => r.device_ts),
        [DEAD_RTC - 200, DEAD_RTC - 100, DEAD_RTC],
      );
      const ev = db.prepare('SELECT ts, device_ts FROM events WHERE device = ?').get(DEVICE) as { ts: number; device_ts: number };
      assert.is(ev.device_ts, DEAD_RTC + 1500);
      assert.ok(ev.ts >= sentAt - 1000);
    } finally {
      db.close();
    }
    // The NOC's queries see the samples where the charts look: now.
    const latest = await srv.collector!.store.latest(DEVICE);
    assert.ok(latest.length > 0 && latest.every((s) => s.ts >= sentAt - 1000));
    await expectTicketed(srv);
  }));

test.run();
