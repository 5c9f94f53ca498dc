// The NOC account behaviour suite on PostgreSQL (cluster mode), against a real server.
import { PgNocAccounts } from '../../state/postgres/noc-accounts.js';
import { migratedDatabases } from '../helpers/postgres.js';
import { nocAccountsSuite } from './noc-accounts-suite.js';

const databases = migratedDatabases('noc');

nocAccountsSuite(
  'postgres',
  async ({ sessionTtlMs }) => {
    const url = await databases.create();
    return { store: new PgNocAccounts(url, { sessionTtlMs, scryptCost: 16 }), cleanup: async () => {} };
  },
  databases.hooks,
);
