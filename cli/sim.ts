// `fleetcare sim` (a simulated fleet against a running server) and `fleetcare demo` (server +
// simulated fleet in one process, embedded store unless --influx-url).
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { DeviceRegistry } from '../broker/index.js';
import { startFleet, type Fleet } from '../sim/fleet.js';
import { runServer } from './server.js';
import { loadServerConfig } from './server-config.js';
import { UsageError } from './errors.js';

type Flags = Record<string, string | boolean | undefined>;

function num(flags: Flags, name: string, def: number, min: number, max: number): number {
  const v = flags[name];
  if (v === undefined) return def;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name}: expected a whole number ${min}-${max}, got "${String(v)}"`);
  return n;
}

/** Provisions through the registry, re-issuing the token when the device already exists. */
function provisioner(registry: DeviceRegistry) {
  return (id: string, site: string, tenant: string): string => {
    if (registry.listDevices().some((d) => d.id === id)) return registry.rotateDeviceToken(id);
    return registry.addDevice(id, { site, tenant });
  };
}

export async function runSimCommand(flags: Flags): Promise<Fleet> {
  const dataDir = resolve(typeof flags['data-dir'] === 'string' ? flags['data-dir'] : './data');
  const log = pino({ name: 'fleetcare-sim', level: typeof flags['log-level'] === 'string' ? flags['log-level'] : 'info' });
  const registry = DeviceRegistry.open(join(dataDir, 'broker'));
  try {
    return await startFleet({
      devices: num(flags, 'devices', 3, 1, 1000),
      seed: num(flags, 'seed', 1, 0, 2 ** 31),
      intervalMs: num(flags, 'interval-ms', 5000, 100, 3_600_000),
      brokerUrl: typeof flags['broker-url'] === 'string' ? flags['broker-url'] : 'mqtt://127.0.0.1:1883',
      provision: provisioner(registry),
      dataDir: join(dataDir, 'sim-agents'),
      log,
    });
  } finally {
    registry.close();
  }
}

/** Password of the demo's users unless FLEETCARE_DEMO_PASSWORD is set (demo data dir only). */
export const DEMO_PASSWORD = 'fleetcare-demo';

export async function runDemo(flags: Flags): Promise<{ close(): Promise<void> }> {
  const dataDir = typeof flags['data-dir'] === 'string' ? flags['data-dir'] : './data/demo';
  const config = loadServerConfig({ ...flags, 'data-dir': dataDir, devices: undefined, seed: undefined, 'interval-ms': undefined });
  const server = await runServer(config);
  try {
    // Demo logins on a loopback-only page: one user per role, one known password (or yours).
    const demoPassword = process.env.FLEETCARE_DEMO_PASSWORD ?? DEMO_PASSWORD;
    if (server.noc) for (const role of ['admin', 'operator', 'viewer'] as const) await server.noc.context.users.ensureUser(role, role, demoPassword);
    const fleet = await startFleet({
      devices: num(flags, 'devices', 8, 1, 1000),
      seed: num(flags, 'seed', 1, 0, 2 ** 31),
      intervalMs: num(flags, 'interval-ms', 5000, 100, 3_600_000),
      brokerUrl: server.brokerUrl!,
      provision: provisioner(server.broker!.registry),
      dataDir: join(config.dataDir, 'sim-agents'),
      log: server.log.child({ component: 'sim' }),
    });
    if (server.noc)
      server.log.info(
        { url: server.noc.url, users: ['admin', 'operator', 'viewer'], password: process.env.FLEETCARE_DEMO_PASSWORD ? '(FLEETCARE_DEMO_PASSWORD)' : DEMO_PASSWORD },
        `NOC: open ${server.noc.url} and log in`,
      );
    server.log.info({ brokerUrl: server.brokerUrl, devices: fleet.devices.map((d) => `${d.id} ${d.printer.profile}${d.clock ? " + clock" : ""} @ ${d.site}`) }, 'demo running — Ctrl-C to stop');
    return {
      async close() {
        await fleet.close();
        await server.close('demo stopped');
      },
    };
  } catch (e) {
    await server.close('demo failed to start');
    throw e;
  }
}
