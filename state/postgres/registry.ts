// The registry on PostgreSQL (cluster mode): every broker node verifies logins against the same
// rows. Same rules as broker/registry.ts (name checks, one namespace for device ids and service
// account names, tokens hashed (secret-hash.ts), a decoy hash for unknown names); checked by the same
// suite. A name's writes take a transaction-scoped advisory lock on the name, so a device and a
// service account of the same name cannot be created at once on two nodes.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { deviceId } from '../../protocol/index.js';
import { RegistryError, checkName, newToken, serviceAccountName, serviceRole, type RegistryOptions } from '../../broker/registry.js';
import { hashSecret, hashToken, hashedOtherwise, verifySecret, type TokenHash } from '../../broker/secret-hash.js';
import type { DeviceRecord, Principal, RegistryStateStore, ServiceAccountRecord, ServiceRole } from '../registry.js';
import { createPgPool, inTransaction, type Queryable } from './db.js';

type DeviceRow = { id: string; site: string | null; tenant: string | null; created_at: number; disabled: number };
const toDevice = (r: DeviceRow): DeviceRecord => ({ id: r.id, site: r.site, tenant: r.tenant, createdAt: r.created_at, disabled: r.disabled !== 0 });

type LoginRow = {
  kind: 'device' | 'service';
  name: string;
  site: string | null;
  tenant: string | null;
  token_hash: string;
  disabled: number;
  role: ServiceRole | null;
};

const lockName = (c: Queryable, name: string) => c.query(`SELECT pg_advisory_xact_lock(hashtext('login:' || $1))`, [name]);

// Any constant. Credential changes are written one transaction at a time, so their seqs commit in
// order: a broker node that has read seq N has seen every change below N (a BIGSERIAL alone can
// commit 9 after 10, and a node polling in between would never revoke 9's sessions).
const CREDENTIAL_CHANGES_LOCK = 0x666c6d02;

/** Records that `name`'s credentials changed, in the caller's transaction (after the name's lock). */
async function credentialsChanged(c: Queryable, name: string): Promise<void> {
  const at = Date.now();
  await c.query('SELECT pg_advisory_xact_lock($1)', [CREDENTIAL_CHANGES_LOCK]);
  await c.query('INSERT INTO credential_changes (name, at) VALUES ($1, $2)', [name, at]);
  // A day of history is plenty for brokers that poll every second; older rows only take space.
  await c.query('DELETE FROM credential_changes WHERE at < $1', [at - 86_400_000]);
}

export class PgRegistryState implements RegistryStateStore {
  private readonly pool: pg.Pool;
  private readonly scryptCost: number;
  private readonly tokenHash: TokenHash;
  private readonly decoyHash: string;

  constructor(url: string, opts: RegistryOptions = {}) {
    this.scryptCost = opts.scryptCost ?? 4096;
    this.tokenHash = opts.tokenHash ?? 'sha256';
    if (!Number.isInteger(Math.log2(this.scryptCost))) throw new RegistryError(`scryptCost must be a power of two, got ${this.scryptCost}`, 'invalid');
    this.pool = createPgPool(url);
    this.decoyHash = this.hash(randomBytes(32).toString('base64url'));
  }

  private hash(token: string): string {
    return this.tokenHash === 'scrypt' ? hashSecret(token, this.scryptCost) : hashToken(token);
  }

  async addDevice(id: string, opts: { site?: string; tenant?: string; rotate?: boolean } = {}): Promise<string> {
    checkName(deviceId, id, 'device id');
    const token = newToken();
    const hash = this.hash(token);
    await inTransaction(this.pool, async (c) => {
      await lockName(c, id);
      const existing = (await c.query('SELECT id FROM devices WHERE id = $1', [id])).rowCount;
      if (existing && !opts.rotate) throw new RegistryError(`device ${id} already exists (use rotate to issue a new token)`, 'exists');
      if ((await c.query('SELECT name FROM service_accounts WHERE name = $1', [id])).rowCount)
        throw new RegistryError(`${id} is already a service account name`, 'exists');
      if (existing) {
        await c.query('UPDATE devices SET token_hash = $2, site = coalesce($3, site), tenant = coalesce($4, tenant) WHERE id = $1', [
          id,
          hash,
          opts.site ?? null,
          opts.tenant ?? null,
        ]);
        await credentialsChanged(c, id);
      } else
        await c.query('INSERT INTO devices (id, site, tenant, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)', [
          id,
          opts.site ?? null,
          opts.tenant ?? null,
          hash,
          Date.now(),
        ]);
    });
    return token;
  }

