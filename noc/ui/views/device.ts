// Device page: inventory, peripherals with wear gauges (life used, ETA), telemetry charts over
// 1 h / 24 h / 7 d / 30 d, the events timeline, open and past incidents, and remote diagnosis
// (ping, read counters, self-test) for operators with the result shown when the device answers,
// and for an attendance clock the remote fix for its time (sync clock time).
import type {
  CommandAccepted,
  DeviceDetail,
  DeviceEvent,
  EventsAnswer,
  PartWear,
  PeripheralDetail,
  RemoteCommand,
  SeriesAnswer,
  ServiceHistoryAnswer,
  ServiceRecordView,
  TicketSummary,
} from '../../api.js';
import { TelemetryChart, xMin } from '../chart.js';
import { api, ApiError, query } from '../client.js';
import { h, replace, svg } from '../dom.js';
import { dateTime, duration, label, num, pct, relative, t } from '../i18n.js';
import { onLive } from '../live.js';
import { card, errorBox, errorText, link, loading, priorityBadge, statusBadge, table, throttle, toast } from '../ui.js';
import type { Session, View, ViewFactory } from '../view.js';

/** A card with a timeline list: loading until `items` come, `empty` when there are none. */
function timelineCard<T>(title: string, items: T[] | null, listClass: string, empty: string, item: (x: T) => HTMLElement): HTMLElement {
  if (!items) return card(title, loading());
  return card(title, items.length ? h('ol', { class: listClass }, items.map(item)) : h('p', { class: 'empty' }, empty));
}

const RANGES = [
  { key: '1h', ms: 3_600_000 },
  { key: '24h', ms: 86_400_000 },
  { key: '7d', ms: 7 * 86_400_000 },
  { key: '30d', ms: 30 * 86_400_000 },
] as const;
type RangeKey = (typeof RANGES)[number]['key'];

/** Commands offered as buttons; self-test needs a peripheral. */
const BUTTONS = ['ping', 'read-counters', 'self-test'] as const;
/** The remote fix for an attendance clock's time: one button per clock peripheral. */
const CLOCK_SYNC = 'sync-clock-time';
/** While a command is pending its state is also polled, in case the live stream missed the answer. */
const COMMAND_POLL_MS = 2000;
const SERIES_REFRESH_MS = 15_000;

export const deviceView: ViewFactory = (session, params) => new DeviceView(session, params[0]);

type Field = { peripheral: string; field: string; kind: string };

class DeviceView implements View {
  private root: HTMLElement | null = null;
  private detail: DeviceDetail | null = null;
  private events: DeviceEvent[] | null = null;
  private service: ServiceRecordView[] | null = null;
  private commands: RemoteCommand[] = [];
  private error: unknown = null;
  private field: Field | null = null;
  private range: RangeKey = '24h';
  private series: SeriesAnswer | null = null;
  private seriesError: unknown = null;
  /** Start of the range the user chose (the answer may start later: see loadSeries). */
  private seriesFrom = 0;
  private seriesSeq = 0;
  private seriesTimer: ReturnType<typeof setInterval> | null = null;
  private chart: TelemetryChart | null = null;
  private unsubscribe: (() => void) | null = null;
  private readonly refetch = throttle(() => this.refresh(), 1500);
  private readonly polls = new Map<string, ReturnType<typeof setInterval>>();
  private commandPeripheral = '';
  private drawnTargets = '';

  constructor(
    private readonly session: Session,
    private readonly id: string,
  ) {}

  mount(root: HTMLElement): void {
    this.root = root;
    if (!this.unsubscribe) {
      this.unsubscribe = onLive(
        (e) => {
          if (e.device !== this.id) return;
          if (e.type === 'command') this.loadCommand(e.id);
          else this.refetch();
        },
        () => this.refresh(),
      );
      this.refresh();
      // The chart follows new samples without waiting for a health change.
      this.seriesTimer = setInterval(() => this.loadSeries(), SERIES_REFRESH_MS);
    }
    this.render();
  }

