// `fleetcare backup DIR` / `fleetcare restore DIR`: the server's state — every SQLite database in
// its data dir (device registry, collector state, incidents and tickets, warranty registry, NOC
// users, embedded telemetry) and its other files — copied consistently while the server runs.
// Databases go through SQLite's online backup API (better-sqlite3 `backup()`): a consistent
// snapshot of each file even while the server writes to it, WAL included; copying the files
// could catch a database mid-transaction. Works at the level of files, not tables, so it covers
// whatever database the server adds later.
import {
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  openSync,
  readSync,
  closeSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { dirname, join, relative, resolve, sep } from 'node:path';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { ConfigError, UsageError } from './errors.js';
import { loadServerConfig } from './server-config.js';
import { runningServer, SERVER_LOCK } from './server-lock.js';

type Flags = Record<string, string | boolean | undefined>;

export const BACKUP_MANIFEST = 'fleetcare-backup.json';

export const backupManifestSchema = z.object({
  format: z.literal(1),
  createdAt: z.string(),
  /** The data dir it was taken from (for the record; restore goes to the configured one). */
  dataDir: z.string(),
  files: z.array(
    z.object({
      /** Relative to the data dir, '/'-separated. */
      path: z
        .string()
        .min(1)
        .refine((p) => !p.split('/').includes('..') && !p.startsWith('/'), 'must stay inside the data dir'),
      kind: z.enum(['sqlite', 'file']),
      bytes: z.number().int().nonnegative(),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
    }),
  ),
});
export type BackupManifest = z.infer<typeof backupManifestSchema>;

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

function isSqlite(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(16);
    return readSync(fd, head, 0, 16, 0) === 16 && head.equals(SQLITE_MAGIC);
  } finally {
    closeSync(fd);
  }
}

/** Files of the data dir to back up: not the lock, not SQLite's -wal/-shm/-journal side files. */
function stateFiles(dataDir: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && !/-(wal|shm|journal)$/.test(name) && !(dir === dataDir && name === SERVER_LOCK)) out.push(p);
    }
  };
  walk(dataDir);
  return out;
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

export async function backupDataDir(dataDir: string, dest: string): Promise<BackupManifest> {
  if (!existsSync(dataDir)) throw new ConfigError(`${dataDir}: no data dir to back up (has the server run with it?)`);
  if (existsSync(dest) && readdirSync(dest).length) throw new ConfigError(`${dest}: not empty; a backup goes into a new or empty dir`);
  mkdirSync(dest, { recursive: true, mode: 0o700 });
  const files: BackupManifest['files'] = [];
  for (const src of stateFiles(dataDir)) {
    const rel = relative(dataDir, src).split(sep).join('/');
    const target = join(dest, rel);
    mkdirSync(dirname(target), { recursive: true });
    let kind: 'sqlite' | 'file' = 'file';
    if (isSqlite(src)) {
      kind = 'sqlite';
      // readonly: a backup never writes to the server's files; the server's WAL is read through.
      const db = new Database(src, { readonly: true, fileMustExist: true, timeout: 10_000 });
      try {
        await db.backup(target);
      } finally {
        db.close();
      }
    } else copyFileSync(src, target);
    files.push({ path: rel, kind, bytes: statSync(target).size, sha256: sha256(target) });
  }
  const manifest: BackupManifest = { format: 1, createdAt: new Date().toISOString(), dataDir, files };
  writeFileSync(join(dest, BACKUP_MANIFEST), JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });
  return manifest;
}

