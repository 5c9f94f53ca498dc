// The compiled agent process: a bad config exits with the field named; SIGTERM stops it with a
// retained offline status carrying the reason; it survives drivers that throw asynchronously.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { FakeCollector } from './support.js';
import { TestBroker } from '../helpers/broker.js';

const mainJs = fileURLToPath(new URL('../../agent/main.js', import.meta.url));

function run(args: string[]) {
  const child = spawn(process.execPath, [mainJs, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { text: '', code: null as number | null };
  child.stdout.on('data', (b) => (out.text += b));
  child.stderr.on('data', (b) => (out.text += b));
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r((out.code = c))));
  return { child, out, exited };
}

test('a bad config file: exit 2 and the exact field', async () => {
  const dir = tempDir();
  try {
    const file = join(dir.path, 'agent.json');
    writeFileSync(file, JSON.stringify({ device: { id: 'pos-1', token: 'x' }, broker: { url: 'mqtt://127.0.0.1:1', keepaliveSec: 'often' }, dataDir: 'd' }));
    const p = run(['--config', file]);
    assert.is(await p.exited, 2);
    assert.match(p.out.text, `invalid agent config: ${file}: broker.keepaliveSec: `);
  } finally {
    dir.remove();
  }
});

test('SIGTERM: graceful stop with a retained offline status saying why, exit 0', async () => {
  const broker = await TestBroker.create();
  const dir = tempDir();
  const collector = await FakeCollector.connect(broker.url);
  try {
    const file = join(dir.path, 'agent.json');
    writeFileSync(
      file,
      JSON.stringify({
        device: { id: 'pos-7', token: 'x' },
        broker: { url: broker.url },
        dataDir: 'data',
        telemetry: { publishIntervalMs: 200 },
        peripherals: [{ driver: 'host', intervalMs: 100 }],
      }),
    );
    const p = run(['--config', file]);
    await waitFor('online', () => collector.on('status', 'pos-7').find((r) => r.msg.state === 'online'), 10_000);
    await waitFor('telemetry', () => collector.on('telemetry', 'pos-7').length > 0, 10_000);
    p.child.kill('SIGTERM');
    assert.is(await p.exited, 0, p.out.text.slice(-2000));
    const off = await waitFor('offline', () => collector.on('status', 'pos-7').find((r) => r.msg.state === 'offline'));
    assert.is(off.msg.reason, 'sigterm');
    assert.ok(collector.on('event', 'pos-7').some((r) => r.msg.type === 'agent-stopping'));
    assert.not.match(p.out.text, '"x"', 'token not logged');
  } finally {
    await collector.close();
    await broker.stop();
    dir.remove();
  }
});

test.run();
