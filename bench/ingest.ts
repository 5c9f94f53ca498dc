// bench/ingest: M lightweight agents at rate R, QoS 1, end to end into a real InfluxDB, first
// through our server (aedes broker + collector, one process), then with our collector behind
// mosquitto, and prints the side-by-side figures.
//
//   node dist/bench/ingest.js --agents 10000 --rate 0.1 --duration 60
//   node dist/bench/ingest.js --agents 200 --rate 100 --duration 30
//
// Server CPU is the server process's own (utime+stime from /proc), not the load generator's.
// INGEST_NODE_FLAGS='--cpu-prof --cpu-prof-dir=DIR' passes node flags to the server child(ren).
//
//   node dist/bench/ingest.js --compare --runs 3 --agents 10000 --rate 0.1 --duration 40 --warmup 15
//
// --compare runs both sides N times, alternating which goes first (A B, B A, A B, …) so that the
// noise of a shared machine hits both alike, and prints the CPU ratio fleetcare / mosquitto
// pipeline (CPU per acked message) of each adjacent pair with min/median/max, plus per-message costs: read/write
// syscalls and bytes (/proc/PID/io of the server processes) and loopback packets (/proc/net/dev,
// namespace-wide: includes the load generator's side and any other work on the machine).
// INGEST_TRACE=FILE runs the fleetcare server through bench/ingest-server.js, which appends one
// JSON line per second to FILE; the bench then prints the server's memory split at the end of the
// measured window (RSS anonymous/file, V8 heap committed/used per space, external, array buffers)
// and its GC per acked message (scavenges and mark-sweeps, count and ms): figures the noise of a
// shared machine moves far less than CPU %.
// --heap-snapshot DIR writes a heap snapshot of the fleetcare server at the end of the measured
// window (node --heapsnapshot-signal), for bench/ingest-heap.js.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { benchFlags, flagArgs } from './help.js';
import { fileURLToPath } from 'node:url';
import { DeviceRegistry } from '../broker/index.js';
import { SERVER_NODE_FLAGS } from '../cli/server-heap.js';
import { Influxd } from '../test/helpers/influxd.js';
import { freePort, waitFor } from '../test/helpers/net.js';
import { tempDir } from '../test/helpers/tmp.js';

const flags = benchFlags(import.meta.url, {
  agents: 1000,
  rate: 1,
  duration: 30,
  warmup: 10,
  brokers: 'aedes,mosquitto',
  compare: false,
  runs: 3,
  'heap-snapshot': null,
});
const { agents: M, rate: R } = flags;
const root = fileURLToPath(new URL('..', import.meta.url)); // dist/
const CLI = join(root, 'cli', 'fleetcare.js');
const LOAD = join(root, 'bench', 'ingest-load.js');
const PAGE = 4096;
const HZ = 100;
// node flags for the server / collector child: what the systemd unit runs `fleetcare server` with
// (both sides: the mosquitto pipeline's collector is `fleetcare server --role collector`), then
// extra ones, e.g. INGEST_NODE_FLAGS='--cpu-prof --cpu-prof-dir=/tmp/prof' (a later flag wins).
const EXTRA_NODE_FLAGS = (process.env.INGEST_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
const NODE_FLAGS = [...SERVER_NODE_FLAGS, ...EXTRA_NODE_FLAGS];

type ProcSample = { cpuTicks: number; rssBytes: number; syscr: number; syscw: number; rchar: number; wchar: number };
function procSample(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // /proc/PID/io sums all threads of the process (libuv's pool included): read/write syscalls and bytes.
  const io = Object.fromEntries(
    readFileSync(`/proc/${pid}/io`, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(': ') as [string, string])
      .map(([k, v]) => [k, Number(v)]),
  );
  // fields[11] utime, [12] stime, [21] rss pages (after the comm field, 0-based from state)
  return {
    cpuTicks: Number(fields[11]) + Number(fields[12]),
    rssBytes: Number(fields[21]) * PAGE,
    syscr: io.syscr,
    syscw: io.syscw,
    rchar: io.rchar,
    wchar: io.wchar,
  };
}

/** True once something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise<boolean>((r) => {
    const c = connect(port, '127.0.0.1', () => {
      c.destroy();
      r(true);
    });
    c.on('error', () => r(false));
  });
}

type TraceLine = {
  memory?: Record<string, number> & { spaces: Record<string, { size: number; used: number }> };
  gc?: Record<string, number>;
};
/** The last line of the INGEST_TRACE file (the server writes one per second), or null. */
function lastTraceLine(): TraceLine | null {
  if (!process.env.INGEST_TRACE) return null;
  try {
    const lines = readFileSync(process.env.INGEST_TRACE, 'utf8').trimEnd().split('\n');
    return JSON.parse(lines[lines.length - 1]) as TraceLine;
  } catch {
    return null;
  }
}

/** Packets through the loopback interface so far (the whole network namespace). */
function loopbackPackets(): number {
  const line = readFileSync('/proc/net/dev', 'utf8')
    .split('\n')
    .find((l) => l.trim().startsWith('lo:'));
  return line ? Number(line.split(':')[1].trim().split(/\s+/)[1]) : NaN;
}

function startProcess(cmd: string, args: string[], name: string, cwd?: string): ChildProcess {
  const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], cwd });
  let err = '';
  p.stderr!.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-3000)));
  p.on('exit', (code, sig) => {
    if (code && code !== 0) process.stderr.write(`${name} exited ${code ?? sig}: ${err}\n`);
  });
  return p;
}

