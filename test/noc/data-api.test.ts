// The NOC data API against a real `fleetcare server` (broker, collector with the embedded store,
// incident service, NOC) and real agent processes' code (startAgent) connected over MQTT: fleet
// summary, device list/detail/series/events, tickets, reports (JSON and CSV), remote commands with
// a real round trip and an expiry, live updates over SSE; every route for every role; bad queries.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { pino } from 'pino';
import { startAgent, type AgentHandle } from '../../agent/index.js';
import { agentConfigSchema } from '../../agent/config.js';
import type { PeripheralDriver, PeripheralIdentity, PeripheralReading } from '../../agent/drivers/driver.js';
import { CONTRACT_VERSION, type Health } from '../../protocol/index.js';
import type { IngestRecord } from '../../collector/index.js';
import type { TicketCommandInput } from '../../collector/tickets/index.js';
import { operatorTicketAction, type OperatorAction } from '../../collector/tickets/actions.js';
import { parseCsvRows } from '../../collector/warranty/import.js';
import type {
  CommandAccepted,
  DeviceDetail,
  DevicesAnswer,
  EventsAnswer,
  FleetSummary,
  HoursReport,
  LiveEvent,
  MtbfReport,
  ProblemsReport,
  RemoteCommand,
  SeriesAnswer,
  SlaReport,
  TicketDetail,
  TicketsAnswer,
  TopDevicesReport,
} from '../../noc/api.js';
import { csvField } from '../../noc/reports.js';
import { ApiClient, startNocServer, type NocTestServer } from '../helpers/noc.js';
import { waitFor } from '../helpers/net.js';

const log = pino({ level: 'silent' });
const HOUR = 3_600_000;

/** A receipt printer the test steers: health, faults and counters (an Epson TM-T88VI by its profile). */
class TestPrinter implements PeripheralDriver {
  readonly id = 'printer0';
  readonly kind = 'printer' as const;
  health: Health = 'ok';
  faults: string[] = [];
  constructor(
    public cuts: number,
    readonly serial: string,
  ) {}
  async open(): Promise<PeripheralIdentity> {
    return { vendor: 'Epson', model: 'TM-T88VI', serial: this.serial, firmware: '30.01 ESC/POS', profile: 'epson-tm-t88vi', port: 'test:printer0' };
  }
  async poll(): Promise<PeripheralReading> {
    this.cuts += 5;
    return {
      health: this.health,
      metrics: { temperature: 38 + (this.cuts % 7) },
      counters: { autocutterCuts: this.cuts, linesFed: this.cuts * 10 },
      faults: [...this.faults],
    };
  }
  async selfTest(): Promise<Record<string, unknown>> {
    return { headOk: true, cutterOk: true, cuts: this.cuts };
  }
  async close(): Promise<void> {}
}

let s: NocTestServer;
let viewer: ApiClient;
let operator: ApiClient;
let admin: ApiClient;
const agents = new Map<string, AgentHandle>();
const printers = new Map<string, TestPrinter>();
const tokens = new Map<string, string>();

async function startDevice(id: string, site: string, tenant: string, cuts: number): Promise<void> {
  if (!tokens.has(id)) tokens.set(id, s.server.broker!.registry.addDevice(id, { site, tenant }));
  const printer = printers.get(id) ?? new TestPrinter(cuts, `SN-${id}`);
  printers.set(id, printer);
  const config = agentConfigSchema.parse({
    device: { id, token: tokens.get(id), site, tenant, model: 'POS-X1', serial: `H-${id}` },
    broker: { url: s.brokerUrl, reconnect: { minMs: 100, maxMs: 1000, jitter: 0.5 } },
    dataDir: join(s.dir.path, 'agents', id),
    telemetry: { publishIntervalMs: 200 },
    discovery: false,
    peripherals: [{ id: 'host', driver: 'host', intervalMs: 400 }],
  });
  agents.set(id, await startAgent(config, { log, extraPeripherals: [{ driver: printer, intervalMs: 100, timeoutMs: 1000 }] }));
}

const devicesOf = async (c: ApiClient, qs: string) => (await c.get<DevicesAnswer>(`/api/devices${qs}`)).body.items.map((d) => d.device);

/** Server-sent events of one client, parsed. */
class LiveStream {
  readonly events: LiveEvent[] = [];
  private readonly ac = new AbortController();
  private constructor() {}
  static async open(c: ApiClient): Promise<{ status: number; stream: LiveStream }> {
    const st = new LiveStream();
    const headers: Record<string, string> = {};
    const cookie = (c as unknown as { cookie: string }).cookie;
    if (cookie) headers.cookie = cookie;
    const res = await fetch(c.base + '/api/live', { headers, signal: st.ac.signal });
    if (res.status === 200) void st.read(res.body!);
    else await res.text();
    return { status: res.status, stream: st };
  }
  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const dec = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of body) {
        buf += dec.decode(chunk, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = frame.split('\n').find((l) => l.startsWith('data: '));
          const type = frame
            .split('\n')
            .find((l) => l.startsWith('event: '))
            ?.slice(7);
          if (data) {
            const e = JSON.parse(data.slice(6)) as LiveEvent;
            assert.is(e.type, type, 'SSE event name is the event type');
            this.events.push(e);
          }
        }
      }
    } catch {
      // aborted
    }
  }
  close(): void {
    this.ac.abort();
  }
}

