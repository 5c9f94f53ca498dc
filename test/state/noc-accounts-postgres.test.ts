// The NOC account behaviour suite on PostgreSQL (cluster mode), against a real server.
import { migratePostgres } from '../../state/postgres/migrations.js';
import { PgNocAccounts } from '../../state/postgres/noc-accounts.js';
import { TestPostgres } from '../helpers/postgres.js';
import { nocAccountsSuite } from './noc-accounts-suite.js';

let pg: TestPostgres;

nocAccountsSuite(
  'postgres',
  async ({ sessionTtlMs }) => {
    const url = await pg.createDatabase('noc');
    await migratePostgres(url);
    return { store: new PgNocAccounts(url, { sessionTtlMs, scryptCost: 16 }), cleanup: async () => {} };
  },
  {
    before: async () => {
      pg = await TestPostgres.create();
    },
    after: async () => {
      await pg?.destroy();
    },
  },
);
