// Incidents board: every ticket with its priority, type, customer/site, SLA countdowns for first
// response and resolution (colour AND words as the deadline nears), warranty status, and the
// operator's actions (acknowledge, comment, hold, resolve) through POST /api/tickets/:ref/actions.
import type { TicketAction, TicketDetail, TicketsAnswer, TicketSummary } from '../../api.js';
import { api, query, refreshFrom } from '../client.js';
import { h, replace } from '../dom.js';
import { dateTime, duration, label, num, relative, t } from '../i18n.js';
import { onLive } from '../live.js';
import { deviceLink, errorBox, errorText, loading, loadingOrError, priorityBadge, throttle, toast } from '../ui.js';
import { navigate, type Session, type View, type ViewFactory } from '../view.js';
import type { DispatchOverview, TicketKnownFixes } from '../../dispatch-api.js';
import { td } from '../dispatch-i18n.js';
import { fetchDispatch, knownFixesSection, resolveWithCauseForm, technicianCell } from './dispatch.js';

/**
 * The actions an operator takes on a ticket: `action` of POST /api/tickets/:ref/actions
 * (operatorActionSchema in collector/tickets/actions.ts; not importable here, it is server code).
 */
const PRIORITY_RANK: Record<string, number> = { Urgent: 0, High: 1, Medium: 2, Low: 3 };
const CLOSED = new Set(['Resolved', 'Closed']);
/** A deadline with less than this share of its time left is shown as "near breach". */
const NEAR_SHARE = 0.25;

export const incidentsView: ViewFactory = (session, _params, params) => new IncidentsView(session, params);

type SlaState = 'ok' | 'near' | 'breached' | 'met' | 'missed' | 'paused' | 'none';

/** Where one SLA deadline stands at `now`. */
export function slaState(x: TicketSummary, which: 'response' | 'resolution', now: number): { state: SlaState; text: string; detail: string } {
  const deadline = which === 'response' ? x.sla.responseBy : x.sla.resolutionBy;
  const doneAt = which === 'response' ? x.firstRespondedAt : CLOSED.has(x.status) ? (x.closedAt ?? x.updatedAt) : null;
  if (doneAt !== null) {
    if (deadline !== null && doneAt > deadline) return { state: 'missed', text: t('incidents.failed'), detail: '' };
    return { state: 'met', text: t('incidents.met'), detail: '' };
  }
  if (x.sla.agreementStatus === 'Paused' || x.status === 'On Hold') return { state: 'paused', text: t('incidents.paused'), detail: '' };
  if (deadline === null) return { state: 'none', text: t('incidents.noSla'), detail: '' };
  const left = deadline - now;
  if (left < 0) return { state: 'breached', text: t('incidents.sla.breached'), detail: t('incidents.overdue', { duration: duration(-left) }) };
  const total = Math.max(1, deadline - x.openedAt);
  const near = left / total < NEAR_SHARE;
  return {
    state: near ? 'near' : 'ok',
    text: near ? t('incidents.sla.near') : t('incidents.sla.ok'),
    detail: t('incidents.dueIn', { duration: duration(left) }),
  };
}

class IncidentsView implements View {
  private root: HTMLElement | null = null;
  private answer: TicketsAnswer | null = null;
  private error: unknown = null;
  private unsubscribe: (() => void) | null = null;
  private clock: ReturnType<typeof setInterval> | null = null;
  private readonly refetch = throttle(() => this.refresh(), 1000);
  private readonly details = new Map<string, TicketDetail | 'loading'>();
  /** Technicians for the reassign menu, and the unassigned count (dispatch). */
  private overview: DispatchOverview | null = null;
  private readonly fixes = new Map<string, TicketKnownFixes>();
  /** Refs created since the page opened (highlighted). */
  private readonly fresh = new Set<string>();
  private readonly filter: { open: boolean; priority: string; device: string; site: string; customer: string };

  constructor(
    private readonly session: Session,
    params: URLSearchParams,
  ) {
    this.filter = {
      open: params.get('open') !== 'all',
      priority: params.get('priority') ?? '',
      device: params.get('device') ?? '',
      site: params.get('site') ?? '',
      customer: params.get('customer') ?? '',
    };
  }

