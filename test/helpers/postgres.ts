// A real PostgreSQL for tests: the local cluster's launcher (cluster/local-postgres.ts).
import { LocalPostgres } from '../../cluster/local-postgres.js';
import { migratePostgres } from '../../state/postgres/migrations.js';

export { LocalPostgres as TestPostgres, postgresBin, havePostgres, type PostgresOptions } from '../../cluster/local-postgres.js';

/**
 * For a behaviour-suite file: one server started by the suite's `before` hook and removed by its
 * `after` hook, and `create()` a fresh migrated database (its URL) for each test.
 */
export function migratedDatabases(prefix: string) {
  let server: LocalPostgres | undefined;
  return {
    hooks: {
      before: async () => {
        server = await LocalPostgres.create();
      },
      after: async () => {
        await server?.destroy();
      },
    },
    async create(): Promise<string> {
      if (!server) throw new Error('migratedDatabases: create() before the suite started its server');
      const url = await server.createDatabase(prefix);
      await migratePostgres(url);
      return url;
    },
  };
}
