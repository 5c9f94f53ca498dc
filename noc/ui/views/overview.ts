// Fleet overview: counts by status, open incidents by priority, sites with problems first,
// devices needing attention, and a search box; refetched on live events (throttled), no reload.
import type { DevicesAnswer, DeviceStatus, DeviceSummary, FleetSummary } from '../../api.js';
import { api, query, refreshFrom } from '../client.js';
import { h, replace } from '../dom.js';
import { faultLabel, label, num, pct, relative, t, time } from '../i18n.js';
import { onLive } from '../live.js';
import { card, deviceLink, errorBox, loadingOrError, priorityBadge, statusBadge, table, throttle } from '../ui.js';
import { navigate, type View, type ViewFactory } from '../view.js';

const STATUS_ORDER: DeviceStatus[] = ['critical', 'offline', 'absent', 'warning', 'unknown', 'ok'];
const PRIORITIES = ['Urgent', 'High', 'Medium', 'Low'] as const;

export const overviewView: ViewFactory = (_session, _params, params) => new OverviewView(params.get('q') ?? '');

/** Why a device needs attention, in the page's language, from the summary's fields (the server's `why` is English). */
function reasons(d: DeviceSummary): string[] {
  const out: string[] = [];
  if (!d.online) out.push(`${label('health', 'offline')} (${d.reason})`);
  out.push(...d.faults.map(faultLabel));
  if (d.openTickets) out.push(t('overview.openCount', { count: d.openTickets }));
  if (!out.length && d.wearMax !== null && d.wearMax >= 0.8) out.push(t('overview.worn', { pct: pct(d.wearMax) }));
  return out;
}

