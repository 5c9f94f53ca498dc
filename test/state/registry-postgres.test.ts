// The registry behaviour suite on PostgreSQL (cluster mode), against a real server.
import { migratePostgres } from '../../state/postgres/migrations.js';
import { PgRegistryState } from '../../state/postgres/registry.js';
import { TestPostgres } from '../helpers/postgres.js';
import { registrySuite } from './registry-suite.js';

let pg: TestPostgres;

registrySuite(
  'postgres',
  async () => {
    const url = await pg.createDatabase('registry');
    await migratePostgres(url);
    return { store: new PgRegistryState(url, { scryptCost: 16 }), cleanup: async () => {} };
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
