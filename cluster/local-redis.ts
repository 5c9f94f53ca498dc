// Starts a real Redis (Debian package `redis-server`) on a free loopback port with a temporary
// dir, for the local cluster, tests and benchmarks; never the system service (test/helpers/redis.ts
// re-exports it). stop() kills it (SIGKILL, as a crash would); start() again reuses the same dir
// (append-only file on, so acknowledged writes survive).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { freePort, tempDir, waitFor, type TempDir } from './local-net.js';

export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';
export const haveRedis = () => existsSync(REDIS_SERVER);

export class RedisServer {
  private proc: ChildProcess | null = null;
  private stderr = '';
  private constructor(
    readonly dir: TempDir,
    readonly port: number,
  ) {}

  /** Process id while running (benchmarks read its CPU time). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async create(): Promise<RedisServer> {
    const r = new RedisServer(tempDir('fleetcare-redis-'), await freePort());
    await r.start();
    return r;
  }

  async start(): Promise<void> {
    if (this.proc) return;
    // Config on the command line: no file to write, nothing read from /etc.
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dir.path,
      '--save',
      '',
      '--appendonly',
      'yes',
      '--daemonize',
      'no',
      '--logfile',
      '',
      '--loglevel',
      'warning',
    ];
    const p = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (b: Buffer) => {
      this.stderr = (this.stderr + b.toString()).slice(-4000);
    };
    p.stdout!.on('data', keep);
    p.stderr!.on('data', keep);
    this.proc = p;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    await Promise.race([
      waitFor(`redis-server on port ${this.port}`, () => this.ping(), 10_000),
      exited.then(() => {
        throw new Error(`redis-server exited at start: ${this.stderr}`);
      }),
    ]);
  }

  /** True once the server answers PING. */
  private ping(): Promise<boolean> {
    return new Promise((resolve) => {
      const s = connect(this.port, '127.0.0.1');
      s.once('connect', () => s.write('PING\r\n'));
      s.once('data', (b) => {
        s.destroy();
        resolve(b.toString().startsWith('+PONG'));
      });
      s.once('error', () => resolve(false));
    });
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p) return;
    this.proc = null;
    if (p.exitCode === null && p.signalCode === null) {
      const exited = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill('SIGKILL');
      await exited;
    }
  }

  async remove(): Promise<void> {
    await this.stop();
    this.dir.remove();
  }
}
