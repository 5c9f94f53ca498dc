// NOC accounts on PostgreSQL (cluster mode): a session created on one NOC node is valid on every
// other, with the same CSRF token. Same rules as noc/auth.ts UserStore, checked by the same suite.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { hashSecret, verifySecret } from '../../broker/secret-hash.js';
import { API_TOKEN, UserError, checkUserField, sha256, type Session } from '../../noc/auth.js';
import { nocRole, password as passwordSchema, userName } from '../../noc/api.js';
import type { NocAccountStore, NocRole, NocUser } from '../noc-accounts.js';
import { createPgPool, inTransaction } from './db.js';

export class PgNocAccounts implements NocAccountStore {
  private readonly pool: pg.Pool;
  private readonly decoyHash: string;
  private readonly cost: number;

  constructor(
    url: string,
    private readonly opts: { sessionTtlMs: number; scryptCost?: number } = { sessionTtlMs: 12 * 3_600_000 },
  ) {
    this.pool = createPgPool(url);
    this.cost = opts.scryptCost ?? 16384;
    this.decoyHash = hashSecret(randomBytes(16).toString('base64url'), this.cost);
  }

  async addUser(name: string, role: NocRole, password: string): Promise<NocUser> {
    const user = { name: checkUserField(userName, name, 'name'), role: checkUserField(nocRole, role, 'role') };
    checkUserField(passwordSchema, password, 'password');
    const r = await this.pool.query('INSERT INTO noc_users (name, role, password_hash, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING', [
      user.name,
      user.role,
      hashSecret(password, this.cost),
      Date.now(),
    ]);
    if (!r.rowCount) throw new UserError(`user ${name} already exists`, 'exists');
    return user;
  }

  async ensureUser(name: string, role: NocRole, password: string): Promise<boolean> {
    try {
      await this.addUser(name, role, password);
      return true;
    } catch (e) {
      if (e instanceof UserError && e.code === 'exists') return false;
      throw e;
    }
  }

  async setPassword(name: string, password: string): Promise<void> {
    checkUserField(passwordSchema, password, 'password');
    const hash = hashSecret(password, this.cost);
    await inTransaction(this.pool, async (c) => {
      const r = await c.query('UPDATE noc_users SET password_hash = $2 WHERE name = $1', [name, hash]);
      if (!r.rowCount) throw new UserError(`no user ${name}`, 'not-found');
      await c.query('DELETE FROM noc_sessions WHERE "user" = $1', [name]);
    });
  }

  async setRole(name: string, role: NocRole): Promise<void> {
    const r = await this.pool.query('UPDATE noc_users SET role = $2 WHERE name = $1', [name, checkUserField(nocRole, role, 'role')]);
    if (!r.rowCount) throw new UserError(`no user ${name}`, 'not-found');
  }

  async removeUser(name: string): Promise<void> {
    const r = await this.pool.query('DELETE FROM noc_users WHERE name = $1', [name]);
    if (!r.rowCount) throw new UserError(`no user ${name}`, 'not-found');
  }

  async getUser(name: string): Promise<NocUser | null> {
    return ((await this.pool.query('SELECT name, role FROM noc_users WHERE name = $1 AND disabled = 0', [name])).rows[0] as NocUser | undefined) ?? null;
  }

  async listUsers(): Promise<Array<NocUser & { createdAt: number }>> {
    return (await this.pool.query('SELECT name, role, created_at AS "createdAt" FROM noc_users ORDER BY name')).rows as Array<NocUser & { createdAt: number }>;
  }

  async checkPassword(name: string, password: string): Promise<NocUser | null> {
    const row = (await this.pool.query('SELECT name, role, password_hash FROM noc_users WHERE name = $1 AND disabled = 0', [name])).rows[0] as
      | { name: string; role: NocRole; password_hash: string }
      | undefined;
    if (!row) {
      await verifySecret(this.decoyHash, password);
      return null;
    }
    return (await verifySecret(row.password_hash, password)) ? { name: row.name, role: row.role } : null;
  }

  async createSession(user: NocUser, now = Date.now()): Promise<Session> {
    const id = randomBytes(32).toString('base64url');
    const csrfToken = randomBytes(24).toString('base64url');
    const expiresAt = now + this.opts.sessionTtlMs;
    await this.pool.query('DELETE FROM noc_sessions WHERE expires_at <= $1', [now]);
    await this.pool.query('INSERT INTO noc_sessions (id_hash, "user", csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)', [
      sha256(id),
      user.name,
      csrfToken,
      now,
      expiresAt,
    ]);
    return { id, user, csrfToken, expiresAt };
  }

  async session(id: string, now = Date.now()): Promise<Session | null> {
    const row = (
      await this.pool.query(
        'SELECT s.csrf, s.expires_at, u.name, u.role FROM noc_sessions s JOIN noc_users u ON u.name = s."user" WHERE s.id_hash = $1 AND u.disabled = 0',
        [sha256(id)],
      )
    ).rows[0] as { csrf: string; expires_at: number; name: string; role: NocRole } | undefined;
    if (!row || row.expires_at <= now) return null;
    return { id, user: { name: row.name, role: row.role }, csrfToken: row.csrf, expiresAt: row.expires_at };
  }

  async endSession(id: string): Promise<void> {
    await this.pool.query('DELETE FROM noc_sessions WHERE id_hash = $1', [sha256(id)]);
  }

  async createApiToken(user: string, name: string): Promise<string> {
    if (!(await this.getUser(user))) throw new UserError(`no user ${user}`, 'not-found');
    const id = randomBytes(6).toString('hex');
    const secret = randomBytes(24).toString('base64url');
    await this.pool.query('INSERT INTO noc_api_tokens (id, "user", name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)', [
      id,
      user,
      name,
      hashSecret(secret, 1024),
      Date.now(),
    ]);
    return `fct_${id}_${secret}`;
  }

  async checkApiToken(token: string): Promise<NocUser | null> {
    const m = API_TOKEN.exec(token);
    if (!m) return null;
    const row = (
      await this.pool.query(
        'SELECT t.token_hash, u.name, u.role FROM noc_api_tokens t JOIN noc_users u ON u.name = t."user" WHERE t.id = $1 AND u.disabled = 0',
        [m[1]],
      )
    ).rows[0] as { token_hash: string; name: string; role: NocRole } | undefined;
    if (!row) return null;
    return (await verifySecret(row.token_hash, m[2])) ? { name: row.name, role: row.role } : null;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
