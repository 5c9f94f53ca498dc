// A whole cluster on one machine's loopback (docs/cluster.md, "Try it"): PostgreSQL, Redis and
// InfluxDB on temp dirs and free ports, broker, collector and NOC nodes as `fleetcare server
// --cluster` child processes, and optionally a simulated fleet whose agents fail over across the
// broker nodes. `npm run cluster` runs it (`fleetcare cluster local`, cli/cluster.ts); the failover tests and
// bench/cluster drive it: kill(name) is a kill -9 of one node, start(name) brings it back on its ports.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, writeFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killNode, onJsonLines, stopNode } from './server-process.js';
import type { Logger } from 'pino';
import { startFleet, type Fleet, type FleetOptions } from '../sim/fleet.js';
import { PgRegistryState } from '../state/postgres/registry.js';
import { PgNocAccounts } from '../state/postgres/noc-accounts.js';
import { migratePostgres } from '../state/postgres/migrations.js';
import { Influxd } from './local-influxd.js';
import { tempDir, waitFor, type TempDir } from './local-net.js';
import { LocalPostgres } from './local-postgres.js';
import { RedisServer } from './local-redis.js';

const CLI = fileURLToPath(new URL('../cli/fleetcare.js', import.meta.url));

/** The service account every collector and NOC node logs in to the broker nodes with. */
export const CLUSTER_COLLECTOR_ACCOUNT = 'collector';

export type LocalClusterOptions = {
  /** Root of every node's data dir and of the engines' (a temp dir, removed by stop(), when omitted). */
  dir?: string;
  brokers?: number;
  collectors?: number;
  /**
   * The collectors run inside broker nodes 1…collectors (roles broker + collector, one process
   * each) instead of as nodes of their own: each reaches its broker in memory, not over TCP.
   */
  colocate?: boolean;
  nocs?: number;
  /** Devices of the simulated fleet (agents with virtual peripherals; 0: none). */
  devices?: number;
  seed?: number;
  /** Poll interval of the simulated peripherals. */
  intervalMs?: number;
  /** Merged into every simulated agent's `outbox` config (e.g. `{ journal: true, ackTimeoutMs: 2000 }`). */
  agentOutbox?: Record<string, unknown>;
  /** What the simulated fleet fixes per device index instead of drawing it from the seed (e.g. a printer model). */
  pins?: FleetOptions['pins'];
  partitions?: number;
  leaseMs?: number;
  /** Merged into every broker node's `broker` part (e.g. scryptCost, publishRate). */
  broker?: Record<string, unknown>;
  /** Merged into every collector and NOC node's `collector` part (e.g. batch, incidents). */
  collector?: Record<string, unknown>;
  /** Merged into every NOC node's `noc` part (e.g. commandTimeoutMs). */
  noc?: Record<string, unknown>;
  heartbeatIntervalMs?: number;
  /** PostgreSQL with fsync on (tests that crash it and check what it acknowledged). */
  durablePostgres?: boolean;
  /** scrypt cost of the registry's token hashes (lower is faster to provision in tests). */
  scryptCost?: number;
  /** NOC users admin / operator / viewer get this password (none created when omitted). */
  nocPassword?: string;
  /** info or more detailed: the node's `fleetcare server started` line (info) tells its ports. */
  logLevel?: 'debug' | 'info';
  /** Each node's log lines (parsed); without it they go to `<dir>/logs/<node>.log`. */
  onLog?: (node: string, line: Record<string, unknown>) => void;
  /** Node flags for every node process (e.g. `--cpu-prof --cpu-prof-dir=DIR` for a profile). */
  nodeFlags?: string[];
  /** The launcher's own log (the simulated fleet's agents log here). */
  log: Logger;
};

export type NodeKind = 'broker' | 'collector' | 'noc';

type Node = {
  name: string;
  kind: NodeKind;
  configFile: string;
  proc: ChildProcess | null;
  exited: Promise<void> | null;
  /** MQTT port (broker) and NOC port, fixed after the first start so a restart keeps them. */
  port: number;
  httpPort: number;
  logFile: WriteStream | null;
};

export class LocalCluster {
  readonly postgres: LocalPostgres;
  readonly redis: RedisServer;
  readonly influx: Influxd;
  /** The PostgreSQL database of the cluster's state. */
  readonly stateUrl: string;
  fleet: Fleet | null = null;
  private readonly nodes: Node[] = [];
  private collectorToken = '';

  private constructor(
    private readonly o: LocalClusterOptions,
    readonly dir: string,
    private readonly temp: TempDir | null,
    engines: { postgres: LocalPostgres; redis: RedisServer; influx: Influxd; stateUrl: string },
  ) {
    this.postgres = engines.postgres;
    this.redis = engines.redis;
    this.influx = engines.influx;
    this.stateUrl = engines.stateUrl;
  }