  refresh(): void {
    const enc = encodeURIComponent(this.id);
    api
      .get<DeviceDetail>(`/api/devices/${enc}`)
      .then((d) => {
        const first = !this.detail;
        this.detail = d;
        this.error = null;
        if (!this.field) this.field = defaultField(d.peripherals);
        // The first answer draws the page; later ones (live updates) replace the data sections and
        // keep the chart controls and the command buttons, so focus and selections stay put.
        if (first || !this.root?.querySelector('[data-section="head"]')) this.render();
        else this.update();
        this.loadSeries();
      })
      .catch((e) => {
        this.error = e;
        this.render();
      });
    api
      .get<EventsAnswer>(`/api/devices/${enc}/events${query({ from: Date.now() - 30 * 86_400_000, limit: 100 })}`)
      .then((r) => {
        this.events = r.items;
        this.renderSection('events', this.eventsCard());
      })
      .catch(() => {});
    api
      .get<ServiceHistoryAnswer>(`/api/devices/${enc}/service`)
      .then((r) => {
        this.service = r.items;
        this.renderSection('service', this.serviceCard());
      })
      .catch(() => {});
    api
      .get<{ items: RemoteCommand[] }>(`/api/devices/${enc}/commands${query({ limit: 10 })}`)
      .then((r) => {
        this.commands = r.items;
        this.renderSection('command-list', this.commandList());
        for (const c of r.items) if (c.status === 'pending') this.watchCommand(c.id);
      })
      .catch(() => {});
  }

  private loadSeries(): void {
    if (!this.field) return;
    const seq = ++this.seriesSeq;
    const ms = RANGES.find((r) => r.key === this.range)!.ms;
    const to = Date.now();
    const from = to - ms;
    const f = this.field;
    const fetchRange = (a: number) =>
      api.get<SeriesAnswer>(
        `/api/devices/${encodeURIComponent(this.id)}/series${query({ peripheral: f.peripheral, field: f.field, from: a, to, points: 300 })}`,
      );
    fetchRange(from)
      // A device that joined lately has data only at the end of the range: ask again for just
      // that span, so its buckets are fine enough to draw a line.
      .then((s) => (xMin(s.points, { from, to }) > from ? fetchRange(Math.floor(xMin(s.points, { from, to }))) : s))
      .then((s) => {
        if (seq !== this.seriesSeq) return;
        this.series = s;
        this.seriesFrom = from;
        this.seriesError = null;
        this.drawChart();
      })
      .catch((e) => {
        if (seq !== this.seriesSeq) return;
        this.seriesError = e;
        this.drawChart();
      });
  }

  // ---- commands ------------------------------------------------------------------------------

  private async send(name: (typeof BUTTONS)[number] | typeof CLOCK_SYNC, peripheral?: string): Promise<void> {
    const body: { name: string; peripheral?: string } = { name };
    if (peripheral) body.peripheral = peripheral;
    else if (name === 'self-test')
      body.peripheral = this.commandPeripheral || this.detail?.peripherals.find((p) => p.kind === 'printer')?.id || this.detail?.peripherals[0]?.id;
    try {
      const c = await api.post<CommandAccepted>(`/api/devices/${encodeURIComponent(this.id)}/commands`, body);
      toast(t('device.commandSent', { name: label('cmd', name) }));
      if (!c.deviceOnline) toast(t('device.deviceOffline'), 'error');
      this.upsertCommand(c);
      this.watchCommand(c.id);
    } catch (e) {
      toast(t('common.error', { message: errorText(e) }), 'error');
    }
  }

  private watchCommand(id: string): void {
    if (this.polls.has(id)) return;
    this.polls.set(
      id,
      setInterval(() => this.loadCommand(id), COMMAND_POLL_MS),
    );
  }

  private loadCommand(id: string): void {
    api
      .get<RemoteCommand>(`/api/commands/${encodeURIComponent(id)}`)
      .then((c) => {
        this.upsertCommand(c);
        if (c.status !== 'pending') {
          clearInterval(this.polls.get(id));
          this.polls.delete(id);
        }
      })
      .catch((e) => {
        if (e instanceof ApiError && e.status === 404) {
          clearInterval(this.polls.get(id));
          this.polls.delete(id);
        }
      });
  }

