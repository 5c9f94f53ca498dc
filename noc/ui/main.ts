// The NOC web page: login, the shell (navigation, language, wall screen, live status), and a
// client-side router over the history API (the server answers index.html for every path without
// an extension, so deep links such as /devices/pos-001 work).
import type { NocUser, SessionInfo, UiLanguage } from '../api.js';
import { api, ApiError, rememberSession, whenUnauthenticated } from './client.js';
import { h, replace } from './dom.js';
import { initialLanguage, label, language, LANGUAGES, onLanguageChange, setLanguage, t, time } from './i18n.js';
import { liveState, onLive, onLiveState, startLive, stopLive, type LiveState } from './live.js';
import { errorText } from './ui.js';
import { setNavigate, type Session, type View, type ViewFactory } from './view.js';
import { overviewView } from './views/overview.js';
import { deviceView } from './views/device.js';
import { incidentsView } from './views/incidents.js';
import { reportsView } from './views/reports.js';
import { knowledgeView } from './views/knowledge.js';
import { td } from './dispatch-i18n.js';

const ROUTES: Array<{ pattern: RegExp; nav: 'overview' | 'incidents' | 'reports' | 'knowledge' | null; view: ViewFactory }> = [
  { pattern: /^\/$/, nav: 'overview', view: overviewView },
  { pattern: /^\/devices\/([^/]+)$/, nav: 'overview', view: deviceView },
  { pattern: /^\/incidents$/, nav: 'incidents', view: incidentsView },
  { pattern: /^\/reports$/, nav: 'reports', view: reportsView },
  { pattern: /^\/knowledge$/, nav: 'knowledge', view: knowledgeView },
];

/** How often the wall screen refetches the view, besides the live updates. */
const WALL_REFRESH_MS = 30_000;

const app = document.getElementById('app')!;
let session: Session | null = null;
let current: { view: View; path: string } | null = null;
let wallTimer: ReturnType<typeof setInterval> | null = null;

// ---- wall screen -------------------------------------------------------------------------------

function wallOn(): boolean {
  return document.documentElement.classList.contains('wall');
}

function setWall(on: boolean): void {
  document.documentElement.classList.toggle('wall', on);
  try {
    localStorage.setItem('fleetcare.wall', on ? '1' : '0');
  } catch {
    // not remembered
  }
  if (wallTimer) clearInterval(wallTimer);
  wallTimer = on ? setInterval(() => current?.view.refresh(), WALL_REFRESH_MS) : null;
  const btn = document.getElementById('wall-toggle');
  btn?.setAttribute('aria-pressed', String(on));
}

function initialWall(): boolean {
  const q = new URLSearchParams(location.search).get('wall');
  if (q !== null) return q === '1' || q === 'true';
  try {
    return localStorage.getItem('fleetcare.wall') === '1';
  } catch {
    return false;
  }
}

// ---- shell -------------------------------------------------------------------------------------

function languageSelect(): HTMLElement {
  const select = h(
    'select',
    { id: 'lang-select', 'aria-label': t('nav.language'), onchange: (e: Event) => setLanguage((e.target as HTMLSelectElement).value as UiLanguage) },
    LANGUAGES.map((l) => h('option', { value: l.code, lang: l.code, selected: l.code === language() }, l.name)),
  );
  return h('label', { class: 'lang' }, h('span', { class: 'visually-hidden' }, t('nav.language')), select);
}

function liveIndicator(state: LiveState): HTMLElement {
  const text = state === 'connected' ? t('live.connected') : state === 'connecting' ? t('live.connecting') : t('live.lost');
  return h(
    'span',
    { id: 'live-indicator', class: `live live-${state}`, role: 'status', 'data-state': state },
    h('span', { class: 'dot', 'aria-hidden': 'true' }),
    text,
  );
}

function renderShell(user: NocUser): void {
  const navItem = (key: 'overview' | 'incidents' | 'reports', href: string) => h('a', { href, 'data-nav': key }, t(`nav.${key}`));
  replace(
    app,
    h('a', { class: 'skip', href: '#main' }, t('app.skip')),
    h(
      'header',
      { class: 'topbar' },
      h('a', { class: 'brand', href: '/' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, '◆'), t('app.title')),
      h(
        'nav',
        { 'aria-label': t('nav.main') },
        navItem('overview', '/'),
        navItem('incidents', '/incidents'),
        navItem('reports', '/reports'),
        h('a', { href: '/knowledge', 'data-nav': 'knowledge' }, td('nav.knowledge')),
      ),
      h(
        'div',
        { class: 'topbar-end' },
        liveIndicator(liveState()),
        languageSelect(),
        h(
          'button',
          { id: 'wall-toggle', type: 'button', class: 'btn btn-ghost', 'aria-pressed': String(wallOn()), onclick: () => setWall(!wallOn()) },
          t('nav.wall'),
        ),
        h(
          'span',
          { class: 'user', title: t('nav.signedInAs', { name: user.name, role: label('role', user.role) }) },
          user.name,
          ' · ',
          label('role', user.role),
        ),
        h('button', { type: 'button', class: 'btn btn-ghost', id: 'logout', onclick: logout }, t('nav.logout')),
      ),
    ),
    h('main', { id: 'main', tabindex: '-1' }),
    h('div', { id: 'toasts', class: 'toasts', role: 'status', 'aria-live': 'polite' }),
  );
}

