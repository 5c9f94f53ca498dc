// Fleet summary, device list and detail, telemetry series and events.
import type { TelemetryStore } from '../../collector/index.js';
import { findingKey, partFailureMode } from '../../collector/detectors/types.js';
import {
  devicesQuery,
  eventsQuery,
  seriesQuery,
  type DeviceDetail,
  type DevicesAnswer,
  type EventsAnswer,
  type FleetSummary,
  type PartWear,
  type PeripheralDetail,
  type SeriesAnswer,
} from '../api.js';
import { needCollector, servedWith, type NocContext } from '../context.js';
import { measuredEntries, partWearOf, type FleetView } from '../fleet-view.js';
import { HttpError, route, type Route } from '../http.js';
import type { TicketsView } from '../tickets.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const MAX_RANGE_MS = 400 * DAY;

export type DeviceServices = { fleet: FleetView | null; tickets: TicketsView | null };

/** Counter steps per day over the recent past, after the last drop of the counter (a replaced part). */
async function usageRatePerDay(store: TelemetryStore, device: string, peripheral: string, metric: string, now: number): Promise<number | null> {
  // Longest window with enough history: a month for a fleet in service, shorter for a young one.
  for (const [span, buckets] of [
    [30 * DAY, 300],
    [DAY, 288],
    [HOUR, 120],
  ] as const) {
    const { points } = await store.seriesBuckets({ device, peripheral, field: metric, from: now - span, to: now, buckets });
    let start = 0;
    for (let i = 1; i < points.length; i++) if (points[i].value < points[i - 1].value) start = i;
    const seg = points.slice(start);
    if (seg.length < 3) continue;
    const ms = seg[seg.length - 1].ts - seg[0].ts;
    if (ms < 10 * 60_000) continue;
    const perMs = (seg[seg.length - 1].value - seg[0].value) / ms;
    return perMs > 0 ? perMs * DAY : null;
  }
  return null;
}

function range(q: { from?: number; to?: number }, defaultSpan: number, now: number): { from: number; to: number } {
  const to = q.to ?? now;
  const from = q.from ?? to - defaultSpan;
  if (from > to) throw new HttpError(400, 'query.from: must not be after to (to defaults to now)');
  if (to - from > MAX_RANGE_MS) throw new HttpError(400, `query.from: range longer than ${MAX_RANGE_MS / DAY} days`);
  return { from, to };
}

