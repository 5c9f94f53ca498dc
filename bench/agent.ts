// bench/agent: RSS and CPU of the compiled agent process with 3 peripherals polled every 5 s
// (host + two ESC/POS printers on socat PTYs answered by the virtual printer of sim/), against an
// in-process aedes broker and an mqtt.js subscriber that acks like the collector.
// Several launcher variants (node flags) run side by side in one pass, each its own agent process
// with its own printers, measured from /proc/PID/stat and /proc/PID/status after a warm-up.
//
//   npm run build && node dist/bench/agent.js [--duration 120] [--warmup 30] [--variants all|baseline,tuned,...]
//     [--entry dist/bundle/agent.mjs]   (the production bundle that bin/fleetcare-agent runs)
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchFlags } from './help.js';
import { parseTopic, seqRanges } from '../protocol/index.js';
import { VirtualEscposPrinter } from '../sim/escpos-printer.js';

// --entry: the agent entry to run, the compiled tree (default) or the esbuild bundle.
const flags = benchFlags(import.meta.url, { duration: 120, warmup: 30, variants: 'baseline,tuned', interval: 5000, entry: null });

/** Launcher variants: node flags before the agent's entry, and environment. */
const TUNED = ['--max-semi-space-size=1', '--max-old-space-size=48', '--v8-pool-size=1'];
const allVariants: Record<string, { flags: string[]; env?: Record<string, string> }> = {
  baseline: { flags: [] },
  'semi-space-only': { flags: ['--max-semi-space-size=1'] },
  tuned: { flags: TUNED },
  'tuned+arena2': { flags: TUNED, env: { MALLOC_ARENA_MAX: '2' } },
  'tuned+lite': { flags: [...TUNED, '--lite-mode'] },
  'tuned+lite+arena2': { flags: [...TUNED, '--lite-mode'], env: { MALLOC_ARENA_MAX: '2' } },
  'tuned+jitless': { flags: [...TUNED, '--jitless'] },
  'tuned+lite+size': { flags: [...TUNED, '--lite-mode', '--optimize-for-size'] },
  'tuned+lite+single': { flags: [...TUNED, '--lite-mode', '--single-threaded'] },
  'tuned+lite+size+single': { flags: [...TUNED, '--lite-mode', '--optimize-for-size', '--single-threaded'] },
  /** Exactly what bin/fleetcare-agent runs (keep in sync); `--no-expose-wasm` only silences a V8 warning. */
  launcher: { flags: [...TUNED, '--lite-mode', '--no-expose-wasm'] },
};
const chosen = flags.variants === 'all' ? Object.keys(allVariants) : flags.variants.split(',');
const durationMs = flags.duration * 1000;
const warmupMs = flags.warmup * 1000;
const intervalMs = flags.interval;
const CLK_TCK = 100; // Linux USER_HZ

const here = fileURLToPath(new URL('.', import.meta.url));
const agentMain = flags.entry ?? join(here, '../agent/main.js');

function procCpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15)
}
function procRssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

