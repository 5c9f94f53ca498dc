// The Grafana dashboard (docs/grafana/fleetcare-influxdb.json) runs against what the collector
// really writes: every panel and variable query, with Grafana's macros filled in the way Grafana
// does, is run on a real influxd after InfluxStore wrote telemetry, events and clock points.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { InfluxStore, influxConfigSchema, type IngestRecord } from '../../collector/index.js';
import { CONTRACT_VERSION } from '../../protocol/index.js';
import { Influxd, haveInfluxd } from '../helpers/influxd.js';

const DASHBOARD = fileURLToPath(new URL('../../../docs/grafana/fleetcare-influxdb.json', import.meta.url));
type Target = { query: string; rawQuery: boolean; resultFormat: string };
type Dashboard = {
  uid: string;
  __inputs: Array<{ name: string; pluginId: string }>;
  panels: Array<{ id: number; title: string; type: string; targets: Target[]; datasource: { uid: string } }>;
  templating: { list: Array<{ name: string; query: string }> };
};
const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;

/** Grafana's substitutions for a raw InfluxQL query with every variable on "All". */
function expand(q: string, vars: Record<string, string>): string {
  return q
    .replace(/\$timeFilter/g, 'time > now() - 1h')
    .replace(/\$__interval/g, '1m')
    .replace(/\$(\w+)/g, (m, name: string) => vars[name] ?? m);
}

test('the dashboard declares its InfluxDB input and every panel uses it with a raw InfluxQL query', () => {
  assert.is(dashboard.__inputs[0].pluginId, 'influxdb');
  const ids = new Set<number>();
  for (const p of dashboard.panels) {
    assert.not.ok(ids.has(p.id), `duplicate panel id ${p.id}`);
    ids.add(p.id);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's import placeholder, literally
    assert.is(p.datasource.uid, '${DS_INFLUXDB}', p.title);
    assert.ok(p.targets.length > 0, p.title);
    for (const t of p.targets) assert.ok(t.rawQuery && t.query.length > 0, p.title);
  }
});

test("every query runs on influxd against the collector's measurements and returns data", async () => {
  if (!haveInfluxd()) {
    console.log('SKIP: influxd not installed');
    return;
  }
  const influxd = await Influxd.create();
  const store = new InfluxStore(influxConfigSchema.parse({ url: influxd.url, database: 'fleetcare' }), pino({ level: 'silent' }));
  try {
    await store.init();
    const now = Date.now();
    const records: IngestRecord[] = [];
    for (let i = 0; i < 10; i++) {
      const ts = now - (10 - i) * 60_000;
      records.push({
        channel: 'telemetry',
        device: 'pos-1',
        seq: i + 1,
        arrivedAt: ts + 40,
        tags: { site: 'riyadh-01', tenant: 'acme' },
        message: {
          v: CONTRACT_VERSION,
          device: 'pos-1',
          seq: i + 1,
          ts,
          samples: [
            {
              peripheral: 'printer0',
              kind: 'printer',
              ts,
              health: i === 9 ? 'critical' : 'ok',
              metrics: { replyLatencyMs: 12 + i },
              counters: { autocutterCuts: 1000 + i * 10 },
              faults: i === 9 ? ['autocutter-error'] : [],
            },
            { peripheral: 'host', kind: 'host', ts, health: 'ok', metrics: { diskFreePct: 40 - i }, counters: {}, faults: [] },
          ],
        },
      } as IngestRecord);
    }
    records.push({
      channel: 'event',
      device: 'pos-1',
      seq: 11,
      arrivedAt: now - 1000,
      tags: { site: 'riyadh-01', tenant: 'acme' },
      message: {
        v: CONTRACT_VERSION,
        device: 'pos-1',
        seq: 11,
        ts: now - 1000,
        type: 'fault-raised',
        peripheral: 'printer0',
        code: 'autocutter-error',
        severity: 'critical',
        message: 'cutter jammed',
      },
    } as IngestRecord);
    await store.write(records);

    const varRegex = '.*';
    const vars: Record<string, string> = { tenant: varRegex, site: varRegex, device: varRegex, field: 'autocutterCuts' };
    for (const v of dashboard.templating.list) {
      const rows = await influxd.query(expand(v.query, vars), 'fleetcare');
      assert.ok(rows.length > 0, `variable ${v.name} has no values: ${v.query}`);
    }
    for (const p of dashboard.panels) {
      for (const t of p.targets) {
        const q = expand(t.query, vars);
        assert.not.match(q, /\$[A-Za-z_]/, `unexpanded macro in panel ${p.title}: ${q}`);
        const rows = await influxd.query(q, 'fleetcare');
        assert.ok(rows.length > 0, `panel "${p.title}" returned nothing: ${q}`);
      }
    }
    // The health table shows the latest state, the fault included.
    const health = dashboard.panels.find((p) => p.title.startsWith('Latest health'))!;
    const rows = await influxd.query(expand(health.targets[0].query, vars), 'fleetcare');
    assert.ok(
      rows.some((r) => r.health === 'critical' && String(r.faults).includes('autocutter-error')),
      JSON.stringify(rows),
    );
  } finally {
    await store.close();
    await influxd.destroy();
  }
});

test.run();
