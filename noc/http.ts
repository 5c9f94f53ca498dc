// A small router over node:http: each route declares its method, path pattern, the least role
// that may call it and zod schemas for its query and body. Every request is validated before a
// handler runs, so a bad query gets a 400 naming the field, and a handler never sees raw input.
// No framework: the whole NOC needs a dozen routes, and node:http keeps the server's memory and
// dependency list small.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { formatZodError } from '../protocol/index.js';
import { roleRank, type NocRole, type NocUser } from './api.js';
import { FleetcareError, type FleetcareErrorCode } from '../protocol/errors.js';

/** An error with the HTTP status it should produce; its message goes to the client. */
export class HttpError extends FleetcareError {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
    code: FleetcareErrorCode = statusCode(status),
  ) {
    super(code, message, { status });
  }
}

function statusCode(status: number): FleetcareErrorCode {
  const byStatus: Record<number, FleetcareErrorCode> = {
    400: 'bad-request',
    401: 'unauthenticated',
    403: 'forbidden',
    404: 'not-found',
    405: 'method-not-allowed',
    409: 'conflict',
    413: 'too-large',
    415: 'unsupported-media-type',
    429: 'too-many-requests',
    503: 'unavailable',
  };
  return byStatus[status] ?? (status >= 500 ? 'internal' : 'error');
}

export type RequestContext<Q, B> = {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: Q;
  body: B;
  /** Null only on routes with `role: 'public'`. */
  user: NocUser | null;
};

/** What a handler returns: JSON (status 200 unless given), or `handled` when it wrote the response itself (SSE, CSV, files). */
export type RouteResult = { status?: number; json: unknown; headers?: Record<string, string> } | { handled: true };

export type Route<Q = unknown, B = unknown> = {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** `/api/devices/:id/series`; `:name` segments become params (URI-decoded). */
  path: string;
  /** Least role allowed; `public` needs no login (login itself, health, assets). */
  role: NocRole | 'public';
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  handle(ctx: RequestContext<Q, B>): Promise<RouteResult> | RouteResult;
};

/** Declares a route with its query/body types inferred from the schemas. */
export function route<QS extends z.ZodType = z.ZodType<unknown>, BS extends z.ZodType = z.ZodType<unknown>>(r: {
  method: Route['method'];
  path: string;
  role: Route['role'];
  query?: QS;
  body?: BS;
  handle(ctx: RequestContext<z.infer<QS>, z.infer<BS>>): Promise<RouteResult> | RouteResult;
}): Route {
  return r as unknown as Route;
}

type Compiled = { route: Route; re: RegExp; names: string[] };

export type Authenticator = (req: IncomingMessage, method: string) => NocUser | null | Promise<NocUser | null>;

const MAX_BODY_BYTES = 64 * 1024;

export class Router {
  private readonly routes: Compiled[] = [];

  add(...routes: Route[]): this {
    for (const r of routes) {
      const names: string[] = [];
      const re = new RegExp(
        '^' +
          r.path
            .split('/')
            .map((seg) => (seg.startsWith(':') ? (names.push(seg.slice(1)), '([^/]+)') : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
            .join('/') +
          '$',
      );
      this.routes.push({ route: r, re, names });
    }
    return this;
  }

  /** Handles the request if a route's path matches and returns its pattern; null when none does (the caller serves assets or 404). */
  async dispatch(req: IncomingMessage, res: ServerResponse, authenticate: Authenticator, log: Logger): Promise<string | null> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const matches = this.routes.map((c) => ({ c, m: c.re.exec(url.pathname) })).filter((x) => x.m);
    if (!matches.length) return null;
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    const hit = matches.find((x) => x.c.route.method === method);
    try {
      if (!hit) {
        res.setHeader('Allow', [...new Set(matches.map((x) => x.c.route.method))].join(', '));
        throw new HttpError(405, `${method} is not allowed on ${url.pathname}`);
      }
      const { route: r, names } = hit.c;
      const params: Record<string, string> = {};
      names.forEach((n, i) => {
        try {
          params[n] = decodeURIComponent(hit.m![i + 1]);
        } catch {
          throw new HttpError(400, `path: malformed escape in ${n}`);
        }
      });
      let user: NocUser | null = null;
      if (r.role !== 'public') {
        user = await authenticate(req, method);
        if (!user) throw new HttpError(401, 'log in first (session cookie or Authorization: Bearer token)');
        if (roleRank[user.role] < roleRank[r.role]) throw new HttpError(403, `${r.method} ${r.path} needs role ${r.role}; you are ${user.role}`);
      }
      const query = r.query ? parseOrThrow(r.query, Object.fromEntries(url.searchParams), 'query') : {};
      let body: unknown;
      if (r.body) body = parseOrThrow(r.body, await readJson(req), 'body');
      const out = await r.handle({ req, res, params, query, body, user });
      if (!('handled' in out)) sendJson(res, out.status ?? 200, out.json, out.headers);
    } catch (e) {
      if (e instanceof HttpError) {
        if (!res.headersSent) sendJson(res, e.status, { error: e.code, message: e.message });
        else res.end();
      } else {
        log.error({ method, path: url.pathname, err: (e as Error).stack ?? String(e) }, 'NOC request failed');
        if (!res.headersSent) sendJson(res, 500, { error: 'internal', message: 'internal error (logged on the server)' });
        else res.end();
      }
    }
    return hit?.c.route.path ?? matches[0].c.route.path;
  }
}

export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new HttpError(400, `${where}.${formatZodError(r.error)}`);
  return r.data;
}

export async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type)) throw new HttpError(415, `body: expected Content-Type application/json, got "${type || 'none'}"`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `body: larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `body: not valid JSON (${(e as Error).message})`);
  }
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  // nosniff like the page: a browser must never read an API answer as HTML or script.
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    'Content-Length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

/** A CSV report as a download (spreadsheets open it); the route's result, the response being written. */
export function sendCsvDownload(res: ServerResponse, filename: string, body: string): { handled: true } {
  res.writeHead(200, {
    'Content-Type': 'text/csv; charset=utf-8',
    'Content-Disposition': `attachment; filename="${filename}"`,
    'Cache-Control': 'no-store',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
  return { handled: true };
}
