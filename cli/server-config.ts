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
import { leaseConfigSchema } from '../cluster/leases.js';
import { DEFAULT_PARTITIONS } from '../cluster/partitions.js';

/** What a part's `dataDir` holds until runServer sets it (a folder of the server's dataDir). */
export const PART_DATA_DIR = '(set by the server)';

/** A part's object with the server-filled `dataDir` put in, so the component's schema applies as is. */
const withDataDir = (v: unknown) =>
  v && typeof v === 'object' && !Array.isArray(v) ? { ...v, dataDir: PART_DATA_DIR } : v === undefined ? { dataDir: PART_DATA_DIR } : v;

/**
 * The parts are the components' schemas made strict: a misspelt key is an error, not a setting
 * silently left at its default. `dataDir` of broker and collector is the server's to set.
 */
export const serverConfigParts = {
  broker: brokerConfigSchema.strict(),
  collector: collectorConfigSchema.strict(),
  noc: nocConfigSchema.strict(),
};

/** What a cluster node runs (docs/cluster.md): `noc` alone is a NOC-only node (an observer collector, no durable work). */
export const clusterRoleSchema = z.enum(['broker', 'collector', 'noc']);
export type ClusterRole = z.infer<typeof clusterRoleSchema>;

/**
 * This node's place in a cluster (docs/cluster.md). Present = cluster mode: shared state in
 * PostgreSQL, broker nodes sharing Redis, collectors owning partitions by leases.
 */
export const clusterConfigSchema = z
  .strictObject({
    /** Unique in the cluster and stable across restarts; names the node's leases, its broker node and its MQTT client. */
    // At most 45: the node's in-process collector logs in as `collector-internal-<nodeId>` (64 at most).
    nodeId: z.string().regex(/^[A-Za-z0-9_.-]{1,45}$/, 'letters, digits, _ . - (at most 45)'),
    /** What this node runs; `['broker', 'collector', 'noc']` is a whole single-box node. */
    roles: z
      .array(clusterRoleSchema)
      .min(1, 'at least one of broker, collector, noc')
      .refine((r) => new Set(r).size === r.length, 'a role is listed twice'),
    /** Fixed at the cluster's creation (every node must say the same; a mismatch is refused at start). */
    partitions: leaseConfigSchema.shape.partitions.default(DEFAULT_PARTITIONS),
    /** A dead collector's partitions move after this. */
    leaseMs: leaseConfigSchema.shape.leaseMs,
    renewEveryMs: leaseConfigSchema.shape.renewEveryMs,
  })
  .refine((c) => (c.renewEveryMs ?? c.leaseMs / 3) < c.leaseMs / 2, {
    message: 'renewEveryMs must be under half of leaseMs, or one late round loses the lease',
    path: ['renewEveryMs'],
  });
export type ClusterConfig = z.infer<typeof clusterConfigSchema>;

/** The process role that a set of cluster roles amounts to (a NOC-only node runs an observer collector). */
export function roleOfClusterRoles(roles: readonly ClusterRole[]): 'all' | 'broker' | 'collector' {
  const broker = roles.includes('broker');
  const collector = roles.includes('collector') || roles.includes('noc');
  return broker && collector ? 'all' : broker ? 'broker' : 'collector';
}

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
    /** Cluster mode (docs/cluster.md): this node's id and roles; absent = one process with everything. */
    cluster: clusterConfigSchema.optional(),
  })
  .strict()
  // Cross-part rules of cluster mode: checked with the rest, so every problem is listed at once
  // and nothing starts with a config that cannot work.
  .superRefine((c, ctx) => {
    const cl = c.cluster;
    if (!cl) return;
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    if (c.state.kind !== 'postgres')
      issue(['state', 'kind'], 'cluster mode keeps shared state in PostgreSQL: set "state": { "kind": "postgres", "url": "postgres://…" }');
    const role = roleOfClusterRoles(cl.roles);
    if (c.role !== role) issue(['role'], `cluster.roles [${cl.roles.join(', ')}] run as role "${role}": leave "role" out or set it to "${role}"`);
    if (cl.roles.includes('broker') && !c.broker.cluster?.redisUrl)
      issue(['broker', 'cluster', 'redisUrl'], 'a broker node of a cluster needs the Redis that every broker node shares (broker.cluster.redisUrl)');
    const routedBy = c.broker.cluster?.partitions;
    if (routedBy !== undefined && routedBy !== cl.partitions)
      issue(['broker', 'cluster', 'partitions'], `the broker routes by ${routedBy} partitions but cluster.partitions is ${cl.partitions}: leave it out`);
    if (cl.roles.includes('noc') && !c.noc.enabled) issue(['noc', 'enabled'], 'the node has role noc but noc.enabled is false');
    // Acked telemetry must not live on one node's disk (docs/cluster.md): no embedded store.
    if (cl.roles.includes('collector') && !c.collector.influx)
      issue(
        ['collector', 'influx'],
        'a collector node of a cluster needs a shared telemetry store: set collector.influx (the embedded SQLite store would keep acked data on this node alone)',
      );
  });
export type ServerConfig = z.infer<typeof serverConfigSchema>;
export type ServerConfigInput = z.input<typeof serverConfigSchema>;

/** Every issue on its own line, with its path: `collector.batch.maxPoints: Too small: …`. */
export function formatConfigIssues(err: z.ZodError): string {
  return err.issues.map((i) => `  ${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('\n');
}

/** Validates a whole server config (all parts); a ConfigError lists every problem. */
export function parseServerConfig(raw: unknown, source = 'server config'): ServerConfig {
  const r = serverConfigSchema.safeParse(withClusterRole(raw));
  if (!r.success) {
    const n = r.error.issues.length;
    throw new ConfigError(`${source}: ${n} ${n === 1 ? 'error' : 'errors'}:\n${formatConfigIssues(r.error)}`);
  }
  return r.data;
}

/** In cluster mode `role` follows from `cluster.roles` unless the file sets it. */
function withClusterRole(raw: unknown): unknown {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  const r = raw as Record<string, unknown>;
  const roles = (r.cluster as { roles?: unknown } | undefined)?.roles;
  if (r.role !== undefined || !Array.isArray(roles)) return raw;
  const known = clusterRoleSchema.array().safeParse(roles);
  return known.success && known.data.length ? { ...r, role: roleOfClusterRoles(known.data) } : raw;
}

type Flags = Record<string, string | boolean | undefined>;

function intFlag(flags: Flags, name: string): number | undefined {
  const v = flags[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isInteger(n) || n < 0 || n > 65535)
    throw new ConfigError(`--${name}: expected a port number 0-65535, got "${String(v)}"`);
  return n;
}

function setIf(target: Record<string, unknown>, key: string, value: unknown): void {
  if (value !== undefined) target[key] = value;
}

export function loadServerConfig(flags: Flags): ServerConfig {
  if (typeof flags.cluster === 'string') {
    if (typeof flags.config === 'string' && flags.config !== flags.cluster)
      throw new ConfigError('--cluster FILE is the server config file: give --cluster or --config, not both');
    flags = { ...flags, config: flags.cluster };
  }
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
  const source = typeof flags.config === 'string' ? flags.config : 'server config';
  // `--cluster FILE` is `--config FILE` that must describe a cluster node.
  if (flags.cluster && !raw.cluster)
    throw new ConfigError(`${source}: cluster: --cluster needs a "cluster" part ({ "nodeId": …, "roles": [...] }) in the file`);
  const c = parseServerConfig(merged, source);
  return { ...c, dataDir: resolve(c.dataDir) };
}
