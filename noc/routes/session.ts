// Login, logout, who am I; user and API-token administration (admin only).
import { z } from 'zod';
import { apiTokenRequest, createUserRequest, loginRequest, nocRole, password, userName, type SessionInfo } from '../api.js';
import { sessionCookie, sessionIdOf, UserError } from '../auth.js';
import type { NocContext } from '../context.js';
import { HttpError, route, type Route } from '../http.js';

/** Failed logins per key (user name, client address) in the current minute. */
class LoginThrottle {
  private readonly window = new Map<string, { start: number; failures: number }>();
  constructor(private readonly perMinute: number) {}
  /** A client address may fail more often than one name: a NOC shares one address behind NAT. */
  private limit(key: string): number {
    return key.startsWith('addr:') ? this.perMinute * 5 : this.perMinute;
  }
  blocked(keys: string[], now: number): boolean {
    return keys.some((k) => {
      const w = this.window.get(k);
      return !!w && now - w.start < 60_000 && w.failures >= this.limit(k);
    });
  }
  fail(keys: string[], now: number): void {
    if (this.window.size > 10_000) for (const [k, w] of this.window) if (now - w.start >= 60_000) this.window.delete(k);
    for (const k of keys) {
      const w = this.window.get(k);
      if (!w || now - w.start >= 60_000) this.window.set(k, { start: now, failures: 1 });
      else w.failures++;
    }
  }
}

function userErrorToHttp(e: unknown): never {
  if (e instanceof UserError) throw new HttpError(e.code === 'exists' ? 409 : e.code === 'not-found' ? 404 : 400, e.message);
  throw e;
}

export function sessionRoutes(ctx: NocContext): Route[] {
  const throttle = new LoginThrottle(ctx.config.loginAttemptsPerMinute);
  return [
    route({
      method: 'POST',
      path: '/api/login',
      role: 'public',
      body: loginRequest,
      async handle({ req, body }) {
        const now = Date.now();
        const keys = [`user:${body.username}`, `addr:${req.socket.remoteAddress ?? '?'}`];
        if (throttle.blocked(keys, now)) throw new HttpError(429, 'too many failed logins; wait a minute');
        const user = await ctx.users.checkPassword(body.username, body.password);
        if (!user) {
          throttle.fail(keys, now);
          ctx.log.warn({ user: body.username, addr: req.socket.remoteAddress }, 'NOC login refused');
          throw new HttpError(401, 'wrong user name or password');
        }
        const s = await ctx.users.createSession(user, now);
        ctx.log.info({ user: user.name, role: user.role }, 'NOC login');
        const info: SessionInfo = { user, csrfToken: s.csrfToken };
        return { json: info, headers: { 'Set-Cookie': sessionCookie(s, ctx.config.secureCookies) } };
      },
    }),
    route({
      method: 'POST',
      path: '/api/logout',
      role: 'viewer',
      async handle({ req }) {
        const sid = sessionIdOf(req);
        if (sid) await ctx.users.endSession(sid);
        return { json: { ok: true }, headers: { 'Set-Cookie': sessionCookie(null, ctx.config.secureCookies) } };
      },
    }),
    route({
      method: 'GET',
      path: '/api/me',
      role: 'viewer',
      async handle({ req, user }) {
        const sid = sessionIdOf(req);
        const s = sid ? await ctx.users.session(sid) : null;
        // Bearer clients have no session and need no CSRF token.
        const info: SessionInfo = { user: user!, csrfToken: s?.csrfToken ?? '' };
        return { json: info };
      },
    }),
    route({
      method: 'GET',
      path: '/api/users',
      role: 'admin',
      handle: async () => ({ json: { items: await ctx.users.listUsers() } }),
    }),
    route({
      method: 'POST',
      path: '/api/users',
      role: 'admin',
      body: createUserRequest,
      async handle({ body, user }) {
        try {
          const u = await ctx.users.addUser(body.name, body.role, body.password);
          ctx.log.info({ by: user!.name, user: u.name, role: u.role }, 'NOC user added');
          return { status: 201, json: u };
        } catch (e) {
          userErrorToHttp(e);
        }
      },
    }),
    route({
      method: 'POST',
      path: '/api/users/:name',
      role: 'admin',
      body: z.object({ role: nocRole.optional(), password: password.optional() }).refine((b) => b.role || b.password, 'give role and/or password'),
      async handle({ params, body, user }) {
        const name = userName.safeParse(params.name);
        if (!name.success) throw new HttpError(400, `path.name: ${name.error.issues[0].message}`);
        try {
          if (body.role) await ctx.users.setRole(name.data, body.role);
          if (body.password) await ctx.users.setPassword(name.data, body.password);
        } catch (e) {
          userErrorToHttp(e);
        }
        ctx.log.info({ by: user!.name, user: name.data, role: body.role, passwordChanged: !!body.password }, 'NOC user changed');
        return { json: await ctx.users.getUser(name.data) };
      },
    }),
    route({
      method: 'DELETE',
      path: '/api/users/:name',
      role: 'admin',
      async handle({ params, user }) {
        if (params.name === user!.name) throw new HttpError(409, 'you cannot remove yourself');
        try {
          await ctx.users.removeUser(params.name);
        } catch (e) {
          userErrorToHttp(e);
        }
        ctx.log.info({ by: user!.name, user: params.name }, 'NOC user removed');
        return { json: { ok: true } };
      },
    }),
    route({
      method: 'POST',
      path: '/api/tokens',
      role: 'viewer',
      body: apiTokenRequest,
      async handle({ body, user }) {
        // A token carries its owner's role; shown once.
        return { status: 201, json: { token: await ctx.users.createApiToken(user!.name, body.name) } };
      },
    }),
  ];
}
