// `fleetcare cluster status`: what the cluster's PostgreSQL says about its collector nodes and
// partitions (cluster_nodes, partition_leases; written by cluster/leases.ts). Read-only, so it is
// safe against a running cluster; PostgreSQL's clock is the one that decides, as for the leases.
import type pg from 'pg';
import { leaseTable } from '../cluster/leases.js';
import { createPgPool } from '../state/postgres/db.js';
import { redactUrl } from '../state/postgres/migrations.js';
import { ConfigError, UsageError } from './errors.js';
import { loadServerConfig } from './server-config.js';
import { printList } from './table.js';
import { type Flags, wholeNumberFlag } from './flags.js';

export type ClusterNodeStatus = {
  node: string;
  startedAt: string;
  /** Time since the node's last lease round, by PostgreSQL's clock: how far behind it is. */
  heartbeatAgeMs: number;
  partitions: number[];
  /** Smallest time left on this node's leases (null: it owns none). */
  leaseRemainingMs: number | null;
  /** Highest epoch among its partitions: how many owners those partitions have had. */
  maxEpoch: number | null;
};

export type ClusterStatus = {
  state: string;
  /** Partition count fixed at the cluster's creation (null: no collector node has started yet). */
  partitions: number | null;
  nodes: ClusterNodeStatus[];
  /** Partitions whose lease has expired or was handed back and that nobody has taken yet. */
  unowned: number[];
  leases: { partition: number; owner: string | null; epoch: number; remainingMs: number }[];
};

/** `0-15,32,40-41`: owned partitions in a line. */
export function partitionRanges(ps: readonly number[]): string {
  const s = [...ps].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j] + 1) j++;
    out.push(i === j ? `${s[i]}` : `${s[i]}-${s[j]}`);
    i = j + 1;
  }
  return out.join(',');
}

export async function readClusterStatus(pool: pg.Pool, stateUrl: string): Promise<ClusterStatus> {
  const exists = await pool.query<{ t: string | null }>(`SELECT to_regclass('partition_leases')::text AS t`);
  if (!exists.rows[0].t) return { state: redactUrl(stateUrl), partitions: null, nodes: [], unowned: [], leases: [] };
  const meta = await pool.query<{ value: string }>(`SELECT value FROM cluster_meta WHERE key = 'partitions'`);
  const leases = await leaseTable(pool);
  const nodeRows = await pool.query<{ node: string; started_at: Date; age_ms: number }>(
    `SELECT node, started_at, GREATEST(0, EXTRACT(EPOCH FROM (now() - heartbeat_at)) * 1000)::float8 AS age_ms FROM cluster_nodes ORDER BY node`,
  );
  const nodes: ClusterNodeStatus[] = nodeRows.rows.map((r) => {
    const mine = leases.filter((l) => l.owner === r.node);
    return {
      node: r.node,
      startedAt: r.started_at.toISOString(),
      heartbeatAgeMs: Math.round(r.age_ms),
      partitions: mine.map((l) => l.partition),
      leaseRemainingMs: mine.length ? Math.min(...mine.map((l) => l.remainingMs)) : null,
      maxEpoch: mine.length ? Math.max(...mine.map((l) => l.epoch)) : null,
    };
  });
  // An owner with a live lease but no node row (stopped between the two writes): still listed.
  for (const owner of new Set(leases.map((l) => l.owner).filter((o): o is string => o !== null))) {
    if (nodes.some((n) => n.node === owner)) continue;
    const mine = leases.filter((l) => l.owner === owner);
    nodes.push({
      node: owner,
      startedAt: '',
      heartbeatAgeMs: -1,
      partitions: mine.map((l) => l.partition),
      leaseRemainingMs: Math.min(...mine.map((l) => l.remainingMs)),
      maxEpoch: Math.max(...mine.map((l) => l.epoch)),
    });
  }
  return {
    state: redactUrl(stateUrl),
    partitions: meta.rows.length ? Number(meta.rows[0].value) : leases.length,
    nodes,
    unowned: leases.filter((l) => l.owner === null).map((l) => l.partition),
    leases,
  };
}

function stateUrlOf(flags: Flags): string {
  if (typeof flags.state === 'string') {
    if (!/^postgres(ql)?:\/\/[^/]+\/[^/?]+/.test(flags.state))
      throw new UsageError(`--state: expected postgres://user@host:port/database, got "${flags.state}"`);
    return flags.state;
  }
  if (typeof flags.config === 'string') {
    const config = loadServerConfig({ config: flags.config });
    if (config.state.kind !== 'postgres')
      throw new ConfigError(`${flags.config}: state.kind is "${config.state.kind}": cluster status reads the cluster's PostgreSQL (state.kind postgres)`);
    return config.state.url;
  }
  throw new UsageError("cluster status needs --state postgres://… or --config FILE (a node's server config)");
}

const secs = (ms: number | null) => (ms === null ? null : ms < 0 ? '?' : `${(ms / 1000).toFixed(1)} s`);

/**
 * `fleetcare cluster local` (`npm run cluster`): the reference deployment on loopback, with a
 * simulated fleet, until Ctrl-C. Everything lives in one temp dir (kept with --dir DIR).
 */
