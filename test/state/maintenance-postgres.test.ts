// The maintenance window behaviour suite on PostgreSQL (cluster mode), against a real server.
import { PgMaintenance } from '../../state/postgres/maintenance.js';
import { migratedDatabases } from '../helpers/postgres.js';
import { maintenanceSuite } from './maintenance-suite.js';

const databases = migratedDatabases('maintenance');

maintenanceSuite(
  'postgres',
  async () => {
    const url = await databases.create();
    return { store: new PgMaintenance(url), cleanup: async () => {} };
  },
  databases.hooks,
);
