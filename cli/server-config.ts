// The server's config file: one JSON object whose `broker`, `collector` and `noc` parts are the
// components' own schemas (single source of truth), plus what the process itself decides. The
// whole file is validated at load, every error listed with its path, before anything binds a
// port. Flags override the file. docs/server-config.schema.json is generated from this schema.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { brokerConfigSchema } from '../broker/config.js';
import { collectorConfigSchema } from '../collector/config.js';
import { nocConfigSchema } from '../noc/config.js';
import { ConfigError } from './errors.js';
import { stateConfigSchema } from '../state/config.js';

/** What a part's `dataDir` holds until runServer sets it (a folder of the server's dataDir). */
export const PART_DATA_DIR = '(set by the server)';

/** A part's object with the server-filled `dataDir` put in, so the component's schema applies as is. */
const withDataDir = (v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? { ...v, dataDir: PART_DATA_DIR } : v === undefined ? { dataDir: PART_DATA_DIR } : v);

/**
 * The parts are the components' schemas made strict: a misspelt key is an error, not a setting
 * silently left at its default. `dataDir` of broker and collector is the server's to set.
 */
export const serverConfigParts = {
  broker: brokerConfigSchema.strict(),
  collector: collectorConfigSchema.strict(),
  noc: nocConfigSchema.strict(),
};

export const serverConfigSchema = z
  .object({
    /** For editors: `../docs/server-config.schema.json` or wherever it is installed. */
    $schema: z.string().optional(),
    /** Registry, collector state, embedded telemetry store. */
    dataDir: z.string().min(1).default('./data'),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    /** `all`: broker + collector in one process (the collector logs in with a token rotated at each start). */
    role: z.enum(['all', 'broker', 'collector']).default('all'),
    /** The broker (broker/config.ts); its dataDir is `<dataDir>/broker`. */
    broker: z.preprocess(withDataDir, serverConfigParts.broker),
    /** The collector (collector/config.ts); dataDir is `<dataDir>/collector`, and for role all mqtt is the in-process broker. */
    collector: z.preprocess(withDataDir, serverConfigParts.collector),
    /** The NOC web server (noc/config.ts). */
    noc: serverConfigParts.noc.prefault({}),
    /** Shared state: embedded SQLite files in dataDir (default) or PostgreSQL (docs/state.md). */
    state: stateConfigSchema,
  })
  .strict();
export type ServerConfig = z.infer<typeof serverConfigSchema>;
export type ServerConfigInput = z.input<typeof serverConfigSchema>;

/** Every issue on its own line, with its path: `collector.batch.maxPoints: Too small: …`. */
export function formatConfigIssues(err: z.ZodError): string {
  return err.issues.map((i) => `  ${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('\n');
}

/** Validates a whole server config (all parts); a ConfigError lists every problem. */
export function parseServerConfig(raw: unknown, source = 'server config'): ServerConfig {
  const r = serverConfigSchema.safeParse(raw);
  if (!r.success) {
    const n = r.error.issues.length;
    throw new ConfigError(`${source}: ${n} ${n === 1 ? 'error' : 'errors'}:\n${formatConfigIssues(r.error)}`);
  }
  return r.data;
}

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
  const c = parseServerConfig(merged, typeof flags.config === 'string' ? flags.config : 'server config');
  return { ...c, dataDir: resolve(c.dataDir) };
}