export async function runLocalCluster(flags: Flags, out: NodeJS.WritableStream = process.stdout): Promise<{ close(): Promise<void> }> {
  const { pino } = await import('pino');
  const { default: pretty } = await import('pino-pretty');
  const { LocalCluster } = await import('../cluster/local-cluster.js');
  const { DEMO_PASSWORD } = await import('../demo/index.js');
  const password = process.env.FLEETCARE_DEMO_PASSWORD ?? DEMO_PASSWORD;
  const level = typeof flags['log-level'] === 'string' ? flags['log-level'] : 'warn';
  const log = pino(
    { name: 'fleetcare-cluster', level },
    pretty({ colorize: !!process.stdout.isTTY, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname,name', sync: true }),
  );
  const started = Date.now();
  out.write('starting PostgreSQL, Redis, InfluxDB and the cluster nodes on loopback …\n');
  const brokers = wholeNumberFlag(flags, 'brokers', 3, 1, 9);
  const collectors = wholeNumberFlag(flags, 'collectors', 2, 1, 9);
  const colocate = flags.colocate === true;
  if (colocate && collectors > brokers)
    throw new UsageError(`--colocate runs each collector inside a broker node: --collectors ${collectors} needs at least as many --brokers (${brokers})`);
  const cluster = await LocalCluster.start({
    dir: typeof flags.dir === 'string' ? flags.dir : undefined,
    brokers,
    collectors,
    colocate,
    nocs: wholeNumberFlag(flags, 'nocs', 2, 1, 9),
    devices: wholeNumberFlag(flags, 'devices', 6, 0, 500),
    seed: wholeNumberFlag(flags, 'seed', 1, 0, 2 ** 31),
    intervalMs: wholeNumberFlag(flags, 'interval-ms', 5000, 100, 3_600_000),
    nocPassword: password,
    log,
  });
  const nodes = cluster.nodeNames.map((n) => `${n} (pid ${cluster.pid(n)})`).join(', ');
  out.write(
    [
      `fleetcare cluster on loopback, up in ${((Date.now() - started) / 1000).toFixed(0)} s`,
      `  NOC:         ${cluster.nocUrls.join('  ')}`,
      `  login:       admin / operator / viewer, password ${process.env.FLEETCARE_DEMO_PASSWORD ? '$FLEETCARE_DEMO_PASSWORD' : password}`,
      `  brokers:     ${cluster.brokerUrls.join('  ')}`,
      `  PostgreSQL:  ${cluster.stateUrl}`,
      `  Redis:       ${cluster.redis.url}    InfluxDB: ${cluster.influx.url} (database fleetcare)`,
      `  nodes:       ${nodes}`,
      `  fleet:       ${cluster.fleet?.devices.length ?? 0} simulated devices, failing over across the brokers`,
      `  logs:        ${cluster.dir}/logs/`,
      `  status:      node dist/cli/fleetcare.js cluster status --state ${cluster.stateUrl}`,
      `  provision:   node dist/cli/fleetcare.js device add ID --config ${cluster.dir}/nodes/broker-1.json   (the shared registry in PostgreSQL)`,
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
  return { close: () => cluster.stop() };
}

export async function clusterCommand(
  positionals: string[],
  flags: Flags,
  out: NodeJS.WritableStream = process.stdout,
): Promise<{ close(): Promise<void> } | void> {
  const [action] = positionals;
  if (action === 'local') return runLocalCluster(flags, out);
  if (action !== 'status') throw new UsageError(`cluster: unknown action "${action ?? ''}" (status, local)`);
  const url = stateUrlOf(flags);
  const pool = createPgPool(url, { max: 1, connectionTimeoutMillis: 5000 });
  let status: ClusterStatus;
  try {
    status = await readClusterStatus(pool, url);
  } catch (e) {
    throw new ConfigError(`PostgreSQL at ${redactUrl(url)}: ${(e as Error).message}`);
  } finally {
    await pool.end().catch(() => undefined);
  }
  if (flags.json) {
    out.write(JSON.stringify(status, null, 2) + '\n');
    return;
  }
  if (status.partitions === null) {
    out.write(`no cluster at ${status.state}: no collector node has taken partitions yet\n`);
    return;
  }
  const owned = status.partitions - status.unowned.length;
  out.write(
    `cluster at ${status.state}: ${status.nodes.length} collector node(s), ${owned}/${status.partitions} partitions owned${status.unowned.length ? `, unowned: ${partitionRanges(status.unowned)}` : ''}\n`,
  );
  printList(
    status.nodes,
    [
      { head: 'NODE', value: (n) => n.node },
      { head: 'HEARTBEAT', value: (n) => (n.heartbeatAgeMs < 0 ? 'none' : `${secs(n.heartbeatAgeMs)} ago`) },
      { head: 'PARTITIONS', value: (n) => n.partitions.length },
      { head: 'OWNS', value: (n) => partitionRanges(n.partitions) },
      { head: 'LEASE LEFT', value: (n) => secs(n.leaseRemainingMs) },
      { head: 'MAX EPOCH', value: (n) => n.maxEpoch },
      { head: 'STARTED', value: (n) => n.startedAt.replace(/\.\d+Z$/, 'Z') },
    ],
    { json: false, empty: 'no nodes' },
    out,
  );
}
