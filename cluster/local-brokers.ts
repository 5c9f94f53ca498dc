// Broker nodes of a cluster on one machine (loopback): each node is a real
// `fleetcare server --role broker` process sharing one registry directory and one Redis, as in
// docs/cluster.md. Used by the cluster tests, the broker-tier spike and local cluster demos;
// kill(i) is a kill -9 of one node, start(i) brings it back on the same port.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killNode, onJsonLines, stopNode } from './server-process.js';

const CLI = fileURLToPath(new URL('../cli/fleetcare.js', import.meta.url));

export type LocalBrokerOptions = {
  /** Shared data dir: the registry lives in `<dataDir>/broker/registry.sqlite`. */
  dataDir: string;
  /** The cluster's Redis; omitted: independent in-memory nodes (single-node baselines). */
  redisUrl?: string;
  nodes: number;
  /** Merged into every node's `broker` config part (e.g. scryptCost, publishRate). */
  broker?: Record<string, unknown>;
  heartbeatIntervalMs?: number;
  /** With redisUrl: route device messages by this many partitions (broker.cluster.partitions). */
  partitions?: number;
  /** info or more detailed: the node's `broker listening` line (info) tells its port. */
  logLevel?: 'info' | 'debug' | 'trace';
  /** Every log line of every node (already parsed), e.g. for assertions or a log file. */
  onLog?: (node: number, line: Record<string, unknown>) => void;
};

type Node = { id: string; port: number; proc: ChildProcess | null; exited: Promise<void> | null };

export class LocalBrokers {
  private readonly nodes: Node[] = [];

  private constructor(private readonly o: LocalBrokerOptions) {}

  static async start(o: LocalBrokerOptions): Promise<LocalBrokers> {
    const c = new LocalBrokers(o);
    try {
      for (let i = 0; i < o.nodes; i++) {
        c.nodes.push({ id: `broker-${i + 1}`, port: 0, proc: null, exited: null });
        await c.start(i);
      }
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  /** mqtt:// URL of every node, in node order. */
  get urls(): string[] {
    return this.nodes.map((n) => `mqtt://127.0.0.1:${n.port}`);
  }

  nodeId(i: number): string {
    return this.nodes[i].id;
  }

  pid(i: number): number | undefined {
    return this.nodes[i].proc?.pid;
  }

  isRunning(i: number): boolean {
    return this.nodes[i].proc !== null;
  }

  /** Starts node i (again: on the port it had). Resolves once it listens. */
  async start(i: number): Promise<void> {
    const n = this.nodes[i];
    if (n.proc) return;
    const confDir = join(this.o.dataDir, 'nodes');
    mkdirSync(confDir, { recursive: true });
    const configFile = join(confDir, `${n.id}.json`);
    const broker = {
      port: n.port,
      ...this.o.broker,
      ...(this.o.redisUrl
        ? {
            cluster: {
              redisUrl: this.o.redisUrl,
              nodeId: n.id,
              heartbeatIntervalMs: this.o.heartbeatIntervalMs ?? 1000,
              ...(this.o.partitions ? { partitions: this.o.partitions } : {}),
            },
          }
        : {}),
    };
    writeFileSync(
      configFile,
      JSON.stringify({ role: 'broker', dataDir: this.o.dataDir, logLevel: this.o.logLevel ?? 'info', broker, noc: { enabled: false } }),
    );
    const proc = spawn(process.execPath, [CLI, 'server', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    n.proc = proc;
    n.exited = new Promise<void>((r) => proc.once('exit', () => r()));
    let stderr = '';
    proc.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
    const port = await new Promise<number>((resolve, reject) => {
      onJsonLines(proc.stdout!, (line) => {
        this.o.onLog?.(i, line);
        if (line.msg === 'broker listening') resolve(line.port as number);
      });
      proc.once('exit', (code, sig) => reject(new Error(`broker node ${n.id} exited at start (${code ?? sig}): ${stderr}`)));
    });
    n.port = port;
  }

  /** kill -9 of node i; resolves once the process is gone. */
  async kill(i: number): Promise<void> {
    await killNode(this.nodes[i]);
  }

  /** Graceful stop of every node (SIGTERM, then SIGKILL after 5 s). */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => stopNode(n, 5000)));
  }
}
