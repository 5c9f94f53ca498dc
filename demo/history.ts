// 90 days of history for the demo fleet, so that a newcomer's first look finds charts, wear
// trends and ETAs (telemetry), and reports, SLA compliance and MTBF (closed tickets) with data.
// Telemetry is extrapolated backwards from each peripheral's first live sample: counters fall
// back at the device's usage rate (shop hours only), gauges keep their value with some noise —
// so the live series continues the history without a jump, and wear rates give real ETAs.
// Tickets go through the same ticket outbox and operator actions as live ones, dated in the past.
import type { ReportUnitStore } from '../state/report-units.js';
import type { IngestRecord, TelemetryStore, LatestSample } from '../collector/telemetry/store.js';
import type { Incident } from '../collector/incidents/index.js';
import type { FindingKind } from '../collector/detectors/index.js';
import { ticketSla, ticketSubject } from '../collector/incidents/ticket-text.js';
import { operatorTicketAction, type SlaContext } from '../collector/tickets/actions.js';
import type { IssueType, TicketLanguage, TicketOutbox, TicketPriority } from '../collector/tickets/index.js';
import type { WarrantyRegistry } from '../collector/warranty/index.js';
import { CONTRACT_VERSION } from '../protocol/index.js';
import { seededRandom } from '../sim/wear.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export type HistoryDevice = { id: string; site: string; tenant: string; serials: Record<string, string>; printerProfile?: string };

/** Days a part has been in service when its counter shows its current value (the usage rate). */
const SERVICE_DAYS = 3 * 365;

/** Share of a day's usage done by UTC hour h: shops of the demo (UTC+3…+8) trade ~03–19 UTC. */
function dayShare(h: number): number {
  return Math.min(1, Math.max(0, (h - 3) / 16));
}

/** Usage-days elapsed at `t` on a shop-hours clock (monotonic). */
function usageDays(t: number): number {
  const d = Math.floor(t / DAY);
  return d + dayShare((t - d * DAY) / HOUR);
}

/**
 * Hourly telemetry of the `days` before `now` for each device, ending at its live samples.
 * History records carry seq 0: below every live seq, so nothing the agents send collides with it.
 */
export async function backfillTelemetry(
  store: TelemetryStore,
  devices: HistoryDevice[],
  latest: Map<string, LatestSample[]>,
  now: number,
  days = 90,
  seed = 1,
): Promise<number> {
  const random = seededRandom(seed + 90);
  let points = 0;
  const start = Math.floor((now - days * DAY) / HOUR) * HOUR;
  for (const d of devices) {
    const samples = latest.get(d.id) ?? [];
    if (!samples.length) continue;
    const records: IngestRecord[] = [];
    for (let t = start; t < now - HOUR; t += HOUR) {
      const back = usageDays(now) - usageDays(t);
      const hist = samples.map((s) => ({
        peripheral: s.peripheral,
        kind: s.kind as never,
        ts: t,
        health: 'ok' as const,
        faults: [],
        counters: Object.fromEntries(Object.entries(s.counters).map(([k, v]) => [k, Math.max(0, Math.round(v - (v / SERVICE_DAYS) * back))])),
        metrics: Object.fromEntries(Object.entries(s.metrics).map(([k, v]) => [k, v === 0 ? 0 : v * (0.98 + 0.04 * random())])),
      }));
      records.push({
        device: d.id,
        seq: 0,
        arrivedAt: t,
        tags: { site: d.site, tenant: d.tenant },
        channel: 'telemetry',
        message: { v: CONTRACT_VERSION, device: d.id, seq: 0, ts: t, samples: hist } as never,
      });
      points += hist.length;
    }
    for (let i = 0; i < records.length; i += 500) await store.write(records.slice(i, i + 500));
  }
  return points;
}

/** Problems the demo's past is made of: what the detectors ticket on these peripherals. */
const PAST_PROBLEMS: Array<{ peripheral: string; failureMode: string; kind: FindingKind; priority: TicketPriority; issueType: IssueType; weight: number }> = [
  { peripheral: 'printer0', failureMode: 'paper-end', kind: 'fault', priority: 'Medium', issueType: 'Consumable', weight: 5 },
  { peripheral: 'printer0', failureMode: 'cover-open', kind: 'fault', priority: 'Medium', issueType: 'Consumable', weight: 2 },
  { peripheral: 'printer0', failureMode: 'autocutter-error', kind: 'fault', priority: 'High', issueType: 'Hardware Failure', weight: 2 },
  { peripheral: 'msr0', failureMode: 'read-head-wear-out', kind: 'degradation', priority: 'Medium', issueType: 'Hardware Failure', weight: 2 },
  { peripheral: 'finger0', failureMode: 'sensor-window-wear-out', kind: 'degradation', priority: 'Low', issueType: 'Hardware Failure', weight: 1 },
  { peripheral: 'device', failureMode: 'offline', kind: 'device-offline', priority: 'High', issueType: 'Connectivity', weight: 2 },
  { peripheral: 'printer0', failureMode: 'cutter-wear-out', kind: 'degradation', priority: 'Low', issueType: 'Predicted Failure', weight: 1 },
];

