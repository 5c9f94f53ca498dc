// bench/parts-forecast: the cost of one parts-forecast request at fleet scale without HTTP: the
// detectors' wear ETAs read from a DetectorEngine (engine.partWear) for N devices, each with an
// ESC/POS printer (cutter, head) and a card reader (read head) fed `--days` daily counter
// readings, joined with the fleet's regions (forecastDevices) and a share of open wear tickets,
// then partsForecast for 90 days. Prints p50/max milliseconds of each step over `--rounds`.
//
//   npx tsc -p . && node dist/bench/parts-forecast.js [--devices 10000] [--days 10] [--rounds 20]
import { benchFlags } from './help.js';
import { defaultFirmwareProfilesDir, loadFirmwareProfiles } from '../firmware-profiles/index.js';
import { DetectorEngine, quantile } from '../collector/detectors/index.js';
import { forecastDevices, partsForecast, type ForecastTicket } from '../collector/parts/forecast.js';

const { devices: N, days: DAYS, rounds: ROUNDS } = benchFlags(import.meta.url, { devices: 10000, days: 10, rounds: 20 });
const DAY = 86_400_000;

const list = loadFirmwareProfiles(defaultFirmwareProfilesDir());
const profiles = new Map(list.map((p) => [p.id, p]));
const engine = new DetectorEngine(list);
const now = Date.UTC(2026, 0, 1);
const fleet: Array<{ device: string; site: string; tenant: string; peripherals: Array<{ id: string; profile: string }> }> = [];
const tickets: ForecastTicket[] = [];
for (let i = 0; i < N; i++) {
  const device = `pos-${i}`;
  const site = `site-${i % 500}`;
  const tenant = `tenant-${i % 20}`;
  fleet.push({
    device,
    site,
    tenant,
    peripherals: [
      { id: 'printer0', profile: 'epson-tm-t90' },
      { id: 'msr0', profile: 'generic-serial-msr' },
    ],
  });
  // Ages and daily use spread over the fleet: some parts are due within days, most much later.
  const age = (i % 97) / 100;
  for (let d = DAYS; d >= 0; d--) {
    const at = now - d * DAY;
    const used = DAYS - d;
    engine.observeSample({
      device,
      site,
      peripheral: 'printer0',
      kind: 'printer',
      profile: 'epson-tm-t90',
      at,
      counters: {
        autocutterCuts: Math.round(age * 2e6 + used * (500 + (i % 7) * 300)),
        headEnergizing: Math.round(age * 1.5e8 + used * 40_000),
        linesFed: Math.round(age * 2e7 + used * 20_000),
      },
    });
    engine.observeSample({
      device,
      site,
      peripheral: 'msr0',
      kind: 'card-reader',
      profile: 'generic-serial-msr',
      at,
      counters: { swipes: Math.round(age * 1e6 + used * 300) },
    });
  }
  if (i % 10 === 0)
    tickets.push({
      ref: `${device}/printer0/cutter-wear-out`,
      key: `${device}/printer0/cutter-wear-out`,
      device,
      peripheral: 'printer0',
      site,
      customer: tenant,
    });
}

const times = { partWear: [] as number[], join: [] as number[], forecast: [] as number[] };
let rows = 0;
let total = 0;
let parts = 0;
for (let r = 0; r < ROUNDS; r++) {
  let t = performance.now();
  const wear = engine.partWear(now);
  times.partWear.push(performance.now() - t);
  t = performance.now();
  const devices = forecastDevices(wear, fleet);
  times.join.push(performance.now() - t);
  t = performance.now();
  const f = partsForecast({ devices, profiles, openTickets: tickets, now, horizonDays: 90 });
  times.forecast.push(performance.now() - t);
  rows = f.rows.length;
  total = f.total;
  parts = wear.length;
}
const fmt = (xs: number[]) => `p50 ${quantile(xs, 0.5).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms`;
console.log(`${N} devices, ${parts} followed parts, ${tickets.length} open wear tickets, horizon 90 days → ${rows} rows, ${total} parts`);
for (const [k, v] of Object.entries(times)) console.log(`  ${k.padEnd(9)} ${fmt(v)}`);
