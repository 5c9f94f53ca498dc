// bench/cluster: the same load as bench/ingest (M lightweight agents at rate R, QoS 1, end to end
// into a real InfluxDB) against one `fleetcare server` and against a loopback cluster
// (cluster/local-cluster.ts: 3 broker nodes + 2 collectors, Redis, PostgreSQL), then the failover
// gap: a broker node is killed (kill -9) as the measured window starts, and the agents that were
// on it reconnect to another node and resend what was not acked.
//
//   node dist/bench/cluster.js --agents 10000 --rate 0.1 --duration 60 --warmup 20
//   node dist/bench/cluster.js --agents 1000 --rate 0.5 --duration 20 --runs single,cluster,failover
//   node dist/bench/cluster.js --agents 1000 --rate 0.5 --duration 15 --runs single,colocated,cluster
//   node dist/bench/cluster.js --agents 10000 --rate 0.1 --runs failover --token-hash scrypt
//     (`colocated`: the collectors inside broker-1 and broker-2, 3 processes instead of 5)
//
// CPU is each server process's own utime+stime from /proc over the measured window: the single
// node; every cluster node plus Redis and PostgreSQL (all its backends) — the coordination's price.
// InfluxDB and the load generator are not counted (the same in every run).
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { benchFlags, flagArgs } from './help.js';
import { DeviceRegistry } from '../broker/index.js';
import type { TokenHash } from '../broker/secret-hash.js';
import { LocalCluster } from '../cluster/local-cluster.js';
import { Influxd } from '../cluster/local-influxd.js';
import { freePort, tempDir, waitFor } from '../cluster/local-net.js';

const flags = benchFlags(import.meta.url, {
  agents: 1000,
  rate: 1,
  duration: 30,
  warmup: 10,
  drain: 60,
  runs: 'single,cluster,failover',
  // How the devices' tokens are hashed (broker.tokenHash): `scrypt` compares the failover with the old default.
  'token-hash': 'sha256',
});
const { agents: M, rate: R } = flags;
const root = fileURLToPath(new URL('..', import.meta.url)); // dist/
const CLI = join(root, 'cli', 'fleetcare.js');
const LOAD = join(root, 'bench', 'ingest-load.js');
const HZ = 100;
const TOKEN_HASH: TokenHash = (() => {
  const v = flags['token-hash'];
  if (v === 'sha256' || v === 'scrypt') return v;
  console.error(`--token-hash: sha256 or scrypt, not "${v}"`);
  process.exit(64);
})();
const SCRYPT = 1024; // with --token-hash scrypt: the cost the earlier figures were measured with
const BROKER = { publishRate: { perSecond: 100_000, burst: 100_000 }, tokenHash: TOKEN_HASH };

/** `/proc/PID/stat` fields after the command name: [0] state, [1] ppid, [2] pgrp, [11] utime, [12] stime. */
const statFields = (pid: number | string) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
};

/**
 * A process and its family: its children and the members of its process group. PostgreSQL's
 * backends are children of the postmaster but each is a session of its own (setsid), so the
 * process group alone missed them (PostgreSQL's CPU read 0).
 */