  private upsertCommand(c: RemoteCommand): void {
    const i = this.commands.findIndex((x) => x.id === c.id);
    const was = i >= 0 ? this.commands[i].status : null;
    if (i >= 0) this.commands[i] = c;
    else this.commands.unshift(c);
    if (was === 'pending' && c.status !== 'pending') toast(`${label('cmd', c.name)}: ${label('cmdStatus', c.status)}`, c.status === 'ok' ? 'ok' : 'error');
    this.renderSection('command-list', this.commandList());
  }

  // ---- rendering -----------------------------------------------------------------------------

  render(): void {
    if (!this.root) return;
    const back = h('p', { class: 'crumbs' }, link('/', '← ', t('device.back')));
    if (!this.detail) {
      const notFound = this.error instanceof ApiError && this.error.status === 404;
      replace(
        this.root,
        back,
        h('h1', null, t('device.title', { id: this.id })),
        notFound
          ? h('p', { class: 'error', role: 'alert' }, t('common.notFound', { what: this.id }))
          : this.error
            ? errorBox(this.error, () => this.refresh())
            : loading(),
      );
      return;
    }
    this.chart?.destroy();
    this.chart = null;
    replace(
      this.root,
      back,
      h('div', { 'data-section': 'head' }, this.head()),
      this.error ? errorBox(this.error, () => this.refresh()) : null,
      h(
        'div',
        { class: 'grid-main-side' },
        h('div', { class: 'side' }, this.telemetryCard(), h('div', { 'data-section': 'peripherals' }, this.peripheralsCard())),
        h(
          'div',
          { class: 'side' },
          h('div', { 'data-section': 'inventory' }, this.inventoryCard()),
          h('div', { 'data-section': 'commands' }, this.commandsCard()),
        ),
      ),
      h(
        'div',
        { class: 'grid-2' },
        h('div', { 'data-section': 'events' }, this.eventsCard()),
        h('div', { 'data-section': 'tickets' }, this.ticketsCard(this.detail.tickets)),
      ),
      h('div', { 'data-section': 'service' }, this.serviceCard()),
    );
    this.drawChart();
  }

  /** Live update: the data sections only. */
  private update(): void {
    if (!this.detail) return;
    this.renderSection('head', this.head());
    this.renderSection('inventory', this.inventoryCard());
    // The command bar is redrawn only when the peripherals themselves changed (a clock found later
    // gets its sync button), so a chosen peripheral and the focus otherwise stay put.
    if (this.commandTargets() !== this.drawnTargets) this.renderSection('commands', this.commandsCard());
    this.renderSection('peripherals', this.peripheralsCard());
    this.renderSection('tickets', this.ticketsCard(this.detail.tickets));
  }

  private head(): HTMLElement {
    const d = this.detail!.device;
    return h(
      'div',
      { class: 'page-head' },
      h('h1', null, t('device.title', { id: d.device })),
      statusBadge(d.status),
      d.online ? statusBadge('online', label('health', 'online')) : null,
      h(
        'span',
        { class: 'muted' },
        t('device.since'),
        ' ',
        h('time', { datetime: new Date(d.since).toISOString(), title: dateTime(d.since) }, relative(d.since)),
      ),
    );
  }

  private peripheralsCard(): HTMLElement {
    return h(
      'section',
      { class: 'card' },
      h('h2', null, t('device.peripherals')),
      h(
        'div',
        { class: 'peripherals' },
        this.detail!.peripherals.map((p) => this.peripheralCard(p)),
      ),
    );
  }

  private renderSection(name: string, content: HTMLElement | null): void {
    const box = this.root?.querySelector(`[data-section="${name}"]`);
    if (box) replace(box, content);
  }

  private inventoryCard(): HTMLElement {
    const d = this.detail!.device;
    const row = (k: string, v: string | Node | null | undefined) => [h('dt', null, k), h('dd', null, v ?? '—')];
    return card(
      t('device.inventory'),
      h(
        'dl',
        { class: 'facts' },
        row(t('device.site'), d.site ? link(`/${query({ q: d.site })}`, d.site) : null),
        row(t('device.tenant'), d.tenant),
        row(t('device.model'), d.model),
        row(t('device.serial'), d.serial),
        row(t('device.os'), d.os),
        row(t('device.agent'), d.agentVersion),
        row(
          t('overview.lastSeen'),
          d.lastSeen ? h('time', { datetime: new Date(d.lastSeen).toISOString(), title: dateTime(d.lastSeen) }, relative(d.lastSeen)) : null,
        ),
      ),
    );
  }

