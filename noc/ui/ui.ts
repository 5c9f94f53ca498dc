// Shared pieces of the page: status badges (colour AND a text label, never colour alone), cards,
// tables, loading and error states, toasts, a throttle for live refetches.
import { h, type Child } from './dom.js';
import { label, t } from './i18n.js';
import { ApiError } from './client.js';

/** ok / warning / critical / absent / unknown / offline / online → badge with a shape and a word. */
export function statusBadge(status: string, text = label('health', status)): HTMLElement {
  return h('span', { class: `badge status-${status}`, 'data-status': status }, h('span', { class: 'dot', 'aria-hidden': 'true' }), text);
}

export function priorityBadge(priority: string): HTMLElement {
  return h('span', { class: `badge priority-${priority.toLowerCase()}`, 'data-priority': priority }, label('priority', priority));
}

export function card(title: Child, ...children: Child[]): HTMLElement {
  return h('section', { class: 'card' }, h('h2', null, title), ...children);
}

export type Column<T> = { head: Child; cell: (row: T) => Child; class?: string; numeric?: boolean };

/** A plain <table> (sortable by the server, readable by screen readers). */
export function table<T>(
  rows: T[],
  columns: Column<T>[],
  opts: { caption?: string; empty?: string; rowAttrs?: (row: T) => Record<string, string> } = {},
): HTMLElement {
  if (!rows.length) return h('p', { class: 'empty' }, opts.empty ?? t('common.none'));
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      null,
      opts.caption ? h('caption', { class: 'visually-hidden' }, opts.caption) : null,
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          columns.map((c) => h('th', { scope: 'col', class: [c.class, c.numeric ? 'num' : ''].filter(Boolean).join(' ') || null }, c.head)),
        ),
      ),
      h(
        'tbody',
        null,
        rows.map((r) =>
          h(
            'tr',
            opts.rowAttrs?.(r) ?? null,
            columns.map((c) => h('td', { class: [c.class, c.numeric ? 'num' : ''].filter(Boolean).join(' ') || null }, c.cell(r))),
          ),
        ),
      ),
    ),
  );
}

export function loading(): HTMLElement {
  return h('p', { class: 'loading', role: 'status' }, t('common.loading'));
}

export function errorText(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.status === 403) return t('common.forbidden') + ` (${e.message})`;
    return e.message;
  }
  return (e as Error)?.message ?? String(e);
}

export function errorBox(e: unknown, retry?: () => void): HTMLElement {
  return h(
    'div',
    { class: 'error', role: 'alert' },
    t('common.error', { message: errorText(e) }),
    retry ? h('button', { type: 'button', class: 'btn', onclick: retry }, t('common.retry')) : null,
  );
}

/** What a view shows before its first answer: the error that stopped it (its retry refreshes the view), or loading. */
export function loadingOrError(view: { refresh(): void }, e: unknown): HTMLElement {
  return e ? errorBox(e, () => view.refresh()) : loading();
}

/** A short message at the corner of the screen (command results, action done, errors). */
export function toast(text: string, kind: 'info' | 'ok' | 'error' = 'info'): void {
  const box = document.getElementById('toasts');
  if (!box) return;
  const el = h('div', { class: `toast toast-${kind}` }, text);
  box.appendChild(el);
  setTimeout(() => el.remove(), kind === 'error' ? 10_000 : 5_000);
}

/** Runs `f` at most once per `ms`, the last call always running (live events come in bursts). */
export function throttle(f: () => void, ms: number): { (): void; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let last = 0;
  const run = () => {
    timer = null;
    last = Date.now();
    f();
  };
  const wrapped = () => {
    if (timer) return;
    const wait = Math.max(0, last + ms - Date.now());
    timer = setTimeout(run, wait);
  };
  wrapped.cancel = () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
  return wrapped;
}

/** A link inside the single-page app (a real <a>, so it opens in a new tab too). */
export function link(href: string, ...children: Child[]): HTMLAnchorElement {
  return h('a', { href }, ...children);
}

export function deviceLink(id: string): HTMLAnchorElement {
  return link(`/devices/${encodeURIComponent(id)}`, id);
}

/** Horizontal bar for counts in reports (a <meter>-like bar with the number beside it). */
export function bar(value: number, max: number, text: string): HTMLElement {
  const share = max > 0 ? Math.min(1, value / max) : 0;
  return h(
    'span',
    { class: 'bar' },
    h('span', { class: 'bar-track', 'aria-hidden': 'true' }, h('span', { class: 'bar-fill', style: `inline-size:${(share * 100).toFixed(1)}%` })),
    h('span', { class: 'bar-text' }, text),
  );
}
