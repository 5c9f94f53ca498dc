// The parts forecast report: spare parts per tenant and site for the next 30/60/90 days, JSON or
// CSV, from the detectors' wear ETAs, the fleet's regions and inventories, and open wear tickets.
import type { CollectorHandle } from '../../collector/index.js';
import { forecastDevices, partsForecast, type ForecastTicket, type PartsForecastReport } from '../../collector/parts/forecast.js';
import { partsForecastQuery } from '../api.js';
import { needCollector, needDetectors, type NocContext } from '../context.js';
import type { FleetView } from '../fleet-view.js';
import { route, type Route, sendCsvDownload } from '../http.js';
import { toCsv } from '../reports.js';
import type { TicketsView } from '../tickets.js';

/** Open tickets for the forecast (the one place the forecast reads tickets; only wear keys matter to it). */
async function openTickets(tickets: TicketsView): Promise<ForecastTicket[]> {
  const { items } = await tickets.list({ open: true }, 0, 1_000_000);
  return items.map((t) => ({ ref: t.ref, key: t.key, device: t.device, peripheral: t.peripheral, site: t.site, customer: t.customer }));
}

/** Region and inventory of every device (only the fields the forecast reads are copied). */
function fleetRegions(collector: CollectorHandle) {
  const out: Array<{ device: string; site: string | null; tenant: string | null; peripherals: Array<{ id: string; profile: string | null }> }> = [];
  collector.forEachDevice((d) =>
    out.push({
      device: d.device,
      site: d.site ?? null,
      tenant: d.tenant ?? null,
      peripherals: d.peripherals.map((p) => ({ id: p.id, profile: p.profile ?? null })),
    }),
  );
  return out;
}

export function partsForecastCsv(f: PartsForecastReport, lang: 'en' | 'ar' | 'fa' | 'zh'): string {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString().slice(0, 10));
  return toCsv(
    [
      'tenant',
      'site',
      'model_profile',
      'part',
      'part_number',
      `name_${lang}`,
      'quantity',
      'from_tickets',
      'from_eta',
      'earliest_eta',
      'swap_minutes',
      'swap_minutes_total',
      'units',
      'tickets',
    ],
    f.rows.map((r) => [
      r.tenant,
      r.site,
      r.profile,
      r.part,
      r.partNumber ?? 'unknown',
      r.name?.[lang] ?? null,
      r.quantity,
      r.fromTickets,
      r.fromEta,
      iso(r.earliestEta),
      r.swapMinutes,
      r.swapMinutesTotal,
      r.units.join('; '),
      r.tickets.join('; '),
    ]),
  );
}

export function partsRoutes(ctx: NocContext, s: { fleet: FleetView | null; tickets: TicketsView | null }): Route[] {
  return [
    route({
      method: 'GET',
      path: '/api/reports/parts-forecast',
      role: 'viewer',
      query: partsForecastQuery,
      async handle({ query, res }) {
        const incidents = needDetectors(ctx);
        const collector = needCollector(ctx);
        const now = Date.now();
        const report = partsForecast({
          devices: forecastDevices(incidents.partWear(now), fleetRegions(collector)),
          profiles: s.fleet!.profiles,
          openTickets: await openTickets(s.tickets!),
          now,
          horizonDays: query.horizon,
          tenant: query.tenant,
        });
        if (query.format === 'json') return { json: report };
        const body = partsForecastCsv(report, query.lang);
        return sendCsvDownload(res, `fleetcare-parts-forecast-${query.horizon}d-${new Date(now).toISOString().slice(0, 10)}.csv`, body);
      },
    }),
  ];
}
