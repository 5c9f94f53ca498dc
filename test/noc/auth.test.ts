// NOC logins, sessions, CSRF, API tokens, roles, request validation, health and metrics,
// against a real `fleetcare server` on loopback ports.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ApiClient, PASSWORDS, startNocServer, type NocTestServer } from '../helpers/noc.js';

let s: NocTestServer;
test.before(async () => {
  s = await startNocServer();
});
test.after(async () => {
  await s.close();
});

test('without a login every API route answers 401, public ones answer', async () => {
  const anon = new ApiClient(s.url);
  for (const path of ['/api/me', '/api/users']) {
    const r = await anon.get<{ error: string; message: string }>(path);
    assert.is(r.status, 401, path);
    assert.is(r.body.error, 'unauthenticated');
  }
  assert.is((await anon.get('/healthz')).status, 200);
  const ready = await anon.get<{ status: string; checks: Record<string, { ok: boolean }> }>('/readyz');
  assert.ok(['ready', 'degraded'].includes(ready.body.status));
  assert.ok(ready.body.checks.broker.ok);
});

test('login: wrong password is 401, right one gives a session and a CSRF token', async () => {
  const c = new ApiClient(s.url);
  const bad = await c.post<{ message: string }>('/api/login', { username: 'viewer', password: 'nope-nope-nope' });
  assert.is(bad.status, 401);
  assert.match(bad.body.message, 'wrong user name or password');
  const unknown = await c.post('/api/login', { username: 'ghost', password: 'whatever-123' });
  assert.is(unknown.status, 401);
  const ok = await c.post<{ user: { name: string; role: string }; csrfToken: string }>('/api/login', { username: 'operator', password: PASSWORDS.operator });
  assert.is(ok.status, 200);
  assert.equal(ok.body.user, { name: 'operator', role: 'operator' });
  assert.ok(ok.body.csrfToken.length >= 20);
  const cookie = ok.headers.get('set-cookie')!;
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  const me = await c.get<{ user: { name: string }; csrfToken: string }>('/api/me');
  assert.is(me.status, 200);
  assert.is(me.body.csrfToken, ok.body.csrfToken);
});

test('bad login bodies get a 4xx naming the field', async () => {
  const c = new ApiClient(s.url);
  const noType = await c.request('POST', '/api/login', undefined, { 'content-type': 'text/plain' });
  assert.is(noType.status, 415);
  const notJson = await fetch(s.url + '/api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"username":' });
  assert.is(notJson.status, 400);
  assert.match(((await notJson.json()) as { message: string }).message, 'body: not valid JSON');
  const missing = await c.post<{ message: string }>('/api/login', { username: 'x' });
  assert.is(missing.status, 400);
  assert.match(missing.body.message, 'body.password');
  const badName = await c.post<{ message: string }>('/api/login', { username: 'a b', password: 'x' });
  assert.is(badName.status, 400);
  assert.match(badName.body.message, 'body.username');
  const big = await fetch(s.url + '/api/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'x', password: 'y'.repeat(100_000) }),
  });
  assert.is(big.status, 413);
});

test('a state-changing request with the cookie but without the CSRF header is refused', async () => {
  const admin = await ApiClient.login(s.url, 'admin');
  const csrf = admin.csrf;
  admin.csrf = '';
  const r = await admin.post<{ error: string }>('/api/users', { name: 'eve', role: 'viewer', password: 'long-enough-1' });
  assert.is(r.status, 403);
  assert.is(r.body.error, 'csrf');
  admin.csrf = 'forged-token-of-the-right-length';
  assert.is((await admin.post('/api/users', { name: 'eve', role: 'viewer', password: 'long-enough-1' })).status, 403);
  admin.csrf = csrf;
  assert.is((await admin.post('/api/users', { name: 'eve', role: 'viewer', password: 'long-enough-1' })).status, 201);
  // Now eve exists and can log in.
  const eve = new ApiClient(s.url);
  assert.is((await eve.post('/api/login', { username: 'eve', password: 'long-enough-1' })).status, 200);
});

test('roles: only an admin manages users', async () => {
  for (const role of ['viewer', 'operator'] as const) {
    const c = await ApiClient.login(s.url, role);
    const r = await c.get<{ message: string }>('/api/users');
    assert.is(r.status, 403, role);
    assert.match(r.body.message, 'needs role admin');
  }
  const admin = await ApiClient.login(s.url, 'admin');
  const list = await admin.get<{ items: Array<{ name: string; role: string }> }>('/api/users');
  assert.ok(list.body.items.some((u) => u.name === 'operator' && u.role === 'operator'));
  const dup = await admin.post<{ message: string }>('/api/users', { name: 'viewer', role: 'viewer', password: 'long-enough-1' });
  assert.is(dup.status, 409);
  const short = await admin.post<{ message: string }>('/api/users', { name: 'bob', role: 'viewer', password: 'short' });
  assert.is(short.status, 400);
  assert.match(short.body.message, 'body.password');
  const badRole = await admin.post<{ message: string }>('/api/users', { name: 'bob', role: 'root', password: 'long-enough-1' });
  assert.is(badRole.status, 400);
  assert.match(badRole.body.message, 'body.role');
  assert.is((await admin.request('DELETE', '/api/users/admin')).status, 409);
  assert.is((await admin.request('DELETE', '/api/users/nobody')).status, 404);
});