/**
 * What the technicians wrote when they closed past printer tickets (cause code + resolution): the
 * known fixes a new ticket of the same problem on the same model shows (dispatch/known-fixes.ts).
 */
const PAST_CAUSES: Partial<Record<string, { code: string; text: Record<TicketLanguage, string> }>> = {
  'cutter-wear-out': {
    code: 'cutter-wear-out',
    text: {
      en: 'Replaced the autocutter unit (blade and motor assembly); 50 test cuts clean.',
      ar: 'تم استبدال وحدة القطع الآلي (الشفرة والمحرك)؛ 50 قطعة اختبار نظيفة.',
      fa: 'واحد برش خودکار (تیغه و موتور) تعویض شد؛ ۵۰ برش آزمایشی سالم.',
      zh: '更换了自动切刀组件（刀片和电机）；50 次测试切纸正常。',
    },
  },
  'autocutter-error': {
    code: 'autocutter-error',
    text: {
      en: 'Paper scrap jammed the blade: cleared it, realigned the paper guide, cut test passed.',
      ar: 'قصاصة ورق علقت في الشفرة: أُزيلت وضُبط دليل الورق، ونجح اختبار القطع.',
      fa: 'تکه کاغذ تیغه را گیر انداخته بود: پاک شد، راهنمای کاغذ تنظیم شد، برش آزمایشی موفق.',
      zh: '纸屑卡住刀片：已清除并重新校准导纸板，切纸测试通过。',
    },
  },
};

export type PastTicketsOptions = {
  outbox: TicketOutbox;
  sla: SlaContext;
  languages: Record<string, TicketLanguage>;
  warranty: WarrantyRegistry;
  now: number;
  days?: number;
  seed?: number;
  /** Keys a live scenario will use: not in the past, so the live ticket is the story. */
  avoid?: Set<string>;
};

/**
 * Closed tickets over the past `days`: 3–6 per device, opened during shop hours, acknowledged
 * (sometimes after the response deadline), resolved and closed by an operator — the status
 * history the SLA and reports read. Returns how many were created.
 */