export function readBackup(dir: string): BackupManifest {
  const path = join(dir, BACKUP_MANIFEST);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ConfigError(`${path}: not a fleetcare backup (${(e as Error).message})`);
  }
  const r = backupManifestSchema.safeParse(raw);
  if (!r.success) throw new ConfigError(`${path}: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  for (const f of r.data.files) {
    const p = join(dir, f.path);
    if (!existsSync(p)) throw new ConfigError(`${dir}: ${f.path} is missing from the backup`);
    if (sha256(p) !== f.sha256) throw new ConfigError(`${dir}: ${f.path} does not match its checksum (damaged backup)`);
  }
  return r.data;
}

/** Is something accepting connections at host:port? (A server without a lock, another program.) */
function listening(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = connect({ host, port, timeout: 1000 });
    s.once('connect', () => (s.destroy(), done(true)));
    s.once('timeout', () => (s.destroy(), done(false)));
    s.once('error', () => done(false));
  });
}

export async function restoreDataDir(
  backupDir: string,
  dataDir: string,
  ports: Array<{ host: string; port: number; what: string }>,
): Promise<{ manifest: BackupManifest; movedAside: string | null }> {
  const manifest = readBackup(backupDir);
  const running = runningServer(dataDir);
  if (running)
    throw new ConfigError(
      `the server is running on this data dir (pid ${running.pid} on ${running.host}); stop it first (systemctl stop fleetcare-server), then restore`,
    );
  for (const p of ports) {
    if (p.port > 0 && (await listening(p.host === '0.0.0.0' || p.host === '::' ? '127.0.0.1' : p.host, p.port)))
      throw new ConfigError(`something is listening on ${p.host}:${p.port} (${p.what}): is the server running? Stop it first, then restore`);
  }
  // The current state is moved aside, not deleted: a restore can be undone by moving it back.
  let movedAside: string | null = null;
  let owner: { uid: number; gid: number } | null = null;
  if (existsSync(dataDir)) {
    const st = statSync(dataDir);
    owner = { uid: st.uid, gid: st.gid };
    movedAside = `${dataDir}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    renameSync(dataDir, movedAside);
  }
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o750 });
    for (const f of manifest.files) {
      const target = join(dataDir, f.path);
      mkdirSync(dirname(target), { recursive: true });
      copyFileSync(join(backupDir, f.path), target);
      if (f.kind === 'sqlite') {
        const db = new Database(target, { fileMustExist: true });
        try {
          const check = db.pragma('integrity_check', { simple: true });
          if (check !== 'ok') throw new ConfigError(`${f.path}: integrity check failed after restore: ${String(check)}`);
        } finally {
          db.close();
        }
      }
    }
    // Run as root for a service user's data dir: hand the files back to that user.
    if (owner && process.getuid?.() === 0 && owner.uid !== 0) chownTree(dataDir, owner.uid, owner.gid);
  } catch (e) {
    rmSync(dataDir, { recursive: true, force: true });
    if (movedAside) renameSync(movedAside, dataDir);
    throw e;
  }
  return { manifest, movedAside };
}

function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  if (statSync(path).isDirectory()) for (const n of readdirSync(path)) chownTree(join(path, n), uid, gid);
}

const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;

export async function backupCommand(positionals: string[], flags: Flags): Promise<void> {
  const [dest] = positionals;
  if (!dest) throw new UsageError('backup needs a DIR (new or empty) to write the backup to');
  const config = loadServerConfig(flags);
  const m = await backupDataDir(config.dataDir, resolve(dest));
  const dbs = m.files.filter((f) => f.kind === 'sqlite');
  process.stdout.write(
    `backup of ${config.dataDir} → ${resolve(dest)}: ${dbs.length} database(s) (${dbs.map((f) => f.path).join(', ')}), ${m.files.length - dbs.length} other file(s), ${mb(m.files.reduce((a, f) => a + f.bytes, 0))}\n`,
  );
}

export async function restoreCommand(positionals: string[], flags: Flags): Promise<void> {
  const [src] = positionals;
  if (!src) throw new UsageError('restore needs the DIR of a backup (made by `fleetcare backup DIR`)');
  const config = loadServerConfig(flags);
  const ports: Array<{ host: string; port: number; what: string }> = [];
  const broker = config.broker as { host?: string; port?: number };
  const noc = config.noc as { host?: string; port?: number; enabled?: boolean };
  if (config.role !== 'collector') ports.push({ host: broker.host ?? '127.0.0.1', port: broker.port ?? 1883, what: 'the MQTT broker port' });
  if (noc.enabled !== false && config.role !== 'broker') ports.push({ host: noc.host ?? '127.0.0.1', port: noc.port ?? 8080, what: 'the NOC port' });
  const r = await restoreDataDir(resolve(src), config.dataDir, ports);
  process.stdout.write(`restored ${r.manifest.files.length} file(s) from the backup of ${r.manifest.createdAt} into ${config.dataDir}\n`);
  if (r.movedAside) process.stdout.write(`the state before the restore is kept in ${r.movedAside} (delete it when the server runs fine)\n`);
}
