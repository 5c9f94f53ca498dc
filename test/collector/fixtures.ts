// Shared parts of the collector tests: a fake device (mqtt.js) that publishes like an agent and
// records the acks it gets, message builders, mosquitto_pub for raw bytes (the broker and the
// log capture are in test/helpers/).
import { spawn } from 'node:child_process';
import { connect, type MqttClient } from 'mqtt';
import { CONTRACT_VERSION, decodeAck, topicFor, type EventMessage, type TelemetryMessage } from '../../protocol/index.js';

export const T0 = Date.now() - 60_000;

export function telemetry(
  device: string,
  seq: number,
  opts: { ts?: number; samples?: number; counters?: Record<string, number>; metrics?: Record<string, number>; peripheral?: string } = {},
): TelemetryMessage {
  const ts = opts.ts ?? T0 + seq * 1000;
  const n = opts.samples ?? 1;
  return {
    v: CONTRACT_VERSION,
    device,
    seq,
    ts,
    samples: Array.from({ length: n }, (_, i) => ({
      peripheral: opts.peripheral ?? 'printer0',
      kind: 'printer' as const,
      ts: ts - (n - 1 - i) * 100,
      health: 'ok' as const,
      metrics: opts.metrics ?? { temperature: 40 + (seq % 10) + i / 10 },
      counters: opts.counters ?? { linesPrinted: 1000 + seq * 10 + i, cutterCuts: 50 + seq },
      faults: [],
    })),
  };
}

export function event(device: string, seq: number, extra: Partial<EventMessage> = {}): EventMessage {
  return {
    v: CONTRACT_VERSION,
    device,
    seq,
    ts: T0 + seq * 1000,
    type: 'fault-raised',
    peripheral: 'printer0',
    code: 'paper-end',
    severity: 'warning',
    message: 'paper end',
    ...extra,
  };
}

/** A device that publishes like an agent (QoS 1) and records every seq acked to it. */
export class FakeDevice {
  readonly acked = new Set<number>();
  readonly ackMessages: Array<Array<[number, number]>> = [];
  private ackListeners: Array<(ranges: Array<[number, number]>) => void> = [];

  private constructor(
    readonly id: string,
    readonly client: MqttClient,
  ) {
    client.on('message', (topic, payload) => {
      if (topic !== topicFor(id, 'ack')) return;
      const d = decodeAck(payload);
      if (!d.ok) throw new Error(`bad ack: ${d.detail}`);
      this.ackMessages.push(d.value.ranges);
      for (const [a, b] of d.value.ranges) for (let s = a; s <= b; s++) this.acked.add(s);
      for (const l of this.ackListeners) l(d.value.ranges);
    });
  }

  /** `token`: log in as the device (username = id), for a broker that refuses anonymous clients. */
  static async connect(url: string, id: string, opts: { will?: boolean; token?: string } = {}): Promise<FakeDevice> {
    const client = connect(url, {
      clientId: id,
      clean: true,
      reconnectPeriod: 0,
      ...(opts.token !== undefined ? { username: id, password: opts.token } : {}),
      will: opts.will
        ? {
            topic: topicFor(id, 'status'),
            payload: Buffer.from(JSON.stringify({ v: CONTRACT_VERSION, device: id, seq: 1, ts: Date.now(), state: 'offline', reason: 'lwt' })),
            qos: 1,
            retain: true,
          }
        : undefined,
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    await client.subscribeAsync(topicFor(id, 'ack'), { qos: 1 });
    return new FakeDevice(id, client);
  }

  onAck(l: (ranges: Array<[number, number]>) => void): void {
    this.ackListeners.push(l);
  }

  async publish(channel: 'telemetry' | 'event' | 'status' | 'inventory', message: unknown, retain = false): Promise<void> {
    await this.client.publishAsync(topicFor(this.id, channel), JSON.stringify(message), { qos: 1, retain });
  }

  /** Drops the TCP connection without DISCONNECT, like a power cut: the broker sends the LWT. */
  crash(): void {
    this.client.stream.destroy();
    this.client.end(true);
  }

  async close(): Promise<void> {
    if (!this.client.disconnected) await this.client.endAsync();
  }
}

/**
 * Publishes raw bytes with Debian's mosquitto_pub (a third-party client): the whole input as one
 * message, or (`lines`) each line of it as its own message.
 */
export function mosquittoPub(port: number, topic: string, payload: string | Buffer, mode: 'one' | 'lines' = 'one'): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-q', '1', '-t', topic, mode === 'one' ? '-s' : '-l'], {
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`mosquitto_pub exited ${code}: ${err}`))));
    p.stdin.end(payload);
  });
}

/** Every seq from..to. */
export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

type Closable = { close(): Promise<void> };
const tracked: Closable[] = [];

/** Remembers something to close after the current test, even when the test failed midway. */
export function track<T extends Closable>(x: T): T {
  tracked.push(x);
  return x;
}

/** For test.after.each: closes everything tracked (each close must be idempotent). */
export async function closeTracked(): Promise<void> {
  for (const x of tracked.splice(0).reverse()) await x.close().catch(() => {});
}