  mount(root: HTMLElement): void {
    this.root = root;
    if (!this.unsubscribe) {
      this.unsubscribe = onLive(
        (e) => {
          if (e.type !== 'ticket') return;
          if (e.change === 'created') this.fresh.add(e.ref);
          // Open details stay open and show the change.
          if (this.details.has(e.ref)) this.loadDetails(e.ref);
          this.refetch();
        },
        () => this.refresh(),
      );
      this.clock = setInterval(() => this.tick(), 1000);
      this.refresh();
    }
    this.render();
  }

  refresh(): void {
    void fetchDispatch().then((o) => {
      this.overview = o;
      this.renderBoard();
    });
    const f = this.filter;
    refreshFrom<TicketsAnswer>(
      `/api/tickets${query({ open: f.open ? 'true' : undefined, priority: f.priority || undefined, device: f.device || undefined, site: f.site || undefined, customer: f.customer || undefined, limit: 500 })}`,
      (a, e) => {
        if (a) this.answer = a;
        this.error = e;
        this.renderBoard();
      },
    );
  }

  private setFilter(change: Partial<IncidentsView['filter']>): void {
    Object.assign(this.filter, change);
    const f = this.filter;
    navigate(`/incidents${query({ open: f.open ? undefined : 'all', priority: f.priority, device: f.device, site: f.site, customer: f.customer })}`, {
      replace: true,
    });
  }

  render(): void {
    if (!this.root) return;
    const f = this.filter;
    const scope = [f.device && ['device', f.device], f.site && ['site', f.site], f.customer && ['customer', f.customer]].filter(Boolean) as Array<
      [keyof IncidentsView['filter'], string]
    >;
    replace(
      this.root,
      h(
        'div',
        { class: 'page-head' },
        h('h1', null, t('incidents.title')),
        h(
          'div',
          { class: 'segmented', role: 'group', 'aria-label': t('incidents.filter') },
          h('button', { type: 'button', class: 'btn', 'aria-pressed': String(f.open), onclick: () => this.setFilter({ open: true }) }, t('incidents.open')),
          h('button', { type: 'button', class: 'btn', 'aria-pressed': String(!f.open), onclick: () => this.setFilter({ open: false }) }, t('incidents.all')),
        ),
        h(
          'label',
          null,
          t('incidents.priority'),
          ' ',
          h(
            'select',
            { id: 'priority-filter', onchange: (e: Event) => this.setFilter({ priority: (e.target as HTMLSelectElement).value }) },
            h('option', { value: '' }, t('incidents.all')),
            Object.keys(PRIORITY_RANK).map((p) => h('option', { value: p, selected: p === f.priority }, label('priority', p))),
          ),
        ),
        scope.map(([k, v]) =>
          h('button', { type: 'button', class: 'chip chip-filter', 'aria-label': `${v} ✕`, onclick: () => this.setFilter({ [k]: '' }) }, `${v} ✕`),
        ),
      ),
      h('div', { id: 'board' }),
      this.dialog(),
    );
    this.renderBoard();
  }

  private sorted(): TicketSummary[] {
    const now = Date.now();
    const nextDeadline = (x: TicketSummary) => {
      const open = !CLOSED.has(x.status);
      const r = x.firstRespondedAt === null ? x.sla.responseBy : null;
      return Math.min(open && r !== null ? r : Infinity, open && x.sla.resolutionBy !== null ? x.sla.resolutionBy : Infinity, now + 1e12);
    };
    return [...(this.answer?.items ?? [])].sort(
      (a, b) =>
        Number(CLOSED.has(a.status)) - Number(CLOSED.has(b.status)) ||
        (PRIORITY_RANK[a.priority] ?? 9) - (PRIORITY_RANK[b.priority] ?? 9) ||
        nextDeadline(a) - nextDeadline(b) ||
        b.openedAt - a.openedAt,
    );
  }

