// Collector-only ingest benchmark: N telemetry messages from D mqtt.js devices through an
// in-process aedes broker into a collector (its own process, so its CPU is measured alone) and a
// real influxd. Prints msgs/s, points/s and the collector's CPU ms per 10k points.
// Usage: node dist/bench/ingest-collector.js [messages=20000] [devices=50] [samplesPerMessage=2]
// (COLLECTOR_CPU_PROF=dir writes a V8 CPU profile of the collector process there.)
// (The full broker + agents benchmark is bench/ingest.)
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { connect, type MqttClient } from 'mqtt';
import { startCollector, type CollectorStats } from '../collector/index.js';
import { CONTRACT_VERSION, decodeAck, topicFor } from '../protocol/index.js';
import { Influxd } from '../test/helpers/influxd.js';
import { waitFor } from '../test/helpers/net.js';
import { tempDir } from '../test/helpers/tmp.js';
import { TestBroker } from '../test/helpers/broker.js';
import { exitOnHelp } from './help.js';

type ChildReport = { stats: CollectorStats; cpu: NodeJS.CpuUsage; rss: number };

if (process.argv[2] === '--child') {
  // The collector under test, alone in this process.
  const collector = await startCollector(JSON.parse(process.argv[3]), { log: pino({ level: 'warn' }) });
  process.on('message', async (m: string) => {
    if (m === 'report') process.send!({ stats: collector.stats(), cpu: process.cpuUsage(), rss: process.memoryUsage().rss } satisfies ChildReport);
    if (m === 'close') {
      await collector.close();
      process.exit(0);
    }
  });
  process.send!('ready');
} else {
  exitOnHelp(import.meta.url);
  const [messages = 20_000, devices = 50, samples = 2] = process.argv.slice(2).map(Number);
  const influxd = await Influxd.create();
  const broker = await TestBroker.create();
  const dir = tempDir('fleetcare-bench-');
  const child: ChildProcess = fork(
    fileURLToPath(import.meta.url),
    ['--child', JSON.stringify({ dataDir: dir.path, mqtt: { url: broker.url, clientId: 'bench-collector' }, influx: { url: influxd.url, database: 'bench' } })],
    { execArgv: process.env.COLLECTOR_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.COLLECTOR_CPU_PROF}`] : [] },
  );
  await new Promise<void>((r) => child.once('message', () => r()));
  const report = () =>
    new Promise<ChildReport>((r) => {
      child.once('message', (m) => r(m as ChildReport));
      child.send('report');
    });

  const perDevice = Math.ceil(messages / devices);
  let acked = 0;
  const clients: MqttClient[] = [];
  for (let d = 0; d < devices; d++) {
    const id = `bench-${String(d).padStart(5, '0')}`;
    const c = connect(broker.url, { clientId: id, clean: true, reconnectPeriod: 0 });
    await new Promise<void>((r) => c.once('connect', () => r()));
    await c.subscribeAsync(topicFor(id, 'ack'), { qos: 1 });
    c.on('message', (_t, p) => {
      const a = decodeAck(p);
      if (a.ok) for (const [x, y] of a.value.ranges) acked += y - x + 1;
    });
    clients.push(c);
  }
  const before = await report();
  const t0 = performance.now();
  const now = Date.now();
  await Promise.all(
    clients.map(async (c, d) => {
      const id = `bench-${String(d).padStart(5, '0')}`;
      const window: Array<Promise<unknown>> = [];
      for (let seq = 1; seq <= perDevice; seq++) {
        const ts = now - (perDevice - seq) * 10;
        const msg = {
          v: CONTRACT_VERSION,
          device: id,
          seq,
          ts,
          samples: Array.from({ length: samples }, (_, i) => ({
            peripheral: i === 0 ? 'host' : `printer${i}`,
            kind: i === 0 ? 'host' : 'printer',
            ts,
            health: 'ok',
            metrics: { temperature: 40 + (seq % 7), load: 0.5 },
            counters: { linesPrinted: 1000 + seq, cutterCuts: 10 + seq },
            faults: [],
          })),
        };
        window.push(c.publishAsync(topicFor(id, 'telemetry'), JSON.stringify(msg), { qos: 1 }));
        if (window.length >= 50) await Promise.all(window.splice(0));
      }
      await Promise.all(window);
    }),
  );
  const total = perDevice * devices;
  await waitFor('all acked', () => acked >= total, 600_000, 20);
  const secs = (performance.now() - t0) / 1000;
  const after = await report();
  const cpuMs = (after.cpu.user + after.cpu.system - before.cpu.user - before.cpu.system) / 1000;
  const points = after.stats.ingest.written.points - before.stats.ingest.written.points;
  const samplePoints = total * samples;
  console.log(`collector ingest: ${total} messages from ${devices} devices, ${samples} samples each, into influxd ${influxd.url}`);
  console.log(
    `  ${(total / secs).toFixed(0)} msgs/s, ${(samplePoints / secs).toFixed(0)} sample points/s (${(points / secs).toFixed(0)} points/s incl. device_clock)`,
  );
  console.log(
    `  collector CPU ${cpuMs.toFixed(0)} ms = ${((cpuMs / points) * 10_000).toFixed(1)} ms per 10k points; RSS ${(after.rss / 1048576).toFixed(0)} MB; batches ${after.stats.ingest.batches}`,
  );
  const stored = await influxd.query(`SELECT count(health) FROM telemetry`, 'bench');
  console.log(`  stored telemetry points: ${stored[0]?.count} (expected ${samplePoints})`);
  child.send('close');
  await new Promise<void>((r) => child.once('exit', () => r()));
  for (const c of clients) await c.endAsync();
  await broker.close();
  await influxd.destroy();
  dir.remove();
}
