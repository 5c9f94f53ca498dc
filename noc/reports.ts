// NOC reports over the tickets opened in a time range (optionally one customer): most frequent
// problems, SLA compliance per customer, the hours tickets come in, failures and MTBF per model,
// and the devices with the most tickets. Each answers JSON (shapes in api.ts) or CSV.
//
// Definitions, so the figures can be checked:
// - First response: the ticket's first Replied, Resolved or Closed status (collector/sla
//   deadlines.ts counts a resolution as a response too), from its status history (the ticket
//   store, state/tickets.ts).
// - Response met: first response at or before `sla.responseBy`; missed: after it, or none yet and
//   `responseBy` passed; otherwise pending. Resolution likewise with the time the ticket entered
//   Resolved/Closed and `sla.resolutionBy`. Tickets without an SLA count in `tickets` only.
// - Failures (MTBF): Hardware Failure tickets. Unit-days: for each unit (peripheral, or the device
//   for device-wide problems) of the model, the days inside from..to since the NOC first saw it.
import type { CollectorHandle } from '../collector/index.js';
import type { HoursReport, MtbfReport, ProblemsReport, ReportAnswer, ReportName, SlaReport, TopDevicesReport } from './api.js';
import type { TicketsView } from './tickets.js';
import type { ReportUnit, ReportUnitStore } from '../state/report-units.js';

const DAY = 86_400_000;

export type ReportRange = { from: number; to: number; tenant?: string; tz: string; limit: number; now: number };

type Row = {
  ref: string;
  dedup_key: string;
  status: string;
  issue_type: string;
  customer: string;
  site: string | null;
  device: string;
  peripheral: string | null;
  opened_at: number;
  updated_at: number;
  closed_at: number | null;
  sla_name: string | null;
  response_by: number | null;
  resolution_by: number | null;
};

type Unit = ReportUnit;

/** The model a problem is counted against: the peripheral's (vendor model, else profile), else the device's. */
function unitsOf(d: {
  device: string;
  model?: string;
  peripherals: ReadonlyArray<{ id: string; kind: string; vendor?: string; model?: string; profile?: string }>;
}): Unit[] {
  const out: Unit[] = [{ device: d.device, unit: '-', model: d.model ?? 'unknown device model', kind: 'device' }];
  for (const p of d.peripherals) {
    if (p.kind === 'host') continue;
    const model = p.model
      ? p.vendor && !p.model.toLowerCase().startsWith(p.vendor.toLowerCase())
        ? `${p.vendor} ${p.model}`
        : p.model
      : (p.profile ?? `unknown ${p.kind}`);
    out.push({ device: d.device, unit: p.id, model, kind: p.kind });
  }
  return out;
}

export class Reports {
  private knownUnits: Promise<Set<string>> | null = null;

  constructor(
    private readonly tickets: TicketsView,
    private readonly collector: CollectorHandle,
    private readonly units: ReportUnitStore,
  ) {}

  /** Notes units seen for the first time (MTBF exposure starts there). Cheap when nothing is new. */
  async noteUnits(now = Date.now()): Promise<void> {
    this.knownUnits ??= this.units.keys().then((k) => new Set(k));
    let known: Set<string>;
    try {
      known = await this.knownUnits;
    } catch (e) {
      this.knownUnits = null; // read again next time
      throw e;
    }
    const fresh: Unit[] = [];
    this.collector.forEachDevice((d) => {
      for (const u of unitsOf(d)) if (!known.has(`${u.device}/${u.unit}`)) fresh.push(u);
    });
    if (!fresh.length) return;
    await this.units.add(fresh, now);
    for (const u of fresh) known.add(`${u.device}/${u.unit}`);
  }

  /** The tickets opened in the range, with the SLA fields reports judge them by. */
  private async rows(r: ReportRange): Promise<Row[]> {
    const tickets = await this.tickets.store.openedBetween(r.from, r.to, r.tenant);
    return tickets.map((t) => ({
      ref: t.ref,
      dedup_key: t.key,
      status: t.status,
      issue_type: t.issueType,
      customer: t.customer,
      site: t.site,
      device: t.device,
      peripheral: t.peripheral,
      opened_at: t.openedAt,
      updated_at: t.updatedAt,
      closed_at: t.closedAt,
      sla_name: t.sla?.serviceLevelAgreement ?? null,
      response_by: t.sla?.responseBy ?? null,
      resolution_by: t.sla?.resolutionBy ?? null,
    }));
  }

  async run<N extends ReportName>(name: N, r: ReportRange): Promise<ReportAnswer[N]> {
    const rows = await this.rows(r);
    switch (name) {
      case 'problems':
        return this.problems(rows, r) as ReportAnswer[N];
      case 'sla':
        return (await this.sla(rows, r)) as ReportAnswer[N];
      case 'hours':
        return hours(rows, r) as ReportAnswer[N];
      case 'mtbf':
        return (await this.mtbf(rows, r)) as ReportAnswer[N];
      default:
        return this.topDevices(rows, r) as ReportAnswer[N];
    }
  }