  static async start(o: LocalClusterOptions): Promise<LocalCluster> {
    const temp = o.dir ? null : tempDir('fleetcare-cluster-');
    const dir = o.dir ?? temp!.path;
    mkdirSync(dir, { recursive: true });
    const started: { stop(): Promise<void> }[] = [];
    let c: LocalCluster | null = null;
    try {
      const [postgres, redis, influx] = await Promise.all([
        LocalPostgres.create({ durable: o.durablePostgres }).then((p) => (started.push({ stop: () => p.destroy() }), p)),
        RedisServer.create().then((r) => (started.push({ stop: () => r.remove() }), r)),
        Influxd.create().then((i) => (started.push({ stop: () => i.destroy() }), i)),
      ]);
      const stateUrl = await postgres.createDatabase('fleetcare');
      // Schema first, once: the nodes then start against a database that is already current.
      await migratePostgres(stateUrl);
      c = new LocalCluster(o, dir, temp, { postgres, redis, influx, stateUrl });
      started.length = 0;
      await c.boot();
      return c;
    } catch (e) {
      if (c) await c.stop();
      else {
        for (const s of started) await s.stop().catch(() => undefined);
        temp?.remove();
      }
      throw e;
    }
  }

  get brokerUrls(): string[] {
    return this.nodes.filter((n) => n.kind === 'broker').map((n) => `mqtt://127.0.0.1:${n.port}`);
  }

  get nocUrls(): string[] {
    return this.nodes.filter((n) => n.kind === 'noc').map((n) => `http://127.0.0.1:${n.httpPort}`);
  }

  /** Node names in start order: broker-1…, collector-1…, noc-1…. */
  get nodeNames(): string[] {
    return this.nodes.map((n) => n.name);
  }

  pid(name: string): number | undefined {
    return this.node(name).proc?.pid;
  }

  isRunning(name: string): boolean {
    return this.node(name).proc !== null;
  }

  /**
   * Registers devices in the shared registry (PostgreSQL, which every broker node checks logins
   * against); returns their tokens (e.g. for bench/ingest-load). A device already there gets a new token.
   */
  async provisionDevices(ids: readonly string[], opts: { site?: string; tenant?: string } = {}): Promise<Record<string, string>> {
    const registry = this.openRegistry();
    try {
      const tokens: Record<string, string> = {};
      // A few at a time: each is a scrypt hash and a transaction.
      for (let i = 0; i < ids.length; i += 16)
        await Promise.all(
          ids.slice(i, i + 16).map(async (id) => {
            tokens[id] = await registry.addDevice(id, { site: opts.site ?? 'cluster', tenant: opts.tenant ?? 'cluster', rotate: true });
          }),
        );
      return tokens;
    } finally {
      await registry.close();
    }
  }

  private openRegistry(): PgRegistryState {
    // Hashed as the broker nodes would (broker.tokenHash), so that a bench can compare both.
    return new PgRegistryState(this.stateUrl, { tokenHash: this.o.broker?.tokenHash === 'scrypt' ? 'scrypt' : 'sha256', scryptCost: this.o.scryptCost });
  }

