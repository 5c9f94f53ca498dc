// Parts to bring: the forecast of spare parts per region from wear ETAs and open tickets (hand-made
// inputs against the shipped profiles), the detectors' wear ETAs it reads, and the part named in a
// wear ticket's text in the ticket's language.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultFirmwareProfilesDir, loadFirmwareProfiles } from '../../firmware-profiles/index.js';
import { forecastDevices, partOfTicketKey, partsForecast, type ForecastDevice, type ForecastTicket } from '../../collector/parts/forecast.js';
import { DetectorEngine } from '../../collector/detectors/index.js';
import { sparePartFor, ticketDescription } from '../../collector/incidents/ticket-text.js';
import type { Incident } from '../../collector/incidents/store.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 5, 1);
const profiles = new Map(loadFirmwareProfiles(defaultFirmwareProfilesDir()).map((p) => [p.id, p]));

const printer = (peripheral: string, profile: string, parts: Array<[string, number | null]>) => ({
  peripheral,
  profile,
  parts: parts.map(([part, eta]) => ({ part, eta })),
});

const devices: ForecastDevice[] = [
  { device: 'pos-1', site: 'riyadh-1', tenant: 'acme', peripherals: [printer('printer0', 'epson-tm-t88vi', [['cutter', NOW + 10 * DAY]])] },
  { device: 'pos-2', site: 'riyadh-1', tenant: 'acme', peripherals: [printer('printer0', 'epson-tm-t88vi', [['cutter', NOW + 45 * DAY]])] },
  // Already past its end of life: due now.
  { device: 'pos-3', site: 'riyadh-1', tenant: 'acme', peripherals: [printer('printer0', 'epson-tm-t88vi', [['cutter', NOW - 2 * DAY]])] },
  // Cutter far off, head within 60 days; the fingerprint module has no ETA yet.
  {
    device: 'pos-4',
    site: 'jeddah-2',
    tenant: 'acme',
    peripherals: [
      printer('printer0', 'epson-tm-t90', [
        ['cutter', NOW + 200 * DAY],
        ['head', NOW + 50 * DAY],
      ]),
      printer('fp0', 'grow-r503', [['sensor-window', null]]),
    ],
  },
  { device: 'pos-5', site: 'tehran-1', tenant: 'bazaar', peripherals: [printer('fp0', 'grow-r503', [['sensor-window', NOW + 80 * DAY]])] },
];

const tickets: ForecastTicket[] = [
  // The same worn cutter as pos-1's ETA: one part, from the ticket.
  { ref: 'T-1', key: 'pos-1/printer0/cutter-wear-out', device: 'pos-1', peripheral: 'printer0', site: 'riyadh-1', customer: 'acme' },
  // A predicted failure whose ETA the detectors do not know (yet): still one part to bring.
  { ref: 'T-2', key: 'pos-4/fp0/sensor-window-wear-out', device: 'pos-4', peripheral: 'fp0', site: 'jeddah-2', customer: 'acme' },
  // A device the fleet does not know: its region from the ticket, its model unknown.
  { ref: 'T-3', key: 'pos-9/printer0/head-wear-out', device: 'pos-9', peripheral: 'printer0', site: 'tehran-1', customer: 'bazaar' },
  // Not a worn part: no spare part.
  { ref: 'T-4', key: 'pos-2/printer0/autocutter-error', device: 'pos-2', peripheral: 'printer0', site: 'riyadh-1', customer: 'acme' },
];

