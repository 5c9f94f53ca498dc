// A whole `fleetcare server` (broker + collector + incidents + NOC) on free loopback ports with
// one user per role, and an HTTP client that logs in like the web page does (session cookie +
// X-CSRF-Token) or uses a Bearer token.
import { pino } from 'pino';
import { runServer, type RunningServer } from '../../cli/server.js';
import { serverConfigSchema } from '../../cli/server-config.js';
import type { CommandAccepted, NocRole, RemoteCommand, SessionInfo } from '../../noc/api.js';
import { freePort, waitFor } from './net.js';
import { tempDir, type TempDir } from './tmp.js';

export const PASSWORDS: Record<NocRole, string> = { viewer: 'viewer-pass-123', operator: 'operator-pass-123', admin: 'admin-pass-1234' };

export type NocTestServer = { server: RunningServer; dir: TempDir; url: string; brokerUrl: string; close(): Promise<void> };

/** `collector` and `noc` are merged into the server config (e.g. incidents settings, influx). */
export async function startNocServer(
  opts: { collector?: Record<string, unknown>; noc?: Record<string, unknown>; uiDir?: string; dataDir?: string } = {},
): Promise<NocTestServer> {
  const dir = tempDir('fleetcare-noc-');
  const config = serverConfigSchema.parse({
    dataDir: opts.dataDir ?? dir.path,
    logLevel: 'silent',
    broker: { port: await freePort(), scryptCost: 1024 },
    collector: { batch: { maxDelayMs: 50 }, ...opts.collector },
    noc: { port: 0, ...opts.noc },
  });
  const server = await runServer(config, {
    log: pino({ level: process.env.NOC_TEST_LOG ?? 'silent' }),
    noc: { scryptCost: 1024, ...(opts.uiDir ? { uiDir: opts.uiDir } : {}) },
  });
  const users = server.noc!.context.users;
  for (const role of ['viewer', 'operator', 'admin'] as const) await users.ensureUser(role, role, PASSWORDS[role]);
  return {
    server,
    dir,
    url: server.noc!.url,
    brokerUrl: server.brokerUrl!,
    async close() {
      await server.close('test done');
      dir.remove();
    },
  };
}

export type ApiAnswer<T = unknown> = { status: number; body: T; headers: Headers; text: string };

/** Talks to the NOC API as one user. */
export class ApiClient {
  private cookie = '';
  csrf = '';
  bearer = '';

  constructor(readonly base: string) {}

  /** The same session (cookie, CSRF token, bearer) against another NOC node. */
  at(base: string): ApiClient {
    const c = new ApiClient(base);
    c.cookie = this.cookie;
    c.csrf = this.csrf;
    c.bearer = this.bearer;
    return c;
  }

  /** The session cookie (name=value), for clients other than fetch (SSE). */
  get sessionCookie(): string {
    return this.cookie;
  }

  /** Logs in as the user named after `role` (password: PASSWORDS's, or e.g. a local cluster's). */
  static async login(base: string, role: NocRole, password = PASSWORDS[role]): Promise<ApiClient> {
    const c = new ApiClient(base);
    const r = await c.post<SessionInfo>('/api/login', { username: role, password });
    if (r.status !== 200) throw new Error(`login as ${role}: ${r.status} ${r.text}`);
    return c;
  }

  get<T = unknown>(path: string): Promise<ApiAnswer<T>> {
    return this.request<T>('GET', path);
  }

  post<T = unknown>(path: string, body?: unknown): Promise<ApiAnswer<T>> {
    return this.request<T>('POST', path, body);
  }

  /** Sends a remote command to `device` and waits (up to 10 s) until it is no longer pending. */
  async runCommand(device: string, command: { name: string; peripheral?: string }): Promise<RemoteCommand> {
    const sent = await this.post<CommandAccepted>(`/api/devices/${device}/commands`, command);
    if (sent.status !== 202) throw new Error(`command ${command.name} to ${device}: ${sent.status} ${sent.text}`);
    const answer = async () => {
      const c = (await this.get<RemoteCommand>(`/api/commands/${sent.body.id}`)).body;
      return c.status !== 'pending' ? c : null;
    };
    return waitFor(`${command.name} to ${device} answered`, answer, 10_000);
  }

  async request<T = unknown>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiAnswer<T>> {
    const h: Record<string, string> = { ...headers };
    if (this.cookie) h.cookie = this.cookie;
    if (this.csrf && method !== 'GET') h['x-csrf-token'] = this.csrf;
    if (this.bearer) h.authorization = `Bearer ${this.bearer}`;
    if (body !== undefined) h['content-type'] = 'application/json';
    const res = await fetch(this.base + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    const setCookie = res.headers.get('set-cookie');
    if (setCookie) this.cookie = setCookie.split(';')[0];
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON (CSV, metrics): keep the text
    }
    if (path === '/api/login' && res.status === 200) this.csrf = (parsed as SessionInfo).csrfToken;
    return { status: res.status, body: parsed as T, headers: res.headers, text };
  }
}