  private renderBoard(): void {
    const board = this.root?.querySelector('#board');
    if (!board) return;
    if (!this.answer) return replace(board, loadingOrError(this, this.error));
    const rows = this.sorted();
    const now = Date.now();
    const cols = [
      t('incidents.priority'),
      t('incidents.subject'),
      t('incidents.where'),
      t('incidents.status'),
      td('dispatch.technician'),
      t('incidents.response'),
      t('incidents.resolution'),
      t('incidents.warranty'),
      t('incidents.opened'),
      this.session.canOperate ? t('incidents.actions') : null,
    ].filter(Boolean) as string[];
    replace(
      board,
      this.error ? errorBox(this.error, () => this.refresh()) : null,
      h(
        'p',
        { class: 'muted' },
        `${t('common.total')}: ${num(this.answer.total, 0)}`,
        this.overview
          ? h(
              'span',
              { id: 'unassigned-count', 'data-count': String(this.overview.unassigned) },
              ' · ',
              td('dispatch.unassignedCount', { n: num(this.overview.unassigned, 0) }),
            )
          : null,
      ),
      rows.length
        ? h(
            'div',
            { class: 'table-wrap' },
            h(
              'table',
              { class: 'board' },
              h('caption', { class: 'visually-hidden' }, t('incidents.title')),
              h(
                'thead',
                null,
                h(
                  'tr',
                  null,
                  cols.map((c) => h('th', { scope: 'col' }, c)),
                ),
              ),
              rows.map((x) => this.ticketRows(x, now, cols.length)),
            ),
          )
        : h('p', { class: 'empty' }, t('incidents.none')),
    );
  }

  private ticketRows(x: TicketSummary, now: number, width: number): HTMLElement {
    const detail = this.details.get(x.ref);
    const detailsId = `ticket-details-${cssId(x.ref)}`;
    return h(
      'tbody',
      { 'data-ref': x.ref, 'data-priority': x.priority, 'data-status': x.status, class: this.fresh.has(x.ref) ? 'fresh' : null },
      h(
        'tr',
        null,
        h('td', null, priorityBadge(x.priority)),
        h(
          'td',
          { class: 'subject' },
          h(
            'button',
            { type: 'button', class: 'link-button', 'aria-expanded': String(!!detail), 'aria-controls': detailsId, onclick: () => this.toggleDetails(x.ref) },
            x.subject,
          ),
          h('div', { class: 'muted small' }, label('issueType', x.issueType), ' · ', deviceLink(x.device), x.peripheral ? ` / ${x.peripheral}` : ''),
        ),
        h('td', null, x.customer, h('div', { class: 'muted small' }, x.site ?? '—')),
        h('td', null, h('span', { class: `badge ticket-${x.status.replace(/\s+/g, '-').toLowerCase()}` }, label('status', x.status))),
        technicianCell(x, this.overview, this.session.canOperate, () => {
          if (this.details.has(x.ref)) this.loadDetails(x.ref);
          this.refresh();
        }),
        this.slaCell(x, 'response', now),
        this.slaCell(x, 'resolution', now),
        h(
          'td',
          null,
          x.warrantyStatus
            ? h(
                'span',
                { class: `badge warranty ${x.warrantyStatus.startsWith('Under') ? 'warranty-yes' : 'warranty-no'}` },
                label('warranty', x.warrantyStatus),
              )
            : '—',
        ),
        h('td', null, h('time', { datetime: new Date(x.openedAt).toISOString(), title: dateTime(x.openedAt) }, relative(x.openedAt, now))),
        this.session.canOperate ? h('td', null, h('div', { class: 'actions' }, this.actionButtons(x))) : null,
      ),
      detail
        ? h('tr', { class: 'details-row', id: detailsId }, h('td', { colspan: String(width) }, detail === 'loading' ? loading() : this.detailView(detail)))
        : null,
    );
  }

  private slaCell(x: TicketSummary, which: 'response' | 'resolution', now: number): HTMLElement {
    const s = slaState(x, which, now);
    const deadline = which === 'response' ? x.sla.responseBy : x.sla.resolutionBy;
    return h(
      'td',
      { class: `sla sla-${s.state}`, 'data-sla': which, 'data-state': s.state, title: deadline ? dateTime(deadline) : '' },
      h('span', { class: 'sla-dot', 'aria-hidden': 'true' }),
      h('span', { class: 'sla-text' }, s.text),
      h('div', { class: 'sla-detail' }, s.detail),
    );
  }

