// The server's config file: one JSON object whose `broker` and `collector` parts are the
// components' own schemas (single source of truth), plus what the process itself decides.
// Flags override the file. Errors name the field: `broker.port: expected number`.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { formatZodError } from '../protocol/index.js';
import { ConfigError } from './errors.js';
import { stateConfigSchema } from '../state/config.js';


export const serverConfigSchema = z.object({
  /** Registry, collector state, embedded telemetry store. */
  dataDir: z.string().min(1).default('./data'),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  /** `all`: broker + collector in one process (the collector logs in with a token rotated at each start). */
  role: z.enum(['all', 'broker', 'collector']).default('all'),
  /** Passed to the broker (see broker/config.ts); dataDir is filled in. */
  broker: z.record(z.string(), z.unknown()).default({}),
  /** Passed to the collector (see collector/config.ts); dataDir and, for role all, mqtt are filled in. */
  collector: z.record(z.string(), z.unknown()).default({}),
  /** Passed to the NOC web server (see noc/config.ts). */
  noc: z.record(z.string(), z.unknown()).default({}),
  /** Shared state: embedded SQLite files in dataDir (default) or PostgreSQL (docs/state.md). */
  state: stateConfigSchema,
});
export type ServerConfig = z.infer<typeof serverConfigSchema>;

type Flags = Record<string, string | boolean | undefined>;

function intFlag(flags: Flags, name: string): number | undefined {
  const v = flags[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(`--${name}: expected a port number 0-65535, got "${String(v)}"`);
  return n;
}

function setIf(target: Record<string, unknown>, key: string, value: unknown): void {
  if (value !== undefined) target[key] = value;
}

export function loadServerConfig(flags: Flags): ServerConfig {
  let raw: Record<string, unknown> = {};
  if (typeof flags.config === 'string') {
    let text: string;
    try {
      text = readFileSync(flags.config, 'utf8');
    } catch (e) {
      throw new ConfigError(`${flags.config}: cannot read: ${(e as Error).message}`);
    }
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new ConfigError(`${flags.config}: not valid JSON: ${(e as Error).message}`);
    }
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${flags.config}: (root): expected a JSON object`);
  }
  const broker = { ...((raw.broker as Record<string, unknown>) ?? {}) };
  const collector = { ...((raw.collector as Record<string, unknown>) ?? {}) };
  const noc = { ...((raw.noc as Record<string, unknown>) ?? {}) };
  setIf(noc, 'host', flags['http-host']);
  setIf(noc, 'port', intFlag(flags, 'http-port'));
  if (flags['no-http']) noc.enabled = false;
  setIf(broker, 'host', flags.host);
  setIf(broker, 'port', intFlag(flags, 'port'));
  setIf(broker, 'tlsPort', intFlag(flags, 'tls-port'));
  setIf(broker, 'tlsCertPath', flags['tls-cert']);
  setIf(broker, 'tlsKeyPath', flags['tls-key']);
  if (flags['allow-anonymous']) broker.allowAnonymous = true;
  if (typeof flags['influx-url'] === 'string') {
    collector.influx = { ...((collector.influx as Record<string, unknown>) ?? {}), url: flags['influx-url'] };
  }
  if (typeof flags['influx-db'] === 'string') {
    collector.influx = { ...((collector.influx as Record<string, unknown>) ?? {}), database: flags['influx-db'] };
  }
  if (typeof flags['broker-url'] === 'string' || flags['collector-user'] || flags['collector-token']) {
    collector.mqtt = {
      ...((collector.mqtt as Record<string, unknown>) ?? {}),
      ...(typeof flags['broker-url'] === 'string' ? { url: flags['broker-url'] } : {}),
      ...(typeof flags['collector-user'] === 'string' ? { username: flags['collector-user'] } : {}),
      ...(typeof flags['collector-token'] === 'string' ? { password: flags['collector-token'] } : {}),
    };
  }
  const merged = {
    ...raw,
    broker,
    collector,
    noc,
    ...(typeof flags['data-dir'] === 'string' ? { dataDir: flags['data-dir'] } : {}),
    ...(typeof flags['log-level'] === 'string' ? { logLevel: flags['log-level'] } : {}),
    ...(typeof flags.role === 'string' ? { role: flags.role } : {}),
  };
  const r = serverConfigSchema.safeParse(merged);
  if (!r.success) throw new ConfigError(`${flags.config ?? 'server config'}: ${formatZodError(r.error)}`);
  return { ...r.data, dataDir: resolve(r.data.dataDir) };
}