test('30 days: ETAs inside the horizon and open wear tickets, one per worn part, grouped per tenant, site, model and part', () => {
  const f = partsForecast({ devices, profiles, openTickets: tickets, now: NOW, horizonDays: 30 });
  assert.is(f.until, NOW + 30 * DAY);
  const brief = f.rows.map((r) => [r.tenant, r.site, r.profile, r.part, r.quantity, r.fromTickets, r.fromEta]);
  assert.equal(brief, [
    ['acme', 'jeddah-2', 'grow-r503', 'sensor-window', 1, 1, 0],
    ['acme', 'riyadh-1', 'epson-tm-t88vi', 'cutter', 2, 1, 1],
    ['bazaar', 'tehran-1', null, 'head', 1, 1, 0],
  ]);
  assert.is(f.total, 4);
  const cutters = f.rows[1];
  assert.equal(cutters.units, ['pos-1/printer0', 'pos-3/printer0']);
  assert.equal(cutters.tickets, ['T-1']);
  assert.is(cutters.earliestEta, NOW - 2 * DAY, 'an overdue part is due now');
  assert.is(cutters.name?.en, 'Autocutter unit');
  assert.is(cutters.name?.fa, 'واحد کاتر خودکار');
  assert.is(cutters.partNumber, null, 'no documented part number: unknown, not invented');
  assert.equal([cutters.swapMinutes, cutters.swapMinutesTotal], [20, 40]);
  assert.is(f.rows[0].partNumber, 'R503');
  assert.is(f.rows[0].earliestEta, null);
  assert.equal([f.rows[2].name, f.rows[2].partNumber, f.rows[2].swapMinutes, f.rows[2].swapMinutesTotal], [null, null, null, null]);
});

test('60 and 90 days take in later ETAs; tenant narrows to one customer; nothing due is an empty forecast', () => {
  const f60 = partsForecast({ devices, profiles, openTickets: tickets, now: NOW, horizonDays: 60 });
  assert.is(f60.total, 6);
  const row = (f: typeof f60, site: string, part: string) => f.rows.find((r) => r.site === site && r.part === part);
  assert.is(row(f60, 'riyadh-1', 'cutter')?.quantity, 3);
  assert.is(row(f60, 'jeddah-2', 'head')?.earliestEta, NOW + 50 * DAY);
  assert.is(row(f60, 'jeddah-2', 'cutter'), undefined, 'the cutter due in 200 days is not in 60');
  const f90 = partsForecast({ devices, profiles, openTickets: tickets, now: NOW, horizonDays: 90, tenant: 'bazaar' });
  assert.equal(
    f90.rows.map((r) => [r.site, r.profile, r.part, r.quantity]),
    [
      ['tehran-1', 'grow-r503', 'sensor-window', 1],
      ['tehran-1', null, 'head', 1],
    ],
  );
  assert.is(f90.tenant, 'bazaar');
  const none = partsForecast({ devices: [], profiles, openTickets: [], now: NOW, horizonDays: 30 });
  assert.equal([none.total, none.rows], [0, []]);
});

test('the part of a ticket comes from its failure mode; forecastDevices joins fleet regions and detector wear', () => {
  assert.is(partOfTicketKey('pos-1/printer0/cutter-wear-out'), 'cutter');
  assert.is(partOfTicketKey('pos-1/fp0/sensor-window-wear-out'), 'sensor-window');
  assert.is(partOfTicketKey('pos-1/printer0/autocutter-error'), null);
  assert.is(partOfTicketKey('pos-1/printer0/toaster-wear-out'), null);
  const joined = forecastDevices(
    [
      { device: 'pos-1', site: 's-old', peripheral: 'printer0', profile: 'epson-tm-t88vi', part: 'cutter', eta: NOW },
      { device: 'pos-7', site: 's-7', peripheral: 'printer0', profile: 'epson-tm-t90', part: 'head', eta: null },
    ],
    [
      {
        device: 'pos-1',
        site: 'riyadh-1',
        tenant: 'acme',
        peripherals: [
          { id: 'printer0', profile: 'epson-tm-t88vi' },
          { id: 'fp0', profile: 'grow-r503' },
        ],
      },
    ],
  );
  assert.equal(joined, [
    {
      device: 'pos-1',
      site: 'riyadh-1',
      tenant: 'acme',
      peripherals: [
        { peripheral: 'printer0', profile: 'epson-tm-t88vi', parts: [{ part: 'cutter', eta: NOW }] },
        { peripheral: 'fp0', profile: 'grow-r503', parts: [] },
      ],
    },
    { device: 'pos-7', site: 's-7', tenant: null, peripherals: [{ peripheral: 'printer0', profile: 'epson-tm-t90', parts: [{ part: 'head', eta: null }] }] },
  ]);
});

