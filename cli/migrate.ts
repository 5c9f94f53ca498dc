// `fleetcare migrate --from-sqlite DIR --to postgres://…` (state/move-to-postgres.ts).
import { UsageError } from './errors.js';
import { stateConfigSchema } from '../state/config.js';

export async function migrateCommand(values: Record<string, string | boolean | undefined>): Promise<void> {
  const from = values['from-sqlite'];
  const to = values.to;
  if (typeof from !== 'string' || typeof to !== 'string') throw new UsageError('migrate needs --from-sqlite DIR and --to postgres://user@host:port/database');
  const url = stateConfigSchema.safeParse({ kind: 'postgres', url: to });
  if (!url.success) throw new UsageError(`--to: expected postgres://user@host:port/database, got "${to.replace(/:[^:@/]*@/, ':***@')}"`);
  const partitions = values.partitions === undefined ? undefined : Number(values.partitions);
  if (partitions !== undefined && (!Number.isInteger(partitions) || partitions < 1 || partitions > 4096))
    throw new UsageError(`--partitions: the cluster's partition count (cluster.partitions, 1–4096), got "${String(values.partitions)}"`);
  const { moveSqliteToPostgres } = await import('../state/move-to-postgres.js');
  const r = await moveSqliteToPostgres(from, to, { partitions });
  console.log(`moved ${from} into ${r.target}:`);
  for (const [table, n] of Object.entries(r.copied)) console.log(`  ${table.padEnd(20)} ${n}`);
  console.log(`kept in ${from} (no PostgreSQL store yet): ${r.notMoved.join('; ')}`);
}
