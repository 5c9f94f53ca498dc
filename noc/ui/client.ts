// The page's HTTP client: JSON in and out, the session cookie (sent by the browser) and the CSRF
// token on every state-changing request, and the server's `{error, message}` as a typed error.
import type { ApiError as ApiErrorBody, SessionInfo } from '../api.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

let csrfToken = '';
let onUnauthenticated: () => void = () => {};

/** Called when any request answers 401 (session ended or expired): the page shows the login. */
export function whenUnauthenticated(f: () => void): void {
  onUnauthenticated = f;
}

export function rememberSession(info: SessionInfo): void {
  csrfToken = info.csrfToken;
}

async function request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (method !== 'GET') headers['X-CSRF-Token'] = csrfToken;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  } catch (e) {
    throw new ApiError(0, 'network', `the NOC server cannot be reached (${(e as Error).message})`);
  }
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON (a proxy's error page): reported below with the status
  }
  if (!res.ok) {
    const err = parsed as Partial<ApiErrorBody> | null;
    if (res.status === 401 && path !== '/api/login') onUnauthenticated();
    throw new ApiError(res.status, err?.error ?? 'http', err?.message ?? `${res.status} ${res.statusText}`);
  }
  return parsed as T;
}

export const api = {
  get: <T>(path: string) => request<T>('GET', path),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, body ?? {}),
};

/**
 * A view's refresh: GET `path`, then `show(answer, null)`, or `show(null, error)` when it fails (the
 * view keeps its last answer on screen beside the error).
 */
export function refreshFrom<T>(path: string, show: (answer: T | null, error: unknown) => void): void {
  api
    .get<T>(path)
    .then((a) => show(a, null))
    .catch((e) => show(null, e));
}

/** `?a=1&b=x` from the defined entries. */
export function query(params: Record<string, string | number | boolean | null | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
}
