// Clients for broker tests: the real mosquitto_pub/mosquitto_sub and mqtt.js connections (the
// broker itself is startFleetcareBroker in test/helpers/broker.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { waitFor } from '../helpers/net.js';

export type RunResult = { code: number | null; stdout: string; stderr: string };

const running = new Set<ChildProcess>();

/** Runs mosquitto_pub/mosquitto_sub to completion (killed after `timeoutMs`). */
export function mosquitto(tool: 'pub' | 'sub', args: string[], opts: { input?: string | Buffer; timeoutMs?: number } = {}): Promise<RunResult> {
  const child = spawnMosquitto(tool, args, opts.input);
  return finished(child, opts.timeoutMs ?? 10_000);
}

/** Starts mosquitto_pub/mosquitto_sub and returns the process (for long-running subscribers). */
export function spawnMosquitto(tool: 'pub' | 'sub', args: string[], input?: string | Buffer): ChildProcess & { out: string; err: string } {
  const child = spawn(`mosquitto_${tool}`, ['-h', '127.0.0.1', ...args], { stdio: ['pipe', 'pipe', 'pipe'] }) as ChildProcess & { out: string; err: string };
  running.add(child);
  child.out = '';
  child.err = '';
  child.stdout!.on('data', (b: Buffer) => (child.out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (child.err += b.toString()));
  child.stdin!.on('error', () => {});
  if (input !== undefined) child.stdin!.end(input);
  else child.stdin!.end();
  child.on('exit', () => running.delete(child));
  return child;
}

export function finished(child: ChildProcess & { out: string; err: string }, timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const done = (code: number | null) => {
      clearTimeout(timer);
      resolve({ code, stdout: child.out, stderr: child.err });
    };
    if (child.exitCode !== null || child.signalCode !== null) return done(child.exitCode);
    child.on('close', done);
  });
}

/** Kills every mosquitto process a test left running. */
export function killStrays(): void {
  for (const c of running) c.kill('SIGKILL');
}

/** Credentials for mosquitto_* as a device or service account. */
export function creds(port: number, user: string, token: string, clientId = user): string[] {
  return ['-p', String(port), '-i', clientId, '-u', user, '-P', token];
}

/** An mqtt.js client that resolves once connected (rejects on a refused CONNECT). */
export function connectMqtt(url: string, opts: IClientOptions): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5_000, ...opts });
    c.once('connect', () => resolve(c));
    c.once('error', (e) => {
      c.end(true);
      reject(e);
    });
    c.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

/** A collector-role mqtt.js client subscribed to `filters`, recording what it receives. */
export async function recorder(port: number, token: string, filters: string[], user = 'collector') {
  const got: Array<{ topic: string; payload: string; retain: boolean }> = [];
  const c = await connectMqtt(`mqtt://127.0.0.1:${port}`, { clientId: `${user}-${Math.random().toString(36).slice(2, 8)}`, username: user, password: token });
  c.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), retain: packet.retain }));
  const granted = await c.subscribeAsync(Object.fromEntries(filters.map((topic) => [topic, { qos: 1 as const }])));
  return {
    client: c,
    got,
    granted,
    seen: (topic: string, payload?: string) => got.some((m) => m.topic === topic && (payload === undefined || m.payload === payload)),
  };
}

/** Publishes a marker from a good device and waits for it: everything sent before it has been routed. */
export async function barrier(port: number, token: string, rec: { seen(t: string, p?: string): boolean }, device = 'dev-a') {
  const marker = `marker-${Math.random().toString(36).slice(2)}`;
  const r = await mosquitto('pub', [...creds(port, device, token), '-t', `fleet/v1/${device}/event`, '-q', '1', '-m', marker]);
  if (r.code !== 0) throw new Error(`barrier publish failed: ${r.stderr}`);
  await waitFor('barrier marker', () => rec.seen(`fleet/v1/${device}/event`, marker));
}