  /** The peripherals the command bar offers, as a comparable string. */
  private commandTargets(): string {
    return (this.detail?.peripherals ?? []).map((p) => `${p.id}:${p.kind}`).join(',');
  }

  private commandsCard(): HTMLElement {
    this.drawnTargets = this.commandTargets();
    const peripherals = this.detail?.peripherals ?? [];
    const clocks = peripherals.filter((p) => p.kind === 'clock');
    const controls = this.session.canOperate
      ? h(
          'div',
          { class: 'command-bar' },
          h(
            'label',
            null,
            t('device.peripheral'),
            ' ',
            h(
              'select',
              { id: 'command-peripheral', onchange: (e: Event) => (this.commandPeripheral = (e.target as HTMLSelectElement).value) },
              peripherals
                .filter((p) => p.kind !== 'host')
                .map((p) => h('option', { value: p.id, selected: p.id === this.commandPeripheral }, `${p.id} — ${label('kind', p.kind)}`)),
            ),
          ),
          BUTTONS.map((name) => h('button', { type: 'button', class: 'btn', 'data-command': name, onclick: () => void this.send(name) }, label('cmd', name))),
          clocks.map((p) =>
            h(
              'button',
              { type: 'button', class: 'btn', 'data-command': CLOCK_SYNC, 'data-peripheral': p.id, onclick: () => void this.send(CLOCK_SYNC, p.id) },
              label('cmd', CLOCK_SYNC),
              clocks.length > 1 ? ` · ${p.id}` : '',
            ),
          ),
        )
      : h('p', { class: 'muted' }, t('device.viewerNoCommands'));
    return card(
      t('device.commands'),
      h('p', { class: 'muted small' }, t('device.commandsHint')),
      controls,
      h('div', { 'data-section': 'command-list' }, this.commandList()),
    );
  }

  private commandList(): HTMLElement | null {
    if (!this.commands.length) return null;
    return h(
      'ol',
      { class: 'commands', 'aria-label': t('device.recentCommands') },
      this.commands
        .slice(0, 5)
        .map((c) =>
          h(
            'li',
            { 'data-command-id': c.id, 'data-status': c.status, class: `command command-${c.status}` },
            h('span', { class: 'command-name' }, label('cmd', c.name), c.peripheral ? ` · ${c.peripheral}` : ''),
            h('span', { class: `badge cmd-${c.status}` }, label('cmdStatus', c.status)),
            h(
              'span',
              { class: 'muted small' },
              c.user,
              ' · ',
              h('time', { datetime: new Date(c.sentAt).toISOString(), title: dateTime(c.sentAt) }, relative(c.sentAt)),
              c.answeredAt ? ` · ${duration(c.answeredAt - c.sentAt)}` : '',
            ),
            c.status !== 'pending'
              ? c.error
                ? h('p', { class: 'command-result text-bad' }, c.error)
                : c.name === CLOCK_SYNC
                  ? (clockSyncView(c.result) ?? resultView(c.result))
                  : resultView(c.result)
              : null,
          ),
        ),
    );
  }

  private peripheralCard(p: PeripheralDetail): HTMLElement {
    const ident = [p.vendor, p.model].filter(Boolean).join(' ');
    return h(
      'article',
      { class: 'peripheral', 'data-peripheral': p.id },
      h('header', null, h('h3', null, label('kind', p.kind), ' ', h('span', { class: 'muted' }, p.id)), statusBadge(p.health)),
      h(
        'p',
        { class: 'small' },
        ident || '—',
        p.serial ? ` · ${t('device.serial')} ${p.serial}` : '',
        p.firmware ? ` · ${t('device.firmware')} ${p.firmware}` : '',
      ),
      p.faults.length
        ? h(
            'p',
            { class: 'chips', 'aria-label': t('device.faults') },
            p.faults.map((f) => h('span', { class: 'chip chip-fault', title: f }, label('fault', f))),
          )
        : null,
      p.wear.length
        ? h(
            'ul',
            { class: 'gauges', 'aria-label': t('device.wear') },
            p.wear.map((w) => h('li', null, wearGauge(w))),
          )
        : null,
    );
  }