function familyOf(pid: number): string[] {
  const out: string[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const f = statFields(d);
      if (Number(d) === pid || Number(f[1]) === pid || Number(f[2]) === pid) out.push(d);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** CPU ticks (utime+stime) of a process, or of its family (PostgreSQL's backends). */
function cpuTicks(pid: number, group = false): number {
  const ticks = (p: number | string) => {
    const f = statFields(p);
    return Number(f[11]) + Number(f[12]);
  };
  if (!group) return ticks(pid);
  let sum = 0;
  for (const p of familyOf(pid)) {
    try {
      sum += ticks(p);
    } catch {
      // gone meanwhile
    }
  }
  return sum;
}

/** Read+write syscalls (syscr+syscw of /proc/PID/io) of a process or its family: a figure the machine's load does not move. */
function syscalls(pid: number, group = false): number {
  const of = (p: number | string) => {
    const io = readFileSync(`/proc/${p}/io`, 'utf8');
    return Number(/syscr: (\d+)/.exec(io)?.[1] ?? NaN) + Number(/syscw: (\d+)/.exec(io)?.[1] ?? NaN);
  };
  if (!group) return of(pid);
  let sum = 0;
  for (const p of familyOf(pid)) {
    try {
      sum += of(p);
    } catch {
      // gone meanwhile
    }
  }
  return sum;
}

type Measured = { name: string; pid: number; group?: boolean };
type LoadResult = {
  connected: number;
  ackedMsgPerSec: number;
  sent: number;
  unacked: number;
  latencyMs: { p50: number; p99: number };
  reconnects: number;
  failoverGapMs: { count: number; p50: number; p99: number; max: number };
  caughtWaitMs: { count: number; p50: number; p99: number; max: number };
};
type RunResult = {
  run: string;
  load: LoadResult;
  cpuPct: Record<string, number>;
  totalCpuPct: number;
  /** Read+write syscalls per acked message, per process (noise-free, unlike CPU on a shared machine). */
  syscallsPerMsg: Record<string, number>;
  lost: number;
};

function provision(registryDir: string, prefix: string): string {
  mkdirSync(join(registryDir, 'broker'), { recursive: true });
  const registry = DeviceRegistry.open(join(registryDir, 'broker'), { tokenHash: TOKEN_HASH, scryptCost: SCRYPT });
  const creds: Record<string, string> = {};
  try {
    for (let i = 0; i < M; i++) {
      const id = `${prefix}-${String(i).padStart(5, '0')}`;
      creds[id] = registry.addDevice(id, { site: 'bench' });
    }
  } finally {
    registry.close();
  }
  const file = join(registryDir, 'credentials.json');
  writeFileSync(file, JSON.stringify(creds));
  return file;
}

/** Runs the load; samples every measured process at the window's start and end; `atStart` fires then. */
async function runLoad(
  ports: number[],
  credentials: string,
  prefix: string,
  measured: () => Measured[],
  atStart?: () => void,
): Promise<{ load: LoadResult; cpuPct: Record<string, number>; syscallsPerMsg: Record<string, number> }> {
  const load = spawn(
    process.execPath,
    [
      LOAD,
      ...flagArgs({ ports: ports.join(','), agents: M, rate: R, duration: flags.duration, warmup: flags.warmup, drain: flags.drain, credentials, prefix }),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let before = new Map<string, number>();
  let callsBefore = new Map<string, number>();
  let t0 = 0;
  let secs = 0;
  const cpuPct: Record<string, number> = {};
  const calls: Record<string, number> = {};
  const sampleCalls = () =>
    new Map(
      measured().map((m) => {
        try {
          return [m.name, syscalls(m.pid, m.group)];
        } catch {
          return [m.name, NaN];
        }
      }),
    );
  let result: LoadResult | null = null;
  let buf = '';
  const sample = () =>
    new Map(
      measured().map((m) => [
        m.name,
        (() => {
          try {
            return cpuTicks(m.pid, m.group);
          } catch {
            return NaN;
          }
        })(),
      ]),
    );
  load.stdout.on('data', (b: Buffer) => {
    buf += b.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = JSON.parse(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      if (line.phase === 'measure-start') {
        before = sample();
        callsBefore = sampleCalls();
        t0 = Date.now();
        atStart?.();
      } else if (line.phase === 'measure-end') {
        const after = sample();
        const callsAfter = sampleCalls();
        secs = (Date.now() - t0) / 1000;
        for (const [name, n] of callsBefore) calls[name] = callsAfter.get(name)! - n;
        // A node killed during the window counts up to its death (its last sample is unreadable: 0).
        for (const [name, t] of before) cpuPct[name] = Number.isFinite(after.get(name)!) ? ((after.get(name)! - t) / HZ / secs) * 100 : 0;
      } else if (line.phase === 'result') result = line;
    }
  });
  await new Promise((r) => load.once('exit', r));
  if (!result) throw new Error('load generator gave no result');
  const msgs = (result as LoadResult).ackedMsgPerSec * secs;
  const syscallsPerMsg = Object.fromEntries(Object.entries(calls).map(([n, c]) => [n, Number.isFinite(c) && msgs > 0 ? c / msgs : NaN]));
  return { load: result, cpuPct, syscallsPerMsg };
}

async function singleNode(influx: Influxd): Promise<RunResult> {
  const dir = tempDir('fleetcare-bench-cluster-');
  let server: ChildProcess | null = null;
  try {
    const credentials = provision(join(dir.path, 'data'), 'single');
    const port = await freePort();
    const config = join(dir.path, 'server.json');
    writeFileSync(
      config,
      JSON.stringify({
        dataDir: join(dir.path, 'data'),
        logLevel: 'warn',
        broker: { port, scryptCost: SCRYPT, ...BROKER },
        collector: { influx: { url: influx.url, database: 'bench_single' } },
        noc: { enabled: false },
      }),
    );
    server = spawn(process.execPath, [CLI, 'server', '--config', config], { stdio: ['ignore', 'ignore', 'inherit'] });
    await waitFor(
      'the single node listening',
      () =>
        new Promise<boolean>((r) => {
          const s = connect(port, '127.0.0.1', () => (s.destroy(), r(true)));
          s.on('error', () => r(false));
        }),
      30_000,
      200,
    );
    const pid = server.pid!;
    const { load, cpuPct, syscallsPerMsg } = await runLoad([port], credentials, 'single', () => [{ name: 'server', pid }]);
    return { run: 'single', load, cpuPct, totalCpuPct: sum(cpuPct), syscallsPerMsg, lost: load.unacked };
  } finally {
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((r) => server!.once('exit', r));
    }
    dir.remove();
  }
}

const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);

async function clusterRun(run: 'cluster' | 'failover' | 'colocated'): Promise<RunResult> {
  const cluster = await LocalCluster.start({
    brokers: 3,
    collectors: 2,
    // `colocated`: the two collectors inside broker-1 and broker-2 (3 processes instead of 5).
    colocate: run === 'colocated',
    // CLUSTER_NODE_FLAGS='--cpu-prof --cpu-prof-dir=DIR': a CPU profile of every node.
    nodeFlags: (process.env.CLUSTER_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean),
    nocs: 0,
    devices: 0,
    scryptCost: SCRYPT,
    broker: BROKER,
    logLevel: 'info',
    onLog: () => {},
    log: pino({ level: 'silent' }),
  });
  try {
    const ids = Array.from({ length: M }, (_, i) => `${run}-${String(i).padStart(5, '0')}`);
    const credentials = join(cluster.dir, 'credentials.json');
    writeFileSync(credentials, JSON.stringify(await cluster.provisionDevices(ids, { site: 'bench' })));
    const ports = cluster.brokerUrls.map((u) => Number(new URL(u).port));
    const measured = (): Measured[] => [
      ...cluster.nodeNames.filter((n) => cluster.pid(n) !== undefined).map((n) => ({ name: n, pid: cluster.pid(n)! })),
      { name: 'redis', pid: cluster.redis.pid! },
      { name: 'postgres', pid: cluster.postgres.pid!, group: true },
    ];
    // The collectors are on broker-1 and broker-2; broker-3 carries a third of the agents only.
    const { load, cpuPct, syscallsPerMsg } = await runLoad(
      ports,
      credentials,
      run,
      measured,
      run === 'failover' ? () => void cluster.kill('broker-3') : undefined,
    );
    return { run, load, cpuPct, totalCpuPct: sum(cpuPct), syscallsPerMsg, lost: load.unacked };
  } finally {
    await cluster.stop();
  }
}

const influx = await Influxd.create();
const results: RunResult[] = [];
try {
  for (const run of flags.runs.split(',')) {
    process.stderr.write(`\n== ${run}: ${M} agents × ${R} msg/s, ${flags.duration} s measured\n`);
    const r = run === 'single' ? await singleNode(influx) : await clusterRun(run as 'cluster' | 'failover' | 'colocated');
    results.push(r);
    // Each run's figures as soon as it ends: a long series cut short keeps what it measured.
    process.stderr.write(`${JSON.stringify(r)}\n`);
  }
} finally {
  await influx.destroy();
}

const fix = (x: number | null | undefined, d = 0) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '-');
console.log(`\nbench/cluster — ${M} agents × ${R} msg/s (offered ${M * R} msg/s), QoS 1, 2 points/msg, real InfluxDB`);
console.log('run        acked msg/s   p50 ms   p99 ms  lost  total CPU %core  per process (% of a core)');
for (const r of results) {
  const l = r.load;
  console.log(
    `${r.run.padEnd(10)} ${fix(l.ackedMsgPerSec).padStart(11)} ${fix(l.latencyMs.p50).padStart(8)} ${fix(l.latencyMs.p99).padStart(8)} ${String(r.lost).padStart(5)} ${fix(r.totalCpuPct, 1).padStart(16)}  ${Object.entries(
      r.cpuPct,
    )
      .map(([n, c]) => `${n} ${fix(c, 1)}`)
      .join(', ')}` +
      `\n           syscalls per acked message: ${fix(sum(r.syscallsPerMsg), 1)} (${Object.entries(r.syscallsPerMsg)
        .map(([n, c]) => `${n} ${fix(c, 2)}`)
        .join(', ')})` +
      (r.run === 'failover'
        ? `\n           failover gap (connection lost → first ack) p50 ${fix(l.failoverGapMs.p50)} ms, p99 ${fix(l.failoverGapMs.p99)} ms over ${l.failoverGapMs.count} agents` +
          `\n           messages the failover caught (unacked at the loss or written meanwhile): longest wait per agent p50 ${fix(l.caughtWaitMs.p50)} ms, p99 ${fix(l.caughtWaitMs.p99)} ms over ${l.caughtWaitMs.count} agents`
        : ''),
  );
}
const s = results.find((r) => r.run === 'single');
const c = results.find((r) => r.run === 'cluster');
if (s && c) console.log(`cluster CPU / single-node CPU for the same load: ${(c.totalCpuPct / s.totalCpuPct).toFixed(2)}×`);
const co = results.find((r) => r.run === 'colocated');
if (s && co) console.log(`colocated cluster CPU / single-node CPU for the same load: ${(co.totalCpuPct / s.totalCpuPct).toFixed(2)}×`);
console.log(JSON.stringify({ agents: M, rate: R, results }));