  private node(name: string): Node {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name} (nodes: ${this.nodeNames.join(', ')})`);
    return n;
  }

  private async boot(): Promise<void> {
    const o = this.o;
    mkdirSync(join(this.dir, 'nodes'), { recursive: true });
    const registry = this.openRegistry();
    try {
      this.collectorToken = await registry.rotateServiceToken(CLUSTER_COLLECTOR_ACCOUNT, 'collector');
    } finally {
      await registry.close();
    }
    if (o.nocPassword) {
      const users = new PgNocAccounts(this.stateUrl, { sessionTtlMs: 3_600_000, scryptCost: 1024 });
      try {
        for (const role of ['admin', 'operator', 'viewer'] as const) await users.ensureUser(role, role, o.nocPassword);
      } finally {
        await users.close();
      }
    }
    const add = (kind: NodeKind, count: number) => {
      for (let i = 1; i <= count; i++)
        this.nodes.push({
          name: `${kind}-${i}`,
          kind,
          configFile: join(this.dir, 'nodes', `${kind}-${i}.json`),
          proc: null,
          exited: null,
          port: 0,
          httpPort: 0,
          logFile: null,
        });
    };
    add('broker', o.brokers ?? 3);
    add('collector', o.colocate ? 0 : (o.collectors ?? 2));
    add('noc', o.nocs ?? 2);
    // Broker nodes first: the other nodes' configs name the brokers' ports.
    await Promise.all(this.nodes.filter((x) => x.kind === 'broker').map((n) => this.start(n.name)));
    await Promise.all(this.nodes.filter((x) => x.kind !== 'broker').map((n) => this.start(n.name)));
    if ((o.devices ?? 0) > 0) {
      const registry = this.openRegistry();
      try {
        this.fleet = await startFleet({
          devices: o.devices!,
          seed: o.seed ?? 1,
          intervalMs: o.intervalMs ?? 5000,
          brokerUrl: this.brokerUrls,
          provision: (id, site, tenant) => registry.addDevice(id, { site, tenant, rotate: true }),
          dataDir: join(this.dir, 'sim-agents'),
          log: o.log.child({ component: 'sim' }),
          ...(o.agentOutbox ? { outbox: o.agentOutbox } : {}),
          ...(o.pins ? { pins: o.pins } : {}),
        });
      } finally {
        await registry.close();
      }
    }
  }

  private configOf(n: Node): Record<string, unknown> {
    const o = this.o;
    const brokerUrls = this.brokerUrls;
    const index = Number(n.name.split('-')[1]) - 1;
    const common = {
      logLevel: o.logLevel ?? 'info',
      state: { kind: 'postgres', url: this.stateUrl },
    };
    const cluster = { nodeId: n.name, partitions: o.partitions ?? 64, ...(o.leaseMs ? { leaseMs: o.leaseMs } : {}) };
    const influx = { url: this.influx.url, database: 'fleetcare' };
    if (n.kind === 'broker') {
      const withCollector = o.colocate === true && index < (o.collectors ?? 2);
      return {
        ...common,
        dataDir: join(this.dir, n.name),
        cluster: { ...cluster, roles: withCollector ? ['broker', 'collector'] : ['broker'] },
        ...(withCollector ? { collector: { ...o.collector, influx } } : {}),
        broker: {
          port: n.port,
          ...(o.scryptCost ? { scryptCost: o.scryptCost } : {}),
          ...o.broker,
          cluster: { redisUrl: this.redis.url, heartbeatIntervalMs: o.heartbeatIntervalMs ?? 1000 },
        },
        noc: { enabled: false },
      };
    }
    // Collectors spread over the broker nodes, each moving to the next node when its own is lost.
    const collector = {
      ...o.collector,
      mqtt: { url: brokerUrls[index % brokerUrls.length], urls: brokerUrls, username: CLUSTER_COLLECTOR_ACCOUNT, password: this.collectorToken },
      influx,
    };
    return {
      ...common,
      dataDir: join(this.dir, n.name),
      cluster: { ...cluster, roles: [n.kind] },
      collector,
      noc: n.kind === 'noc' ? { ...o.noc, host: '127.0.0.1', port: n.httpPort } : { enabled: false },
    };
  }

  /** Starts node `name` (again: on the ports it had). Resolves once it has started. */
  async start(name: string): Promise<void> {
    const n = this.node(name);
    if (n.proc) return;
    writeFileSync(n.configFile, JSON.stringify(this.configOf(n), null, 2), { mode: 0o600 });
    const proc = spawn(process.execPath, [...(this.o.nodeFlags ?? []), CLI, 'server', '--cluster', n.configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    n.proc = proc;
    n.exited = new Promise<void>((r) => proc.once('exit', () => r()));
    if (!this.o.onLog && !n.logFile) {
      mkdirSync(join(this.dir, 'logs'), { recursive: true });
      n.logFile = createWriteStream(join(this.dir, 'logs', `${n.name}.log`), { flags: 'a' });
    }
    let stderr = '';
    proc.stderr!.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-4000);
      n.logFile?.write(b);
    });
    const started = new Promise<Record<string, unknown>>((resolve, reject) => {
      proc.stdout!.on('data', (b: Buffer) => n.logFile?.write(b));
      onJsonLines(proc.stdout!, (line) => {
        this.o.onLog?.(n.name, line);
        if (line.msg === 'fleetcare server started') resolve(line);
      });
      proc.once('exit', (code, sig) => reject(new Error(`${n.name} exited at start (${code ?? sig}): ${stderr.trim()}`)));
    });
    const line = await started;
    if (n.kind === 'broker') n.port = Number(new URL(String(line.brokerUrl)).port);
    if (n.kind === 'noc') n.httpPort = Number(new URL(String(line.noc)).port);
  }

  /** kill -9 of node `name`; resolves once the process is gone. */
  async kill(name: string): Promise<void> {
    await killNode(this.node(name));
  }

  /** Graceful stop of one node (SIGTERM, SIGKILL after 10 s). */
  async stopNode(name: string): Promise<void> {
    await stopNode(this.node(name), 10_000);
  }

  /** Stops the fleet, every node (NOC and collectors first), then the engines; removes a temp dir. */
  async stop(): Promise<void> {
    await this.fleet?.close().catch(() => undefined);
    this.fleet = null;
    const order: NodeKind[] = ['noc', 'collector', 'broker'];
    for (const kind of order) await Promise.all(this.nodes.filter((n) => n.kind === kind).map((n) => this.stopNode(n.name)));
    for (const n of this.nodes) n.logFile?.end();
    await this.influx.destroy().catch(() => undefined);
    await this.redis.remove().catch(() => undefined);
    await this.postgres.destroy().catch(() => undefined);
    this.temp?.remove();
  }

  /** Waits until every broker node, collector and NOC node answers (NOC: /readyz or /). */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    await waitFor(
      'NOC nodes answering',
      async () => {
        for (const url of this.nocUrls) {
          const r = await fetch(url).catch(() => null);
          if (!r) return false;
        }
        return true;
      },
      timeoutMs,
      200,
    );
  }
}
