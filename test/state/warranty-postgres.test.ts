// The warranty behaviour suite on PostgreSQL (cluster mode), against a real server.
import { PgWarrantyState } from '../../state/postgres/warranty.js';
import { migratedDatabases } from '../helpers/postgres.js';
import { warrantySuite } from './warranty-suite.js';

const databases = migratedDatabases('warranty');

warrantySuite(
  'postgres',
  async () => {
    const url = await databases.create();
    return { store: new PgWarrantyState(url), cleanup: async () => {} };
  },
  databases.hooks,
);
