// Agent test parts: mqtt.js as a fake collector that records and acks, agent configs, and the
// usual set-up of an agent test (the broker is test/helpers/broker.ts).
import mqtt, { type MqttClient } from 'mqtt';
import { parseTopic, seqRanges, type AckMessage } from '../../protocol/index.js';
import { agentConfigSchema, type AgentConfig, type AgentConfigInput } from '../../agent/config.js';
import { startAgent, type StartAgentOptions } from '../../agent/index.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { TestBroker } from '../helpers/broker.js';
import { silentLog } from '../helpers/log.js';

export type Received = { topic: string; channel: string; device: string; msg: any; retain: boolean };

/** mqtt.js standing in for the collector: records every device message, acks telemetry/event. */
export class FakeCollector {
  readonly received: Received[] = [];
  autoAck = true;
  /** seqs acked so far (telemetry + event). */
  readonly acked = new Set<number>();
  private constructor(readonly client: MqttClient) {}

  static async connect(url: string, opts: { autoAck?: boolean } = {}): Promise<FakeCollector> {
    const client = mqtt.connect(url, { clientId: `collector-${Math.random().toString(16).slice(2)}`, reconnectPeriod: 200, protocolVersion: 4 });
    const c = new FakeCollector(client);
    if (opts.autoAck === false) c.autoAck = false;
    client.on('message', (topic, payload, packet) => c.onMessage(topic, payload, packet.retain));
    client.on('error', () => {});
    client.on('connect', () => client.subscribe('fleet/v1/+/#', { qos: 1 }));
    await waitFor('fake collector connected', () => client.connected);
    await new Promise<void>((r) => client.subscribe('fleet/v1/+/#', { qos: 1 }, () => r()));
    return c;
  }

  private onMessage(topic: string, payload: Buffer, retain: boolean): void {
    const t = parseTopic(topic);
    if (!t || t.channel === 'ack' || t.channel === 'cmd/req') return;
    let msg: any;
    try {
      msg = JSON.parse(payload.toString());
    } catch {
      msg = payload.toString();
    }
    this.received.push({ topic, channel: t.channel, device: t.device, msg, retain });
    if (this.autoAck && (t.channel === 'telemetry' || t.channel === 'event')) this.ack(t.device, [msg.seq]);
  }

  ack(device: string, seqs: number[], ts = Date.now()): void {
    if (seqs.length === 0) return;
    for (const s of seqs) this.acked.add(s);
    const ack: AckMessage = { v: 1, ranges: seqRanges(seqs), ts };
    this.client.publish(`fleet/v1/${device}/ack`, JSON.stringify(ack), { qos: 1 });
  }

  sendRaw(topic: string, payload: string | Buffer): void {
    this.client.publish(topic, payload, { qos: 1 });
  }

  on(channel: string, device?: string): Received[] {
    return this.received.filter((r) => r.channel === channel && (!device || r.device === device));
  }

  seqs(channel: string): number[] {
    return this.on(channel).map((r) => r.msg.seq);
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.client.end(true, {}, () => r()));
  }
}

export function agentConfig(input: Partial<AgentConfigInput> & { dataDir: string; brokerUrl: string; id?: string }): AgentConfig {
  const { brokerUrl, id, ...rest } = input;
  return agentConfigSchema.parse({
    device: { id: id ?? 'pos-001', token: 'secret-token' },
    broker: { url: brokerUrl, reconnect: { minMs: 100, maxMs: 1000, jitter: 0.5 } },
    telemetry: { publishIntervalMs: 200 },
    outbox: { ackTimeoutMs: 1000 },
    peripherals: [{ driver: 'host', intervalMs: 100 }],
    ...rest,
  });
}

/**
 * A broker, a temp data dir, the fake collector and an agent started against them (config on top of
 * agentConfig's); close() stops all four. `prepare` runs on the data dir before the agent starts.
 */
export async function agentRig(
  config: Partial<AgentConfigInput> = {},
  opts: { autoAck?: boolean; prepare?: (dataDir: string) => void } & Partial<StartAgentOptions> = {},
) {
  const { autoAck, prepare, ...start } = opts;
  const broker = await TestBroker.create();
  const dir = tempDir();
  prepare?.(dir.path);
  const collector = await FakeCollector.connect(broker.url, { autoAck });
  const agent = await startAgent(agentConfig({ dataDir: dir.path, brokerUrl: broker.url, ...config }), { log: silentLog(), ...start });
  const close = async () => {
    await agent.close();
    await collector.close();
    await broker.stop();
    dir.remove();
  };
  return { broker, dir, collector, agent, close };
}