  private modelIndex(): Map<string, Unit> {
    const m = new Map<string, Unit>();
    this.collector.forEachDevice((d) => {
      for (const u of unitsOf(d)) m.set(`${u.device}/${u.unit}`, u);
    });
    return m;
  }

  private modelOf(index: Map<string, Unit>, row: Row): string {
    return index.get(`${row.device}/${row.peripheral ?? '-'}`)?.model ?? index.get(`${row.device}/-`)?.model ?? 'unknown';
  }

  private problems(rows: Row[], r: ReportRange): ProblemsReport {
    const index = this.modelIndex();
    return {
      from: r.from,
      to: r.to,
      total: rows.length,
      byIssueType: countBy(rows, (t) => t.issue_type),
      byProblem: countBy(rows, (t) => t.dedup_key.split('/')[2] ?? t.dedup_key),
      byModel: countBy(rows, (t) => this.modelOf(index, t)),
      byCustomer: countBy(rows, (t) => t.customer),
    };
  }

  private async sla(rows: Row[], r: ReportRange): Promise<SlaReport> {
    const first = await this.tickets.firstResponses(rows.map((t) => t.ref));
    type Acc = SlaReport['customers'][number] & { waits: number[] };
    const per = new Map<string, Acc>();
    for (const t of rows) {
      let c = per.get(t.customer);
      if (!c) {
        c = {
          customer: t.customer,
          tickets: 0,
          response: { fulfilled: 0, failed: 0, pending: 0 },
          resolution: { fulfilled: 0, failed: 0, pending: 0 },
          medianFirstResponseMs: null,
          compliance: null,
          waits: [],
        };
        per.set(t.customer, c);
      }
      c.tickets++;
      const responded = first.get(t.ref) ?? null;
      if (responded !== null) c.waits.push(responded - t.opened_at);
      if (t.sla_name === null && t.response_by === null && t.resolution_by === null) continue;
      c.response[verdict(responded, t.response_by, r.now)]++;
      const resolved = await this.tickets.resolvedAt(t.ref, t.status, t.closed_at, t.updated_at);
      c.resolution[verdict(resolved, t.resolution_by, r.now)]++;
    }
    const customers = [...per.values()]
      .sort((a, b) => (a.customer < b.customer ? -1 : 1))
      .map(({ waits, ...c }) => {
        const decided = c.response.fulfilled + c.response.failed + c.resolution.fulfilled + c.resolution.failed;
        return { ...c, medianFirstResponseMs: median(waits), compliance: decided ? (c.response.fulfilled + c.resolution.fulfilled) / decided : null };
      });
    return { from: r.from, to: r.to, customers };
  }

  private async mtbf(rows: Row[], r: ReportRange): Promise<MtbfReport> {
    await this.noteUnits(r.now);
    const index = this.modelIndex();
    const firstSeen = await this.units.all();
    const models = new Map<string, { model: string; kind: string; units: number; failures: number; unitDays: number }>();
    const entry = (model: string, kind: string) => {
      let m = models.get(model);
      if (!m) models.set(model, (m = { model, kind, units: 0, failures: 0, unitDays: 0 }));
      return m;
    };
    const end = Math.min(r.to, r.now);
    for (const u of firstSeen) {
      // The unit's current model (a swapped printer is another model now); its first-seen stays.
      const current = index.get(`${u.device}/${u.unit}`);
      if (!current) continue;
      if (r.tenant !== undefined && this.collector.device(u.device)?.tenant !== r.tenant) continue;
      const m = entry(current.model, current.kind);
      m.units++;
      m.unitDays += Math.max(0, end - Math.max(r.from, u.firstSeen)) / DAY;
    }
    for (const t of rows) {
      if (t.issue_type !== 'Hardware Failure') continue;
      const u = index.get(`${t.device}/${t.peripheral ?? '-'}`) ?? index.get(`${t.device}/-`);
      entry(u?.model ?? 'unknown', u?.kind ?? 'unknown').failures++;
    }
    return {
      from: r.from,
      to: r.to,
      models: [...models.values()]
        .map((m) => ({ ...m, unitDays: round(m.unitDays, 6), mtbfDays: m.failures ? round(m.unitDays / m.failures, 6) : null }))
        .sort((a, b) => b.failures - a.failures || (a.model < b.model ? -1 : 1)),
    };
  }

