// The parts forecast: which spare parts each region (tenant, site) will need in the next N days,
// so the company stocks the vans. A part is needed when an open ticket names it (a predicted
// failure or the part's degradation: failure mode `<part>-wear-out`, detectors/types.ts) or when
// the wear-out detector's ETA to end of rated life falls before the horizon (an ETA already past
// counts too: the part is due now). One worn part is one part needed, however many ways it shows.
// Pure: the NOC and the CLI gather the inputs (collector state, detector wear, open tickets).
import { z } from 'zod';
import { localizedText, wearPart, type FirmwareProfile, type WearPart } from '../../firmware-profiles/schema.js';

const DAY = 86_400_000;
/** Plain set lookup: a zod parse per part costs more than the rest of the forecast for a large fleet. */
const WEAR_PARTS: ReadonlySet<string> = new Set(wearPart.options);
const isWearPart = (s: unknown): s is WearPart => typeof s === 'string' && WEAR_PARTS.has(s);

export const forecastHorizons = [30, 60, 90] as const;
export const forecastHorizon = z.union([z.literal(30), z.literal(60), z.literal(90)]);
export type ForecastHorizon = z.infer<typeof forecastHorizon>;

export const partsForecastRow = z.object({
  tenant: z.string().nullable(),
  site: z.string().nullable(),
  /** Firmware profile of the peripherals (a part number belongs to a model); null when unknown. */
  profile: z.string().nullable(),
  part: wearPart,
  /** Manufacturer part number; null when the profile does not know it (its source note says why). */
  partNumber: z.string().nullable(),
  /** Spare part name in every NOC language; null without a profile entry. */
  name: localizedText.nullable(),
  quantity: z.number().int().positive(),
  /** How many of `quantity` an open ticket asks for; the rest come from wear ETAs alone. */
  fromTickets: z.number().int().nonnegative(),
  fromEta: z.number().int().nonnegative(),
  /** Earliest end-of-life ETA among them (ms); null when only tickets without an ETA ask. */
  earliestEta: z.number().nullable(),
  /** Typical swap time of one part, and of all of them (minutes); null when unknown. */
  swapMinutes: z.number().nullable(),
  swapMinutesTotal: z.number().nullable(),
  /** `device/peripheral` of each unit that needs the part. */
  units: z.array(z.string()),
  /** Refs of the open tickets among them. */
  tickets: z.array(z.string()),
});
export type PartsForecastRow = z.infer<typeof partsForecastRow>;

export const partsForecastReport = z.object({
  horizonDays: forecastHorizon,
  now: z.number(),
  /** now + horizon: ETAs up to here count. */
  until: z.number(),
  tenant: z.string().nullable(),
  /** Parts needed in all rows. */
  total: z.number().int().nonnegative(),
  rows: z.array(partsForecastRow),
});
export type PartsForecastReport = z.infer<typeof partsForecastReport>;

/** A device with its region and, per peripheral, its profile and the wear ETA of each followed part. */
export type ForecastDevice = {
  device: string;
  site: string | null;
  tenant: string | null;
  peripherals: Array<{ peripheral: string; profile: string | null; parts: Array<{ part: string; eta: number | null }> }>;
};

/** An open ticket (not Resolved/Closed); `key` is its dedup key `device/peripheral/failure-mode`. */
export type ForecastTicket = { ref: string; key: string; device: string; peripheral: string | null; site: string | null; customer: string | null };

/** The part an open ticket asks for: failure mode `<part>-wear-out`, else none. */
export function partOfTicketKey(key: string): WearPart | null {
  const m = /\/([^/]+)-wear-out$/.exec(key);
  return m && isWearPart(m[1]) ? m[1] : null;
}

