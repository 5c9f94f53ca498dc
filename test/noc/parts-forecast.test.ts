// The parts forecast through a real `fleetcare server` (broker, collector, incident service, NOC)
// and real agents over MQTT: a nearly worn cutter opens a predicted-failure ticket that names the
// part to bring in the tenant's language; GET /api/reports/parts-forecast counts it once (ticket and
// ETA together) beside a cutter whose ETA alone falls in the horizon, per tenant and site, as JSON
// and CSV; a bad horizon is a clear 400.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { startAgent, type AgentHandle } from '../../agent/index.js';
import { agentConfigSchema } from '../../agent/config.js';
import type { PartsForecastReport } from '../../noc/api.js';
import { parseCsvRows } from '../../collector/warranty/import.js';
import { ApiClient, startNocServer, type NocTestServer } from '../helpers/noc.js';
import { runCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';
import { WearingPrinter } from '../helpers/wearing-printer.js';

const log = pino({ level: 'silent' });
// Seconds instead of days: the usage rate and ETA come within a few seconds of telemetry.
const WEAR = { leadTimeMs: 3_600_000, rateWindowMs: 60_000, bucketMs: 100, minPairSpanMs: 200, minHistoryMs: 1500 };

let s: NocTestServer;
const agents: AgentHandle[] = [];

async function startDevice(id: string, site: string, tenant: string, cuts: number): Promise<void> {
  const token = s.server.broker!.registry.addDevice(id, { site, tenant });
  const config = agentConfigSchema.parse({
    device: { id, token, site, tenant, model: 'POS-X1', serial: `H-${id}` },
    broker: { url: s.brokerUrl, reconnect: { minMs: 100, maxMs: 1000, jitter: 0.5 } },
    dataDir: join(s.dir.path, 'agents', id),
    telemetry: { publishIntervalMs: 200 },
    discovery: false,
    peripherals: [],
  });
  agents.push(await startAgent(config, { log, extraPeripherals: [{ driver: new WearingPrinter(cuts), intervalMs: 100, timeoutMs: 1000 }] }));
}

test.before(async () => {
  s = await startNocServer({
    collector: {
      incidents: {
        tickMs: 200,
        // The CLI reads the detectors' saved state: save it often.
        stateSaveMs: 500,
        languages: { acme: 'fa' },
        detectors: { wear: WEAR },
      },
    },
  });
  // ~50 cuts/s against a rated 2 M cuts: 9,000 left ≈ 3 minutes (inside the lead time: a ticket);
  // 1 M left ≈ 6 hours (no ticket, but inside 30 days).
  await startDevice('pos-near', 'riyadh-1', 'acme', 1_991_000);
  await startDevice('pos-half', 'riyadh-1', 'acme', 1_000_000);
  await startDevice('pos-other', 'tehran-1', 'bazaar', 1_000_000);
});

test.after(async () => {
  for (const a of agents) await a.close();
  await s?.close();
});

test('a worn cutter: its ticket names the part; the forecast counts it once per unit, per tenant and site, JSON and CSV', async () => {
  const viewer = await ApiClient.login(s.url, 'viewer');
  const ticket = await waitFor(
    'predicted-failure ticket of the near-worn cutter',
    () => s.server.incidents!.tickets.byKey('pos-near/printer0/cutter-wear-out'),
    30_000,
  );
  assert.ok(ticket.description.includes('قطعه‌ای که باید همراه بیاورید: واحد کاتر خودکار'), ticket.description);
  assert.ok(ticket.description.includes('شماره قطعه نامشخص') && ticket.description.includes('20 دقیقه'), ticket.description);

  const acmeCutters = (f: PartsForecastReport) => f.rows.find((r) => r.tenant === 'acme' && r.site === 'riyadh-1' && r.part === 'cutter');
  const f = await waitFor(
    'both acme cutters in the 30-day forecast',
    async () => {
      const r = await viewer.get<PartsForecastReport>('/api/reports/parts-forecast?horizon=30');
      assert.is(r.status, 200, r.text);
      return acmeCutters(r.body)?.quantity === 2 ? r.body : undefined;
    },
    30_000,
  );
  const row = acmeCutters(f)!;
  assert.equal(
    [row.profile, row.fromTickets, row.fromEta, row.partNumber, row.name?.en, row.swapMinutesTotal],
    ['epson-tm-t88vi', 1, 1, null, 'Autocutter unit', 40],
  );
  assert.equal(row.units, ['pos-half/printer0', 'pos-near/printer0']);
  assert.equal(row.tickets, [ticket.ref]);
  assert.is(f.horizonDays, 30);

  const bazaar = await viewer.get<PartsForecastReport>('/api/reports/parts-forecast?horizon=90&tenant=bazaar');
  assert.is(bazaar.status, 200);
  assert.ok(bazaar.body.rows.every((r) => r.tenant === 'bazaar'));

  const csv = await viewer.get('/api/reports/parts-forecast?horizon=60&tenant=acme&format=csv&lang=zh');
  assert.is(csv.status, 200);
  assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
  const parsed = parseCsvRows(csv.text);
  if (!Array.isArray(parsed)) throw new Error(`CSV line ${parsed.line}: ${parsed.message}`);
  const rows = parsed.map((r) => r.cells);
  assert.equal(rows[0].slice(0, 7), ['tenant', 'site', 'model_profile', 'part', 'part_number', 'name_zh', 'quantity']);
  const cutter = rows.find((r) => r[3] === 'cutter')!;
  assert.equal(cutter.slice(0, 7), ['acme', 'riyadh-1', 'epson-tm-t88vi', 'cutter', 'unknown', '自动切刀组件', '2']);
});

test('fleetcare parts forecast: the same rows from the data dir as a table or JSON; an explicit line when none; a bad horizon refused', async () => {
  // The CLI reads the detectors' saved state with the server's detector settings (its --config).
  const config = join(s.dir.path, 'server.json');
  writeFileSync(config, JSON.stringify({ dataDir: s.dir.path, collector: { incidents: { detectors: { wear: WEAR } } } }));
  const table = await waitFor(
    'both acme cutters in the CLI table',
    async () => {
      const r = await runCli(['parts', 'forecast', '--config', config, '--tenant', 'acme']);
      assert.is(r.code, 0, r.stderr);
      return /^acme\s+riyadh-1\s+epson-tm-t88vi\s+cutter\s+unknown\s+Autocutter unit\s+2\s+1\s/m.test(r.stdout) ? r.stdout : undefined;
    },
    30_000,
  );
  const lines = table.trimEnd().split('\n');
  assert.match(lines[0], /^TENANT\s+SITE\s+MODEL\s+PART\s+PART NO\.\s+NAME\s+QTY\s+TICKETS\s+EARLIEST ETA\s+SWAP MIN$/);
  assert.match(lines[lines.length - 1], /^2 part\(s\) in the next 30 days, tenant acme$/);
  // The other tenant's detector state is saved by the server's own tick: wait for it too.
  const report = await waitFor(
    'the bazaar cutter in the CLI JSON',
    async () => {
      const json = await runCli(['parts', 'forecast', '--config', config, '--horizon', '90', '--json']);
      assert.is(json.code, 0, json.stderr);
      const r = JSON.parse(json.stdout) as PartsForecastReport;
      return r.rows.some((row) => row.tenant === 'bazaar' && row.site === 'tehran-1' && row.part === 'cutter') ? r : undefined;
    },
    30_000,
  );
  assert.is(report.horizonDays, 90);
  const none = await runCli(['parts', 'forecast', '--config', config, '--tenant', 'nobody']);
  assert.equal([none.code, none.stdout], [0, 'no parts needed in the next 30 days, tenant nobody\n']);
  const bad = await runCli(['parts', 'forecast', '--config', config, '--horizon', '45']);
  assert.ok(bad.code !== 0);
  assert.match(bad.stderr, /--horizon: one of 30, 60, 90/);
});

test('a bad horizon or an unknown query field is a 400 naming it', async () => {
  const viewer = await ApiClient.login(s.url, 'viewer');
  const bad = await viewer.get<{ error: string }>('/api/reports/parts-forecast?horizon=45');
  assert.is(bad.status, 400);
  assert.match(bad.text, /horizon/);
  const unknown = await viewer.get('/api/reports/parts-forecast?horizon=30&days=3');
  assert.is(unknown.status, 400);
  assert.match(unknown.text, /days/);
  const anon = await new ApiClient(s.url).get('/api/reports/parts-forecast');
  assert.is(anon.status, 401);
});

test.run();
