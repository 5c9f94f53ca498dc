// The registry behaviour suite on PostgreSQL (cluster mode), against a real server.
import { PgRegistryState } from '../../state/postgres/registry.js';
import { migratedDatabases } from '../helpers/postgres.js';
import { registrySuite } from './registry-suite.js';

const databases = migratedDatabases('registry');

registrySuite(
  'postgres',
  async () => {
    const url = await databases.create();
    return { store: new PgRegistryState(url, { scryptCost: 16 }), cleanup: async () => {} };
  },
  databases.hooks,
);