  private telemetryCard(): HTMLElement {
    const fields = allFields(this.detail!.peripherals);
    const key = (f: Field) => `${f.peripheral}/${f.field}`;
    const byPeripheral = new Map<string, Field[]>();
    for (const f of fields) byPeripheral.set(f.peripheral, [...(byPeripheral.get(f.peripheral) ?? []), f]);
    const select = h(
      'select',
      {
        id: 'series-field',
        onchange: (e: Event) => {
          const v = (e.target as HTMLSelectElement).value;
          this.field = fields.find((f) => key(f) === v) ?? null;
          this.series = null;
          this.loadSeries();
        },
      },
      [...byPeripheral].map(([p, fs]) =>
        h(
          'optgroup',
          { label: `${p} — ${label('kind', fs[0].kind)}` },
          fs.map((f) => h('option', { value: key(f), selected: !!this.field && key(f) === key(this.field) }, f.field)),
        ),
      ),
    );
    const ranges = h(
      'div',
      { class: 'segmented', role: 'group', 'aria-label': t('device.range') },
      RANGES.map((r) =>
        h(
          'button',
          {
            type: 'button',
            class: 'btn',
            'data-range': r.key,
            'aria-pressed': String(r.key === this.range),
            onclick: (e: Event) => {
              this.range = r.key;
              for (const b of (e.currentTarget as HTMLElement).parentElement!.querySelectorAll('button'))
                b.setAttribute('aria-pressed', String(b.dataset.range === r.key));
              this.loadSeries();
            },
          },
          t(`range.${r.key}`),
        ),
      ),
    );
    return h(
      'section',
      { class: 'card' },
      h('h2', null, t('device.telemetry')),
      fields.length
        ? h('div', { class: 'chart-controls' }, h('label', null, t('device.field'), ' ', select), ranges)
        : h('p', { class: 'empty' }, t('device.noData')),
      h('div', { class: 'chart', id: 'chart', dir: 'ltr' }),
      h('p', { class: 'muted small', id: 'chart-note' }),
    );
  }

  private drawChart(): void {
    const host = this.root?.querySelector<HTMLElement>('#chart');
    const note = this.root?.querySelector<HTMLElement>('#chart-note');
    if (!host || !note) return;
    if (this.seriesError) {
      this.chart?.destroy();
      this.chart = null;
      replace(
        host,
        errorBox(this.seriesError, () => this.loadSeries()),
      );
      return;
    }
    const s = this.series;
    if (!s || !this.field || s.field !== this.field.field || s.peripheral !== this.field.peripheral) return;
    host.dataset.points = String(s.points.length);
    if (!s.points.length) {
      this.chart?.destroy();
      this.chart = null;
      replace(host, h('p', { class: 'empty' }, t('device.noData')));
      note.textContent = '';
      return;
    }
    if (!this.chart) {
      host.replaceChildren();
      this.chart = new TelemetryChart(host);
    }
    this.chart.show(s.points, `${s.peripheral} · ${s.field}`, { from: s.from, to: s.to });
    const since = s.from > this.seriesFrom ? ` · ${t('device.dataSince', { time: dateTime(s.points[0].ts) })}` : '';
    note.textContent = t('device.bucket', { duration: duration(s.bucketMs) }) + since;
  }

  private eventsCard(): HTMLElement {
    return timelineCard(t('device.events'), this.events, 'timeline', t('device.noEvents'), (e) =>
      h(
        'li',
        { class: `event severity-${e.severity}`, 'data-type': e.type },
        h('time', { datetime: new Date(e.ts).toISOString() }, dateTime(e.ts)),
        h('span', { class: `badge sev-${e.severity}` }, label('severity', e.severity)),
        h('span', { class: 'event-what' }, label('event', e.type), e.peripheral ? ` · ${e.peripheral}` : '', e.code ? ` · ${label('fault', e.code)}` : ''),
        e.message ? h('span', { class: 'muted small event-message' }, e.message) : null,
      ),
    );
  }

