// Reports: most frequent problems (by type, problem, model, customer), SLA compliance per customer,
// when problems start (weekday × hour heatmap in the viewer's time zone), failures and MTBF per
// model (with the fleet's fitted part lives, Weibull per model and part), top failing devices, the
// spare parts to stock for the next 30/60/90 days; each exportable as CSV from the same route (?format=csv).
import type {
  HoursReport,
  MtbfReport,
  PartsForecastReport,
  ProblemsReport,
  ReliabilityAnswer,
  ReportAnswer,
  ReportName,
  SlaReport,
  TopDevicesReport,
} from '../../api.js';
import { api, query } from '../client.js';
import { h, replace } from '../dom.js';
import { date, duration, label, language, num, pct, relative, t, weekdayName } from '../i18n.js';
import { bar, card, deviceLink, errorBox, loading, table } from '../ui.js';
import { navigate, type View, type ViewFactory } from '../view.js';
import type { TeamPerformanceReport } from '../../dispatch-api.js';
import { td } from '../dispatch-i18n.js';
import { teamPerformanceTable } from './dispatch.js';

const DAY = 86_400_000;
const NAMES: ReportName[] = ['problems', 'sla', 'hours', 'mtbf', 'top-devices'];
const HORIZONS = [30, 60, 90] as const;

export const reportsView: ViewFactory = (_session, _params, params) => new ReportsView(params);

/** yyyy-mm-dd of a local date (the value of <input type=date>). */
function isoDay(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

function dayStart(s: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  return m ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])).getTime() : null;
}

class ReportsView implements View {
  private root: HTMLElement | null = null;
  private readonly data = new Map<ReportName, unknown>();
  private readonly errors = new Map<ReportName, unknown>();
  private readonly from: string;
  private readonly to: string;
  private readonly tenant: string;
  private readonly tz = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  private started = false;
  /** The parts forecast: its own horizon (days ahead, not the from..to period) and answer. */
  private horizon: (typeof HORIZONS)[number] = 30;
  private parts: { data?: PartsForecastReport; error?: unknown } = {};
  private perf: { data?: TeamPerformanceReport; error?: unknown } = {};

  constructor(params: URLSearchParams) {
    const now = Date.now();
    this.from = params.get('from') ?? isoDay(now - 30 * DAY);
    this.to = params.get('to') ?? isoDay(now);
    this.tenant = params.get('tenant') ?? '';
    const horizon = Number(params.get('horizon'));
    if (horizon === 30 || horizon === 60 || horizon === 90) this.horizon = horizon;
  }

  /** The query of every report: whole local days from..to, the viewer's time zone for the hours. */
  private params(): Record<string, string | number | undefined> {
    const from = dayStart(this.from) ?? Date.now() - 30 * DAY;
    const to = (dayStart(this.to) ?? Date.now()) + DAY - 1;
    return { from, to: Math.max(from, to), tenant: this.tenant || undefined, tz: this.tz };
  }

  mount(root: HTMLElement): void {
    this.root = root;
    if (!this.started) {
      this.started = true;
      this.refresh();
    }
    this.render();
  }

  refresh(): void {
    api
      .get<ReliabilityAnswer>('/api/reliability')
      .then((r) => this.renderLives(r))
      .catch(() => this.renderLives(null));
    this.refreshParts();
    this.refreshPerf();
    for (const name of NAMES) {
      api
        .get<ReportAnswer[typeof name]>(`/api/reports/${name}${query(this.params())}`)
        .then((r) => {
          this.data.set(name, r);
          this.errors.delete(name);
          this.renderReport(name);
        })
        .catch((e) => {
          this.errors.set(name, e);
          this.renderReport(name);
        });
    }
  }

  render(): void {
    if (!this.root) return;
    const from = h('input', { type: 'date', id: 'report-from', name: 'from', value: this.from, required: true });
    const to = h('input', { type: 'date', id: 'report-to', name: 'to', value: this.to, required: true });
    const tenant = h('input', {
      type: 'text',
      id: 'report-tenant',
      name: 'tenant',
      value: this.tenant,
      placeholder: t('reports.allTenants'),
      maxlength: '100',
    });
    replace(
      this.root,
      h(
        'div',
        { class: 'page-head' },
        h('h1', null, t('reports.title')),
        h(
          'form',
          {
            class: 'report-form',
            onsubmit: (e: Event) => {
              e.preventDefault();
              navigate(`/reports${query({ from: from.value, to: to.value, tenant: tenant.value.trim() })}`, { replace: true });
            },
          },
          h('label', { for: 'report-from' }, t('reports.from')),
          from,
          h('label', { for: 'report-to' }, t('reports.to')),
          to,
          h('label', { for: 'report-tenant' }, t('reports.tenant')),
          tenant,
          h('button', { type: 'submit', class: 'btn btn-primary' }, t('reports.apply')),
        ),
      ),
      h('div', { class: 'grid-2' }, h('div', { 'data-report': 'problems' }), h('div', { 'data-report': 'sla' })),
      h('div', { 'data-report': 'hours' }),
      h('div', { class: 'grid-2' }, h('div', { 'data-report': 'mtbf' }), h('div', { 'data-report': 'top-devices' })),
      h('div', { 'data-section': 'lives' }),
      h('div', { 'data-report': 'parts-forecast' }),
      h('div', { 'data-report': 'team-performance' }),
    );
    for (const name of NAMES) this.renderReport(name);
    this.renderParts();
    this.renderPerf();
  }