test('the detectors give each followed part its ETA to end of rated life (read only)', () => {
  const e = new DetectorEngine([...profiles.values()]);
  const T0 = NOW - 10 * DAY;
  // TM-T88VI cutter: rated 2 M cuts; 10,000 cuts a day from 1.8 M → 100,000 left at the end = 10 days.
  for (let d = 0; d <= 10; d++) {
    e.observeSample({
      device: 'pos-1',
      site: 'riyadh-1',
      peripheral: 'printer0',
      kind: 'printer',
      profile: 'epson-tm-t88vi',
      at: T0 + d * DAY,
      counters: { autocutterCuts: 1_800_000 + d * 10_000, linesFed: 1000 },
    });
  }
  // One reading only: no usage rate, no ETA.
  e.observeSample({ device: 'pos-2', peripheral: 'printer0', kind: 'printer', profile: 'epson-tm-t88vi', at: NOW, counters: { autocutterCuts: 5 } });
  const wear = e.partWear(NOW);
  const p1 = wear.find((w) => w.device === 'pos-1' && w.part === 'cutter')!;
  assert.equal([p1.site, p1.profile, p1.peripheral], ['riyadh-1', 'epson-tm-t88vi', 'printer0']);
  assert.ok(Math.abs(p1.eta! - (NOW + 10 * DAY)) < DAY / 10, `eta ${new Date(p1.eta!).toISOString()}`);
  assert.ok(p1.lifeUsed > 0.94 && p1.lifeUsed < 0.96);
  assert.is(wear.find((w) => w.device === 'pos-2' && w.part === 'cutter')?.eta, null);
  assert.not.ok(
    wear.some((w) => w.part === 'mechanism'),
    'mcbf figures are not an end of life',
  );
});

const incident = (over: Partial<Incident>): Incident => ({
  id: 1,
  key: 'pos-1/printer0/cutter-wear-out',
  device: 'pos-1',
  peripheral: 'printer0',
  failureMode: 'cutter-wear-out',
  site: 'riyadh-1',
  scope: 'device',
  detector: 'wear-out',
  kind: 'predicted-failure',
  priority: 'Low',
  issueType: 'predicted-failure',
  state: 'open',
  figures: { part: 'cutter', lifeUsedPct: 96 },
  eta: NOW + 10 * DAY,
  runbook: { profile: 'epson-tm-t88vi', code: 'general' },
  inhibitableBySite: false,
  firstSeen: NOW,
  lastFiring: NOW,
  openedAt: NOW,
  recoveringSince: null,
  resolvedAt: null,
  closedAt: null,
  holdMs: 0,
  recoverMs: 0,
  reopenCount: 0,
  flapping: false,
  transitions: [],
  ticketed: true,
  muted: false,
  inhibitedBy: null,
  updatedAt: NOW,
  ...over,
});

test('a wear ticket names the part to bring, its number (or unknown) and swap time in the ticket language', () => {
  const wear = incident({});
  const spare = sparePartFor(wear, profiles);
  assert.is(spare?.name.en, 'Autocutter unit');
  const ar = ticketDescription(wear, 'ar', { serial: null, warranty: null, runbook: 'x', now: NOW, sparePart: spare });
  assert.ok(ar.includes('القطعة المطلوب إحضارها: وحدة القاطع الآلي'), ar);
  assert.ok(ar.includes('رقم القطعة غير معروف') && ar.includes('20 دقيقة'), ar);
  const zh = ticketDescription(
    incident({
      key: 'pos-1/fp0/sensor-window-wear-out',
      failureMode: 'sensor-window-wear-out',
      figures: { errorRate: 0.2 },
      kind: 'degradation',
      runbook: { profile: 'grow-r503', code: 'general' },
    }),
    'zh',
    {
      serial: null,
      warranty: null,
      runbook: 'x',
      now: NOW,
      sparePart: sparePartFor(
        incident({ failureMode: 'sensor-window-wear-out', figures: {}, kind: 'degradation', runbook: { profile: 'grow-r503', code: 'general' } }),
        profiles,
      ),
    },
  );
  assert.ok(zh.includes('需携带的备件: 指纹传感器模块（R503） — 零件号 R503 — 典型更换时间: 20 分钟'), zh);
  // A fault that is not a worn part names no part.
  assert.is(sparePartFor(incident({ kind: 'fault', failureMode: 'autocutter-error', figures: { fault: 'autocutter-error' } }), profiles), null);
  assert.is(sparePartFor(incident({ runbook: { profile: 'no-such-profile', code: 'general' } }), profiles), null);
});

test.run();
