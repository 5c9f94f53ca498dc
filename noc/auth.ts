// NOC users, sessions and API tokens in SQLite (noc.db in the server's data dir).
// - Passwords and API tokens are stored as scrypt hashes (broker/secret-hash.ts); session ids as
//   SHA-256 (they are 32 random bytes, so a fast hash is enough and lookups stay cheap).
// - The browser holds the session in an HttpOnly SameSite=Strict cookie. A state-changing request
//   made with the cookie must also carry the session's CSRF token in `X-CSRF-Token` (the page
//   reads it from /api/me): a cross-site form cannot read it, so it cannot forge the header.
// - Scripts use `Authorization: Bearer <token>`; no ambient credential, so no CSRF check.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import Database from 'better-sqlite3';
import type { z } from 'zod';
import { hashSecret, verifySecret } from '../broker/secret-hash.js';
import { formatZodError } from '../protocol/index.js';
import { HttpError } from './http.js';
import { nocRole, password as passwordSchema, userName, type NocRole, type NocUser } from './api.js';
import { FleetcareError } from '../protocol/errors.js';

/** A user's row as both account stores (SQLite, PostgreSQL) read it to check a password. */
export type PasswordRow = { name: string; role: NocRole; password_hash: string };

/**
 * The row's user if the password matches its hash. No row (unknown or disabled name) still costs
 * one scrypt check against `decoyHash`, so the answer's timing does not tell which names exist.
 */
export async function userIfPasswordMatches(row: PasswordRow | undefined, password: string, decoyHash: string): Promise<NocUser | null> {
  if (!row) {
    await verifySecret(decoyHash, password);
    return null;
  }
  return (await verifySecret(row.password_hash, password)) ? { name: row.name, role: row.role } : null;
}

export class UserError extends FleetcareError<'invalid' | 'exists' | 'not-found'> {
  override name = 'UserError';
  constructor(message: string, code: 'invalid' | 'exists' | 'not-found') {
    super(code, message);
  }
}

export const SESSION_COOKIE = 'fc_session';
/** `fct_<id>_<secret>`: the id finds the row, the secret is checked against its hash. */
export const API_TOKEN = /^fct_([0-9a-f]{12})_([A-Za-z0-9_-]{32})$/;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The NOC accounts' tables (state/sqlite/migrations.ts runs the same at start). */
export const NOC_ACCOUNTS_DDL = `
CREATE TABLE IF NOT EXISTS users (
  name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL, created_at INTEGER NOT NULL, disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sessions (
  id_hash TEXT PRIMARY KEY, user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE, csrf TEXT NOT NULL,
  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS api_tokens (
  id TEXT PRIMARY KEY, user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE, name TEXT NOT NULL,
  token_hash TEXT NOT NULL, created_at INTEGER NOT NULL
);
`;

export type Session = { id: string; user: NocUser; csrfToken: string; expiresAt: number };

/** Session ids are 32 random bytes: a fast hash is enough to store them. */
export const sha256 = (s: string) => createHash('sha256').update(s).digest('base64url');

/** Validates a user field; UserError('invalid') naming it. */
export function checkUserField<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new UserError(`${what}: ${formatZodError(r.error).replace(/^\(root\): /, '')}`, 'invalid');
  return r.data;
}

export class UserStore {
  readonly db: Database.Database;
  private readonly decoyHash: string;

  constructor(
    path: string,
    private readonly opts: { sessionTtlMs: number; scryptCost?: number } = { sessionTtlMs: 12 * 3_600_000 },
  ) {
    this.db = new Database(path, { timeout: 5000 });
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('foreign_keys = ON');
    this.db.exec(NOC_ACCOUNTS_DDL);
    this.decoyHash = hashSecret(randomBytes(16).toString('base64url'), this.cost);
  }

  private get cost(): number {
    return this.opts.scryptCost ?? 16384;
  }

  close(): void {
    this.db.close();
  }

  // ---- users ----

  addUser(name: string, role: NocRole, password: string): NocUser {
    const user = { name: checkUserField(userName, name, 'name'), role: checkUserField(nocRole, role, 'role') };
    checkUserField(passwordSchema, password, 'password');
    try {
      this.db
        .prepare('INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)')
        .run(user.name, user.role, hashSecret(password, this.cost), Date.now());
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new UserError(`user ${name} already exists`, 'exists');
      throw e;
    }
    return user;
  }

  /** Creates the user, or does nothing if it exists (demo and first-start bootstrap). */
  ensureUser(name: string, role: NocRole, password: string): boolean {
    if (this.getUser(name)) return false;
    this.addUser(name, role, password);
    return true;
  }

  setPassword(name: string, password: string): void {
    checkUserField(passwordSchema, password, 'password');
    const r = this.db.prepare('UPDATE users SET password_hash = ? WHERE name = ?').run(hashSecret(password, this.cost), name);
    if (!r.changes) throw new UserError(`no user ${name}`, 'not-found');
    this.db.prepare('DELETE FROM sessions WHERE user = ?').run(name);
  }

  setRole(name: string, role: NocRole): void {
    const r = this.db.prepare('UPDATE users SET role = ? WHERE name = ?').run(checkUserField(nocRole, role, 'role'), name);
    if (!r.changes) throw new UserError(`no user ${name}`, 'not-found');
  }

  removeUser(name: string): void {
    const r = this.db.prepare('DELETE FROM users WHERE name = ?').run(name);
    if (!r.changes) throw new UserError(`no user ${name}`, 'not-found');
  }

