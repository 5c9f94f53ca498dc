// MQTT brokers for tests, on free loopback ports:
// - TestBroker: a bare in-process aedes (anonymous, no ACL), standing in for fleetcare's broker in
//   agent and collector tests; restartable on the same port, losing its state as on a crash.
// - startFleetcareBroker: fleetcare's own broker (broker/) with auth, ACLs and a temp data dir,
//   with devices `dev-a`, `dev-b`, a `collector` and a `viewer` account.
import { createServer, type Server, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import { type BrokerConfigInput, type BrokerHandle, startBroker } from '../../broker/index.js';
import { captureLog, type LogLine } from './log.js';
import { type TempDir, tempDir } from './tmp.js';

export class TestBroker {
  private broker: Aedes | null = null;
  private server: Server | null = null;
  private sockets = new Set<Socket>();
  private constructor(private boundPort: number) {}

  /** Starts a broker on `port`, or on a port the OS picks (0). */
  static async create(port = 0): Promise<TestBroker> {
    const b = new TestBroker(port);
    await b.start();
    return b;
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Starts (again) on the same port. */
  async start(): Promise<void> {
    const broker = await Aedes.createBroker();
    const server = createServer((s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      broker.handle(s);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.boundPort, '127.0.0.1', () => resolve());
    });
    this.boundPort = (server.address() as { port: number }).port;
    this.broker = broker;
    this.server = server;
  }

  /** Stops the broker; its in-memory retained messages and sessions are gone, as on a crash. */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    await new Promise<void>((r) => (this.broker ? this.broker.close(() => r()) : r()));
    this.server = null;
    this.broker = null;
  }

  /** The same as stop(); idempotent. */
  close(): Promise<void> {
    return this.stop();
  }
}

export type FleetcareBroker = {
  broker: BrokerHandle;
  dir: TempDir;
  logs: LogLine[];
  /** Device tokens by id, collector/viewer tokens by account name. */
  tokens: Record<string, string>;
  close(): Promise<void>;
};

/** Starts fleetcare's broker with devices `dev-a`, `dev-b`, a `collector` and a `viewer` account. */
export async function startFleetcareBroker(overrides: Partial<BrokerConfigInput> = {}): Promise<FleetcareBroker> {
  const dir = tempDir('fleetcare-broker-');
  const cap = captureLog('debug');
  // Cheap scrypt in tests: the cost parameter is stored per hash and verified the same way.
  const broker = await startBroker({ dataDir: dir.path, port: 0, scryptCost: 1024, ...overrides }, { log: cap.log });
  const tokens: Record<string, string> = {
    'dev-a': broker.registry.addDevice('dev-a', { site: 's1', tenant: 't1' }),
    'dev-b': broker.registry.addDevice('dev-b'),
    collector: broker.registry.addServiceAccount('collector', 'collector'),
    viewer: broker.registry.addServiceAccount('viewer', 'viewer'),
  };
  return {
    broker,
    dir,
    logs: cap.lines,
    tokens,
    async close() {
      await broker.close();
      dir.remove();
    },
  };
}