  private topDevices(rows: Row[], r: ReportRange): TopDevicesReport {
    const per = new Map<
      string,
      {
        device: string;
        site: string | null;
        tenant: string | null;
        tickets: number;
        hardwareFailures: number;
        openTickets: number;
        lastOpenedAt: number;
        modes: Map<string, number>;
      }
    >();
    for (const t of rows) {
      let d = per.get(t.device);
      if (!d)
        per.set(
          t.device,
          (d = { device: t.device, site: t.site, tenant: t.customer, tickets: 0, hardwareFailures: 0, openTickets: 0, lastOpenedAt: 0, modes: new Map() }),
        );
      d.tickets++;
      if (t.issue_type === 'Hardware Failure') d.hardwareFailures++;
      if (t.status !== 'Resolved' && t.status !== 'Closed') d.openTickets++;
      d.lastOpenedAt = Math.max(d.lastOpenedAt, t.opened_at);
      const mode = t.dedup_key.split('/')[2] ?? t.dedup_key;
      d.modes.set(mode, (d.modes.get(mode) ?? 0) + 1);
    }
    const devices = [...per.values()]
      .sort((a, b) => b.tickets - a.tickets || b.hardwareFailures - a.hardwareFailures || b.lastOpenedAt - a.lastOpenedAt || (a.device < b.device ? -1 : 1))
      .slice(0, r.limit)
      .map(({ modes, ...d }) => ({
        ...d,
        model: this.collector.device(d.device)?.model ?? null,
        problems: [...modes].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([m]) => m),
      }));
    return { from: r.from, to: r.to, devices };
  }
}

/** fulfilled / failed / pending of one deadline. */
function verdict(doneAt: number | null, by: number | null, now: number): 'fulfilled' | 'failed' | 'pending' {
  if (doneAt !== null) return by === null || doneAt <= by ? 'fulfilled' : 'failed';
  return by !== null && now > by ? 'failed' : 'pending';
}

function hours(rows: Row[], r: ReportRange): HoursReport {
  const counts = Array.from({ length: 7 }, () => new Array<number>(24).fill(0));
  const fmt = new Intl.DateTimeFormat('en-US', { timeZone: r.tz, weekday: 'short', hour: 'numeric', hourCycle: 'h23' });
  const weekday: Record<string, number> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };
  for (const t of rows) {
    const parts = fmt.formatToParts(t.opened_at);
    const wd = weekday[parts.find((p) => p.type === 'weekday')!.value];
    const h = Number(parts.find((p) => p.type === 'hour')!.value) % 24;
    counts[wd][h]++;
  }
  return { from: r.from, to: r.to, tz: r.tz, counts, total: rows.length };
}

function countBy<T>(items: T[], key: (t: T) => string): Array<{ key: string; count: number }> {
  const m = new Map<string, number>();
  for (const i of items) {
    const k = key(i);
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return [...m].map(([k, count]) => ({ key: k, count })).sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : 1));
}

function median(values: number[]): number | null {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;

// ---- CSV ---------------------------------------------------------------------------------------

/**
 * One CSV field (RFC 4180): quoted when it holds a comma, quote, CR/LF or edge spaces, quotes
 * doubled. Text that a spreadsheet would run as a formula (= + - @ tab CR first) gets a leading
 * apostrophe; numbers are written as they are.
 */
export function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  let s = String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(header: string[], rows: unknown[][]): string {
  return [header, ...rows].map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The report as one CSV table with a header row. */
export function reportCsv<N extends ReportName>(name: N, report: ReportAnswer[N]): string {
  switch (name) {
    case 'problems': {
      const p = report as ProblemsReport;
      const rows: unknown[][] = [];
      for (const [dim, list] of [
        ['issue type', p.byIssueType],
        ['problem', p.byProblem],
        ['model', p.byModel],
        ['customer', p.byCustomer],
      ] as const)
        for (const x of list) rows.push([dim, x.key, x.count]);
      return toCsv(['dimension', 'value', 'tickets'], rows);
    }
    case 'sla': {
      const s = report as SlaReport;
      return toCsv(
        [
          'customer',
          'tickets',
          'response_fulfilled',
          'response_failed',
          'response_pending',
          'resolution_fulfilled',
          'resolution_failed',
          'resolution_pending',
          'median_first_response_minutes',
          'compliance_pct',
        ],
        s.customers.map((c) => [
          c.customer,
          c.tickets,
          c.response.fulfilled,
          c.response.failed,
          c.response.pending,
          c.resolution.fulfilled,
          c.resolution.failed,
          c.resolution.pending,
          c.medianFirstResponseMs === null ? null : round(c.medianFirstResponseMs / 60_000, 2),
          c.compliance === null ? null : round(c.compliance * 100, 2),
        ]),
      );
    }
    case 'hours': {
      const h = report as HoursReport;
      const days = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
      return toCsv(
        [`weekday (${h.tz})`, ...Array.from({ length: 24 }, (_, i) => `${String(i).padStart(2, '0')}:00`)],
        h.counts.map((row, i) => [days[i], ...row]),
      );
    }
    case 'mtbf': {
      const m = report as MtbfReport;
      return toCsv(
        ['model', 'kind', 'units', 'failures', 'unit_days', 'mtbf_days'],
        m.models.map((x) => [x.model, x.kind, x.units, x.failures, x.unitDays, x.mtbfDays]),
      );
    }
    default: {
      const t = report as TopDevicesReport;
      return toCsv(
        ['device', 'site', 'tenant', 'model', 'tickets', 'hardware_failures', 'open_tickets', 'last_opened_at', 'problems'],
        t.devices.map((d) => [d.device, d.site, d.tenant, d.model, d.tickets, d.hardwareFailures, d.openTickets, iso(d.lastOpenedAt), d.problems.join('; ')]),
      );
    }
  }
}