  getUser(name: string): NocUser | null {
    const r = this.db.prepare('SELECT name, role FROM users WHERE name = ? AND disabled = 0').get(name) as NocUser | undefined;
    return r ?? null;
  }

  listUsers(): Array<NocUser & { createdAt: number }> {
    return (this.db.prepare('SELECT name, role, created_at FROM users ORDER BY name').all() as Array<{ name: string; role: NocRole; created_at: number }>).map(
      (r) => ({
        name: r.name,
        role: r.role,
        createdAt: r.created_at,
      }),
    );
  }

  /** The user if the password matches; unknown names cost the same scrypt work. */
  async checkPassword(name: string, password: string): Promise<NocUser | null> {
    const row = this.db.prepare('SELECT name, role, password_hash FROM users WHERE name = ? AND disabled = 0').get(name) as PasswordRow | undefined;
    return userIfPasswordMatches(row, password, this.decoyHash);
  }

  // ---- sessions ----

  createSession(user: NocUser, now = Date.now()): Session {
    const id = randomBytes(32).toString('base64url');
    const csrfToken = randomBytes(24).toString('base64url');
    const expiresAt = now + this.opts.sessionTtlMs;
    this.db.prepare('DELETE FROM sessions WHERE expires_at <= ?').run(now);
    this.db
      .prepare('INSERT INTO sessions (id_hash, user, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)')
      .run(sha256(id), user.name, csrfToken, now, expiresAt);
    return { id, user, csrfToken, expiresAt };
  }

  session(id: string, now = Date.now()): Session | null {
    const row = this.db
      .prepare('SELECT s.csrf, s.expires_at, u.name, u.role FROM sessions s JOIN users u ON u.name = s.user WHERE s.id_hash = ? AND u.disabled = 0')
      .get(sha256(id)) as { csrf: string; expires_at: number; name: string; role: NocRole } | undefined;
    if (!row || row.expires_at <= now) return null;
    return { id, user: { name: row.name, role: row.role }, csrfToken: row.csrf, expiresAt: row.expires_at };
  }

  endSession(id: string): void {
    this.db.prepare('DELETE FROM sessions WHERE id_hash = ?').run(sha256(id));
  }

  // ---- API tokens (for scripts and Grafana-style integrations) ----

  /** Returns the token once; only its hash is kept. Format `fct_<id>_<secret>`. */
  createApiToken(user: string, name: string): string {
    if (!this.getUser(user)) throw new UserError(`no user ${user}`, 'not-found');
    const id = randomBytes(6).toString('hex');
    const secret = randomBytes(24).toString('base64url');
    this.db
      .prepare('INSERT INTO api_tokens (id, user, name, token_hash, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(id, user, name, hashSecret(secret, 1024), Date.now());
    return `fct_${id}_${secret}`;
  }

  async checkApiToken(token: string): Promise<NocUser | null> {
    const m = API_TOKEN.exec(token);
    if (!m) return null;
    const row = this.db
      .prepare('SELECT t.token_hash, u.name, u.role FROM api_tokens t JOIN users u ON u.name = t.user WHERE t.id = ? AND u.disabled = 0')
      .get(m[1]) as { token_hash: string; name: string; role: NocRole } | undefined;
    if (!row) return null;
    return (await verifySecret(row.token_hash, m[2])) ? { name: row.name, role: row.role } : null;
  }

  // ---- request authentication ----

  /**
   * Who makes this request: a Bearer token, or a session cookie (plus the CSRF header on a
   * state-changing method; without it: HttpError 403). Null when neither holds.
   */
  async authenticate(req: IncomingMessage, method: string): Promise<NocUser | null> {
    return authenticateRequest(this, req, method);
  }
}

/**
 * Who makes this request: a Bearer token, or a session cookie (plus the CSRF header on a
 * state-changing method; without it: HttpError 403). Null when neither holds. Works on any
 * account store (state/noc-accounts.ts), so any NOC node can answer any request.
 */
export async function authenticateRequest(
  users: { checkApiToken(token: string): Promise<NocUser | null>; session(id: string): Session | null | Promise<Session | null> },
  req: IncomingMessage,
  method: string,
): Promise<NocUser | null> {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return users.checkApiToken(auth.slice(7).trim());
  const sid = sessionIdOf(req);
  if (!sid) return null;
  const s = await users.session(sid);
  if (!s) return null;
  if (!SAFE_METHODS.has(method)) {
    const sent = req.headers['x-csrf-token'];
    if (typeof sent !== 'string' || !sameSecret(sent, s.csrfToken))
      throw new HttpError(403, 'missing or wrong X-CSRF-Token header (read it from GET /api/me)', 'csrf');
  }
  return s.user;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function sessionIdOf(req: IncomingMessage): string | null {
  const cookie = req.headers.cookie;
  if (!cookie) return null;
  for (const part of cookie.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === SESSION_COOKIE) return part.slice(i + 1).trim() || null;
  }
  return null;
}

export function sessionCookie(s: Session | null, secure: boolean): string {
  const attrs = ['Path=/', 'HttpOnly', 'SameSite=Strict', ...(secure ? ['Secure'] : [])];
  if (!s) return [`${SESSION_COOKIE}=`, 'Max-Age=0', ...attrs].join('; ');
  return [`${SESSION_COOKIE}=${s.id}`, `Max-Age=${Math.max(1, Math.floor((s.expiresAt - Date.now()) / 1000))}`, ...attrs].join('; ');
}
