// bench/ingest: M lightweight agents at rate R, QoS 1, end to end into a real InfluxDB, first
// through our server (aedes broker + collector, one process), then with our collector behind
// mosquitto, and prints the side-by-side figures.
//
//   node dist/bench/ingest.js --agents 10000 --rate 0.1 --duration 60
//   node dist/bench/ingest.js --agents 200 --rate 100 --duration 30
//
// Server CPU is the server process's own (utime+stime from /proc), not the load generator's.
// INGEST_NODE_FLAGS='--cpu-prof --cpu-prof-dir=DIR' passes node flags to the server child(ren).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseBenchArgs } from './help.js';
import { fileURLToPath } from 'node:url';
import { DeviceRegistry } from '../broker/index.js';
import { Influxd } from '../test/helpers/influxd.js';
import { freePort, waitFor } from '../test/helpers/net.js';
import { tempDir } from '../test/helpers/tmp.js';

const { values } = parseBenchArgs(import.meta.url, {
  options: {
    agents: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '1' },
    duration: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '10' },
    brokers: { type: 'string', default: 'aedes,mosquitto' },
  },
});
const M = Number(values.agents);
const R = Number(values.rate);
const root = fileURLToPath(new URL('..', import.meta.url)); // dist/
const CLI = join(root, 'cli', 'fleetcare.js');
const LOAD = join(root, 'bench', 'ingest-load.js');
const PAGE = 4096;
const HZ = 100;
// Extra node flags for the server / collector child, e.g. INGEST_NODE_FLAGS='--cpu-prof --cpu-prof-dir=/tmp/prof'.
const NODE_FLAGS = (process.env.INGEST_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);

type ProcSample = { cpuTicks: number; rssBytes: number };
function procSample(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[11] utime, [12] stime, [21] rss pages (after the comm field, 0-based from state)
  return { cpuTicks: Number(fields[11]) + Number(fields[12]), rssBytes: Number(fields[21]) * PAGE };
}

function startProcess(cmd: string, args: string[], name: string): ChildProcess {
  const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
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
    const t = setTimeout(() => p.kill('SIGKILL'), NODE_FLAGS.length ? 120_000 : 10_000); // a profile is written only on a clean exit
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
      writeFileSync(config, JSON.stringify({ broker: { publishRate: { perSecond: 100_000, burst: 100_000 }, scryptCost: 1024, ...(process.env.INGEST_CONCURRENCY ? { concurrency: Number(process.env.INGEST_CONCURRENCY) } : {}) }, collector: { influx: { url: influx.url, database: db }, ...(process.env.INGEST_INCIDENTS === 'off' ? { incidents: { enabled: false } } : {}) } }));
      const server = startProcess(process.execPath, [...NODE_FLAGS, process.env.INGEST_TRACE ? join(root, 'bench', 'ingest-server.js') : CLI, 'server', '--config', config, '--data-dir', join(dir.path, 'data'), '--port', String(port), '--no-http', '--log-level', 'warn'], 'server');
      procs.push(server);
      measured.push(server.pid!);
    } else {
      writeFileSync(credentials, '{}');
      const conf = join(dir.path, 'mosquitto.conf');
      writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\npersistence false\n`);
      const mosq = startProcess('mosquitto', ['-c', conf], 'mosquitto');
      procs.push(mosq);
      measured.push(mosq.pid!);
      await waitFor('mosquitto', async () => {
        const s = await import('node:net');
        return new Promise<boolean>((r) => {
          const c = s.connect(port, '127.0.0.1', () => {
            c.destroy();
            r(true);
          });
          c.on('error', () => r(false));
        });
      });
      const collector = startProcess(process.execPath, [...NODE_FLAGS, CLI, 'server', '--role', 'collector', '--data-dir', join(dir.path, 'data'), '--broker-url', `mqtt://127.0.0.1:${port}`, '--collector-user', 'collector', '--collector-token', 'x', '--influx-url', influx.url, '--influx-db', db, '--no-http', '--log-level', 'warn'], 'collector');
      procs.push(collector);
      measured.push(collector.pid!);
    }
    await new Promise((r) => setTimeout(r, 1500));

    const load = spawn(process.execPath, [LOAD, '--port', String(port), '--agents', String(M), '--rate', String(R), '--duration', values.duration!, '--warmup', values.warmup!, '--credentials', credentials, '--prefix', kind], { stdio: ['ignore', 'pipe', 'inherit'] });
    let before: ProcSample[] = [];
    let after: ProcSample[] = [];
    let t0 = 0;
    let t1 = 0;
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
          t0 = Date.now();
        } else if (line.phase === 'measure-end') {
          after = measured.map(procSample);
          t1 = Date.now();
        } else if (line.phase === 'result') result = line;
      }
    });
    await new Promise((r) => load.once('exit', r));
    if (!result) throw new Error('load generator gave no result');
    const secs = (t1 - t0) / 1000;
    const cpu = measured.map((_, i) => ((after[i].cpuTicks - before[i].cpuTicks) / HZ / secs) * 100);
    const rows = await influx.query(`SELECT count(seq) FROM telemetry`, db).catch(() => []);
    const pointsInInflux = Number((rows[0] as Record<string, unknown> | undefined)?.count ?? 0);
    return {
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
try {
  for (const kind of values.brokers!.split(',') as Array<'aedes' | 'mosquitto'>) {
    process.stderr.write(`\n== ${kind}: ${M} agents × ${R} msg/s, ${values.duration} s measured\n`);
    results.push(await runOnce(kind, influx));
  }
} finally {
  await influx.destroy();
}

console.log(`\nbench/ingest — ${M} agents × ${R} msg/s (offered ${M * R} msg/s), QoS 1, 2 points/msg, real InfluxDB`);
console.log('broker     acked msg/s  points/s   p50 ms   p99 ms  unacked  server CPU %core  server RSS MB');
const fix = (x: number | null | undefined, d = 1) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '-');
for (const r of results) {
  const l = r.load;
  console.log(
    `${r.broker.padEnd(10)} ${l.ackedMsgPerSec.toFixed(0).padStart(11)} ${(l.ackedMsgPerSec * 2).toFixed(0).padStart(9)} ${fix(l.latencyMs.p50).padStart(8)} ${fix(l.latencyMs.p99).padStart(8)} ${String(l.unacked).padStart(8)} ${r.serverCpuPct.toFixed(1).padStart(17)} ${r.serverRssMb.toFixed(0).padStart(14)}` +
      (r.brokerCpuPct !== undefined ? `   (mosquitto itself ${r.brokerCpuPct.toFixed(1)} %)` : ''),
  );
}
const a = results.find((r) => r.broker === 'aedes');
const m = results.find((r) => r.broker === 'mosquitto');
if (a && m) console.log(`ratio aedes/mosquitto (acked msg/s): ${(a.load.ackedMsgPerSec / m.load.ackedMsgPerSec).toFixed(2)}×`);
console.log(JSON.stringify({ agents: M, rate: R, results }));