  /** Team performance over the same period (tickets opened from..to), JSON for the table, CSV to download. */
  private perfQuery(format?: 'csv'): string {
    const p = this.params();
    return `/api/reports/team-performance${query({ from: p.from, to: p.to, ...(format ? { format } : {}) })}`;
  }

  private refreshPerf(): void {
    api
      .get<TeamPerformanceReport>(this.perfQuery())
      .then((r) => (this.perf = { data: r }))
      .catch((e) => (this.perf = { error: e }))
      .finally(() => this.renderPerf());
  }

  private renderPerf(): void {
    const box = this.root?.querySelector('[data-report="team-performance"]');
    if (!box) return;
    const { data, error } = this.perf;
    const csv = h(
      'a',
      {
        class: 'btn btn-small csv',
        href: this.perfQuery('csv'),
        download: `fleetcare-team-performance-${this.from}-${this.to}.csv`,
        'data-csv': 'team-performance',
      },
      t('common.csv'),
    );
    replace(
      box,
      h(
        'section',
        { class: 'card', id: 'report-team-performance' },
        h('div', { class: 'card-head' }, h('h2', null, td('perf.title')), csv),
        error ? errorBox(error, () => this.refreshPerf()) : data === undefined ? loading() : teamPerformanceTable(data),
      ),
    );
  }

  private partsQuery(format?: 'csv'): string {
    return `/api/reports/parts-forecast${query({ horizon: this.horizon, tenant: this.tenant || undefined, ...(format ? { format, lang: language() } : {}) })}`;
  }

  private refreshParts(): void {
    api
      .get<PartsForecastReport>(this.partsQuery())
      .then((r) => (this.parts = { data: r }))
      .catch((e) => (this.parts = { error: e }))
      .finally(() => this.renderParts());
  }

  private renderParts(): void {
    const box = this.root?.querySelector('[data-report="parts-forecast"]');
    if (!box) return;
    const select = h(
      'select',
      {
        id: 'parts-horizon',
        onchange: (e: Event) => {
          this.horizon = Number((e.target as HTMLSelectElement).value) as (typeof HORIZONS)[number];
          this.parts = {};
          this.renderParts();
          this.refreshParts();
        },
      },
      HORIZONS.map((d) => h('option', { value: String(d), selected: d === this.horizon ? true : null }, t('reports.horizonDays', { days: num(d, 0) }))),
    );
    const { data, error } = this.parts;
    const body = error ? errorBox(error, () => this.refreshParts()) : data === undefined ? loading() : this.partsTable(data);
    const csv = h(
      'a',
      { class: 'btn btn-small csv', href: this.partsQuery('csv'), download: `fleetcare-parts-forecast-${this.horizon}d.csv`, 'data-csv': 'parts-forecast' },
      t('common.csv'),
    );
    replace(
      box,
      h(
        'section',
        { class: 'card', id: 'report-parts-forecast' },
        h(
          'div',
          { class: 'card-head' },
          h('h2', null, t('reports.parts')),
          h('span', null, h('label', { for: 'parts-horizon' }, t('reports.horizon'), ' '), select, ' ', csv),
        ),
        body,
      ),
    );
  }

  private partsTable(r: PartsForecastReport): HTMLElement {
    const lang = language();
    return table(
      r.rows,
      [
        { head: t('reports.customer'), cell: (x) => x.tenant ?? '—' },
        { head: t('reports.site'), cell: (x) => x.site ?? '—' },
        {
          head: t('reports.part'),
          cell: (x) =>
            h(
              'span',
              null,
              x.name?.[lang] ?? x.part,
              h('div', { class: 'muted small' }, `${t('reports.partNumber')} ${x.partNumber ?? t('reports.partUnknown')} · ${x.profile ?? '—'}`),
            ),
        },
        { head: t('reports.quantity'), numeric: true, cell: (x) => num(x.quantity, 0) },
        { head: t('reports.fromTickets'), numeric: true, cell: (x) => num(x.fromTickets, 0) },
        {
          head: t('reports.earliest'),
          cell: (x) =>
            x.earliestEta === null
              ? '—'
              : x.earliestEta <= r.now
                ? t('reports.dueNow')
                : h('time', { datetime: new Date(x.earliestEta).toISOString(), title: date(x.earliestEta) }, relative(x.earliestEta)),
        },
        { head: t('reports.swapTime'), numeric: true, cell: (x) => (x.swapMinutesTotal === null ? '—' : duration(x.swapMinutesTotal * 60_000)) },
      ],
      { empty: t('reports.partsNone'), caption: t('reports.parts'), rowAttrs: (x) => ({ 'data-part': x.part }) },
    );
  }

