// The NOC's HTTP server: the JSON API (noc/routes), live updates, health and metrics, and the
// web page's static files (built into dist/noc/ui by `npm run build`; nothing from a CDN, since
// NOCs and stores are often cut off from the internet).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { BrokerHandle } from '../broker/index.js';
import type { CollectorHandle } from '../collector/index.js';
import { UserStore, authenticateRequest } from './auth.js';
import type { CommandStateStore } from '../state/commands.js';
import type { NocAccountStore } from '../state/noc-accounts.js';
import { SqliteCommandState } from '../state/sqlite/commands.js';
import { SqliteNocAccounts } from '../state/sqlite/noc-accounts.js';
import type { ReportUnitStore } from '../state/report-units.js';
import { SqliteReportUnits } from '../state/sqlite/report-units.js';
import { nocConfigSchema, type NocConfig, type NocConfigInput } from './config.js';
import type { StateConfig } from '../state/config.js';
import { postgresProbe } from './cluster.js';
import type { NocContext, NocIncidents } from './context.js';
import { Router, sendJson } from './http.js';
import { LiveHub } from './live.js';
import { HttpMetrics } from './metrics.js';
import { dataRoutes } from './routes/index.js';
import { opsRoutes } from './routes/ops.js';
import { sessionRoutes } from './routes/session.js';
import { ticketActionRoutes } from './routes/ticket-actions.js';

export type NocHandle = {
  port: number;
  url: string;
  context: NocContext;
  close(): Promise<void>;
};

export type NocDeps = {
  broker: BrokerHandle | null;
  collector: CollectorHandle | null;
  /** The in-process incident service, or on a NOC-only cluster node a view of the shared stores (noc/cluster.ts sharedIncidentsView). */
  incidents: NocIncidents | null;
  /** Where noc.db (users, sessions, tokens) lives. */
  dataDir: string;
  log: Logger;
  /** Overrides the UI asset directory (tests). */
  uiDir?: string;
  /** scrypt cost for new password hashes (tests lower it). */
  scryptCost?: number;
  /**
   * Shared stores from elsewhere (PostgreSQL in cluster mode); by default noc.db holds them. Built
   * from the NOC config's session lifetime; the NOC closes them when it closes.
   */
  stores?: (config: NocConfig) => { users: NocAccountStore; commands: CommandStateStore; reportUnits: ReportUnitStore };
  /** The server's state tier: with `postgres`, /readyz checks that this node reaches it. */
  state?: StateConfig;
  /** This node's id in the cluster (shown by /readyz and /metrics). */
  nodeId?: string;
};

/** Built web page: dist/noc/ui next to this compiled file. */
export const defaultUiDir = () => fileURLToPath(new URL('./ui/', import.meta.url));

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
};

// The page only loads its own files and talks to its own origin.
const PAGE_HEADERS = {
  'Content-Security-Policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

export async function startNoc(input: NocConfigInput, deps: NocDeps): Promise<NocHandle> {
  const config: NocConfig = nocConfigSchema.parse(input);
  const log = deps.log;
  const local = new UserStore(join(deps.dataDir, 'noc.db'), { sessionTtlMs: config.sessionTtlHours * 3_600_000, scryptCost: deps.scryptCost });
  const shared = deps.stores?.(config);
  const users: NocAccountStore = shared?.users ?? new SqliteNocAccounts(local);
  const commands: CommandStateStore = shared?.commands ?? new SqliteCommandState(local.db);
  const reportUnits: ReportUnitStore = shared?.reportUnits ?? new SqliteReportUnits(local.db);
  const probe = deps.state?.kind === 'postgres' ? postgresProbe(deps.state.url) : null;
  const closeStores = async () => {
    await probe?.close().catch(() => undefined);
    await users.close().catch(() => undefined);
    await commands.close().catch(() => undefined);
    await reportUnits.close().catch(() => undefined);
    if (local.db.open) local.close();
  };
  for (const b of config.bootstrapUsers) {
    const pw = process.env[b.passwordEnv];
    if (!pw) {
      log.warn({ user: b.name, env: b.passwordEnv }, 'bootstrap user skipped: its password variable is not set');
      continue;
    }
    if (await users.ensureUser(b.name, b.role, pw)) log.info({ user: b.name, role: b.role }, 'NOC user created');
  }
  const live = new LiveHub(log);
  const ctx: NocContext = {
    broker: deps.broker,
    collector: deps.collector,
    incidents: deps.incidents,
    users,
    commands,
    reportUnits,
    state: probe,
    nodeId: deps.nodeId ?? null,
    live,
    config,
    log,
    startedAt: Date.now(),
  };
  const httpMetrics = new HttpMetrics();
  const data = dataRoutes(ctx);
  const router = new Router().add(...sessionRoutes(ctx), ...opsRoutes(ctx, httpMetrics), ...ticketActionRoutes(ctx), ...data.routes);
  const uiDir = deps.uiDir ?? defaultUiDir();

  async function serveAsset(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'method-not-allowed', message: `${req.method} is not allowed here` });
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path.startsWith('/api/')) return sendJson(res, 404, { error: 'not-found', message: `no API route ${path}` });
    // Any non-file path is a page of the single-page app (deep links such as /devices/pos-1).
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      return sendJson(res, 400, { error: 'bad-request', message: 'path: malformed percent-escape' });
    }
    const rel = path === '/' || !extname(path) ? 'index.html' : normalize(decoded).replace(/^([/\\])+/, '');
    if (rel.split(/[/\\]/).includes('..')) return sendJson(res, 400, { error: 'bad-request', message: 'path escapes the asset directory' });
    try {
      const body = await readFile(join(uiDir, rel));
      res.writeHead(200, {
        'Content-Type': MIME[extname(rel)] ?? 'application/octet-stream',
        'Cache-Control': rel === 'index.html' ? 'no-cache' : 'public, max-age=300',
        ...PAGE_HEADERS,
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      if (rel === 'index.html') {
        res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(`The NOC web page is not built (${uiDir} missing). Run: npm run build\n`);
      } else sendJson(res, 404, { error: 'not-found', message: `no file ${path}` });
    }
  }

  const server: Server = createServer((req, res) => {
    const started = Date.now();
    const method = req.method ?? 'GET';
    let matched: string | null = null;
    res.once('close', () => {
      httpMetrics.record(matched ?? 'asset', method, res.statusCode);
      if (Date.now() - started > 2000 && matched !== '/api/live') log.warn({ method, route: matched, ms: Date.now() - started }, 'slow NOC request');
    });
    router
      .dispatch(req, res, (r, m) => authenticateRequest(users, r, m), log)
      .then((m) => {
        matched = m;
        return m === null ? serveAsset(req, res) : undefined;
      })
      .catch((e) => {
        log.error({ err: (e as Error).stack ?? String(e) }, 'NOC request crashed');
        if (!res.headersSent) sendJson(res, 500, { error: 'internal', message: 'internal error (logged on the server)' });
        else res.end();
      });
  });
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  server.on('clientError', (_e, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (e) => {
    await data.close();
    live.close();
    await closeStores();
    throw e;
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log.info({ url }, 'NOC listening');
  return {
    port,
    url,
    context: ctx,
    async close() {
      await data.close();
      live.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await closeStores();
    },
  };
}
