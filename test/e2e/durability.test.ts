// The durability design (docs/durability.md) end to end, with real parts only: influxd, `fleetcare server --role broker` and
// `--role collector` as separate processes, three `fleetcare agent` processes each with the host
// peripheral and a virtual ESC/POS printer on a socat PTY. While they run: kill -9 an agent and
// restart it, kill -9 the collector and restart it, stop InfluxDB for a while. Then every seq
// the agents ever wrote to their outboxes (their journal) must be in InfluxDB exactly once.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { Influxd } from '../helpers/influxd.js';
import { freePort, waitFor, sleep } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { createPtyPair, type PtyPair } from '../../sim/pty.js';
import { VirtualEscposPrinter } from '../../sim/escpos-printer.js';

const CLI = fileURLToPath(new URL('../../cli/fleetcare.js', import.meta.url));
const DEVICES = ['e2e-a', 'e2e-b', 'e2e-c'];
const DB = 'fleetcare_e2e';

type Proc = { name: string; args: string[]; child: ChildProcess | null; log: string };

function startProc(p: Proc): void {
  const child = spawn(process.execPath, [CLI, ...p.args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (b: Buffer) => (p.log = (p.log + b.toString()).slice(-200_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  p.child = child;
}

async function killProc(p: Proc, signal: NodeJS.Signals): Promise<void> {
  const c = p.child;
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  p.child = null;
  await new Promise<void>((r) => {
    c.once('exit', () => r());
    c.kill(signal);
  });
}

function journal(dataDir: string): Map<number, number> {
  const db = new Database(join(dataDir, 'outbox.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT seq, points FROM outbox_journal').all() as Array<{ seq: number; points: number }>;
    return new Map(rows.map((r) => [r.seq, r.points]));
  } finally {
    db.close();
  }
}

async function pointsPerSeq(influx: Influxd, device: string): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const m of ['telemetry', 'event']) {
    const rows = await influx.query(`SELECT seq FROM ${m} WHERE device = '${device}'`, DB);
    for (const r of rows) out.set(Number(r.seq), (out.get(Number(r.seq)) ?? 0) + 1);
  }
  return out;
}

test('every seq reaches InfluxDB exactly once across agent kill -9, collector restart and InfluxDB outage', async () => {
  const dir = tempDir('fleetcare-e2e-');
  const influx = await Influxd.create();
  const port = await freePort();
  const serverData = join(dir.path, 'server');
  const procs: Proc[] = [];
  const ptys: PtyPair[] = [];
  const printers: VirtualEscposPrinter[] = [];
  try {
    const cli = (args: string[]) => {
      const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
      assert.is(r.status, 0, r.stderr);
      return r.stdout.trim();
    };
    const collectorToken = cli(['service', 'add', 'collector', '--role', 'collector', '--data-dir', serverData]);
    const broker: Proc = { name: 'broker', args: ['server', '--role', 'broker', '--data-dir', serverData, '--port', String(port)], child: null, log: '' };
    const collector: Proc = {
      name: 'collector',
      args: [
        'server',
        '--role',
        'collector',
        '--data-dir',
        serverData,
        '--broker-url',
        `mqtt://127.0.0.1:${port}`,
        '--collector-user',
        'collector',
        '--collector-token',
        collectorToken,
        '--influx-url',
        influx.url,
        '--influx-db',
        DB,
        '--no-http',
      ],
      child: null,
      log: '',
    };
    procs.push(broker, collector);
    startProc(broker);
    await waitFor('broker up', () => broker.log.includes('fleetcare server started'), 20_000);
    startProc(collector);
    await waitFor('collector up', () => collector.log.includes('fleetcare server started'), 20_000);

    const agents: Proc[] = [];
    const agentData: string[] = [];
    for (const id of DEVICES) {
      const token = cli(['device', 'add', id, '--site', 'e2e', '--data-dir', serverData]);
      const pty = await createPtyPair();
      ptys.push(pty);
      const printer = new VirtualEscposPrinter({ path: pty.devicePath, profile: 'epson-tm-t88vi', serial: `SN-${id}` });
      await printer.open();
      printers.push(printer);
      const data = join(dir.path, 'agents', id);
      mkdirSync(data, { recursive: true });
      agentData.push(data);
      const config = join(dir.path, `${id}.json`);
      writeFileSync(
        config,
        JSON.stringify({
          device: { id, token, site: 'e2e' },
          broker: { url: `mqtt://127.0.0.1:${port}`, reconnect: { minMs: 200, maxMs: 1000 } },
          dataDir: data,
          telemetry: { publishIntervalMs: 300 },
          outbox: { journal: true, ackTimeoutMs: 2000 },
          peripherals: [
            { id: 'host', driver: 'host', intervalMs: 250 },
            { id: 'printer0', driver: 'escpos-serial', path: pty.hostPath, intervalMs: 200, timeoutMs: 1000 },
          ],
        }),
      );
      const agent: Proc = { name: id, args: ['agent', '--config', config], child: null, log: '' };
      agents.push(agent);
      procs.push(agent);
      startProc(agent);
    }
    // Printers are in use the whole time: counters advance, faults come and go.
    const usage = setInterval(() => {
      for (const p of printers) p.print(40, 1);
    }, 300);
    const faults = setInterval(() => {
      printers[1].setCoverOpen(true);
      setTimeout(() => printers[1].setCoverOpen(false), 400);
    }, 1500);
    try {
      await waitFor(
        'telemetry from every device in InfluxDB',
        async () => {
          for (const id of DEVICES) if ((await pointsPerSeq(influx, id).catch(() => new Map())).size === 0) return false;
          return true;
        },
        30_000,
        250,
      );

      // 1. kill -9 an agent mid-stream, restart it after a moment.
      const skip = process.env.E2E_SKIP ?? '';
      await sleep(1000);
      if (!skip.includes('agent')) {
        await killProc(agents[0], 'SIGKILL');
        await sleep(1500);
        startProc(agents[0]);
      }

      // 2. kill -9 the collector; agents keep writing to their outboxes; restart it.
      await sleep(1500);
      if (!skip.includes('collector')) {
        await killProc(collector, 'SIGKILL');
        await sleep(2000);
        startProc(collector);
        await waitFor('collector back', () => collector.log.split('fleetcare server started').length === 3, 20_000);
      }

      // 3. InfluxDB down for a while: the collector spools and acks, then drains.
      await sleep(1000);
      await influx.stop();
      await sleep(5000);
      await influx.start();
      await sleep(3000);
    } finally {
      clearInterval(usage);
      clearInterval(faults);
    }

    // Everything journaled so far must arrive, each seq with exactly its points.
    const snapshot = agentData.map(journal);
    const arrived: Array<Map<number, number>> = [];
    for (const [i, id] of DEVICES.entries()) {
      const want = snapshot[i];
      assert.ok(want.size > 20, `${id} journaled ${want.size} seqs`);
      let missing: number[] = [];
      try {
        arrived.push(
          await waitFor(
            `all ${want.size} journaled seqs of ${id} in InfluxDB`,
            async () => {
              const have = await pointsPerSeq(influx, id);
              missing = [...want.keys()].filter((seq) => !have.has(seq));
              return missing.length === 0 ? have : null;
            },
            60_000,
            500,
          ),
        );
      } catch (e) {
        const tail = (p: Proc) => `--- ${p.name} log tail ---\n${p.log.split('\n').slice(-25).join('\n')}`;
        throw new Error(`${(e as Error).message}; missing seqs ${missing.slice(0, 40).join(',')}\n${tail(agents[i])}\n${tail(collector)}`);
      }
    }
    // Stop the agents, then read the whole journal: nothing in InfluxDB may be unknown to it.
    for (const a of agents) await killProc(a, 'SIGTERM');
    for (const [i, id] of DEVICES.entries()) {
      const all = journal(agentData[i]);
      const got = await pointsPerSeq(influx, id);
      for (const [seq, points] of snapshot[i]) assert.is(got.get(seq), points, `${id} seq ${seq}: ${got.get(seq)} points in InfluxDB, journal says ${points}`);
      for (const [seq, n] of got) {
        assert.ok(all.has(seq), `${id} seq ${seq} in InfluxDB but never journaled`);
        assert.is(n, all.get(seq), `${id} seq ${seq}: ${n} points, journal says ${all.get(seq)}`);
      }
      assert.ok(arrived[i].size >= snapshot[i].size);
    }
    // The disruptions really happened and were noticed.
    if (!(process.env.E2E_SKIP ?? '').includes('agent'))
      assert.match(collector.log, /"device":"e2e-a","online":false,"reason":"lwt"/, 'the killed agent went offline by its will');
    assert.match(collector.log, 'telemetry store unreachable; spooling batches');
    assert.match(collector.log, 'spool drained: writing directly to the store again');
  } catch (e) {
    const tails = procs.map(
      (p) =>
        `--- ${p.name} (last lines) ---\n${p.log
          .split('\n')
          .filter((l) => !/"level":30/.test(l) || /offline|online|spool|drain|started/.test(l))
          .slice(-12)
          .join('\n')}`,
    );
    throw new Error(`${(e as Error).message}\n${tails.join('\n')}`);
  } finally {
    for (const p of procs.reverse()) await killProc(p, 'SIGTERM');
    for (const p of printers) await p.close();
    for (const p of ptys) await p.close();
    if (process.env.KEEP_E2E) console.log(`kept ${dir.path}`);
    else {
      await influx.destroy();
      dir.remove();
    }
  }
});

test.run();