  async rotateDeviceToken(id: string): Promise<string> {
    const token = newToken();
    const hash = this.hash(token);
    await inTransaction(this.pool, async (c) => {
      const r = await c.query('UPDATE devices SET token_hash = $2 WHERE id = $1', [id, hash]);
      if (!r.rowCount) throw new RegistryError(`no device ${id}`, 'not-found');
      await credentialsChanged(c, id);
    });
    return token;
  }

  async removeDevice(id: string): Promise<boolean> {
    return this.removeCredential('DELETE FROM devices WHERE id = $1', id);
  }

  async setDeviceDisabled(id: string, disabled: boolean): Promise<void> {
    await inTransaction(this.pool, async (c) => {
      const r = await c.query('UPDATE devices SET disabled = $2 WHERE id = $1', [id, disabled ? 1 : 0]);
      if (!r.rowCount) throw new RegistryError(`no device ${id}`, 'not-found');
      if (disabled) await credentialsChanged(c, id);
    });
  }

  async getDevice(id: string): Promise<DeviceRecord | null> {
    const r = (await this.pool.query('SELECT id, site, tenant, created_at, disabled FROM devices WHERE id = $1', [id])).rows[0] as DeviceRow | undefined;
    return r ? toDevice(r) : null;
  }

  async listDevices(): Promise<DeviceRecord[]> {
    return ((await this.pool.query('SELECT id, site, tenant, created_at, disabled FROM devices ORDER BY id')).rows as DeviceRow[]).map(toDevice);
  }

  async addServiceAccount(name: string, role: ServiceRole): Promise<string> {
    return this.issueServiceToken(name, role, async (c, hash) => {
      if ((await c.query('SELECT name FROM service_accounts WHERE name = $1', [name])).rowCount)
        throw new RegistryError(`service account ${name} already exists`, 'exists');
      if ((await c.query('SELECT id FROM devices WHERE id = $1', [name])).rowCount) throw new RegistryError(`${name} is already a device id`, 'exists');
      await c.query('INSERT INTO service_accounts (name, role, token_hash, created_at) VALUES ($1, $2, $3, $4)', [name, role, hash, Date.now()]);
    });
  }

  async rotateServiceToken(name: string, role: ServiceRole): Promise<string> {
    return this.issueServiceToken(name, role, async (c, hash) => {
      if ((await c.query('SELECT id FROM devices WHERE id = $1', [name])).rowCount) throw new RegistryError(`${name} is already a device id`, 'exists');
      await c.query(
        `INSERT INTO service_accounts (name, role, token_hash, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO UPDATE SET role = excluded.role, token_hash = excluded.token_hash`,
        [name, role, hash, Date.now()],
      );
      await credentialsChanged(c, name);
    });
  }

  /** A new token for service account `name`: `store` writes its hash, in a transaction holding the name's lock. */
  private async issueServiceToken(name: string, role: ServiceRole, store: (c: Queryable, hash: string) => Promise<void>): Promise<string> {
    checkName(serviceAccountName, name, 'service account name');
    serviceRole.parse(role);
    const token = newToken();
    const hash = this.hash(token);
    await inTransaction(this.pool, async (c) => {
      await lockName(c, name);
      await store(c, hash);
    });
    return token;
  }

  async removeServiceAccount(name: string): Promise<boolean> {
    return this.removeCredential('DELETE FROM service_accounts WHERE name = $1', name);
  }

  /** Runs the DELETE of `name`'s credentials; when it removed them, they stop working at once. */
  private async removeCredential(deleteSql: string, name: string): Promise<boolean> {
    return inTransaction(this.pool, async (c) => {
      const removed = ((await c.query(deleteSql, [name])).rowCount ?? 0) > 0;
      if (removed) await credentialsChanged(c, name);
      return removed;
    });
  }

  // ---- credential changes (revocation) ----

  async credentialChangeCursor(): Promise<number> {
    return Number((await this.pool.query('SELECT coalesce(max(seq), 0) AS seq FROM credential_changes')).rows[0].seq);
  }

  async credentialChangesSince(cursor: number): Promise<Array<{ seq: number; name: string }>> {
    const r = await this.pool.query('SELECT max(seq) AS seq, name FROM credential_changes WHERE seq > $1 GROUP BY name ORDER BY 1', [cursor]);
    return (r.rows as Array<{ seq: string; name: string }>).map((x) => ({ seq: Number(x.seq), name: x.name }));
  }

