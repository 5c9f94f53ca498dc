// The maintenance window behaviour suite on PostgreSQL (cluster mode), against a real server.
import { migratePostgres } from '../../state/postgres/migrations.js';
import { PgMaintenance } from '../../state/postgres/maintenance.js';
import { TestPostgres } from '../helpers/postgres.js';
import { maintenanceSuite } from './maintenance-suite.js';

let pg: TestPostgres;

maintenanceSuite(
  'postgres',
  async () => {
    const url = await pg.createDatabase('maintenance');
    await migratePostgres(url);
    return { store: new PgMaintenance(url), cleanup: async () => {} };
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
