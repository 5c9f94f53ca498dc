// One interface for every external ticket system, and the HTTP plumbing they share: a request
// with a timeout whose failure is classified as retry / fatal / unknown outcome.
import type { Logger } from 'pino';
import type { SinkOperation } from './model.js';
import { FleetcareError } from '../../protocol/errors.js';

/** The ticket as it exists in the external system. */
export type ExternalTicket = { externalId: string; status?: string };

export interface TicketSink {
  /** Stable name; the outbox and the link table are keyed by it. */
  readonly name: string;
  /** Creates the ticket. Returns its id there (adopting an existing one counts as success). */
  create(op: Extract<SinkOperation, { kind: 'create' }>): Promise<ExternalTicket>;
  /** Applies one (possibly coalesced) update to the ticket with id `externalId`. */
  update(externalId: string, op: Extract<SinkOperation, { kind: 'update' }>): Promise<void>;
  /**
   * Looks the ticket up by its ref (our dedup key). `null` = not there. Sinks that cannot search
   * (the webhook) return `undefined`: they rely on the idempotency key instead.
   */
  find(ref: string): Promise<ExternalTicket | null | undefined>;
}

/**
 * - retry: not done, safe to send again later (connection refused, 429, most 5xx)
 * - unknown: the request may have been applied (timeout or connection lost after sending)
 * - fatal: refused for good (other 4xx): the row is marked failed with the server's message
 */
export type SinkFailureKind = 'retry' | 'unknown' | 'fatal';

export class SinkError extends FleetcareError<`sink-${SinkFailureKind}`> {
  override name = 'SinkError';
  constructor(
    readonly kind: SinkFailureKind,
    message: string,
    readonly status: number | null = null,
    readonly retryAfterMs: number | null = null,
  ) {
    super(`sink-${kind}`, message, { status, retryAfterMs });
  }
}

export type HttpOptions = { timeoutMs: number; log: Logger };

export type HttpResult = { status: number; headers: Headers; text: string; json: unknown };

/** Parses Retry-After (delta seconds or an HTTP date) to ms. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (!value) return null;
  const s = Number(value);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const t = Date.parse(value);
  return Number.isFinite(t) ? Math.max(0, t - now) : null;
}

function causeCode(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur && typeof cur === 'object'; i++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Sends one request. Resolves with any HTTP response (the caller classifies statuses); throws
 * SinkError for transport failures. Never logs headers (they carry the credentials).
 */
export async function httpRequest(
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string },
  opts: HttpOptions,
): Promise<HttpResult> {
  let res: Response;
  try {
    res = await fetch(url, { method: init.method, headers: init.headers, body: init.body, signal: AbortSignal.timeout(opts.timeoutMs) });
  } catch (e) {
    const code = causeCode(e);
    const name = (e as Error)?.name;
    // Refused / unresolvable: nothing reached the server. Anything else (timeout, reset, socket
    // closed) may have happened after the server received the request.
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
      throw new SinkError('retry', `${init.method} ${new URL(url).pathname}: ${code}`);
    }
    const what = name === 'TimeoutError' ? `timeout after ${opts.timeoutMs} ms` : (code ?? (e as Error)?.message ?? 'network error');
    throw new SinkError('unknown', `${init.method} ${new URL(url).pathname}: ${what}`);
  }
  let text: string;
  try {
    text = await res.text();
  } catch (e) {
    throw new SinkError('unknown', `${init.method} ${new URL(url).pathname}: response lost (${causeCode(e) ?? (e as Error).message})`, res.status);
  }
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/**
 * Turns a non-2xx response into a SinkError. `message` extracts the server's own words from
 * the body (Frappe `_server_messages`, Zammad `error_human`).
 */
export function httpFailure(method: string, path: string, r: HttpResult, message: string): SinkError {
  const what = `${method} ${path}: HTTP ${r.status}${message ? ` ${message}` : ''}`;
  if (r.status === 429) return new SinkError('retry', what, r.status, parseRetryAfter(r.headers.get('retry-after')));
  if (r.status === 408) return new SinkError('unknown', what, r.status);
  // A 5xx may come after the server applied the change (e.g. a proxy timing out): unknown.
  if (r.status >= 500) return new SinkError('unknown', what, r.status, parseRetryAfter(r.headers.get('retry-after')));
  return new SinkError('fatal', what, r.status);
}

export function isOk(status: number): boolean {
  return status >= 200 && status < 300;
}

/** Text limited to what fits a log line or an error column. */
export function clip(s: string, max = 500): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