export function partsForecast(input: {
  devices: readonly ForecastDevice[];
  profiles: ReadonlyMap<string, FirmwareProfile>;
  openTickets: readonly ForecastTicket[];
  now: number;
  horizonDays: ForecastHorizon;
  tenant?: string;
}): PartsForecastReport {
  const { now, horizonDays } = input;
  const until = now + horizonDays * DAY;
  type Need = { tenant: string | null; site: string | null; profile: string | null; part: WearPart; eta: number | null; ticket: string | null };
  /** `device/peripheral/part` → the need (one per worn part). */
  const needs = new Map<string, Need>();
  const byDevice = new Map(input.devices.map((d) => [d.device, d]));

  for (const d of input.devices) {
    for (const p of d.peripherals) {
      for (const w of p.parts) {
        if (w.eta === null || w.eta > until || !isWearPart(w.part)) continue;
        needs.set(`${d.device}/${p.peripheral}/${w.part}`, { tenant: d.tenant, site: d.site, profile: p.profile, part: w.part, eta: w.eta, ticket: null });
      }
    }
  }
  for (const t of input.openTickets) {
    const part = partOfTicketKey(t.key);
    if (!part) continue;
    const peripheral = t.peripheral ?? t.key.split('/')[1] ?? 'device';
    const id = `${t.device}/${peripheral}/${part}`;
    const had = needs.get(id);
    if (had) {
      had.ticket ??= t.ref;
      continue;
    }
    const d = byDevice.get(t.device);
    const p = d?.peripherals.find((x) => x.peripheral === peripheral);
    const eta = p?.parts.find((x) => x.part === part)?.eta ?? null;
    needs.set(id, { tenant: d ? d.tenant : t.customer, site: d ? d.site : t.site, profile: p?.profile ?? null, part, eta, ticket: t.ref });
  }

  const rows = new Map<string, PartsForecastRow>();
  for (const [unitPart, n] of needs) {
    if (input.tenant !== undefined && n.tenant !== input.tenant) continue;
    const key = JSON.stringify([n.tenant, n.site, n.profile, n.part]);
    let r = rows.get(key);
    if (!r) {
      const spare = n.profile ? input.profiles.get(n.profile)?.spareParts[n.part] : undefined;
      r = {
        tenant: n.tenant,
        site: n.site,
        profile: n.profile,
        part: n.part,
        partNumber: spare?.partNumber ?? null,
        name: spare?.name ?? null,
        quantity: 0,
        fromTickets: 0,
        fromEta: 0,
        earliestEta: null,
        swapMinutes: spare?.swapMinutes ?? null,
        swapMinutesTotal: null,
        units: [],
        tickets: [],
      };
      rows.set(key, r);
    }
    r.quantity++;
    if (n.ticket) {
      r.fromTickets++;
      r.tickets.push(n.ticket);
    } else r.fromEta++;
    if (n.eta !== null && (r.earliestEta === null || n.eta < r.earliestEta)) r.earliestEta = n.eta;
    r.units.push(unitPart.slice(0, unitPart.lastIndexOf('/')));
  }
  const out = [...rows.values()].map((r) => ({
    ...r,
    swapMinutesTotal: r.swapMinutes === null ? null : r.swapMinutes * r.quantity,
    units: r.units.sort(),
    tickets: r.tickets.sort(),
  }));
  out.sort(
    (a, b) =>
      cmp(a.tenant, b.tenant) ||
      cmp(a.site, b.site) ||
      (a.earliestEta ?? Infinity) - (b.earliestEta ?? Infinity) ||
      cmp(a.part, b.part) ||
      cmp(a.profile, b.profile),
  );
  return { horizonDays, now, until, tenant: input.tenant ?? null, total: out.reduce((s, r) => s + r.quantity, 0), rows: out };
}

/** Nulls last, then by text. */
function cmp(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}

/** Inputs from the detectors' wear (engine.partWear) and the fleet's regions and inventories. */
export function forecastDevices(
  wear: ReadonlyArray<{ device: string; site: string | null; peripheral: string; profile: string; part: string; eta: number | null }>,
  fleet: ReadonlyArray<{ device: string; site?: string | null; tenant?: string | null; peripherals?: ReadonlyArray<{ id: string; profile?: string | null }> }>,
): ForecastDevice[] {
  const out = new Map<string, ForecastDevice>();
  for (const d of fleet) {
    out.set(d.device, {
      device: d.device,
      site: d.site ?? null,
      tenant: d.tenant ?? null,
      peripherals: (d.peripherals ?? []).map((p) => ({ peripheral: p.id, profile: p.profile ?? null, parts: [] })),
    });
  }
  for (const w of wear) {
    let d = out.get(w.device);
    if (!d) out.set(w.device, (d = { device: w.device, site: w.site, tenant: null, peripherals: [] }));
    let p = d.peripherals.find((x) => x.peripheral === w.peripheral);
    if (!p) d.peripherals.push((p = { peripheral: w.peripheral, profile: w.profile, parts: [] }));
    p.profile ??= w.profile;
    p.parts.push({ part: w.part, eta: w.eta });
  }
  return [...out.values()];
}