  /** Parts replaced and units swapped (service records), newest first. */
  private serviceCard(): HTMLElement {
    const newestFirst = this.service && [...this.service].reverse();
    return timelineCard(t('device.service'), newestFirst, 'timeline service-history', t('device.noService'), (r) =>
      h(
        'li',
        { 'data-kind': r.kind },
        h('time', { datetime: new Date(r.at).toISOString() }, dateTime(r.at)),
        h(
          'span',
          { class: 'event-what' },
          `${t(`device.serviceKind.${r.kind}`)} · ${r.peripheral}${r.kind === 'unit-swap' ? '' : ` · ${r.part}`}${r.serial ? ` · ${r.serial}` : ''}`,
        ),
        r.usage !== undefined ? h('span', { class: 'muted small' }, num(Math.round(r.usage))) : null,
        r.note ? h('span', { class: 'muted small event-message' }, r.note) : null,
      ),
    );
  }

  private ticketsCard(tickets: TicketSummary[]): HTMLElement {
    const open = tickets.filter((x) => x.status !== 'Resolved' && x.status !== 'Closed');
    const past = tickets.filter((x) => x.status === 'Resolved' || x.status === 'Closed');
    const cols = [
      { head: t('incidents.priority'), cell: (x: TicketSummary) => priorityBadge(x.priority) },
      {
        head: t('incidents.subject'),
        cell: (x: TicketSummary) => link(`/incidents${query({ device: x.device, open: open.includes(x) ? undefined : 'all' })}`, x.subject),
      },
      { head: t('incidents.status'), cell: (x: TicketSummary) => label('status', x.status) },
      {
        head: t('incidents.opened'),
        cell: (x: TicketSummary) => h('time', { datetime: new Date(x.openedAt).toISOString(), title: dateTime(x.openedAt) }, relative(x.openedAt)),
      },
    ];
    return card(
      t('device.tickets'),
      h('h3', null, t('device.openTickets')),
      table(open, cols, { rowAttrs: (x) => ({ 'data-ref': x.ref }) }),
      h('h3', null, t('device.pastTickets')),
      table(past, cols, { rowAttrs: (x) => ({ 'data-ref': x.ref }) }),
    );
  }

  destroy(): void {
    this.unsubscribe?.();
    this.refetch.cancel();
    if (this.seriesTimer) clearInterval(this.seriesTimer);
    for (const p of this.polls.values()) clearInterval(p);
    this.polls.clear();
    this.chart?.destroy();
    this.chart = null;
    this.root = null;
  }
}

/** A half-ring gauge of life used with the figure and the ETA in words (colour is never the only signal). */
function wearGauge(w: PartWear): HTMLElement {
  const used = Math.max(0, w.lifeUsed);
  const level = used >= w.criticalFraction ? 'critical' : used >= w.warningFraction ? 'warning' : 'ok';
  const r = 40;
  const arc = Math.PI * r;
  const shown = Math.min(1, used);
  const gauge = svg(
    'svg',
    { viewBox: '0 0 100 56', class: 'gauge-svg', 'aria-hidden': 'true' },
    svg('path', { d: `M10 50 A${r} ${r} 0 0 1 90 50`, class: 'gauge-track', 'stroke-dasharray': `${arc} ${arc}` }),
  );
  // A round line cap would draw a dot at 0 %.
  if (shown > 0)
    gauge.appendChild(svg('path', { d: `M10 50 A${r} ${r} 0 0 1 90 50`, class: `gauge-fill gauge-${level}`, 'stroke-dasharray': `${arc * shown} ${arc}` }));
  const eta = w.basis !== 'life' ? null : w.eta !== null ? t('device.eta', { when: relative(w.eta) }) : t('device.etaNone');
  return h(
    'div',
    {
      class: `gauge status-${level}`,
      'data-part': w.part,
      role: 'meter',
      'aria-valuemin': '0',
      'aria-valuemax': '100',
      'aria-valuenow': String(Math.round(used * 100)),
      'aria-label': `${w.part}: ${t('device.lifeUsed', { pct: pct(used) })}`,
    },
    h('div', { class: 'gauge-dial' }, gauge, h('span', { class: 'gauge-value' }, pct(used))),
    h(
      'div',
      { class: 'gauge-text' },
      h('strong', null, w.part, w.sourceVerified ? null : h('abbr', { title: t('device.unverified'), class: 'unverified' }, ' *')),
      h('span', null, t('device.lifeUsed', { pct: pct(used) }), ' — ', label('health', level)),
      eta ? h('span', { class: 'small', title: w.eta ? dateTime(w.eta) : '' }, eta) : null,
      h(
        'span',
        { class: 'muted small' },
        `${num(w.counter, 0)} / ${num(w.ratedCounts, 0)} · ${t('device.rated', { value: num(w.ratedValue, 0), unit: w.unit })}`,
      ),
    ),
  );
}