  async listServiceAccounts(): Promise<ServiceAccountRecord[]> {
    return (await this.pool.query('SELECT name, role, created_at AS "createdAt" FROM service_accounts ORDER BY name')).rows as ServiceAccountRecord[];
  }

  async verify(username: string, password: Buffer | string): Promise<Principal | null> {
    return (await this.login(username, password)).principal;
  }

  async login(username: string, password: Buffer | string): Promise<{ principal: Principal | null; cursor: number }> {
    const pw = typeof password === 'string' ? Buffer.from(password) : password;
    const { row: r, cursor } = await this.lookupLogin(username);
    if (!r) {
      await verifySecret(this.decoyHash, pw);
      return { principal: null, cursor };
    }
    const ok = await verifySecret(r.token_hash, pw);
    if (ok && hashedOtherwise(r.token_hash, this.tokenHash)) await this.rehash(r, pw);
    if (r.kind === 'device') return { principal: ok && !r.disabled ? { kind: 'device', id: r.name, site: r.site, tenant: r.tenant } : null, cursor };
    return { principal: ok ? { kind: 'service', name: r.name, role: r.role! } : null, cursor };
  }

  /**
   * A token that just verified against a hash of another kind than `tokenHash` is stored again,
   * hashed the new way (secret-hash.ts hashedOtherwise); only if the hash is still the one it was
   * checked against, so a rotate meanwhile wins. Not a credential change: sessions stay. A failed
   * write only leaves the old hash (the next login tries again).
   */
  private async rehash(r: LoginRow, token: Buffer): Promise<void> {
    const table = r.kind === 'device' ? 'devices' : 'service_accounts';
    const key = r.kind === 'device' ? 'id' : 'name';
    await this.pool
      .query(`UPDATE ${table} SET token_hash = $1 WHERE ${key} = $2 AND token_hash = $3`, [this.hash(token.toString()), r.name, r.token_hash])
      .catch(() => undefined);
  }

  /** Logins waiting for the next lookup, by name. */
  private loginQueue = new Map<string, Array<{ resolve: (v: { row: LoginRow | undefined; cursor: number }) => void; reject: (e: Error) => void }>>();
  private loginFlushScheduled = false;

  /**
   * A login's row and the credential-change cursor. The logins that arrive in one event-loop turn
   * share one query: a broker node that takes over a dead node's devices gets thousands of
   * CONNECTs at once, and one round trip each, ten at a time (the pool), held them back for
   * seconds while the node's event loop was busy (bench/cluster --runs failover).
   */
  private lookupLogin(username: string): Promise<{ row: LoginRow | undefined; cursor: number }> {
    return new Promise((resolve, reject) => {
      const waiting = this.loginQueue.get(username);
      if (waiting) waiting.push({ resolve, reject });
      else this.loginQueue.set(username, [{ resolve, reject }]);
      if (this.loginFlushScheduled) return;
      this.loginFlushScheduled = true;
      setImmediate(() => this.flushLogins());
    });
  }

  private flushLogins(): void {
    this.loginFlushScheduled = false;
    const batch = this.loginQueue;
    this.loginQueue = new Map();
    // Only names that can exist (device ids and service account names share one rule): a name
    // PostgreSQL refuses as text (a NUL byte) would fail the whole batch, every login of the turn.
    const names = [...batch.keys()].filter((n) => deviceId.safeParse(n).success);
    // One statement is one snapshot: a credential change newer than the hashes read has a higher seq.
    this.pool
      .query(
        `WITH cursor AS (SELECT coalesce(max(seq), 0) AS seq FROM credential_changes)
         SELECT l.*, cursor.seq AS cursor FROM cursor LEFT JOIN (
           SELECT 'device' AS kind, id AS name, site, tenant, token_hash, disabled, NULL AS role FROM devices WHERE id = ANY($1)
           UNION ALL SELECT 'service', name, NULL, NULL, token_hash, 0, role FROM service_accounts WHERE name = ANY($1)
         ) l ON true`,
        [names],
      )
      .then(
        (res) => {
          const rows = res.rows as Array<LoginRow & { kind: LoginRow['kind'] | null; cursor: number }>;
          const cursor = Number(rows[0].cursor);
          const byName = new Map(rows.filter((r) => r.kind !== null).map((r) => [r.name, r]));
          for (const [name, waiting] of batch) for (const w of waiting) w.resolve({ row: byName.get(name), cursor });
        },
        (err: Error) => {
          for (const waiting of batch.values()) for (const w of waiting) w.reject(err);
        },
      );
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
