// `fleetcare device …` and `fleetcare service …`: provisioning against the broker's registry
// without starting the broker — the SQLite registry of the data dir, or, with a cluster's server
// config (`--config FILE` whose state.kind is postgres), the shared registry every broker node
// checks logins against. Tokens go to stdout alone (scriptable: TOKEN=$(fleetcare device add …));
// everything meant for a person goes to stderr.
import { writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { DeviceRegistry } from '../broker/index.js';
import type { RegistryStateStore } from '../state/registry.js';
import { PgRegistryState } from '../state/postgres/registry.js';
import { SqliteRegistryState } from '../state/sqlite/registry.js';
import { UsageError } from './errors.js';
import { loadServerConfig } from './server-config.js';
import { printList } from './table.js';

type Flags = Record<string, string | boolean | undefined>;

function openRegistry(flags: Flags): RegistryStateStore {
  let hashing = {};
  if (typeof flags.config === 'string') {
    const server = loadServerConfig(flags);
    // New tokens are hashed as the server's config says (broker.tokenHash).
    hashing = { tokenHash: server.broker.tokenHash, scryptCost: server.broker.scryptCost };
    if (server.state.kind === 'postgres') return new PgRegistryState(server.state.url, hashing);
    flags = { ...flags, 'data-dir': server.dataDir };
  }
  const dir = join(resolve(typeof flags['data-dir'] === 'string' ? flags['data-dir'] : './data'), 'broker');
  mkdirSync(dir, { recursive: true });
  return new SqliteRegistryState(DeviceRegistry.open(dir, hashing));
}

function str(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}

export async function deviceCommand(positionals: string[], flags: Flags): Promise<void> {
  const [action, id] = positionals;
  const registry = openRegistry(flags);
  try {
    switch (action) {
      case 'add': {
        if (!id) throw new UsageError('device add needs an ID');
        const site = str(flags, 'site');
        const tenant = str(flags, 'tenant');
        const token = await registry.addDevice(id, { site, tenant });
        process.stdout.write(token + '\n');
        process.stderr.write(`device ${id} added${site ? ` (site ${site})` : ''}; its token is shown once, above\n`);
        const out = str(flags, 'write-config');
        if (out) {
          if (existsSync(out)) throw new UsageError(`${out} exists; not overwriting it (the token above is valid)`);
          const brokerUrl = str(flags, 'broker-url') ?? 'mqtt://127.0.0.1:1883';
          const config = {
            device: { id, token, ...(site ? { site } : {}), ...(tenant ? { tenant } : {}) },
            broker: { url: brokerUrl },
            dataDir: `/var/lib/fleetcare-agent/${id}`,
            peripherals: [{ id: 'host', driver: 'host' }],
          };
          mkdirSync(dirname(resolve(out)), { recursive: true });
          writeFileSync(out, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
          process.stderr.write(`agent config written to ${out} (mode 600: it holds the token)\n`);
        }
        return;
      }
      case 'rotate': {
        if (!id) throw new UsageError('device rotate needs an ID');
        process.stdout.write((await registry.rotateDeviceToken(id)) + '\n');
        process.stderr.write(`device ${id}: new token shown once, above; the old one no longer works\n`);
        return;
      }
      case 'disable':
      case 'enable': {
        if (!id) throw new UsageError(`device ${action} needs an ID`);
        await registry.setDeviceDisabled(id, action === 'disable');
        process.stderr.write(`device ${id} ${action}d\n`);
        break;
      }
      case 'remove': {
        if (!id) throw new UsageError('device remove needs an ID');
        await registry.removeDevice(id);
        process.stderr.write(`device ${id} removed\n`);
        return;
      }
      case 'list': {
        printList(
          await registry.listDevices(),
          [
            { head: 'DEVICE', value: (d) => d.id },
            { head: 'SITE', value: (d) => d.site },
            { head: 'TENANT', value: (d) => d.tenant },
            { head: 'STATE', value: (d) => (d.disabled ? 'disabled' : 'enabled') },
            { head: 'ADDED', value: (d) => new Date(d.createdAt).toISOString() },
          ],
          { json: !!flags.json, empty: 'no devices' },
        );
        return;
      }
      default:
        throw new UsageError(`device: unknown action "${action ?? ''}" (add, list, rotate, remove, disable, enable)`);
    }
  } finally {
    await registry.close();
  }
}

export async function serviceCommand(positionals: string[], flags: Flags): Promise<void> {
  const [action, name] = positionals;
  const role = str(flags, 'role');
  if (!name) throw new UsageError(`service ${action ?? ''} needs a NAME`);
  if (action === 'remove') {
    const registry = openRegistry(flags);
    try {
      if (!(await registry.removeServiceAccount(name))) throw new UsageError(`no service account ${name}`);
      process.stderr.write(`service account ${name} removed; its live sessions are closed\n`);
    } finally {
      await registry.close();
    }
    return;
  }
  if (role !== 'collector' && role !== 'viewer') throw new UsageError('service needs --role collector|viewer');
  const registry = openRegistry(flags);
  try {
    if (action === 'add') process.stdout.write((await registry.addServiceAccount(name, role)) + '\n');
    else if (action === 'rotate') process.stdout.write((await registry.rotateServiceToken(name, role)) + '\n');
    else throw new UsageError(`service: unknown action "${action ?? ''}" (add, rotate, remove)`);
    process.stderr.write(`service account ${name} (${role}): token shown once, above\n`);
  } finally {
    await registry.close();
  }
}