test("changing a password ends that user's sessions", async () => {
  const admin = await ApiClient.login(s.url, 'admin');
  assert.is((await admin.post('/api/users', { name: 'carol', role: 'viewer', password: 'first-password-1' })).status, 201);
  const carol = new ApiClient(s.url);
  await carol.post('/api/login', { username: 'carol', password: 'first-password-1' });
  assert.is((await carol.get('/api/me')).status, 200);
  assert.is((await admin.post('/api/users/carol', { password: 'second-password-2' })).status, 200);
  assert.is((await carol.get('/api/me')).status, 401);
});

test('logout ends the session', async () => {
  const c = await ApiClient.login(s.url, 'viewer');
  assert.is((await c.post('/api/logout')).status, 200);
  assert.is((await c.get('/api/me')).status, 401);
});

test("API tokens: Bearer works without CSRF and carries the owner's role", async () => {
  const viewer = await ApiClient.login(s.url, 'viewer');
  const t = await viewer.post<{ token: string }>('/api/tokens', { name: 'grafana' });
  assert.is(t.status, 201);
  const script = new ApiClient(s.url);
  script.bearer = t.body.token;
  const me = await script.get<{ user: { role: string } }>('/api/me');
  assert.is(me.status, 200);
  assert.is(me.body.user.role, 'viewer');
  assert.is((await script.get('/api/users')).status, 403);
  script.bearer = t.body.token.slice(0, -1) + (t.body.token.endsWith('A') ? 'B' : 'A');
  assert.is((await script.get('/api/me')).status, 401);
});

test('failed logins are throttled per user name', async () => {
  const c = new ApiClient(s.url);
  const statuses: number[] = [];
  for (let i = 0; i < 12; i++) statuses.push((await c.post('/api/login', { username: 'admin2', password: 'wrong-wrong' })).status);
  assert.ok(
    statuses.slice(0, 10).every((x) => x === 401),
    statuses.join(),
  );
  assert.is(statuses[11], 429);
});

test('unknown API path is 404, wrong method 405 with Allow', async () => {
  const c = await ApiClient.login(s.url, 'viewer');
  const r = await c.get<{ error: string }>('/api/nothing-here');
  assert.is(r.status, 404);
  const m = await c.request('PUT', '/api/login', {});
  assert.is(m.status, 405);
  assert.is(m.headers.get('allow'), 'POST');
});

test('/metrics is Prometheus text with broker, collector and HTTP figures', async () => {
  const r = await fetch(s.url + '/metrics');
  assert.is(r.status, 200);
  assert.match(r.headers.get('content-type')!, 'text/plain; version=0.0.4');
  const text = await r.text();
  for (const name of [
    'fleetcare_broker_connections',
    'fleetcare_collector_connected',
    'fleetcare_ingest_lag_seconds',
    'fleetcare_open_tickets',
    'fleetcare_http_requests_total',
    'fleetcare_devices',
  ]) {
    assert.match(text, new RegExp(`^# TYPE ${name} (gauge|counter)$`, 'm'), name);
  }
  // Every sample line is `name{labels} number`.
  for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) assert.match(line, /^[a-z_]+(\{[^}]*\})? -?[0-9.e+-]+$/, line);
  assert.match(text, /fleetcare_http_requests_total\{method="POST",route="\/api\/login",code="4xx"\} \d+/);
  assert.match(text, /fleetcare_broker_connections\{kind="collector"\} 1/);
  // Every kind of loss has its counter (docs/durability.md).
  assert.match(text, /^fleetcare_broker_oversized_total 0$/m);
  assert.match(text, /^fleetcare_ingest_clock_placed_total\{verdict="before-floor"\} 0$/m);
  assert.match(text, /^fleetcare_agent_reported_drops_total \d+$/m);
});

test('the page is served for deep links, and paths cannot escape the asset dir', async () => {
  const r = await fetch(s.url + '/devices/pos-1');
  assert.ok([200, 503].includes(r.status));
  const esc = await fetch(s.url + '/assets/%2e%2e/%2e%2e/package.json');
  assert.ok([400, 404].includes(esc.status), String(esc.status));
  const malformed = await fetch(s.url + '/assets/%E0%A4%A.js');
  assert.is(malformed.status, 400);
  assert.match(((await malformed.json()) as { message: string }).message, 'malformed percent-escape');
  // The server still answers after it.
  assert.is((await fetch(s.url + '/healthz')).status, 200);
});

test.run();