  /** Every second: the countdowns move (only those cells change). */
  private tick(): void {
    if (!this.root || !this.answer) return;
    const now = Date.now();
    const byRef = new Map(this.answer.items.map((x) => [x.ref, x]));
    for (const body of this.root.querySelectorAll<HTMLElement>('tbody[data-ref]')) {
      const x = byRef.get(body.dataset.ref!);
      if (!x) continue;
      for (const cell of body.querySelectorAll<HTMLElement>('td[data-sla]')) {
        const s = slaState(x, cell.dataset.sla as 'response' | 'resolution', now);
        if (cell.dataset.state !== s.state) {
          cell.dataset.state = s.state;
          cell.className = `sla sla-${s.state}`;
        }
        const text = cell.querySelector('.sla-text');
        if (text && text.textContent !== s.text) text.textContent = s.text;
        const detail = cell.querySelector('.sla-detail');
        if (detail && detail.textContent !== s.detail) detail.textContent = s.detail;
      }
    }
  }

  private actionButtons(x: TicketSummary): HTMLElement[] {
    // What makes sense from each status (the server refuses a no-op with 409 anyway).
    const can: TicketAction[] = [];
    if (x.status === 'Open' || x.status === 'On Hold') can.push('ack');
    if (x.status !== 'Closed') can.push('comment');
    if (x.status === 'Open' || x.status === 'Replied') can.push('hold');
    if (x.status === 'On Hold' || x.status === 'Resolved') can.push('reopen');
    if (!CLOSED.has(x.status)) can.push('resolve');
    if (x.status === 'Resolved') can.push('close');
    return can.map((a) =>
      h(
        'button',
        {
          type: 'button',
          class: `btn btn-small action-${a}`,
          'data-action': a,
          onclick: () => (a === 'ack' ? void this.act(x.ref, a, '') : this.openDialog(x, a)),
        },
        label('action', a),
      ),
    );
  }

  private async act(ref: string, action: TicketAction, text: string, partReplaced = false): Promise<boolean> {
    try {
      await api.post(`/api/tickets/${encodeURIComponent(ref)}/actions`, { action, ...(text ? { text } : {}), ...(partReplaced ? { partReplaced: true } : {}) });
      toast(t('incidents.actionDone', { action: label('action', action) }), 'ok');
      if (this.details.has(ref)) this.loadDetails(ref);
      this.refresh();
      return true;
    } catch (e) {
      toast(t('common.error', { message: errorText(e) }), 'error');
      return false;
    }
  }

  private dialog(): HTMLDialogElement {
    const text = h('textarea', { id: 'action-text', rows: '4', maxlength: '5000' });
    const partReplaced = h('input', { type: 'checkbox', id: 'action-part-replaced-box' }) as HTMLInputElement;
    const title = h('h2', { id: 'action-title' });
    const form = h(
      'form',
      { method: 'dialog' },
      title,
      h('p', { class: 'muted small', id: 'action-subject' }),
      h('label', { for: 'action-text' }, t('incidents.textLabel')),
      text,
      // Resolve/close of a worn part's ticket: the part was replaced (a service record re-bases its wear).
      h('label', { class: 'part-replaced', id: 'action-part-replaced' }, partReplaced, ' ', t('incidents.partReplaced')),
      h(
        'div',
        { class: 'dialog-buttons' },
        h('button', { type: 'submit', value: 'cancel', class: 'btn', formnovalidate: true }, t('common.cancel')),
        h('button', { type: 'submit', value: 'send', class: 'btn btn-primary', id: 'action-send' }, t('common.send')),
      ),
    );
    const dialog = h('dialog', { id: 'action-dialog', 'aria-labelledby': 'action-title' }, form);
    dialog.addEventListener('close', () => {
      const ref = dialog.dataset.ref;
      const action = dialog.dataset.action as TicketAction | undefined;
      const replaced = (action === 'resolve' || action === 'close') && dialog.dataset.wornPart === '1' && partReplaced.checked;
      if (dialog.returnValue === 'send' && ref && action) void this.act(ref, action, text.value.trim(), replaced);
    });
    return dialog;
  }