class OverviewView implements View {
  private root: HTMLElement | null = null;
  private fleet: FleetSummary | null = null;
  private results: DevicesAnswer | null = null;
  private error: unknown = null;
  private unsubscribe: (() => void) | null = null;
  private readonly refetch = throttle(() => this.refresh(), 1000);
  private searchSeq = 0;
  private searchTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private q: string) {}

  mount(root: HTMLElement): void {
    this.root = root;
    if (!this.unsubscribe) {
      this.unsubscribe = onLive(
        () => this.refetch(),
        () => this.refresh(),
      );
      this.refresh();
    }
    this.render();
  }

  refresh(): void {
    refreshFrom<FleetSummary>('/api/fleet', (a, e) => {
      if (a) this.fleet = a;
      this.error = e;
      this.renderData();
    });
    if (this.q) this.search(this.q);
  }

  private search(q: string): void {
    const seq = ++this.searchSeq;
    if (!q) {
      this.results = null;
      this.renderData();
      return;
    }
    api
      .get<DevicesAnswer>(`/api/devices${query({ q, sort: 'status', limit: 50 })}`)
      .then((r) => {
        if (seq !== this.searchSeq) return; // an older answer after a newer query
        this.results = r;
        this.renderData();
      })
      .catch((e) => {
        if (seq === this.searchSeq) {
          this.error = e;
          this.renderData();
        }
      });
  }

  render(): void {
    if (!this.root) return;
    const input = h('input', {
      type: 'search',
      id: 'fleet-search',
      class: 'search',
      'data-search': '',
      value: this.q,
      placeholder: t('overview.search'),
      'aria-label': t('overview.search'),
      'aria-describedby': 'search-hint',
      autocomplete: 'off',
      oninput: (e: Event) => {
        this.q = (e.target as HTMLInputElement).value.trim();
        if (this.searchTimer) clearTimeout(this.searchTimer);
        this.searchTimer = setTimeout(() => {
          history.replaceState(null, '', this.q ? `/${query({ q: this.q })}` : '/');
          this.search(this.q);
        }, 200);
      },
      onkeydown: (e: KeyboardEvent) => {
        if (e.key === 'Escape') {
          (e.target as HTMLInputElement).value = '';
          (e.target as HTMLInputElement).dispatchEvent(new Event('input'));
        } else if (e.key === 'Enter' && this.results?.items.length === 1) {
          navigate(`/devices/${encodeURIComponent(this.results.items[0].device)}`);
        }
      },
    });
    replace(
      this.root,
      h(
        'div',
        { class: 'page-head' },
        h('h1', null, t('overview.title')),
        h('div', { class: 'search-box' }, input, h('kbd', { id: 'search-hint', title: t('overview.searchHint') }, '/')),
      ),
      h('div', { id: 'overview-data' }),
    );
    this.renderData();
  }

  private renderData(): void {
    const box = this.root?.querySelector('#overview-data');
    if (!box) return;
    if (!this.fleet) return replace(box, loadingOrError(this, this.error));
    const f = this.fleet;
    replace(
      box,
      this.error ? errorBox(this.error, () => this.refresh()) : null,
      this.tiles(f),
      this.results ? this.resultsCard(this.results) : null,
      h('div', { class: 'grid-2' }, this.attentionCard(f), this.sitesCard(f)),
      h('p', { class: 'muted small', 'data-updated': String(f.at) }, t('live.updated', { time: time(f.at) })),
    );
  }

  private tiles(f: FleetSummary): HTMLElement {
    const tile = (value: number, text: string, cls: string, status?: string) =>
      h(
        'div',
        { class: `tile ${cls}`, 'data-status': status ?? null },
        h('span', { class: 'tile-value' }, num(value, 0)),
        h('span', { class: 'tile-label' }, status ? h('span', { class: 'dot', 'aria-hidden': 'true' }) : null, text),
      );
    return h(
      'div',
      { class: 'tiles', role: 'group', 'aria-label': t('overview.devices') },
      tile(f.devices.total, t('overview.devices'), 'tile-total'),
      tile(f.devices.online, t('overview.online'), 'status-online', 'online'),
      STATUS_ORDER.map((s) => tile(f.byStatus[s] ?? 0, label('health', s), `status-${s}`, s)),
      h(
        'div',
        { class: 'tile tile-tickets' },
        h('span', { class: 'tile-value' }, h('a', { href: '/incidents' }, num(f.openTickets, 0))),
        h('span', { class: 'tile-label' }, t('overview.openTickets')),
        h(
          'span',
          { class: 'tile-sub', 'aria-label': t('overview.byPriority') },
          PRIORITIES.filter((p) => (f.ticketsByPriority[p] ?? 0) > 0).map((p) =>
            h('span', { class: 'prio-count' }, priorityBadge(p), ' ', num(f.ticketsByPriority[p] ?? 0, 0)),
          ),
        ),
      ),
    );
  }

  private deviceColumns(withWhy: boolean) {
    return [
      { head: t('incidents.device'), cell: (d: DeviceSummary) => deviceLink(d.device) },
      { head: t('incidents.status'), cell: (d: DeviceSummary) => statusBadge(d.status) },
      {
        head: withWhy ? t('overview.why') : t('device.faults'),
        cell: (d: DeviceSummary) =>
          h(
            'span',
            { class: 'chips' },
            reasons(d).map((w) => h('span', { class: 'chip' }, w)),
          ),
      },
      { head: t('overview.site'), cell: (d: DeviceSummary) => d.site ?? '—' },
      { head: t('overview.wear'), numeric: true, cell: (d: DeviceSummary) => (d.wearMax === null ? '—' : pct(d.wearMax)) },
      {
        head: t('overview.lastSeen'),
        cell: (d: DeviceSummary) => (d.lastSeen ? h('time', { datetime: new Date(d.lastSeen).toISOString() }, relative(d.lastSeen)) : '—'),
      },
    ];
  }

  private attentionCard(f: FleetSummary): HTMLElement {
    return card(
      t('overview.attention'),
      table(f.attention, this.deviceColumns(true), {
        empty: t('overview.allFine'),
        caption: t('overview.attention'),
        rowAttrs: (d) => ({ 'data-device': d.device }),
      }),
    );
  }

  private resultsCard(r: DevicesAnswer): HTMLElement {
    const more = r.total - r.items.length;
    return h(
      'section',
      { class: 'card', id: 'search-results', 'aria-live': 'polite' },
      h('h2', null, t('overview.results'), ' ', h('span', { class: 'muted' }, `(${num(r.total, 0)})`)),
      table(r.items, this.deviceColumns(false), {
        empty: t('overview.noResults'),
        caption: t('overview.results'),
        rowAttrs: (d) => ({ 'data-device': d.device }),
      }),
      more > 0 ? h('p', { class: 'muted' }, t('common.more', { count: more })) : null,
    );
  }

  private sitesCard(f: FleetSummary): HTMLElement {
    return card(
      h('span', null, t('overview.sites'), ' ', h('span', { class: 'muted small' }, t('overview.sitesHint'))),
      table(
        f.sites,
        [
          { head: t('overview.site'), cell: (s) => h('a', { href: `/${query({ q: s.site })}` }, s.site) },
          { head: t('overview.tenant'), cell: (s) => s.tenant ?? '—' },
          { head: t('overview.devices'), numeric: true, cell: (s) => num(s.devices, 0) },
          {
            head: t('overview.problems'),
            cell: (s) =>
              h(
                'span',
                { class: 'chips' },
                STATUS_ORDER.filter((st) => st !== 'ok' && (s.byStatus[st] ?? 0) > 0).map((st) =>
                  statusBadge(st, `${num(s.byStatus[st] ?? 0, 0)} ${label('health', st)}`),
                ),
                STATUS_ORDER.every((st) => st === 'ok' || !(s.byStatus[st] ?? 0)) ? statusBadge('ok') : null,
              ),
          },
          {
            head: t('overview.openTickets'),
            numeric: true,
            cell: (s) => (s.openTickets ? h('a', { href: `/incidents${query({ site: s.site })}` }, num(s.openTickets, 0)) : num(0, 0)),
          },
        ],
        { caption: t('overview.sites'), rowAttrs: (s) => ({ 'data-site': s.site, class: s.problemScore > 0 ? 'has-problem' : '' }) },
      ),
    );
  }

  destroy(): void {
    this.unsubscribe?.();
    this.refetch.cancel();
    if (this.searchTimer) clearTimeout(this.searchTimer);
    this.root = null;
  }
}