  private csvLink(name: ReportName): HTMLElement {
    return h(
      'a',
      {
        class: 'btn btn-small csv',
        href: `/api/reports/${name}${query({ ...this.params(), format: 'csv' })}`,
        download: `fleetcare-${name}-${this.from}-${this.to}.csv`,
        'data-csv': name,
      },
      t('common.csv'),
    );
  }

  private renderReport(name: ReportName): void {
    const box = this.root?.querySelector(`[data-report="${name}"]`);
    if (!box) return;
    const titles: Record<ReportName, string> = {
      problems: t('reports.problems'),
      sla: t('reports.sla'),
      hours: t('reports.hours'),
      mtbf: t('reports.mtbf'),
      'top-devices': t('reports.topDevices'),
    };
    const r = this.data.get(name);
    const err = this.errors.get(name);
    const body = err ? errorBox(err, () => this.refresh()) : r === undefined ? loading() : this.body(name, r);
    replace(
      box,
      h('section', { class: 'card', id: `report-${name}` }, h('div', { class: 'card-head' }, h('h2', null, titles[name]), this.csvLink(name)), body),
    );
  }

  private body(name: ReportName, r: unknown): HTMLElement {
    switch (name) {
      case 'problems':
        return this.problems(r as ProblemsReport);
      case 'sla':
        return this.sla(r as SlaReport);
      case 'hours':
        return this.hours(r as HoursReport);
      case 'mtbf':
        return this.mtbf(r as MtbfReport);
      case 'top-devices':
        return this.topDevices(r as TopDevicesReport);
    }
  }

  private problems(r: ProblemsReport): HTMLElement {
    if (!r.total) return h('p', { class: 'empty' }, t('reports.empty'));
    const list = (title: string, rows: Array<{ key: string; count: number }>, show: (k: string) => string = (k) => k) => {
      const max = Math.max(1, ...rows.map((x) => x.count));
      return h(
        'div',
        { class: 'bars' },
        h('h3', null, title),
        h(
          'ol',
          null,
          rows.slice(0, 10).map((x) => h('li', null, h('span', { class: 'bar-label' }, show(x.key)), bar(x.count, max, num(x.count, 0)))),
        ),
      );
    };
    return h(
      'div',
      { class: 'problems' },
      h('p', { class: 'muted' }, `${t('common.total')}: ${num(r.total, 0)}`),
      list(t('reports.byType'), r.byIssueType, (k) => label('issueType', k)),
      list(t('overview.problems'), r.byProblem, (k) => label('fault', k)),
      list(t('reports.byModel'), r.byModel),
      list(t('reports.byCustomer'), r.byCustomer),
    );
  }

  private sla(r: SlaReport): HTMLElement {
    // Met / missed / pending per deadline in one cell each, so the table fits half a screen.
    const split = (x: { fulfilled: number; failed: number; pending: number }) =>
      h(
        'span',
        { class: 'split' },
        h('span', { class: 'split-ok', title: t('incidents.met') }, '✓ ', num(x.fulfilled, 0)),
        h('span', { class: x.failed ? 'split-bad' : 'split-zero', title: t('incidents.failed') }, '✗ ', num(x.failed, 0)),
        x.pending ? h('span', { class: 'muted', title: t('incidents.sla.ok') }, '○ ', num(x.pending, 0)) : null,
      );
    return h(
      'div',
      null,
      table(
        r.customers,
        [
          { head: t('reports.customer'), cell: (c) => c.customer },
          { head: t('common.count'), numeric: true, cell: (c) => num(c.tickets, 0) },
          { head: t('incidents.response'), cell: (c) => split(c.response) },
          { head: t('incidents.resolution'), cell: (c) => split(c.resolution) },
          { head: t('reports.firstResponse'), numeric: true, cell: (c) => (c.medianFirstResponseMs === null ? '—' : duration(c.medianFirstResponseMs)) },
          {
            head: t('reports.compliance'),
            numeric: true,
            cell: (c) =>
              c.compliance === null
                ? '—'
                : h(
                    'span',
                    { class: `badge ${c.compliance >= 0.95 ? 'status-ok' : c.compliance >= 0.8 ? 'status-warning' : 'status-critical'}` },
                    pct(c.compliance),
                  ),
          },
        ],
        { empty: t('reports.empty'), caption: t('reports.sla') },
      ),
      r.customers.length ? h('p', { class: 'muted small' }, `✓ ${t('incidents.met')} · ✗ ${t('incidents.failed')} · ○ ${t('incidents.sla.ok')}`) : null,
    );
  }