  private openDialog(x: TicketSummary, action: TicketAction): void {
    const dialog = this.root?.querySelector<HTMLDialogElement>('#action-dialog');
    if (!dialog) return;
    dialog.dataset.ref = x.ref;
    dialog.dataset.action = action;
    dialog.returnValue = '';
    dialog.querySelector('#action-title')!.textContent = label('action', action);
    dialog.querySelector('#action-subject')!.textContent = `${x.subject} (${x.ref})`;
    const text = dialog.querySelector<HTMLTextAreaElement>('#action-text')!;
    text.value = '';
    text.required = action === 'comment';
    // "Part replaced" is offered where the ticket is about a worn part (its key names the part).
    const worn = (action === 'resolve' || action === 'close') && /-wear-out$/.test(x.key ?? '');
    dialog.dataset.wornPart = worn ? '1' : '0';
    dialog.querySelector<HTMLElement>('#action-part-replaced')!.hidden = !worn;
    dialog.querySelector<HTMLInputElement>('#action-part-replaced-box')!.checked = false;
    dialog.showModal();
    text.focus();
  }

  private toggleDetails(ref: string): void {
    if (this.details.has(ref)) {
      this.details.delete(ref);
      this.renderBoard();
      return;
    }
    this.details.set(ref, 'loading');
    this.renderBoard();
    this.loadDetails(ref);
  }

  /** Fetches a ticket's details (again) while they are open; the old ones stay shown meanwhile. */
  private loadDetails(ref: string): void {
    api
      .get<TicketKnownFixes>(`/api/tickets/${encodeURIComponent(ref)}/known-fixes`)
      .then((k) => {
        this.fixes.set(ref, k);
        if (this.details.has(ref)) this.renderBoard();
      })
      .catch(() => this.fixes.delete(ref));
    api
      .get<TicketDetail>(`/api/tickets/${encodeURIComponent(ref)}`)
      .then((d) => {
        if (!this.details.has(ref)) return; // closed meanwhile
        this.details.set(ref, d);
        this.renderBoard();
      })
      .catch((e) => {
        this.details.delete(ref);
        toast(t('common.error', { message: errorText(e) }), 'error');
        this.renderBoard();
      });
  }

  private detailView(d: TicketDetail): HTMLElement {
    return h(
      'div',
      { class: 'ticket-detail' },
      h(
        'p',
        { class: 'muted small' },
        d.ref,
        d.sla.serviceLevelAgreement ? ` · ${d.sla.serviceLevelAgreement}` : '',
        d.serial ? ` · ${t('device.serial')} ${d.serial}` : '',
        d.sla.agreementStatus ? ` · ${label('agreement', d.sla.agreementStatus)}` : '',
      ),
      h('pre', { class: 'description', dir: 'auto' }, d.description),
      this.fixes.has(d.ref) ? knownFixesSection(this.fixes.get(d.ref)!, d.language) : null,
      this.session.canOperate && this.fixes.has(d.ref) && !CLOSED.has(d.status)
        ? resolveWithCauseForm(d.ref, this.fixes.get(d.ref)!.causeCodes, () => {
            this.loadDetails(d.ref);
            this.refresh();
          })
        : null,
      d.comments.length
        ? h(
            'section',
            null,
            h('h3', null, t('incidents.comments')),
            h(
              'ol',
              { class: 'timeline' },
              d.comments.map((c) =>
                h('li', null, h('time', { datetime: new Date(c.at).toISOString() }, dateTime(c.at)), h('span', { class: 'comment-body', dir: 'auto' }, c.body)),
              ),
            ),
          )
        : null,
      d.statusHistory.length
        ? h('p', { class: 'muted small' }, d.statusHistory.map((s) => `${label('status', s.status)} ${dateTime(s.at)}`).join(' → '))
        : null,
      d.links.length ? h('p', { class: 'small' }, d.links.map((l) => `${l.system}: ${l.externalId} (${l.state})`).join(' · ')) : null,
    );
  }

  destroy(): void {
    this.unsubscribe?.();
    this.refetch.cancel();
    if (this.clock) clearInterval(this.clock);
    this.root = null;
  }
}

function cssId(s: string): string {
  return s.replace(/[^A-Za-z0-9_-]/g, '_');
}