test.before(async () => {
  s = await startNocServer({ noc: { commandTimeoutMs: 1500 } });
  viewer = await ApiClient.login(s.url, 'viewer');
  operator = await ApiClient.login(s.url, 'operator');
  admin = await ApiClient.login(s.url, 'admin');
  await startDevice('pos-a1', 'riyadh-1', 'acme', 1_700_000); // cutter at 85 % of its 2,000,000 cuts
  await startDevice('pos-b2', 'jeddah-2', 'globex', 400_000);
  const collector = s.server.collector!;
  for (const id of ['pos-a1', 'pos-b2']) {
    await waitFor(
      `${id} inventory and stored counters`,
      async () => {
        const d = collector.device(id);
        const latest = await collector.store.latest(id);
        return (
          d?.online && d.peripherals.some((p) => p.profile === 'epson-tm-t88vi') && latest.some((l) => l.peripheral === 'printer0' && l.counters.autocutterCuts)
        );
      },
      20_000,
      100,
    );
  }
  // pos-b2 goes away (a graceful stop: offline at once).
  await agents.get('pos-b2')!.close('test: store closed');
  agents.delete('pos-b2');
  await waitFor('pos-b2 offline', () => collector.device('pos-b2')?.online === false);
});

test.after(async () => {
  for (const a of agents.values()) await a.close('test done').catch(() => {});
  await s.close();
});

// ---- roles ---------------------------------------------------------------------------------------

test('every data route answers viewer, operator and admin, and 401 without a login', async () => {
  const ref = encodeURIComponent(
    await createTicket(
      'pos-a1/printer0/paper-end',
      { customer: 'acme', site: 'riyadh-1', device: 'pos-a1', peripheral: 'printer0', issueType: 'Consumable' },
      Date.now() - HOUR,
    ),
  );
  const cmd = (await operator.post<CommandAccepted>('/api/devices/pos-a1/commands', { name: 'ping' })).body.id;
  const now = Date.now();
  const reads = [
    '/api/fleet',
    '/api/devices',
    '/api/devices/pos-a1',
    `/api/devices/pos-a1/series?peripheral=printer0&field=temperature&from=${now - HOUR}`,
    '/api/devices/pos-a1/events',
    '/api/devices/pos-a1/commands',
    `/api/commands/${cmd}`,
    '/api/tickets',
    `/api/tickets/${ref}`,
    ...['problems', 'sla', 'hours', 'mtbf', 'top-devices'].flatMap((r) => [`/api/reports/${r}`, `/api/reports/${r}?format=csv`]),
  ];
  const anon = new ApiClient(s.url);
  for (const path of reads) {
    for (const c of [viewer, operator, admin]) assert.is((await c.get(path)).status, 200, `${path}`);
    const r = await anon.get<{ error: string }>(path);
    assert.is(r.status, 401, `${path} without login`);
  }
  const live = await LiveStream.open(anon);
  assert.is(live.status, 401, '/api/live without login');
  for (const c of [viewer, operator, admin]) {
    const l = await LiveStream.open(c);
    assert.is(l.status, 200, '/api/live');
    l.stream.close();
  }
});

test('only operators and admins send commands; a viewer gets 403 and nothing is sent', async () => {
  const before = (await viewer.get<{ items: RemoteCommand[] }>('/api/devices/pos-a1/commands?limit=200')).body.items.length;
  const v = await viewer.post<{ error: string; message: string }>('/api/devices/pos-a1/commands', { name: 'ping' });
  assert.is(v.status, 403);
  assert.match(v.body.message, 'needs role operator');
  const anon = await new ApiClient(s.url).post('/api/devices/pos-a1/commands', { name: 'ping' });
  assert.is(anon.status, 401);
  assert.is((await viewer.get<{ items: RemoteCommand[] }>('/api/devices/pos-a1/commands?limit=200')).body.items.length, before, 'nothing recorded');
  for (const c of [operator, admin]) {
    const r = await c.post<CommandAccepted>('/api/devices/pos-a1/commands', { name: 'ping' });
    assert.is(r.status, 202);
    assert.is(r.body.status, 'pending');
  }
  // The CSRF rule holds here too: a session without the header is refused.
  const csrf = operator.csrf;
  operator.csrf = '';
  assert.is((await operator.post('/api/devices/pos-a1/commands', { name: 'ping' })).status, 403);
  operator.csrf = csrf;
});

// ---- validation ----------------------------------------------------------------------------------

