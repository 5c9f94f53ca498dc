// Starts a real InfluxDB 1.x (Debian package `influxdb`) on free loopback ports with a temporary
// data dir, for the local cluster, tests and benchmarks (test/helpers/influxd.ts re-exports it).
// stop() kills it; start() again reuses the same data.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, tempDir, waitFor, type TempDir } from './local-net.js';

export const INFLUXD = process.env.INFLUXD ?? '/usr/bin/influxd';
export const haveInfluxd = () => existsSync(INFLUXD);

export class Influxd {
  private proc: ChildProcess | null = null;
  private constructor(
    readonly dir: TempDir,
    readonly httpPort: number,
    readonly rpcPort: number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  static async create(): Promise<Influxd> {
    const dir = tempDir('fleetcare-influxd-');
    const i = new Influxd(dir, await freePort(), await freePort());
    const d = dir.path;
    writeFileSync(
      join(d, 'influxdb.conf'),
      `reporting-disabled = true
bind-address = "127.0.0.1:${i.rpcPort}"
[meta]
  dir = "${d}/meta"
  logging-enabled = false
[data]
  dir = "${d}/data"
  wal-dir = "${d}/wal"
  query-log-enabled = false
  trace-logging-enabled = false
[http]
  bind-address = "127.0.0.1:${i.httpPort}"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  log-enabled = false
[logging]
  level = "error"
`,
    );
    await i.start();
    return i;
  }

  async start(): Promise<void> {
    if (this.proc) return;
    const p = spawn(INFLUXD, ['-config', join(this.dir.path, 'influxdb.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr!.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-4000);
    });
    p.on('exit', () => {
      if (this.proc === p) this.proc = null;
    });
    this.proc = p;
    await waitFor(
      `influxd on ${this.url} (${stderr.trim().split('\n').pop() ?? ''})`,
      async () => {
        if (!this.proc) throw new Error(`influxd exited: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
        const r = await fetch(`${this.url}/ping`).catch(() => null);
        return r?.status === 204;
      },
      30_000,
      100,
    );
  }

  /** SIGKILL, like a crash; data written before stays on disk (WAL). */
  async stop(): Promise<void> {
    const p = this.proc;
    if (!p) return;
    this.proc = null;
    await new Promise<void>((r) => {
      p.once('exit', () => r());
      p.kill('SIGKILL');
    });
  }

  async query(q: string, db?: string): Promise<Array<Record<string, unknown>>> {
    const u = new URL('/query', this.url);
    u.searchParams.set('q', q);
    if (db) u.searchParams.set('db', db);
    const r = await fetch(u);
    const body = (await r.json()) as { results?: Array<{ error?: string; series?: Array<{ columns: string[]; values?: unknown[][] }> }> };
    const res = body.results?.[0];
    if (!r.ok || res?.error) throw new Error(`influx query failed: ${res?.error ?? r.status}`);
    const rows: Array<Record<string, unknown>> = [];
    for (const s of res?.series ?? []) for (const v of s.values ?? []) rows.push(Object.fromEntries(s.columns.map((c, k) => [c, v[k]])));
    return rows;
  }

  async destroy(): Promise<void> {
    await this.stop();
    this.dir.remove();
  }
}
