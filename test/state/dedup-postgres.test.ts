// The dedup behaviour suite on PostgreSQL (cluster mode), against a real server.
import { PgDedup } from '../../state/postgres/dedup.js';
import { migratedDatabases } from '../helpers/postgres.js';
import { dedupSuite } from './dedup-suite.js';

const databases = migratedDatabases('dedup');

dedupSuite(
  'postgres',
  async () => {
    const url = await databases.create();
    return { store: new PgDedup(url), reopen: async () => new PgDedup(url), cleanup: async () => {} };
  },
  databases.hooks,
);
