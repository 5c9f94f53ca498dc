// Device and service-account registry (SQLite, WAL). Tokens are random, shown once at creation,
// and stored only as a salted scrypt hash; verification compares in constant time. Usable
// without a running broker (the CLI's `device add/list` opens it directly).
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { deviceId, formatZodError } from '../protocol/index.js';
import { hashSecret, hashToken, hashedOtherwise, verifySecret, type TokenHash } from './secret-hash.js';
import { FleetcareError } from '../protocol/errors.js';

export const serviceRole = z.enum(['collector', 'viewer']);
export type ServiceRole = z.infer<typeof serviceRole>;

/** Service account names share the login namespace with device ids, so the same rules apply. */
export const serviceAccountName = deviceId;

/** Who a verified login is. */
export type Principal = { kind: 'device'; id: string; site: string | null; tenant: string | null } | { kind: 'service'; name: string; role: ServiceRole };

export type DeviceRecord = { id: string; site: string | null; tenant: string | null; createdAt: number; disabled: boolean };
export type ServiceAccountRecord = { name: string; role: ServiceRole; createdAt: number };

export class RegistryError extends FleetcareError<'invalid' | 'exists' | 'not-found'> {
  override name = 'RegistryError';
  constructor(message: string, code: 'invalid' | 'exists' | 'not-found') {
    super(code, message);
  }
}

const TOKEN_BYTES = 32;
export const REGISTRY_FILE = 'registry.sqlite';

/** The registry's tables (state/sqlite/migrations.ts runs the same at start). */
export const REGISTRY_DDL = `
      CREATE TABLE IF NOT EXISTS devices (
        id TEXT PRIMARY KEY,
        site TEXT,
        tenant TEXT,
        token_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0
      );
      CREATE TABLE IF NOT EXISTS service_accounts (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('collector', 'viewer')),
        token_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
`;

/**
 * One row per login whose credentials changed (rotated, removed, disabled): a running broker, in
 * this or another process, reads it to close that login's live sessions (schema version 2).
 */
export const CREDENTIAL_CHANGES_DDL = `
      CREATE TABLE IF NOT EXISTS credential_changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        at INTEGER NOT NULL
      );
`;

type Row = { token_hash: string };

export type RegistryOptions = {
  /** How new tokens are hashed (secret-hash.ts); old hashes of either kind keep verifying. */
  tokenHash?: TokenHash;
  /** scrypt N for new hashes when `tokenHash` is `scrypt` (power of two). */
  scryptCost?: number;
};

export class DeviceRegistry {
  readonly path: string;
  private readonly db: Database.Database;
  /** Statements of the per-CONNECT and polling paths, prepared once (prepare cost ~3 % of a 10k-agent connect storm). */
  private readonly statements = new Map<string, Database.Statement>();
  private readonly scryptCost: number;
  private readonly tokenHash: TokenHash;
  /** Hash of a random token, verified against when the username is unknown (same cost as a real check). */
  private readonly decoyHash: string;

  /** Opens (creating if needed) `<dataDir>/registry.sqlite`. */
  static open(dataDir: string, opts: RegistryOptions = {}): DeviceRegistry {
    mkdirSync(dataDir, { recursive: true });
    return new DeviceRegistry(join(dataDir, REGISTRY_FILE), opts);
  }

