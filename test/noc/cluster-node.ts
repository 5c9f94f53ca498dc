// One stateless NOC node of a cluster, as cluster mode wires it: an observer of the fleet (a
// collector on the shared broker), users/sessions/CSRF/commands/report units in PostgreSQL,
// tickets through the shared view (noc/cluster.ts), /readyz checking PostgreSQL. Used in-process by
// test/noc/cluster-nodes.test.ts and, run as a script, as a separate process that test can kill -9:
//   node dist/test/noc/cluster-node.js '{"nodeId":…,"pgUrl":…,"brokerUrl":…,"dataDir":…}'
// It prints one JSON line {"url":…} once it listens.
// (Stands in for `fleetcare server` with role noc until cli/server.ts wires these parts.)
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import { startCollector, type CollectorHandle } from '../../collector/index.js';
import { incidentsConfigSchema } from '../../collector/incidents/config.js';
import { sharedIncidentsView } from '../../noc/cluster.js';
import { startNoc, type NocHandle } from '../../noc/server.js';
import { PgCommandState } from '../../state/postgres/commands.js';
import { PgNocAccounts } from '../../state/postgres/noc-accounts.js';
import { PgReportUnits } from '../../state/postgres/report-units.js';

export type ClusterNocNodeOptions = { nodeId: string; pgUrl: string; brokerUrl: string; dataDir: string; port?: number };

export type ClusterNocNode = { url: string; noc: NocHandle; collector: CollectorHandle; close(): Promise<void> };

export async function startClusterNocNode(o: ClusterNocNodeOptions, log: Logger): Promise<ClusterNocNode> {
  const collector = await startCollector(
    { dataDir: `${o.dataDir}/collector`, mqtt: { url: o.brokerUrl, clientId: `collector-${o.nodeId}`, reconnectPeriodMs: 200 }, batch: { maxDelayMs: 50 } },
    { log: log.child({ component: 'collector' }) },
  );
  const incidents = sharedIncidentsView({ tickets: { url: o.pgUrl }, config: incidentsConfigSchema.parse({}), dispatchState: { url: o.pgUrl } });
  const noc = await startNoc(
    { port: o.port ?? 0, host: '127.0.0.1', commandTimeoutMs: 10_000 },
    {
      broker: null,
      collector,
      incidents,
      dataDir: o.dataDir,
      log: log.child({ component: 'noc' }),
      scryptCost: 1024,
      state: { kind: 'postgres', url: o.pgUrl },
      nodeId: o.nodeId,
      stores: (c) => ({
        users: new PgNocAccounts(o.pgUrl, { sessionTtlMs: c.sessionTtlHours * 3_600_000, scryptCost: 1024 }),
        commands: new PgCommandState(o.pgUrl),
        reportUnits: new PgReportUnits(o.pgUrl),
      }),
    },
  );
  return {
    url: noc.url,
    noc,
    collector,
    async close() {
      await noc.close();
      await incidents.close();
      await collector.close();
    },
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const opts = JSON.parse(process.argv[2] ?? '{}') as ClusterNocNodeOptions;
  const log = pino({ level: process.env.NOC_TEST_LOG ?? 'silent' }, pino.destination(2));
  const node = await startClusterNocNode(opts, log);
  process.stdout.write(`${JSON.stringify({ url: node.url })}\n`);
  process.once('SIGTERM', () => void node.close().then(() => process.exit(0)));
}