export function createPastTickets(devices: HistoryDevice[], o: PastTicketsOptions): number {
  const random = seededRandom((o.seed ?? 1) + 7);
  const days = o.days ?? 90;
  const totalWeight = PAST_PROBLEMS.reduce((a, p) => a + p.weight, 0);
  const pick = () => {
    let r = random() * totalWeight;
    for (const p of PAST_PROBLEMS) if ((r -= p.weight) < 0) return p;
    return PAST_PROBLEMS[0];
  };
  type Plan = { at: number; d: HistoryDevice; p: (typeof PAST_PROBLEMS)[number] };
  const plans: Plan[] = [];
  for (const d of devices) {
    const n = 3 + Math.floor(random() * 4);
    for (let i = 0; i < n; i++) {
      const day = Math.floor(random() * (days - 1)) + 1;
      const at = Math.round(Math.floor((o.now - day * DAY) / DAY) * DAY + (4 + random() * 12) * HOUR);
      plans.push({ at, d, p: pick() });
    }
  }
  // At least one past predictive cutter ticket on a device no live scenario uses: the live
  // predictive ticket then has a known fix to show.
  const wear = PAST_PROBLEMS.find((p) => p.failureMode === 'cutter-wear-out')!;
  const cutterKey = (d: HistoryDevice) => `${d.id}/printer0/cutter-wear-out`;
  const liveModels = new Set(devices.filter((d) => o.avoid?.has(cutterKey(d))).map((d) => d.printerProfile));
  const spare = devices.find((d) => !o.avoid?.has(cutterKey(d)) && liveModels.has(d.printerProfile));
  if (spare && !plans.some((x) => x.p === wear && !o.avoid?.has(cutterKey(x.d)) && liveModels.has(x.d.printerProfile))) {
    plans.push({ at: Math.round(Math.floor((o.now - 20 * DAY) / DAY) * DAY + 9 * HOUR), d: spare, p: wear });
  }
  plans.sort((a, b) => a.at - b.at);
  let created = 0;
  for (const { at, d, p } of plans) {
    const key = `${d.id}/${p.peripheral}/${p.failureMode}`;
    if (o.avoid?.has(key)) continue;
    const lang = o.languages[d.tenant] ?? 'en';
    const sla = o.sla.slas[d.tenant] ?? o.sla.defaultSla;
    const serial = d.serials[p.peripheral === 'device' ? 'host' : p.peripheral] ?? null;
    const scope = 'device' as const;
    const subject = ticketSubject({ kind: p.kind, scope, site: d.site, device: d.id, peripheral: p.peripheral, failureMode: p.failureMode } as Incident, lang);
    const r = o.outbox.enqueue({
      kind: 'create',
      key,
      at,
      eventId: `demo-history-${key}-${at}`,
      ticket: {
        subject,
        description: `${subject}\n\n(demo history)`,
        language: lang,
        priority: p.priority,
        issueType: p.issueType,
        customer: d.tenant,
        site: d.site,
        device: d.id,
        peripheral: p.peripheral === 'device' ? null : p.peripheral,
        serial,
        warrantyStatus: serial ? (o.warranty.statusOf(serial, at, sla?.calendar.time_zone) ?? null) : null,
        sla: ticketSla(sla, p.priority, at),
      },
    });
    if (!r.applied || !r.ref) continue;
    created++;
    // A technician answers (now and then after the deadline), fixes it, closes it.
    const ack = at + (random() < 0.8 ? 10 + random() * 80 : 150 + random() * 600) * 60_000;
    const resolved = ack + (0.5 + random() * 20) * HOUR;
    operatorTicketAction(o.outbox, r.ref, 'ack', 'on it (demo history)', Math.round(ack), o.sla);
    const cause = p.peripheral === 'printer0' ? PAST_CAUSES[p.failureMode] : undefined;
    if (cause && d.printerProfile) {
      o.outbox.enqueue({
        kind: 'update',
        key,
        at: Math.round(resolved) - 1,
        eventId: `demo-history-cause-${key}-${at}`,
        patch: { cause: { code: cause.code, text: cause.text[lang], profile: d.printerProfile, by: 'demo-technician', at: Math.round(resolved) - 1 } },
        comment: `Cause: ${cause.code}\n${cause.text[lang]}`,
      });
    }
    operatorTicketAction(o.outbox, r.ref, 'resolve', undefined, Math.round(resolved), o.sla);
    operatorTicketAction(o.outbox, r.ref, 'close', 'fixed on site (demo history)', Math.round(resolved + 10 * 60_000), o.sla);
  }
  return created;
}

/** MTBF exposure: the NOC counts unit-days from when it first saw a unit; the fleet is 90 days old. */
/** Moves every known unit's first sighting back to `since` (the store keeps the earliest). */
export async function backdateUnits(reportUnits: ReportUnitStore, since: number): Promise<number> {
  const units = (await reportUnits.all()).filter((u) => u.firstSeen > since);
  await reportUnits.add(
    units.map(({ device, unit, model, kind }) => ({ device, unit, model, kind })),
    since,
  );
  return units.length;
}

export type WarrantyPlan = 'under-warranty' | 'expired' | 'under-amc' | 'none';

/** Warranty rows: per device, its printer under warranty, expired, expired but under AMC, or unknown. */
export function warrantyCsv(devices: Array<HistoryDevice & { printerProfile: string; warranty: WarrantyPlan }>, now: number): string {
  const day = (offsetDays: number) => new Date(now + offsetDays * DAY).toISOString().slice(0, 10);
  const rows = ['serial_no,item_code,kind,customer,device_id,delivery_date,warranty_expiry_date,amc_expiry_date'];
  for (const d of devices) {
    const serial = d.serials.printer0;
    if (!serial || d.warranty === 'none') continue;
    if (d.warranty === 'under-warranty') rows.push(`${serial},${d.printerProfile},peripheral,${d.tenant},${d.id},${day(-200)},${day(530)},`);
    else rows.push(`${serial},${d.printerProfile},peripheral,${d.tenant},${d.id},${day(-900)},${day(-170)},${d.warranty === 'under-amc' ? day(900) : ''}`);
  }
  return rows.join('\n') + '\n';
}