async function main() {
  const broker = await Aedes.createBroker();
  const server = createServer(broker.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // The acking subscriber: acks every telemetry/event seq at once, like a healthy collector.
  const received = new Map<string, number>();
  const collector = mqtt.connect(url, { clientId: 'bench-collector', protocolVersion: 4 });
  collector.on('message', (topic, payload) => {
    const t = parseTopic(topic);
    if (!t || (t.channel !== 'telemetry' && t.channel !== 'event')) return;
    const msg = JSON.parse(payload.toString()) as { seq: number };
    received.set(t.device, (received.get(t.device) ?? 0) + 1);
    collector.publish(`fleet/v1/${t.device}/ack`, JSON.stringify({ v: 1, ranges: seqRanges([msg.seq]), ts: Date.now() }), { qos: 1 });
  });
  await new Promise<void>((r) => collector.on('connect', () => collector.subscribe('fleet/v1/+/#', { qos: 1 }, () => r())));

  const work = mkdtempSync(join(tmpdir(), 'fleetcare-bench-agent-'));
  const printers: VirtualEscposPrinter[] = [];
  const agents: Array<{ name: string; child: ChildProcess; flags: string[]; env: Record<string, string> }> = [];
  try {
    for (const name of chosen) {
      const variant = allVariants[name];
      if (!variant) throw new Error(`unknown variant ${name}; known: ${Object.keys(allVariants).join(', ')}`);
      const ids = ['printer0', 'printer1'];
      const ptys: string[] = [];
      for (const pid of ids) {
        const p = await VirtualEscposPrinter.start({
          profile: 'epson-tm-t88vi',
          serial: `BENCH-${name}-${pid}`,
          autoUsage: { linesPerSecond: 2, cutsPerSecond: 0.1 },
        });
        printers.push(p);
        ptys.push(p.hostPath!);
      }
      const dir = join(work, name);
      mkdirSync(dir, { recursive: true });
      const config = join(dir, 'agent.json');
      writeFileSync(
        config,
        JSON.stringify({
          device: { id: `bench-${name.replace(/[^a-z0-9-]/g, '-')}`, token: 'bench' },
          broker: { url },
          dataDir: join(dir, 'data'),
          telemetry: { publishIntervalMs: intervalMs },
          peripherals: [{ driver: 'host', intervalMs }, ...ids.map((id, i) => ({ driver: 'escpos-serial', id, path: ptys[i], intervalMs }))],
        }),
      );
      const env = variant.env ?? {};
      const child = spawn(process.execPath, [...variant.flags, agentMain, '--config', config], {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: { ...process.env, ...env },
      });
      agents.push({ name, child, flags: variant.flags, env });
    }
    console.log(`agents: ${agents.map((a) => `${a.name} (pid ${a.child.pid})`).join(', ')}; warm-up ${warmupMs / 1000} s, measuring ${durationMs / 1000} s`);
    await new Promise((r) => setTimeout(r, warmupMs));
    const start = agents.map((a) => ({ ticks: procCpuTicks(a.child.pid!), at: process.hrtime.bigint() }));
    const rss: number[][] = agents.map(() => []);
    const sampler = setInterval(() => {
      for (const [i, a] of agents.entries()) rss[i].push(procRssKb(a.child.pid!));
    }, 5000);
    const receivedAtStart = new Map(received);
    await new Promise((r) => setTimeout(r, durationMs));
    clearInterval(sampler);
    console.log('\nvariant             RSS mean   RSS max   CPU % of a core   msgs acked   launcher');
    agents.forEach((a, i) => {
      const ticks = procCpuTicks(a.child.pid!) - start[i].ticks;
      const secs = Number(process.hrtime.bigint() - start[i].at) / 1e9;
      const cpuPct = (ticks / CLK_TCK / secs) * 100;
      const mean = rss[i].reduce((s, x) => s + x, 0) / rss[i].length / 1024;
      const max = Math.max(...rss[i]) / 1024;
      const dev = `bench-${a.name.replace(/[^a-z0-9-]/g, '-')}`;
      const msgs = (received.get(dev) ?? 0) - (receivedAtStart.get(dev) ?? 0);
      console.log(
        `${a.name.padEnd(19)} ${mean.toFixed(1).padStart(6)} MB ${max.toFixed(1).padStart(6)} MB ${cpuPct.toFixed(3).padStart(12)} %   ${String(msgs).padStart(8)}     ${[...Object.entries(a.env).map(([k, v]) => `${k}=${v}`), ...a.flags].join(' ') || '(none)'}`,
      );
    });
  } finally {
    for (const a of agents) a.child.kill('SIGTERM');
    await Promise.all(agents.map((a) => new Promise((r) => (a.child.exitCode !== null ? r(null) : a.child.once('exit', r)))));
    for (const p of printers) await p.close().catch(() => {});
    collector.end(true);
    server.close();
    broker.close();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