  constructor(path: string, opts: RegistryOptions = {}) {
    this.path = path;
    this.scryptCost = opts.scryptCost ?? 4096;
    this.tokenHash = opts.tokenHash ?? 'sha256';
    if (!Number.isInteger(Math.log2(this.scryptCost))) throw new RegistryError(`scryptCost must be a power of two, got ${this.scryptCost}`, 'invalid');
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(REGISTRY_DDL + CREDENTIAL_CHANGES_DDL);
    this.decoyHash = this.hash(randomBytes(TOKEN_BYTES).toString('base64url'));
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  // ---- devices ----

  /** Registers a device and returns its token (the only time it is visible). */
  addDevice(id: string, opts: { site?: string; tenant?: string; rotate?: boolean } = {}): string {
    checkName(deviceId, id, 'device id');
    const existing = this.db.prepare('SELECT id FROM devices WHERE id = ?').get(id);
    if (existing && !opts.rotate) throw new RegistryError(`device ${id} already exists (use rotate to issue a new token)`, 'exists');
    if (this.db.prepare('SELECT name FROM service_accounts WHERE name = ?').get(id)) {
      throw new RegistryError(`${id} is already a service account name`, 'exists');
    }
    const token = newToken();
    const hash = this.hash(token);
    if (existing) {
      this.db
        .prepare('UPDATE devices SET token_hash = ?, site = coalesce(?, site), tenant = coalesce(?, tenant) WHERE id = ?')
        .run(hash, opts.site ?? null, opts.tenant ?? null, id);
      this.credentialsChanged(id);
    } else {
      this.db
        .prepare('INSERT INTO devices (id, site, tenant, token_hash, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(id, opts.site ?? null, opts.tenant ?? null, hash, Date.now());
    }
    return token;
  }

  /** Issues a new token for an existing device; the old one stops working at once. */
  rotateDeviceToken(id: string): string {
    const token = newToken();
    const r = this.db.prepare('UPDATE devices SET token_hash = ? WHERE id = ?').run(this.hash(token), id);
    if (r.changes === 0) throw new RegistryError(`no device ${id}`, 'not-found');
    this.credentialsChanged(id);
    return token;
  }

  /** Returns false when there was no such device. */
  removeDevice(id: string): boolean {
    return this.removeCredential('DELETE FROM devices WHERE id = ?', id);
  }

  setDeviceDisabled(id: string, disabled: boolean): void {
    const r = this.db.prepare('UPDATE devices SET disabled = ? WHERE id = ?').run(disabled ? 1 : 0, id);
    if (r.changes === 0) throw new RegistryError(`no device ${id}`, 'not-found');
    if (disabled) this.credentialsChanged(id);
  }

  getDevice(id: string): DeviceRecord | null {
    const r = this.db.prepare('SELECT id, site, tenant, created_at, disabled FROM devices WHERE id = ?').get(id) as DeviceRow | undefined;
    return r ? toDevice(r) : null;
  }

  listDevices(): DeviceRecord[] {
    return (this.db.prepare('SELECT id, site, tenant, created_at, disabled FROM devices ORDER BY id').all() as DeviceRow[]).map(toDevice);
  }

  // ---- service accounts ----

  /** Creates a service account and returns its token; error if the name is taken. */
  addServiceAccount(name: string, role: ServiceRole): string {
    checkName(serviceAccountName, name, 'service account name');
    serviceRole.parse(role);
    if (this.db.prepare('SELECT name FROM service_accounts WHERE name = ?').get(name)) {
      throw new RegistryError(`service account ${name} already exists`, 'exists');
    }
    if (this.db.prepare('SELECT id FROM devices WHERE id = ?').get(name)) throw new RegistryError(`${name} is already a device id`, 'exists');
    const token = newToken();
    this.db.prepare('INSERT INTO service_accounts (name, role, token_hash, created_at) VALUES (?, ?, ?, ?)').run(name, role, this.hash(token), Date.now());
    return token;
  }

  /**
   * New token for a service account, creating it if missing (and setting its role). The server
   * calls this at each start to log its in-process collector in without storing a secret.
   */
  rotateServiceToken(name: string, role: ServiceRole): string {
    checkName(serviceAccountName, name, 'service account name');
    serviceRole.parse(role);
    if (this.db.prepare('SELECT id FROM devices WHERE id = ?').get(name)) throw new RegistryError(`${name} is already a device id`, 'exists');
    const token = newToken();
    this.db
      .prepare(
        `INSERT INTO service_accounts (name, role, token_hash, created_at) VALUES (?, ?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET role = excluded.role, token_hash = excluded.token_hash`,
      )
      .run(name, role, this.hash(token), Date.now());
    this.credentialsChanged(name);
    return token;
  }

  removeServiceAccount(name: string): boolean {
    return this.removeCredential('DELETE FROM service_accounts WHERE name = ?', name);
  }

  /** Runs the DELETE of `name`'s credentials; when it removed them, they stop working at once. */
  private removeCredential(deleteSql: string, name: string): boolean {
    const removed = this.db.prepare(deleteSql).run(name).changes > 0;
    if (removed) this.credentialsChanged(name);
    return removed;
  }

  // ---- credential changes (revocation) ----

  /** The newest credential change so far (0: none); sessions verified after it are current. */
  credentialChangeCursor(): number {
    return (this.prepared('SELECT coalesce(max(seq), 0) AS seq FROM credential_changes').get() as { seq: number }).seq;
  }

  /** Logins whose credentials changed after `cursor`, each with the seq of its latest change. */
  credentialChangesSince(cursor: number): Array<{ seq: number; name: string }> {
    return this.prepared('SELECT max(seq) AS seq, name FROM credential_changes WHERE seq > ? GROUP BY name ORDER BY seq').all(cursor) as Array<{
      seq: number;
      name: string;
    }>;
  }

  private credentialsChanged(name: string): void {
    const at = Date.now();
    this.db.prepare('INSERT INTO credential_changes (name, at) VALUES (?, ?)').run(name, at);
    // A day of history is plenty for brokers that poll every second; older rows only take space.
    this.db.prepare('DELETE FROM credential_changes WHERE at < ?').run(at - 86_400_000);
  }

  listServiceAccounts(): ServiceAccountRecord[] {
    return (
      this.db.prepare('SELECT name, role, created_at FROM service_accounts ORDER BY name').all() as Array<{
        name: string;
        role: ServiceRole;
        created_at: number;
      }>
    ).map((r) => ({ name: r.name, role: r.role, createdAt: r.created_at }));
  }

  // ---- login ----

  /**
   * Checks a username/password pair. Returns who it is, or null (unknown name, wrong token,
   * disabled device). Unknown names cost the same scrypt work, so timing does not reveal them.
   * The hash runs on libuv's thread pool, so the event loop keeps serving other clients.
   */
  async verify(username: string, password: Buffer | string): Promise<Principal | null> {
    const pw = typeof password === 'string' ? Buffer.from(password) : password;
    const dev = this.prepared('SELECT id, site, tenant, token_hash, disabled FROM devices WHERE id = ?').get(username) as
      | (Row & { id: string; site: string | null; tenant: string | null; disabled: number })
      | undefined;
    if (dev) {
      const ok = await verifySecret(dev.token_hash, pw);
      if (ok) this.rehash('devices', 'id', dev.id, dev.token_hash, pw);
      return ok && !dev.disabled ? { kind: 'device', id: dev.id, site: dev.site, tenant: dev.tenant } : null;
    }
    const svc = this.prepared('SELECT name, role, token_hash FROM service_accounts WHERE name = ?').get(username) as
      | (Row & { name: string; role: ServiceRole })
      | undefined;
    if (svc) {
      const ok = await verifySecret(svc.token_hash, pw);
      if (ok) this.rehash('service_accounts', 'name', svc.name, svc.token_hash, pw);
      return ok ? { kind: 'service', name: svc.name, role: svc.role } : null;
    }
    await verifySecret(this.decoyHash, pw);
    return null;
  }

  private prepared(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) this.statements.set(sql, (st = this.db.prepare(sql)));
    return st;
  }

  /**
   * A token that just verified against a hash of another kind than `tokenHash` is stored again,
   * hashed the new way (secret-hash.ts hashedOtherwise); only if the hash is still the one it was
   * checked against, so a rotate meanwhile wins.
   */
  private rehash(table: 'devices' | 'service_accounts', key: 'id' | 'name', name: string, checked: string, token: Buffer): void {
    if (!hashedOtherwise(checked, this.tokenHash) || !this.db.open) return;
    try {
      this.prepared(`UPDATE ${table} SET token_hash = ? WHERE ${key} = ? AND token_hash = ?`).run(this.hash(token.toString()), name, checked);
    } catch {
      // The old hash stays (the file busy or read-only); the next login tries again.
    }
  }

  private hash(token: string): string {
    return this.tokenHash === 'scrypt' ? hashSecret(token, this.scryptCost) : hashToken(token);
  }
}

type DeviceRow = { id: string; site: string | null; tenant: string | null; created_at: number; disabled: number };

function toDevice(r: DeviceRow): DeviceRecord {
  return { id: r.id, site: r.site, tenant: r.tenant, createdAt: r.created_at, disabled: r.disabled !== 0 };
}

/** A new random device or service token (shown once, stored hashed). */
export function newToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

/** Throws RegistryError('invalid') naming `what` when `value` breaks the rules of `schema`. */
export function checkName(schema: z.ZodType<string>, value: string, what: string): void {
  const r = schema.safeParse(value);
  if (!r.success) throw new RegistryError(`${what}: ${formatZodError(r.error)}`, 'invalid');
}
