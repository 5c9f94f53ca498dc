// Starts a real PostgreSQL (Debian package `postgresql`) on a free loopback port with a temporary
// data dir, for tests and benchmarks — never the system service. PostgreSQL refuses to run as
// root, and CI runs as root: then the server runs as the `postgres` user the package created
// (spawned with its uid directly, not through runuser, so that signals reach the postmaster).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, readdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, tempDir, waitFor, type TempDir } from './net.js';

function binDir(): string | null {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'postgres'))).sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(root, versions[0], 'bin') : null;
}

export const havePostgres = () => binDir() !== null;

function pgUser(): { name: string; uid: number; gid: number } | null {
  if (userInfo().uid !== 0) return null;
  const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  return { name: 'postgres', uid: id('-u'), gid: id('-g') };
}

export class Postgres {
  private proc: ChildProcess | null = null;
  private constructor(
    readonly dir: TempDir,
    readonly port: number,
    private readonly bin: string,
    private readonly asUser: { name: string; uid: number; gid: number } | null,
  ) {}

  /** A connection string for the `fleetcare` database (trust auth on loopback). */
  get url(): string {
    return `postgres://fleetcare@127.0.0.1:${this.port}/fleetcare`;
  }

  /** Another database on the same server (created on first use by `createDatabase`). */
  urlOf(database: string): string {
    return `postgres://fleetcare@127.0.0.1:${this.port}/${database}`;
  }

  /** Spawn options that run the server's programs as the unprivileged user when we are root. */
  private get as(): { uid?: number; gid?: number } {
    return this.asUser ? { uid: this.asUser.uid, gid: this.asUser.gid } : {};
  }

  static async create(): Promise<Postgres> {
    const bin = binDir();
    if (!bin) throw new Error('PostgreSQL is not installed (Debian package postgresql; `npm test` installs it as root)');
    const dir = tempDir('fleetcare-pg-');
    const user = pgUser();
    if (user) chownSync(dir.path, user.uid, user.gid);
    const pg = new Postgres(dir, await freePort(), bin, user);
    const r = spawnSync(join(bin, 'initdb'), ['-D', join(dir.path, 'data'), '-U', 'fleetcare', '--auth=trust', '--encoding=UTF8', '--locale=C.UTF-8', '--no-sync'], { encoding: 'utf8', cwd: dir.path, ...pg.as });
    if (r.status !== 0) throw new Error(`initdb failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
    await pg.start();
    await pg.createDatabase('fleetcare');
    return pg;
  }

  async start(): Promise<void> {
    if (this.proc) return;
    // fsync stays on: the restart tests rely on what PostgreSQL acknowledged surviving a kill.
    const p = spawn(join(this.bin, 'postgres'), ['-D', join(this.dir.path, 'data'), '-p', String(this.port), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${this.dir.path}`, '-c', 'max_connections=200'], { stdio: ['ignore', 'ignore', 'pipe'], cwd: this.dir.path, ...this.as });
    let stderr = '';
    p.stderr!.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-4000);
    });
    p.on('exit', () => {
      if (this.proc === p) this.proc = null;
    });
    this.proc = p;
    await waitFor(`postgres on port ${this.port}`, () => {
      if (!this.proc) throw new Error(`postgres exited: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
      return spawnSync(join(this.bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(this.port), '-q']).status === 0;
    }, 30_000, 100);
  }

  async createDatabase(name: string): Promise<void> {
    const client = new pg.Client({ connectionString: this.urlOf('postgres') });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
    } catch (e) {
      if ((e as { code?: string }).code !== '42P04') throw e; // duplicate_database
    } finally {
      await client.end();
    }
  }

  /**
   * A crash: SIGQUIT makes the postmaster stop at once, without a checkpoint, taking its backends
   * with it (a SIGKILL would orphan them and block the restart); the next start runs recovery.
   */
  async crash(): Promise<void> {
    const p = this.proc;
    if (!p) return;
    this.proc = null;
    await new Promise<void>((r) => {
      p.once('exit', () => r());
      p.kill('SIGQUIT');
    });
  }

  /** A fast shutdown (SIGINT). */
  async stop(): Promise<void> {
    const p = this.proc;
    if (!p) return;
    this.proc = null;
    await new Promise<void>((r) => {
      p.once('exit', () => r());
      p.kill('SIGINT');
    });
  }

  async destroy(): Promise<void> {
    await this.stop();
    this.dir.remove();
  }
}
