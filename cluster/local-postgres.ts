// Starts a real PostgreSQL (Debian `postgresql`, binaries in /usr/lib/postgresql/<v>/bin) on a
// temporary data dir and a free loopback port, for the local cluster (`npm run cluster`), tests and
// benchmarks — never the system service (test/helpers/postgres.ts re-exports it as TestPostgres).
// PostgreSQL refuses to run as root and CI runs as root: then the server runs as the `postgres`
// system user the package created (or PG_TEST_USER), with a data dir owned by it. stop() shuts it
// down fast; kill() is a crash (SIGKILL); start() again reuses the same data (a restart).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, tempDir, waitFor, type TempDir } from './local-net.js';

/** The bin dir of the newest installed PostgreSQL (PG_BIN overrides), or null. */
export function postgresBin(): string | null {
  if (process.env.PG_BIN) return existsSync(join(process.env.PG_BIN, 'postgres')) ? process.env.PG_BIN : null;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(root, versions[0], 'bin') : null;
}

export const havePostgres = () => postgresBin() !== null;

/** uid/gid to run the server as: ourselves unless we are root. */
function runAs(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const name = process.env.PG_TEST_USER ?? 'postgres';
  try {
    const uid = Number(
      execFileSync('id', ['-u', name], { stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trim(),
    );
    const gid = Number(
      execFileSync('id', ['-g', name], { stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trim(),
    );
    return { uid, gid };
  } catch {
    throw new Error(
      `PostgreSQL refuses to run as root and there is no user "${name}" to run it as (the Debian package creates "postgres"; or set PG_TEST_USER)`,
    );
  }
}

export type PostgresOptions = {
  /** Durable commits (fsync and synchronous_commit on). Off by default, for speed: then a kill() loses the last commits, so tests that crash the server and check what it acknowledged need it on. */
  durable?: boolean;
};

// Servers still running when the test process exits (a failed test, a crash) are killed with it.
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) {
    try {
      process.kill(-p.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

export class LocalPostgres {
  private proc: ChildProcess | null = null;
  private stderr = '';
  private dbCounter = 0;

  private constructor(
    readonly bin: string,
    readonly dir: TempDir,
    readonly port: number,
    private readonly user: { uid: number; gid: number } | null,
    private readonly opts: PostgresOptions,
  ) {}

  /** The postmaster's pid while running (its backends share its process group). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** The superuser connection URL of database `db` (default `postgres`). */
  url(db = 'postgres'): string {
    return `postgres://fleetcare@127.0.0.1:${this.port}/${db}`;
  }

  static async create(opts: PostgresOptions = {}): Promise<LocalPostgres> {
    const bin = postgresBin();
    if (!bin) throw new Error('PostgreSQL is not installed (apt-get install postgresql, or set PG_BIN)');
    const dir = tempDir('fleetcare-pg-');
    const user = runAs();
    if (user) chownSync(dir.path, user.uid, user.gid);
    const data = join(dir.path, 'data');
    try {
      execFileSync(join(bin, 'initdb'), ['-D', data, '-U', 'fleetcare', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'], {
        stdio: ['ignore', 'pipe', 'pipe'],
        ...(user ?? {}),
      });
    } catch (e) {
      dir.remove();
      const err = e as { stderr?: Buffer; message: string };
      throw new Error(`initdb failed: ${err.stderr?.toString().trim() || err.message}`);
    }
    const p = new LocalPostgres(bin, dir, await freePort(), user, opts);
    await p.start();
    return p;
  }

  async start(): Promise<void> {
    if (this.proc) return;
    const args = [
      '-D',
      join(this.dir.path, 'data'),
      '-p',
      String(this.port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `unix_socket_directories=${this.dir.path}`,
    ];
    if (!this.opts.durable) args.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
    // Its own process group, so that kill() takes the backends down with the postmaster (a crash).
    const proc = spawn(join(this.bin, 'postgres'), args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true, ...(this.user ?? {}) });
    running.add(proc);
    this.stderr = '';
    proc.stderr!.on('data', (b: Buffer) => {
      this.stderr = (this.stderr + b.toString()).slice(-4000);
    });
    proc.on('exit', () => {
      running.delete(proc);
      if (this.proc === proc) this.proc = null;
    });
    this.proc = proc;
    await waitFor(
      `postgres on port ${this.port}`,
      async () => {
        if (!this.proc) throw new Error(`postgres exited: ${this.stderr.trim().split('\n').slice(-3).join(' | ')}`);
        const c = new pg.Client({ connectionString: this.url() });
        try {
          await c.connect();
          await c.query('SELECT 1');
          return true;
        } catch {
          return false;
        } finally {
          await c.end().catch(() => undefined);
        }
      },
      30_000,
      100,
    );
  }

  /** A new empty database; returns its URL. Each test gets its own, so none sees another's rows. */
  async createDatabase(prefix = 'test'): Promise<string> {
    const name = `${prefix}_${process.pid}_${++this.dbCounter}`;
    const c = new pg.Client({ connectionString: this.url() });
    await c.connect();
    try {
      await c.query(`CREATE DATABASE "${name}"`);
    } finally {
      await c.end();
    }
    return this.url(name);
  }

  private async signal(sig: NodeJS.Signals, group: boolean): Promise<void> {
    const p = this.proc;
    if (!p) return;
    this.proc = null;
    await new Promise<void>((r) => {
      p.once('exit', () => r());
      if (group) process.kill(-p.pid!, sig);
      else p.kill(sig);
    });
  }

  /** Fast shutdown (SIGINT: aborts open transactions, closes connections, checkpoints). */
  stop(): Promise<void> {
    return this.signal('SIGINT', false);
  }

  /** A crash: SIGKILL; the next start() recovers from the WAL. */
  kill(): Promise<void> {
    return this.signal('SIGKILL', true);
  }

  async destroy(): Promise<void> {
    await this.stop();
    this.dir.remove();
  }
}