export function deviceRoutes(ctx: NocContext, s: DeviceServices): Route[] {
  const fleet = servedWith(needCollector, ctx, s.fleet);
  const openCounts = async () =>
    (await s.tickets?.openCounts()) ?? {
      byDevice: new Map<string, number>(),
      bySite: new Map<string, number>(),
      byPriority: { Urgent: 0, High: 0, Medium: 0, Low: 0 },
    };
  const known = (id: string) => {
    const d = needCollector(ctx).device(id);
    if (!d) throw new HttpError(404, `no device ${id}`);
    return d;
  };

  return [
    route({
      method: 'GET',
      path: '/api/fleet',
      role: 'viewer',
      async handle() {
        const open = await openCounts();
        const json: FleetSummary = fleet().fleetSummary(open.byDevice, open.bySite, open.byPriority, Date.now());
        return { json };
      },
    }),
    route({
      method: 'GET',
      path: '/api/devices',
      role: 'viewer',
      query: devicesQuery,
      async handle({ query }) {
        const { sort, limit, offset, ...filter } = query;
        const page = fleet().list(filter, sort, offset, limit, (await openCounts()).byDevice);
        const json: DevicesAnswer = { total: page.total, offset, limit, items: page.items };
        return { json };
      },
    }),
    route({
      method: 'GET',
      path: '/api/devices/:id',
      role: 'viewer',
      async handle({ params }) {
        const d = known(params.id);
        const collector = needCollector(ctx);
        const now = Date.now();
        const latest = new Map((await collector.store.latest(d.device)).map((l) => [l.peripheral, l]));
        const ids = [...new Set([...d.peripherals.map((p) => p.id), ...Object.keys(d.health), ...latest.keys()])];
        const peripherals: PeripheralDetail[] = await Promise.all(
          ids.map(async (id) => {
            const inv = d.peripherals.find((p) => p.id === id);
            const h = d.health[id];
            const l = latest.get(id);
            const profile = inv?.profile ? fleet().profiles.get(inv.profile) : undefined;
            const wear: PartWear[] = [];
            for (const e of measuredEntries(profile)) {
              const counter = l?.counters[e.metric];
              if (counter === undefined) continue;
              const base = partWearOf(e, counter, profile!);
              let eta: number | null = null;
              let etaSource: PartWear['etaSource'] = null;
              let ratePerDay: number | null = null;
              if (e.basis === 'life') {
                // Same key as the wear-out detector's incident of this part (detectors/types.ts partFailureMode).
                const incident = await ctx.incidents?.incidents?.get(findingKey(d.device, id, partFailureMode(e.part)));
                if (incident && (incident.state === 'open' || incident.state === 'pending') && incident.eta !== null) {
                  eta = incident.eta;
                  etaSource = 'incident';
                  ratePerDay = typeof incident.figures.ratePerDay === 'number' ? incident.figures.ratePerDay : null;
                } else {
                  ratePerDay = await usageRatePerDay(collector.store, d.device, id, e.metric, now);
                  if (base.lifeUsed >= 1) eta = l!.ts;
                  else if (ratePerDay) eta = Math.round(now + ((base.ratedCounts - counter) / ratePerDay) * DAY);
                  if (eta !== null) etaSource = 'usage-rate';
                }
              }
              wear.push({
                ...base,
                lifeUsed: Math.round(base.lifeUsed * 10_000) / 10_000,
                eta,
                etaSource,
                ratePerDay: ratePerDay === null ? null : Math.round(ratePerDay * 100) / 100,
              });
            }
            return {
              id,
              kind: inv?.kind ?? h?.kind ?? l?.kind ?? 'unknown',
              vendor: inv?.vendor ?? null,
              model: inv?.model ?? null,
              serial: inv?.serial ?? null,
              firmware: inv?.firmware ?? null,
              profile: inv?.profile ?? null,
              port: inv?.port ?? null,
              health: (h?.health ?? l?.health ?? 'unknown') as PeripheralDetail['health'],
              faults: h?.faults ?? l?.faults ?? [],
              latest: l ? { ts: l.ts, metrics: l.metrics, counters: l.counters } : null,
              wear,
            };
          }),
        );
        const tickets = (await s.tickets?.ofDevice(d.device, 50)) ?? [];
        const openTickets = tickets.filter((t) => t.status !== 'Resolved' && t.status !== 'Closed').length;
        const summary = fleet().deviceSummary(d.device, openTickets)!;
        const json: DeviceDetail = { device: { ...summary, os: d.os ?? null, clockOffsetMs: d.clockOffsetMs ?? null }, peripherals, tickets };
        return { json };
      },
    }),
    route({
      method: 'GET',
      path: '/api/devices/:id/series',
      role: 'viewer',
      query: seriesQuery,
      async handle({ params, query }) {
        const d = known(params.id);
        if (!d.peripherals.some((p) => p.id === query.peripheral) && !d.health[query.peripheral]) {
          throw new HttpError(
            404,
            `device ${d.device} has no peripheral ${query.peripheral} (has: ${[...new Set([...d.peripherals.map((p) => p.id), ...Object.keys(d.health)])].join(', ') || 'none'})`,
          );
        }
        const { from, to } = range(query, DAY, Date.now());
        const r = await needCollector(ctx).store.seriesBuckets({
          device: d.device,
          peripheral: query.peripheral,
          field: query.field,
          from,
          to,
          buckets: query.points,
        });
        const json: SeriesAnswer = { device: d.device, peripheral: query.peripheral, field: query.field, from, to, bucketMs: r.bucketMs, points: r.points };
        return { json };
      },
    }),
    route({
      method: 'GET',
      path: '/api/devices/:id/events',
      role: 'viewer',
      query: eventsQuery,
      async handle({ params, query }) {
        const d = known(params.id);
        const { from, to } = range(query, 7 * DAY, Date.now());
        const items = await needCollector(ctx).store.events(d.device, from, to, query.limit);
        const json: EventsAnswer = { device: d.device, from, to, items };
        return { json };
      },
    }),
  ];
}