function markNav(nav: string | null): void {
  for (const a of app.querySelectorAll<HTMLAnchorElement>('nav a[data-nav]')) {
    if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

// ---- routing -----------------------------------------------------------------------------------

function mountRoute(): void {
  if (!session) return;
  const path = location.pathname;
  const main = document.getElementById('main');
  if (!main) return;
  current?.view.destroy();
  current = null;
  const route = ROUTES.find((r) => r.pattern.test(path));
  if (!route) {
    markNav(null);
    replace(main, h('h1', null, t('common.notFound', { what: path })), h('p', null, h('a', { href: '/' }, t('device.back'))));
    return;
  }
  const params = (route.pattern.exec(path) ?? []).slice(1).map((p) => decodeURIComponent(p));
  markNav(route.nav);
  const view = route.view(session, params, new URLSearchParams(location.search));
  current = { view, path };
  main.replaceChildren();
  view.mount(main);
}

function navigate(path: string, opts: { replace?: boolean } = {}): void {
  if (opts.replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  mountRoute();
  if (!opts.replace) {
    window.scrollTo(0, 0);
    document.getElementById('main')?.focus({ preventScroll: true });
  }
}
setNavigate(navigate);

// Same-origin links are handled here (real <a href> elements, so middle-click and "open in new
// tab" still work; a plain click stays in the page).
document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = (e.target as Element | null)?.closest?.('a');
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/') || a.getAttribute('href')?.startsWith('#')) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener('popstate', () => mountRoute());

// `/` focuses the search box (on the fleet page; from elsewhere it goes there first).
document.addEventListener('keydown', (e) => {
  if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey || !session) return;
  const target = e.target as HTMLElement | null;
  if (target && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName))) return;
  e.preventDefault();
  let search = document.querySelector<HTMLInputElement>('[data-search]');
  if (!search) {
    navigate('/');
    search = document.querySelector<HTMLInputElement>('[data-search]');
  }
  search?.focus();
  search?.select();
});

// ---- login -------------------------------------------------------------------------------------

function showLogin(message?: string): void {
  session = null;
  current?.view.destroy();
  current = null;
  stopLive();
  const error = h('p', { class: 'error', role: 'alert', hidden: !message }, message ?? '');
  const user = h('input', { id: 'login-user', name: 'username', autocomplete: 'username', required: true, maxlength: '64' });
  const pass = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true, maxlength: '200' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, t('login.submit'));
  const form = h(
    'form',
    {
      class: 'login card',
      'aria-labelledby': 'login-title',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        submit.disabled = true;
        error.hidden = true;
        try {
          const info = await api.post<SessionInfo>('/api/login', { username: user.value.trim(), password: pass.value });
          startSession(info);
        } catch (err) {
          error.textContent =
            err instanceof ApiError && err.status === 401
              ? t('login.failed')
              : err instanceof ApiError && err.status === 429
                ? t('login.throttled')
                : t('common.error', { message: errorText(err) });
          error.hidden = false;
          pass.value = '';
          pass.focus();
        } finally {
          submit.disabled = false;
        }
      },
    },
    h(
      'div',
      { class: 'login-head' },
      h('h1', { id: 'login-title' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, '◆'), t('login.title')),
      languageSelect(),
    ),
    h('label', { for: 'login-user' }, t('login.user')),
    user,
    h('label', { for: 'login-password' }, t('login.password')),
    pass,
    error,
    submit,
  );
  replace(app, h('main', { id: 'main', class: 'login-page' }, form));
  user.focus();
}

function startSession(info: SessionInfo): void {
  rememberSession(info);
  session = { user: info.user, canOperate: info.user.role !== 'viewer' };
  document.documentElement.dataset.role = info.user.role;
  renderShell(info.user);
  startLive();
  mountRoute();
}

async function logout(): Promise<void> {
  try {
    await api.post('/api/logout');
  } catch {
    // the session may already be gone; the login page is shown either way
  }
  showLogin();
}

// ---- start -------------------------------------------------------------------------------------

onLiveState((s) => {
  const old = document.getElementById('live-indicator');
  old?.replaceWith(liveIndicator(s));
});

// A live event counts as "the data is fresh": the wall screen shows when it last heard anything.
onLive(() => {
  const el = document.getElementById('live-indicator');
  if (el && liveState() === 'connected') el.title = t('live.updated', { time: time(Date.now()) });
});

onLanguageChange(() => {
  if (!session) return showLogin();
  renderShell(session.user);
  markNav(ROUTES.find((r) => r.pattern.test(location.pathname))?.nav ?? null);
  const main = document.getElementById('main')!;
  if (current) {
    current.view.mount(main);
  }
});

whenUnauthenticated(() => {
  if (session) showLogin();
});

async function boot(): Promise<void> {
  setLanguage(initialLanguage());
  setWall(initialWall());
  try {
    startSession(await api.get<SessionInfo>('/api/me'));
  } catch (e) {
    showLogin(e instanceof ApiError && e.status === 401 ? undefined : t('common.error', { message: errorText(e) }));
  }
}

void boot();
