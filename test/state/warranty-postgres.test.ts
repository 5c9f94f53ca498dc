// The warranty behaviour suite on PostgreSQL (cluster mode), against a real server.
import { migratePostgres } from '../../state/postgres/migrations.js';
import { PgWarrantyState } from '../../state/postgres/warranty.js';
import { TestPostgres } from '../helpers/postgres.js';
import { warrantySuite } from './warranty-suite.js';

let pg: TestPostgres;

warrantySuite(
  'postgres',
  async () => {
    const url = await pg.createDatabase('warranty');
    await migratePostgres(url);
    return { store: new PgWarrantyState(url), cleanup: async () => {} };
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