async function stopProcess(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  await new Promise<void>((r) => {
    const t = setTimeout(() => p.kill('SIGKILL'), EXTRA_NODE_FLAGS.length ? 120_000 : 10_000); // a profile is written only on a clean exit
    p.once('exit', () => {
      clearTimeout(t);
      r();
    });
    p.kill('SIGTERM');
  });
}

type RunResult = {
  broker: string;
  load: Record<string, unknown> & { ackedMsgPerSec: number; latencyMs: { p50: number; p99: number }; unacked: number; sentMeasured: number };
  serverCpuPct: number;
  serverRssMb: number;
  brokerCpuPct?: number;
  pointsInInflux: number;
  /** Per message acked in the measured window, summed over the server process(es). */
  perMessage: { syscalls: number; readSyscalls: number; writeSyscalls: number; bytesRead: number; bytesWritten: number; loopbackPackets: number };
  /** From INGEST_TRACE (fleetcare server only): memory at the end of the window, GC per 1,000 acked messages in it. */
  trace?: { memory: TraceLine['memory']; gcPer1000Messages: Record<string, number> };
};

async function runOnce(kind: 'aedes' | 'mosquitto', influx: Influxd): Promise<RunResult> {
  const dir = tempDir('fleetcare-bench-');
  const port = await freePort();
  const db = `bench_${kind}`;
  const credentials = join(dir.path, 'credentials.json');
  const procs: ChildProcess[] = [];
  const measured: number[] = [];
  try {
    const ids = Array.from({ length: M }, (_, i) => `${kind}-${String(i).padStart(5, '0')}`);
    if (kind === 'aedes') {
      mkdirSync(join(dir.path, 'data', 'broker'), { recursive: true });
      // N=1024 (as the broker tests do): provisioning 10k devices at the default N=4096 takes minutes.
      const registry = DeviceRegistry.open(join(dir.path, 'data', 'broker'), { scryptCost: 1024 });
      const creds: Record<string, string> = {};
      for (const id of ids) creds[id] = registry.addDevice(id, { site: 'bench' });
      registry.close();
      writeFileSync(credentials, JSON.stringify(creds));
      const config = join(dir.path, 'server.json');
      // The bench offers far more than a store device would send: raise the per-client limit.
      writeFileSync(
        config,
        JSON.stringify({
          broker: {
            publishRate: { perSecond: 100_000, burst: 100_000 },
            scryptCost: 1024,
            ...(process.env.INGEST_CONCURRENCY ? { concurrency: Number(process.env.INGEST_CONCURRENCY) } : {}),
          },
          collector: { influx: { url: influx.url, database: db }, ...(process.env.INGEST_INCIDENTS === 'off' ? { incidents: { enabled: false } } : {}) },
        }),
      );
      const heapFlags = flags['heap-snapshot'] ? ['--heapsnapshot-signal=SIGUSR2'] : [];
      const server = startProcess(
        process.execPath,
        [
          ...NODE_FLAGS,
          ...heapFlags,
          process.env.INGEST_TRACE ? join(root, 'bench', 'ingest-server.js') : CLI,
          'server',
          '--config',
          config,
          '--data-dir',
          join(dir.path, 'data'),
          '--port',
          String(port),
          '--no-http',
          '--log-level',
          'warn',
        ],
        'server',
        flags['heap-snapshot'],
      );
      procs.push(server);
      measured.push(server.pid!);
    } else {
      writeFileSync(credentials, '{}');
      const conf = join(dir.path, 'mosquitto.conf');
      writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\npersistence false\n`);
      const mosq = startProcess('mosquitto', ['-c', conf], 'mosquitto');
      procs.push(mosq);
      measured.push(mosq.pid!);
      await waitFor('mosquitto', () => listening(port));
      const collector = startProcess(
        process.execPath,
        [
          ...NODE_FLAGS,
          CLI,
          'server',
          '--role',
          'collector',
          '--data-dir',
          join(dir.path, 'data'),
          '--broker-url',
          `mqtt://127.0.0.1:${port}`,
          '--collector-user',
          'collector',
          '--collector-token',
          'x',
          '--influx-url',
          influx.url,
          '--influx-db',
          db,
          '--no-http',
          '--log-level',
          'warn',
        ],
        'collector',
      );
      procs.push(collector);
      measured.push(collector.pid!);
    }
    // A loaded machine can take several seconds to start the server: agents dialing before it
    // listens would count as failed connections, not as load.
    if (kind === 'aedes') await waitFor('fleetcare server', () => listening(port), 60_000, 100);
    await new Promise((r) => setTimeout(r, 1500));

    const load = spawn(
      process.execPath,
      [LOAD, ...flagArgs({ port, agents: M, rate: R, duration: flags.duration, warmup: flags.warmup, credentials, prefix: kind })],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let before: ProcSample[] = [];
    let after: ProcSample[] = [];
    let t0 = 0;
    let t1 = 0;
    let lo0 = 0;
    let lo1 = 0;
    // Filled from the load generator's phase lines (a callback: an object, so TS keeps its type).
    const traces: { start: TraceLine | null; end: TraceLine | null } = { start: null, end: null };
    let result: RunResult['load'] | null = null;
    let buf = '';
    load.stdout.on('data', (b: Buffer) => {
      buf += b.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (line.phase === 'measure-start') {
          before = measured.map(procSample);
          lo0 = loopbackPackets();
          t0 = Date.now();
          if (kind === 'aedes') traces.start = lastTraceLine();
        } else if (line.phase === 'measure-end') {
          after = measured.map(procSample);
          lo1 = loopbackPackets();
          t1 = Date.now();
          if (kind === 'aedes') traces.end = lastTraceLine();
          if (kind === 'aedes' && flags['heap-snapshot']) process.kill(measured[0], 'SIGUSR2');
        } else if (line.phase === 'result') result = line;
      }
    });
    await new Promise((r) => load.once('exit', r));
    if (!result) throw new Error('load generator gave no result');
    const secs = (t1 - t0) / 1000;
    const cpu = measured.map((_, i) => ((after[i].cpuTicks - before[i].cpuTicks) / HZ / secs) * 100);
    const rows = await influx.query(`SELECT count(seq) FROM telemetry`, db).catch(() => []);
    const pointsInInflux = Number((rows[0] as Record<string, unknown> | undefined)?.count ?? 0);
    const msgs = Math.max(1, (result as RunResult['load']).ackedMsgPerSec * secs);
    const delta = (k: 'syscr' | 'syscw' | 'rchar' | 'wchar') => after.reduce((n, s, i) => n + s[k] - before[i][k], 0) / msgs;
    const gc0 = traces.start?.gc;
    const gc1 = traces.end?.gc;
    const gcPer1000Messages = gc0 && gc1 ? Object.fromEntries(Object.keys(gc1).map((k) => [k, ((gc1[k] - gc0[k]) / msgs) * 1000])) : undefined;
    return {
      ...(traces.end?.memory && gcPer1000Messages ? { trace: { memory: traces.end.memory, gcPer1000Messages } } : {}),
      perMessage: {
        syscalls: delta('syscr') + delta('syscw'),
        readSyscalls: delta('syscr'),
        writeSyscalls: delta('syscw'),
        bytesRead: delta('rchar'),
        bytesWritten: delta('wchar'),
        loopbackPackets: (lo1 - lo0) / msgs,
      },
      broker: kind,
      load: result,
      serverCpuPct: cpu.reduce((a, b) => a + b, 0),
      brokerCpuPct: kind === 'mosquitto' ? cpu[0] : undefined,
      serverRssMb: after.reduce((a, s) => a + s.rssBytes, 0) / 1048576,
      pointsInInflux,
    };
  } finally {
    for (const p of procs.reverse()) await stopProcess(p);
    dir.remove();
  }
}