  private hours(r: HoursReport): HTMLElement {
    if (!r.total) return h('p', { class: 'empty' }, t('reports.empty'));
    const max = Math.max(1, ...r.counts.flat());
    return h(
      'div',
      { class: 'table-wrap' },
      h('p', { class: 'muted small' }, `${r.tz} · ${t('common.total')}: ${num(r.total, 0)}`),
      h(
        'table',
        { class: 'heatmap' },
        h('caption', { class: 'visually-hidden' }, t('reports.hours')),
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            h('th', { scope: 'col' }),
            Array.from({ length: 24 }, (_, hour) => h('th', { scope: 'col' }, num(hour, 0))),
          ),
        ),
        h(
          'tbody',
          null,
          r.counts.map((row, day) =>
            h(
              'tr',
              null,
              h('th', { scope: 'row' }, weekdayName(day)),
              row.map((count, hour) =>
                h(
                  'td',
                  {
                    class: count ? 'hot' : 'cold',
                    style: count ? `--heat:${(0.15 + 0.85 * (count / max)).toFixed(2)}` : null,
                    title: t('reports.hoursCell', { day: weekdayName(day), hour, count }),
                  },
                  count ? num(count, 0) : '',
                ),
              ),
            ),
          ),
        ),
      ),
    );
  }

  /** The fleet's fitted part lives (not a dated report: every life seen so far). */
  private renderLives(r: ReliabilityAnswer | null): void {
    const box = this.root?.querySelector('[data-section="lives"]');
    if (!box || !r) return;
    replace(
      box,
      card(
        t('reports.lives'),
        table(
          r.models,
          [
            { head: t('reports.model'), cell: (m) => m.profile },
            { head: t('reports.part'), cell: (m) => m.part },
            { head: t('reports.failures'), numeric: true, cell: (m) => num(m.failures, 0) },
            { head: t('reports.censored'), numeric: true, cell: (m) => num(m.censored, 0) },
            { head: t('reports.shape'), numeric: true, cell: (m) => num(m.shape, 2) },
            { head: t('reports.medianLife'), numeric: true, cell: (m) => num(Math.round(m.medianLife), 0) },
            { head: t('reports.inUse'), cell: (m) => (m.inUse ? '✓' : '—') },
          ],
          { empty: t('reports.livesEmpty', { n: r.minFailures }), caption: t('reports.lives') },
        ),
      ),
    );
  }

  private mtbf(r: MtbfReport): HTMLElement {
    return table(
      r.models,
      [
        { head: t('reports.model'), cell: (m) => m.model },
        { head: t('reports.type'), cell: (m) => label('kind', m.kind) },
        { head: t('reports.devices'), numeric: true, cell: (m) => num(m.units, 0) },
        { head: t('reports.failures'), numeric: true, cell: (m) => num(m.failures, 0) },
        { head: t('reports.deviceDays'), numeric: true, cell: (m) => num(m.unitDays, 0) },
        { head: t('reports.mtbfDays'), numeric: true, cell: (m) => (m.mtbfDays === null ? '—' : num(m.mtbfDays, 1)) },
      ],
      { empty: t('reports.empty'), caption: t('reports.mtbf') },
    );
  }

  private topDevices(r: TopDevicesReport): HTMLElement {
    return table(
      r.devices,
      [
        {
          head: t('incidents.device'),
          cell: (d) => h('span', null, deviceLink(d.device), h('div', { class: 'muted small' }, [d.tenant, d.site, d.model].filter(Boolean).join(' · '))),
        },
        { head: t('common.count'), numeric: true, cell: (d) => num(d.tickets, 0) },
        { head: t('reports.failures'), numeric: true, cell: (d) => num(d.hardwareFailures, 0) },
        { head: t('device.openTickets'), numeric: true, cell: (d) => num(d.openTickets, 0) },
        {
          head: t('overview.problems'),
          cell: (d) =>
            h(
              'span',
              { class: 'chips' },
              d.problems.slice(0, 4).map((p) => h('span', { class: 'chip', title: p }, label('fault', p))),
            ),
        },
        {
          head: t('incidents.opened'),
          cell: (d) => h('time', { datetime: new Date(d.lastOpenedAt).toISOString(), title: date(d.lastOpenedAt) }, relative(d.lastOpenedAt)),
        },
      ],
      { empty: t('reports.empty'), caption: t('reports.topDevices') },
    );
  }

  destroy(): void {
    this.root = null;
  }
}