function allFields(peripherals: PeripheralDetail[]): Field[] {
  const out: Field[] = [];
  for (const p of peripherals) {
    if (!p.latest) continue;
    for (const f of [...Object.keys(p.latest.metrics), ...Object.keys(p.latest.counters)].sort()) out.push({ peripheral: p.id, field: f, kind: p.kind });
  }
  return out;
}

/** Figures that move and tell something, charted first when a peripheral has them. */
const PREFERRED_FIELDS = ['replyLatencyMs', 'failedReadRate', 'matchRejectRate', 'templatesUsedPct', 'recordsUsedPct', 'eventLoopLagMs'];

/** The first chart shown: the printer's most telling metric (what NOC staff look at most), else any peripheral's. */
function defaultField(peripherals: PeripheralDetail[]): Field | null {
  const metrics = (p: PeripheralDetail) => (p.latest ? Object.keys(p.latest.metrics).sort() : []);
  const best = (p: PeripheralDetail) => PREFERRED_FIELDS.find((f) => metrics(p).includes(f)) ?? metrics(p)[0];
  const ordered = [
    ...peripherals.filter((p) => p.kind === 'printer'),
    ...peripherals.filter((p) => p.kind !== 'printer' && p.kind !== 'host'),
    ...peripherals.filter((p) => p.kind === 'host'),
  ];
  for (const p of ordered) {
    const f = best(p);
    if (f) return { peripheral: p.id, field: f, kind: p.kind };
  }
  return allFields(peripherals)[0] ?? null;
}

/** sync-clock-time's answer in words: how far off the clock was, how far it is now, what it was set to. */
function clockSyncView(result: unknown): HTMLElement | null {
  const r = result as { offsetBeforeSec?: unknown; offsetAfterSec?: unknown; setTo?: unknown } | null;
  if (!r || typeof r !== 'object' || typeof r.setTo !== 'string') return null;
  const offset = (v: unknown) => (typeof v === 'number' ? t('device.clockOffsetValue', { sec: Math.round(v * 10) / 10 }) : t('common.unknown'));
  return h(
    'div',
    { class: 'command-result', 'data-result': CLOCK_SYNC },
    h(
      'dl',
      { class: 'facts result-facts' },
      h('dt', null, t('device.clockOffsetBefore')),
      h('dd', { 'data-field': 'offsetBeforeSec' }, offset(r.offsetBeforeSec)),
      h('dt', null, t('device.clockOffsetAfter')),
      h('dd', { 'data-field': 'offsetAfterSec' }, offset(r.offsetAfterSec)),
      h('dt', null, t('device.clockSetTo')),
      h('dd', { dir: 'ltr' }, r.setTo),
    ),
    h('details', null, h('summary', null, t('device.rawResult')), h('pre', { dir: 'ltr' }, JSON.stringify(result, null, 2))),
  );
}

function resultView(result: unknown): HTMLElement | null {
  if (result === null || result === undefined) return null;
  if (typeof result !== 'object') return h('p', { class: 'command-result' }, String(result));
  const rows: Array<[string, string]> = [];
  const walk = (v: unknown, path: string[]) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
      return;
    }
    const key = path[path.length - 1] ?? '';
    let text: string;
    if (typeof v === 'number') text = (key === 'ts' || key.endsWith('At')) && v > 1e12 ? dateTime(v) : num(v, 2);
    else if (Array.isArray(v)) text = v.length ? v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(', ') : '—';
    else text = String(v);
    rows.push([path.join(' · '), text]);
  };
  walk(result, []);
  return h(
    'div',
    { class: 'command-result' },
    h(
      'dl',
      { class: 'facts result-facts' },
      rows.slice(0, 16).map(([k, v]) => [h('dt', null, k), h('dd', null, v)]),
    ),
    h('details', null, h('summary', null, t('device.rawResult')), h('pre', { dir: 'ltr' }, JSON.stringify(result, null, 2))),
  );
}