const influx = await Influxd.create();
const results: RunResult[] = [];
const sides = flags.brokers.split(',') as Array<'aedes' | 'mosquitto'>;
const runs = flags.compare ? Math.max(1, flags.runs) : 1;
try {
  for (let run = 0; run < runs; run++) {
    // Alternate which side goes first, so a slow spell of the machine does not favour one side.
    const order = run % 2 === 0 ? sides : [...sides].reverse();
    for (const kind of order) {
      process.stderr.write(`\n== ${kind}${runs > 1 ? ` (run ${run + 1}/${runs})` : ''}: ${M} agents × ${R} msg/s, ${flags.duration} s measured\n`);
      results.push(await runOnce(kind, influx));
    }
  }
} finally {
  await influx.destroy();
}

console.log(`\nbench/ingest — ${M} agents × ${R} msg/s (offered ${M * R} msg/s), QoS 1, 2 points/msg, real InfluxDB`);
console.log('broker     acked msg/s  points/s   p50 ms   p99 ms  unacked  server CPU %core  server RSS MB  syscalls/msg (r+w)  bytes/msg (r+w)  lo pkts/msg');
const fix = (x: number | null | undefined, d = 1) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '-');
for (const r of results) {
  const l = r.load;
  const pm = r.perMessage;
  console.log(
    `${r.broker.padEnd(10)} ${l.ackedMsgPerSec.toFixed(0).padStart(11)} ${(l.ackedMsgPerSec * 2).toFixed(0).padStart(9)} ${fix(l.latencyMs.p50).padStart(8)} ${fix(l.latencyMs.p99).padStart(8)} ${String(l.unacked).padStart(8)} ${r.serverCpuPct.toFixed(1).padStart(17)} ${r.serverRssMb.toFixed(0).padStart(14)}` +
      ` ${`${fix(pm.syscalls)} (${fix(pm.readSyscalls)}+${fix(pm.writeSyscalls)})`.padStart(19)} ${`${fix(pm.bytesRead, 0)}+${fix(pm.bytesWritten, 0)}`.padStart(16)} ${fix(pm.loopbackPackets).padStart(12)}` +
      (r.brokerCpuPct !== undefined ? `   (mosquitto itself ${r.brokerCpuPct.toFixed(1)} %)` : ''),
  );
}
for (const r of results) {
  if (!r.trace?.memory) continue;
  const m = r.trace.memory;
  const g = r.trace.gcPer1000Messages;
  const sp = Object.entries(m.spaces)
    .filter(([, v]) => v.size >= 1)
    .map(([k, v]) => `${k.replace(/_space$/, '')} ${v.used}/${v.size}`)
    .join(', ');
  console.log(
    `  fleetcare memory at window end (MB): RSS ${m.rss} (anon ${m.rssAnon}, file ${m.rssFile}); V8 heap committed ${m.heapTotal}, used ${m.heapUsed} [${sp}]; external ${m.external} (array buffers ${m.arrayBuffers}); outside the V8 heap ≈ ${(m.rssAnon - m.heapTotal).toFixed(0)}`,
  );
  console.log(
    `  fleetcare GC per 1,000 acked msgs: ${g.scavenges.toFixed(2)} scavenges ${g.scavengeMs.toFixed(1)} ms, ${g.markSweeps.toFixed(3)} mark-sweeps ${g.markSweepMs.toFixed(1)} ms, other ${g.otherGcs.toFixed(2)} / ${g.otherGcMs.toFixed(1)} ms`,
  );
}
const aedesRuns = results.filter((r) => r.broker === 'aedes');
const mosqRuns = results.filter((r) => r.broker === 'mosquitto');
if (aedesRuns.length && aedesRuns.length === mosqRuns.length) {
  const spread = (values: Array<number | null>, d = 2) => {
    // A run with nothing acked in its window has no latency percentile (null): shown as n/a.
    const xs = values.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
    if (!xs.length) return 'n/a';
    const s = [...xs].sort((a, b) => a - b);
    const med = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    return `${med.toFixed(d)} (min ${s[0].toFixed(d)}, max ${s[s.length - 1].toFixed(d)}, n=${s.length})`;
  };
  // CPU per acked message, not CPU alone: a side starved by a busy machine acks less and would
  // otherwise look cheaper for doing less work.
  const ratios = aedesRuns.map((a, i) => a.serverCpuPct / a.load.ackedMsgPerSec / (mosqRuns[i].serverCpuPct / mosqRuns[i].load.ackedMsgPerSec));
  console.log(`ratio fleetcare/mosquitto (acked msg/s): ${spread(aedesRuns.map((a, i) => a.load.ackedMsgPerSec / mosqRuns[i].load.ackedMsgPerSec))}`);
  console.log(`CPU ratio (fleetcare / mosquitto pipeline, ${M >= 1000 ? `${M / 1000}k` : M} agents): ${spread(ratios)}`);
  for (const [name, rs] of [
    ['fleetcare', aedesRuns],
    ['mosquitto pipeline', mosqRuns],
  ] as const) {
    console.log(
      `  ${name}: CPU % ${spread(
        rs.map((r) => r.serverCpuPct),
        1,
      )}; RSS MB ${spread(
        rs.map((r) => r.serverRssMb),
        0,
      )}; p99 ms ${spread(
        rs.map((r) => r.load.latencyMs.p99),
        0,
      )}; ` +
        `syscalls/msg ${spread(
          rs.map((r) => r.perMessage.syscalls),
          1,
        )}; unacked ${rs.map((r) => r.load.unacked).join(',')}`,
    );
  }
}
console.log(JSON.stringify({ agents: M, rate: R, results }));