test('bad queries and bodies get a 400 naming the field', async () => {
  const cases: Array<[string, string]> = [
    ['/api/devices?limit=0', 'query.limit'],
    ['/api/devices?limit=abc', 'query.limit'],
    ['/api/devices?health=bogus', 'query.health'],
    ['/api/devices?sort=colour', 'query.sort'],
    ['/api/devices?online=maybe', 'query.online'],
    ['/api/devices?wearAbove=-1', 'query.wearAbove'],
    ['/api/devices?tennant=acme', 'tennant'],
    ['/api/devices/pos-a1/series?field=temperature', 'query.peripheral'],
    ['/api/devices/pos-a1/series?peripheral=printer0&field=temp%20rature', 'query.field'],
    ['/api/devices/pos-a1/series?peripheral=printer0&field=temperature&from=yesterday', 'query.from'],
    ['/api/devices/pos-a1/series?peripheral=printer0&field=temperature&from=2000&to=1000', 'query.to'],
    ['/api/devices/pos-a1/series?peripheral=printer0&field=temperature&points=0', 'query.points'],
    ['/api/devices/pos-a1/series?peripheral=printer0&field=temperature&from=0', 'query.from'],
    ['/api/devices/pos-a1/events?limit=5000', 'query.limit'],
    ['/api/devices/pos-a1/events?to=2025-01-01T00:00:00', 'query.to'],
    ['/api/devices/pos-a1/commands?limit=1000', 'query.limit'],
    ['/api/tickets?status=Nope', 'query.status'],
    ['/api/tickets?priority=Urgent,Whenever', 'query.priority'],
    ['/api/tickets?open=yes', 'query.open'],
    ['/api/reports/sla?tz=Mars/Olympus', 'query.tz'],
    ['/api/reports/sla?format=xlsx', 'query.format'],
    ['/api/reports/hours?from=2025-02-01T00:00:00Z&to=2025-01-01T00:00:00Z', 'query.to'],
  ];
  for (const [path, field] of cases) {
    const r = await viewer.get<{ error: string; message: string }>(path);
    assert.is(r.status, 400, `${path}: ${r.text}`);
    assert.is(r.body.error, 'bad-request');
    assert.match(r.body.message, field, `${path} names ${field}: ${r.body.message}`);
  }
  const bodies: Array<[unknown, string]> = [
    [{ name: 'reboot-the-world' }, 'body.name'],
    [{ name: 'self-test' }, 'body.peripheral'],
    [{ name: 'self-test', peripheral: 'printer9' }, 'body.peripheral'],
    [{ name: 'ping', peripheral: 'bad id!' }, 'body.peripheral'],
    [{ name: 'ping', args: { x: { nested: true } } }, 'body.args'],
    [{ name: 'ping', extra: 1 }, 'extra'],
  ];
  for (const [body, field] of bodies) {
    const r = await operator.post<{ message: string }>('/api/devices/pos-a1/commands', body);
    assert.is(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
    assert.match(r.body.message, field);
  }
});

test('unknown devices, peripherals, commands, tickets and reports are 404', async () => {
  const paths = [
    '/api/devices/pos-nope',
    '/api/devices/pos-nope/series?peripheral=printer0&field=temperature',
    '/api/devices/pos-nope/events',
    '/api/devices/pos-nope/commands',
    '/api/devices/pos-a1/series?peripheral=printer7&field=temperature',
    '/api/commands/no-such-command',
    '/api/tickets/' + encodeURIComponent('pos-a1/printer0/never'),
    '/api/reports/profits',
  ];
  for (const path of paths) {
    const r = await viewer.get<{ error: string; message: string }>(path);
    assert.is(r.status, 404, `${path}: ${r.text}`);
    assert.is(r.body.error, 'not-found');
  }
  assert.match((await viewer.get<{ message: string }>('/api/devices/pos-a1/series?peripheral=printer7&field=temperature')).body.message, 'has: ');
  const post = await operator.post<{ error: string }>('/api/devices/pos-nope/commands', { name: 'ping' });
  assert.is(post.status, 404);
});

// ---- fleet and devices ---------------------------------------------------------------------------

test('fleet summary: counts by status incl. offline, sites with problems first, devices needing attention', async () => {
  const f = (await viewer.get<FleetSummary>('/api/fleet')).body;
  assert.equal(f.devices, { total: 2, online: 1 });
  assert.is(f.byStatus.offline, 1);
  assert.is(
    Object.values(f.byStatus).reduce((a, b) => a + b, 0),
    2,
  );
  assert.equal(
    f.sites.map((x) => x.site),
    ['jeddah-2', 'riyadh-1'],
    'the site with an offline device first',
  );
  assert.is(f.sites[0].byStatus.offline, 1);
  assert.ok(f.sites[0].problemScore > f.sites[1].problemScore);
  const b2 = f.attention.find((d) => d.device === 'pos-b2')!;
  assert.ok(
    b2.why.some((w) => w.startsWith('offline')),
    JSON.stringify(b2.why),
  );
  const a1 = f.attention.find((d) => d.device === 'pos-a1')!;
  assert.ok(
    a1.why.some((w) => /^worn: printer0 cutter 8\d %/.test(w)),
    `the 85 % cutter: ${JSON.stringify(a1.why)}`,
  );
  assert.is(f.attention[0].device, 'pos-b2', 'offline before worn');
});

test('device list: filters, search, sorting and paging', async () => {
  assert.equal(await devicesOf(viewer, ''), ['pos-a1', 'pos-b2']);
  assert.equal(await devicesOf(viewer, '?tenant=acme'), ['pos-a1']);
  assert.equal(await devicesOf(viewer, '?site=jeddah-2'), ['pos-b2']);
  assert.equal(await devicesOf(viewer, '?model=POS-X1'), ['pos-a1', 'pos-b2']);
  assert.equal(await devicesOf(viewer, '?model=other'), []);
  assert.equal(await devicesOf(viewer, '?health=offline'), ['pos-b2']);
  assert.equal(await devicesOf(viewer, '?health=ok,warning,critical'), ['pos-a1']);
  assert.equal(await devicesOf(viewer, '?online=true'), ['pos-a1']);
  assert.equal(await devicesOf(viewer, '?online=0'), ['pos-b2']);
  assert.equal(await devicesOf(viewer, '?q=RIYADH'), ['pos-a1'], 'search is case-insensitive over site');
  assert.equal(await devicesOf(viewer, '?q=SN-pos-b2'), ['pos-b2'], 'search covers peripheral serials');
  assert.equal(await devicesOf(viewer, '?wearAbove=0.8'), ['pos-a1']);
  assert.equal(await devicesOf(viewer, '?wearAbove=0.9'), []);
  assert.equal(await devicesOf(viewer, '?sort=status'), ['pos-b2', 'pos-a1'], 'offline is worse than ok');
  assert.equal(await devicesOf(viewer, '?sort=wear'), ['pos-a1', 'pos-b2']);
  assert.equal(await devicesOf(viewer, '?sort=lastSeen'), ['pos-a1', 'pos-b2']);
  const page = (await viewer.get<DevicesAnswer>('/api/devices?limit=1&offset=1')).body;
  assert.equal(
    { total: page.total, offset: page.offset, limit: page.limit, ids: page.items.map((d) => d.device) },
    { total: 2, offset: 1, limit: 1, ids: ['pos-b2'] },
  );
  const a1 = (await viewer.get<DevicesAnswer>('/api/devices?q=pos-a1')).body.items[0];
  assert.is(a1.status, 'ok');
  assert.is(a1.site, 'riyadh-1');
  assert.is(a1.tenant, 'acme');
  assert.is(a1.peripheralCount, 2);
  assert.ok(a1.wearMax! >= 0.85 && a1.wearMax! < 0.9, `wearMax ${a1.wearMax}`);
});

test('device detail: inventory, latest figures, wear per part with a usage-rate ETA, tickets', async () => {
  // Two days of pos-b2's cutter history, 1,000 cuts an hour, straight into the store.
  const collector = s.server.collector!;
  const now = Date.now();
  const last = printers.get('pos-b2')!.cuts;
  const records: IngestRecord[] = [];
  for (let h = 48; h >= 2; h--) {
    const ts = now - h * HOUR;
    records.push({
      channel: 'telemetry',
      device: 'pos-b2',
      seq: 900_000 + h,
      arrivedAt: ts,
      tags: { site: 'jeddah-2', tenant: 'globex' },
      message: {
        v: CONTRACT_VERSION,
        device: 'pos-b2',
        seq: 900_000 + h,
        ts,
        samples: [{ peripheral: 'printer0', kind: 'printer', ts, health: 'ok', metrics: {}, counters: { autocutterCuts: last - (h - 1) * 1000 }, faults: [] }],
      },
    });
  }
  await collector.store.write(records);
  const d = (await viewer.get<DeviceDetail>('/api/devices/pos-b2')).body;
  assert.is(d.device.device, 'pos-b2');
  assert.is(d.device.online, false);
  assert.is(d.device.status, 'offline');
  assert.is(d.device.serial, 'H-pos-b2');
  assert.equal(d.peripherals.map((p) => p.id).sort(), ['host', 'printer0']);
  const p = d.peripherals.find((x) => x.id === 'printer0')!;
  assert.equal([p.vendor, p.model, p.serial, p.profile, p.kind], ['Epson', 'TM-T88VI', 'SN-pos-b2', 'epson-tm-t88vi', 'printer']);
  assert.is(p.latest!.counters.autocutterCuts, last);
  assert.type(p.latest!.metrics.temperature, 'number');
  const cutter = p.wear.find((w) => w.part === 'cutter')!;
  assert.is(cutter.metric, 'autocutterCuts');
  assert.is(cutter.basis, 'life');
  assert.is(cutter.ratedCounts, 2_000_000);
  assert.ok(Math.abs(cutter.lifeUsed - last / 2_000_000) < 1e-4);
  assert.is(cutter.etaSource, 'usage-rate');
  // ~24,000 cuts a day (plus the few the agent added at the end).
  assert.ok(cutter.ratePerDay! > 20_000 && cutter.ratePerDay! < 30_000, `rate ${cutter.ratePerDay}`);
  const days = (2_000_000 - last) / cutter.ratePerDay!;
  assert.ok(Math.abs(cutter.eta! - (now + days * 86_400_000)) < 86_400_000, 'ETA = remaining life / rate');
  // The profile's mechanism figure is an MCBF: shown as life used, no ETA.
  const mech = p.wear.find((w) => w.part === 'mechanism')!;
  assert.equal([mech.basis, mech.eta, mech.sourceVerified], ['mcbf', null, false]);
  // A ticket of the device is listed with it.
  await createTicket(
    'pos-b2/-/offline',
    { customer: 'globex', site: 'jeddah-2', device: 'pos-b2', peripheral: null, issueType: 'Connectivity', priority: 'High' },
    now - 10 * 60_000,
  );
  const again = (await viewer.get<DeviceDetail>('/api/devices/pos-b2')).body;
  assert.equal(
    again.tickets.map((t) => t.ref),
    ['pos-b2/-/offline'],
  );
  assert.is(again.device.openTickets, 1);
});

test('device detail: the open predicted-failure incident gives the ETA', async () => {
  const incidents = s.server.incidents!;
  const eta = Date.now() + 12 * 86_400_000;
  incidents.incidents.apply(
    [
      {
        key: 'pos-a1/printer0/cutter-wear-out',
        device: 'pos-a1',
        peripheral: 'printer0',
        failureMode: 'cutter-wear-out',
        site: 'riyadh-1',
        scope: 'device',
        status: 'firing',
        detector: 'wear-out',
        kind: 'predicted-failure',
        priority: 'Low',
        issueType: 'predicted-failure',
        figures: { part: 'cutter', ratePerDay: 25_000.5 },
        eta,
        runbook: { profile: 'epson-tm-t88vi', code: 'general' },
        holdMs: 0,
        recoverMs: 0,
        inhibitableBySite: false,
      },
    ] as never,
    Date.now(),
  );
  const d = (await viewer.get<DeviceDetail>('/api/devices/pos-a1')).body;
  const cutter = d.peripherals.find((p) => p.id === 'printer0')!.wear.find((w) => w.part === 'cutter')!;
  assert.equal([cutter.eta, cutter.etaSource, cutter.ratePerDay], [eta, 'incident', 25_000.5]);
});

test('series: downsampled to at most `points` buckets, the same as the store; events newest first', async () => {
  const now = Date.now();
  const from = now - 5 * 60_000;
  const r = await viewer.get<SeriesAnswer>(`/api/devices/pos-a1/series?peripheral=printer0&field=autocutterCuts&from=${from}&to=${now}&points=4`);
  assert.is(r.status, 200);
  assert.is(r.body.bucketMs, Math.ceil((now - from + 1) / 4));
  assert.ok(r.body.points.length >= 1 && r.body.points.length <= 4, `${r.body.points.length} points`);
  const direct = await s.server.collector!.store.seriesBuckets({
    device: 'pos-a1',
    peripheral: 'printer0',
    field: 'autocutterCuts',
    from,
    to: now,
    buckets: 4,
  });
  // The agent keeps writing: the last bucket may have grown between the two reads.
  assert.equal(r.body.points.slice(0, -1), direct.points.slice(0, r.body.points.length - 1));
  for (let i = 1; i < r.body.points.length; i++) assert.ok(r.body.points[i].value > r.body.points[i - 1].value, 'a growing counter has growing means');
  const iso = await viewer.get<SeriesAnswer>(
    `/api/devices/pos-a1/series?peripheral=printer0&field=temperature&from=${encodeURIComponent(new Date(from).toISOString())}&to=${now}`,
  );
  assert.is(iso.body.from, from, 'ISO times are accepted');
  const defaults = (await viewer.get<SeriesAnswer>('/api/devices/pos-a1/series?peripheral=printer0&field=temperature')).body;
  assert.ok(Math.abs(defaults.to - defaults.from - 86_400_000) < 1, '24 h by default');
  const ev = (await viewer.get<EventsAnswer>('/api/devices/pos-a1/events')).body;
  assert.ok(
    ev.items.some((e) => e.type === 'agent-started'),
    JSON.stringify(ev.items.map((e) => e.type)),
  );
  for (let i = 1; i < ev.items.length; i++) assert.ok(ev.items[i - 1].ts >= ev.items[i].ts, 'newest first');
  const one = (await viewer.get<EventsAnswer>('/api/devices/pos-a1/events?limit=1')).body;
  assert.is(one.items.length, 1);
  assert.equal(one.items[0], ev.items[0]);
});

// ---- tickets and reports -------------------------------------------------------------------------

type TicketFacts = {
  customer: string;
  site: string | null;
  device: string;
  peripheral: string | null;
  issueType: string;
  priority?: string;
  sla?: { responseBy: number; resolutionBy: number };
};

/** A ticket through the incident service's own outbox (what the detectors and operators do). */
async function createTicket(key: string, f: TicketFacts, at: number): Promise<string> {
  const outbox = s.server.incidents!.ticketing.outbox;
  const cmd: TicketCommandInput = {
    kind: 'create',
    key,
    at,
    eventId: `test-${at}`,
    ticket: {
      subject: `${key} problem`,
      description: 'what was seen',
      priority: (f.priority ?? 'Medium') as 'Medium',
      issueType: f.issueType as 'Consumable',
      customer: f.customer,
      site: f.site,
      device: f.device,
      peripheral: f.peripheral,
      sla: f.sla
        ? { serviceLevelAgreement: 'Standard', responseBy: f.sla.responseBy, resolutionBy: f.sla.resolutionBy, agreementStatus: 'First Response Due' }
        : undefined,
    },
  };
  const r = outbox.enqueue(cmd);
  assert.ok(r.applied, JSON.stringify(r));
  return r.ref!;
}

/** An operator's action as the CLI and the HTTP API do it (status history + SLA); no SLA configured, so the deadlines set at creation stay. */
function setStatus(ref: string, action: OperatorAction, at: number, comment?: string): void {
  operatorTicketAction(s.server.incidents!.ticketing.outbox, ref, action, comment, at, { slas: {} });
}

// Fixed times a week back, so the tickets of other tests (opened just now) stay out of the range.
const W = Math.floor((Date.now() - 7 * 86_400_000) / HOUR) * HOUR;
const FROM = W - HOUR;
const TO = W + 24 * HOUR;

test('tickets: list with filters and SLA fields, detail with comments and status history', async () => {
  // acme: answered in 1 h (in time), resolved in 3 h (in time).
  await createTicket(
    'pos-a1/printer0/cutter-wear-out',
    {
      customer: 'acme',
      site: 'riyadh-1',
      device: 'pos-a1',
      peripheral: 'printer0',
      issueType: 'Hardware Failure',
      priority: 'High',
      sla: { responseBy: W + 2 * HOUR, resolutionBy: W + 4 * HOUR },
    },
    W,
  );
  setStatus('pos-a1/printer0/cutter-wear-out', 'ack', W + HOUR, 'on our way');
  setStatus('pos-a1/printer0/cutter-wear-out', 'resolve', W + 3 * HOUR, 'cutter replaced');
  // globex: answered late (3 h for a 2 h response), not resolved, resolution deadline long past.
  await createTicket(
    'pos-b2/printer0/autocutter-error',
    {
      customer: 'globex',
      site: 'jeddah-2',
      device: 'pos-b2',
      peripheral: 'printer0',
      issueType: 'Hardware Failure',
      priority: 'Urgent',
      sla: { responseBy: W + 2 * HOUR, resolutionBy: W + 5 * HOUR },
    },
    W + 30 * 60_000,
  );
  setStatus('pos-b2/printer0/autocutter-error', 'ack', W + 3.5 * HOUR);
  // A CSV-hostile customer: comma, quotes, a formula.
  await createTicket(
    'pos-b2/-/clock-drift',
    { customer: '=HYPERLINK("x"), "Gulf" Ltd', site: null, device: 'pos-b2', peripheral: null, issueType: 'Firmware Update', priority: 'Low' },
    W + 2 * HOUR,
  );

  const all = (await viewer.get<TicketsAnswer>('/api/tickets?limit=1000')).body;
  assert.ok(all.total >= 3);
  const open = (await viewer.get<TicketsAnswer>('/api/tickets?open=true&limit=1000')).body.items;
  assert.not.ok(
    open.some((t) => t.ref === 'pos-a1/printer0/cutter-wear-out'),
    'resolved is not open',
  );
  assert.ok(open.some((t) => t.ref === 'pos-b2/printer0/autocutter-error'));
  assert.equal(
    (await viewer.get<TicketsAnswer>('/api/tickets?priority=Urgent')).body.items.map((t) => t.ref),
    ['pos-b2/printer0/autocutter-error'],
  );
  assert.equal(
    (await viewer.get<TicketsAnswer>('/api/tickets?status=Resolved,Closed')).body.items.map((t) => t.ref),
    ['pos-a1/printer0/cutter-wear-out'],
  );
  assert.equal(
    (await viewer.get<TicketsAnswer>(`/api/tickets?type=${encodeURIComponent('Firmware Update')}`)).body.items.map((t) => t.ref),
    ['pos-b2/-/clock-drift'],
  );
  assert.ok((await viewer.get<TicketsAnswer>('/api/tickets?customer=globex&limit=1000')).body.items.every((t) => t.customer === 'globex'));
  assert.ok((await viewer.get<TicketsAnswer>('/api/tickets?device=pos-a1&limit=1000')).body.items.every((t) => t.device === 'pos-a1'));
  const paged = (await viewer.get<TicketsAnswer>('/api/tickets?limit=1&offset=1')).body;
  assert.equal([paged.items.length, paged.total], [1, all.total]);
  assert.is(paged.items[0].ref, all.items[1].ref, 'newest first, paged');
  const urgent = all.items.find((t) => t.ref === 'pos-b2/printer0/autocutter-error')!;
  assert.equal(urgent.sla, { serviceLevelAgreement: 'Standard', responseBy: W + 2 * HOUR, resolutionBy: W + 5 * HOUR, agreementStatus: 'First Response Due' });

  const d = (await viewer.get<TicketDetail>('/api/tickets/' + encodeURIComponent('pos-a1/printer0/cutter-wear-out'))).body;
  assert.equal(d.statusHistory, [
    { status: 'Open', at: W },
    { status: 'Replied', at: W + HOUR },
    { status: 'Resolved', at: W + 3 * HOUR },
  ]);
  assert.is(d.firstRespondedAt, W + HOUR);
  assert.equal(
    d.comments.map((c) => c.body),
    ['on our way', 'cutter replaced'],
  );
  assert.is(d.description, 'what was seen');
  assert.equal(d.links, [], 'no external ticket systems configured');
  assert.is(d.status, 'Resolved');
});

test('reports: problems, SLA, hours, MTBF and top devices over a range and a tenant', async () => {
  const q = `from=${FROM}&to=${TO}`;
  const p = (await viewer.get<ProblemsReport>(`/api/reports/problems?${q}`)).body;
  assert.is(p.total, 3);
  assert.equal(p.byIssueType, [
    { key: 'Hardware Failure', count: 2 },
    { key: 'Firmware Update', count: 1 },
  ]);
  assert.equal(
    p.byModel.find((m) => m.key === 'Epson TM-T88VI'),
    { key: 'Epson TM-T88VI', count: 2 },
  );
  assert.equal(p.byProblem.map((x) => x.key).sort(), ['autocutter-error', 'clock-drift', 'cutter-wear-out']);
  const acmeOnly = (await viewer.get<ProblemsReport>(`/api/reports/problems?${q}&tenant=acme`)).body;
  assert.equal(acmeOnly.byCustomer, [{ key: 'acme', count: 1 }]);

  const sla = (await viewer.get<SlaReport>(`/api/reports/sla?${q}`)).body;
  const acme = sla.customers.find((c) => c.customer === 'acme')!;
  assert.equal(
    [acme.tickets, acme.response, acme.resolution, acme.medianFirstResponseMs, acme.compliance],
    [1, { fulfilled: 1, failed: 0, pending: 0 }, { fulfilled: 1, failed: 0, pending: 0 }, HOUR, 1],
  );
  const globex = sla.customers.find((c) => c.customer === 'globex')!;
  assert.equal(
    [globex.response, globex.resolution, globex.medianFirstResponseMs, globex.compliance],
    [{ fulfilled: 0, failed: 1, pending: 0 }, { fulfilled: 0, failed: 1, pending: 0 }, 3 * HOUR, 0],
  );
  const noSla = sla.customers.find((c) => c.customer.includes('Gulf'))!;
  assert.equal([noSla.tickets, noSla.response, noSla.compliance], [1, { fulfilled: 0, failed: 0, pending: 0 }, null], 'no SLA: counted, not judged');

  const hours = (await viewer.get<HoursReport>(`/api/reports/hours?${q}&tz=Asia/Riyadh`)).body;
  assert.is(hours.total, 3);
  const wd = (new Date(W + 3 * HOUR).getUTCDay() + 6) % 7; // Riyadh is UTC+3 all year
  const h = new Date(W + 3 * HOUR).getUTCHours();
  assert.is(hours.counts[wd][h], 2, 'two opened in the first hour, Riyadh time');
  assert.is(
    hours.counts.flat().reduce((a, b) => a + b, 0),
    3,
  );

  const mtbf = (await viewer.get<MtbfReport>(`/api/reports/mtbf?from=${FROM}&to=${Date.now()}`)).body;
  const t88 = mtbf.models.find((m) => m.model === 'Epson TM-T88VI')!;
  assert.equal([t88.kind, t88.units, t88.failures], ['printer', 2, 2]);
  assert.ok(t88.unitDays > 0 && t88.unitDays < 1, 'exposure counts from when the NOC first saw the units');
  assert.ok(Math.abs(t88.mtbfDays! - t88.unitDays / 2) < 1e-5, `${t88.mtbfDays} = ${t88.unitDays} / 2`);

  const top = (await viewer.get<TopDevicesReport>(`/api/reports/top-devices?${q}`)).body;
  assert.equal(
    top.devices.map((d) => [d.device, d.tickets, d.hardwareFailures, d.openTickets]),
    [
      ['pos-b2', 2, 1, 2],
      ['pos-a1', 1, 1, 0],
    ],
  );
  assert.equal(top.devices[0].problems.sort(), ['autocutter-error', 'clock-drift']);
  assert.is((await viewer.get<TopDevicesReport>(`/api/reports/top-devices?${q}&limit=1`)).body.devices.length, 1);
});

test('reports as CSV: a header row, fields quoted and escaped, formulas defused', async () => {
  const q = `from=${FROM}&to=${TO}&format=csv`;
  const r = await viewer.get(`/api/reports/problems?${q}`);
  assert.is(r.status, 200);
  assert.match(r.headers.get('content-type')!, 'text/csv');
  assert.match(r.headers.get('content-disposition')!, /attachment; filename="fleetcare-problems-\d{4}-\d\d-\d\d-\d{4}-\d\d-\d\d\.csv"/);
  const rows = parseCsvRows(r.text);
  assert.ok(Array.isArray(rows), JSON.stringify(rows));
  const cells = (rows as Array<{ cells: string[] }>).map((x) => x.cells);
  assert.equal(cells[0], ['dimension', 'value', 'tickets']);
  assert.ok(
    cells.some((c) => c[0] === 'customer' && c[1] === `'=HYPERLINK("x"), "Gulf" Ltd` && c[2] === '1'),
    JSON.stringify(cells),
  );
  assert.match(r.text, `customer,"'=HYPERLINK(""x""), ""Gulf"" Ltd",1`);
  for (const name of ['sla', 'hours', 'mtbf', 'top-devices']) {
    const x = await viewer.get(`/api/reports/${name}?${q}`);
    assert.is(x.status, 200);
    const parsed = parseCsvRows(x.text) as Array<{ cells: string[] }>;
    assert.ok(parsed.length >= 2, `${name}: header and rows`);
    assert.ok(
      parsed.every((row) => row.cells.length === parsed[0].cells.length),
      `${name}: every row as wide as the header`,
    );
  }
  const hours = parseCsvRows((await viewer.get(`/api/reports/hours?${q}`)).text) as Array<{ cells: string[] }>;
  assert.equal(
    hours.map((x) => x.cells[0]),
    ['weekday (UTC)', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'],
  );
  // The field rules on their own.
  assert.is(csvField('plain'), 'plain');
  assert.is(csvField('a,b'), '"a,b"');
  assert.is(csvField('say "hi"'), '"say ""hi"""');
  assert.is(csvField('two\nlines'), '"two\nlines"');
  assert.is(csvField(' padded'), '" padded"');
  assert.is(csvField('-1+1'), "'-1+1");
  assert.is(csvField('@SUM(A1)'), "'@SUM(A1)");
  assert.is(csvField(-3.5), '-3.5', 'numbers are left alone');
  assert.is(csvField(null), '');
});

// ---- remote commands and live updates ------------------------------------------------------------

test('remote commands: a real round trip to the agent, results kept; an offline device’s command expires', async () => {
  const stream = (await LiveStream.open(viewer)).stream;
  try {
    const sent = await operator.post<CommandAccepted>('/api/devices/pos-a1/commands', { name: 'self-test', peripheral: 'printer0' });
    assert.is(sent.status, 202);
    assert.equal([sent.body.status, sent.body.deviceOnline, sent.body.user, sent.body.peripheral], ['pending', true, 'operator', 'printer0']);
    const done = await waitFor('self-test answered', async () => {
      const c = (await viewer.get<RemoteCommand>(`/api/commands/${sent.body.id}`)).body;
      return c.status !== 'pending' ? c : null;
    });
    assert.is(done.status, 'ok');
    assert.equal((done.result as { headOk: boolean }).headOk, true);
    assert.ok(done.answeredAt! >= done.sentAt);
    await waitFor('command live event', () => stream.events.some((e) => e.type === 'command' && e.id === sent.body.id && e.status === 'ok'));

    const counters = (await operator.post<CommandAccepted>('/api/devices/pos-a1/commands', { name: 'read-counters', peripheral: 'printer0' })).body;
    const rc = await waitFor('read-counters answered', async () => {
      const c = (await viewer.get<RemoteCommand>(`/api/commands/${counters.id}`)).body;
      return c.status === 'ok' ? c : null;
    });
    assert.ok((rc.result as { printer0: { counters: { autocutterCuts: number } } }).printer0.counters.autocutterCuts > 1_700_000);

    // The agent's own refusal is a failed command with its reason.
    const bad = (await operator.post<CommandAccepted>('/api/devices/pos-a1/commands', { name: 'recover', peripheral: 'printer0' })).body;
    const failed = await waitFor('recover answered', async () => {
      const c = (await viewer.get<RemoteCommand>(`/api/commands/${bad.id}`)).body;
      return c.status !== 'pending' ? c : null;
    });
    assert.equal([failed.status, failed.error], ['failed', 'unsupported command recover']);

    const off = await operator.post<CommandAccepted>('/api/devices/pos-b2/commands', { name: 'ping' });
    assert.equal([off.status, off.body.deviceOnline, off.body.status], [202, false, 'pending']);
    const expired = await waitFor(
      'offline command expired',
      async () => {
        const c = (await viewer.get<RemoteCommand>(`/api/commands/${off.body.id}`)).body;
        return c.status !== 'pending' ? c : null;
      },
      10_000,
    );
    assert.equal([expired.status, expired.answeredAt, expired.error], ['expired', null, 'no answer before the deadline']);
    assert.ok(stream.events.some((e) => e.type === 'command' && e.id === off.body.id && e.status === 'expired'));

    const list = (await viewer.get<{ items: RemoteCommand[] }>('/api/devices/pos-a1/commands?limit=3')).body.items;
    assert.equal(
      list.map((c) => c.id),
      [bad.id, counters.id, sent.body.id],
      'newest first',
    );
  } finally {
    stream.close();
  }
});

test('live: device, health and ticket events arrive over SSE', async () => {
  const stream = (await LiveStream.open(viewer)).stream;
  try {
    const printer = printers.get('pos-a1')!;
    printer.health = 'warning';
    printer.faults = ['paper-near-end'];
    const h = await waitFor('health event', () =>
      stream.events.find((e) => e.type === 'health' && e.device === 'pos-a1' && e.peripheral === 'printer0' && e.health === 'warning'),
    );
    assert.equal(h.type === 'health' && h.faults, ['paper-near-end']);
    printer.health = 'ok';
    printer.faults = [];
    await waitFor('recovery event', () => stream.events.some((e) => e.type === 'health' && e.device === 'pos-a1' && e.health === 'ok'));
    const healthEvents = stream.events.filter((e) => e.type === 'health' && e.device === 'pos-a1' && e.peripheral === 'printer0').length;
    assert.is(healthEvents, 2, 'only changes are sent, not every sample');

    await startDevice('pos-b2', 'jeddah-2', 'globex', 0);
    await waitFor('device online event', () => stream.events.some((e) => e.type === 'device' && e.device === 'pos-b2' && e.online));

    const ref = await createTicket(
      'pos-a1/printer0/cover-open',
      { customer: 'acme', site: 'riyadh-1', device: 'pos-a1', peripheral: 'printer0', issueType: 'Consumable' },
      Date.now(),
    );
    await waitFor('ticket created event', () =>
      stream.events.some((e) => e.type === 'ticket' && e.ref === ref && e.change === 'created' && e.status === 'Open'),
    );
    setStatus('pos-a1/printer0/cover-open', 'ack', Date.now());
    await waitFor('ticket updated event', () =>
      stream.events.some((e) => e.type === 'ticket' && e.ref === ref && e.change === 'updated' && e.status === 'Replied'),
    );
  } finally {
    stream.close();
  }
});

test.run();
