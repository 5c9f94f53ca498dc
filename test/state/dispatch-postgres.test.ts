// The dispatch store behaviour suite on PostgreSQL (cluster mode), against a real server.
import { PgDispatchState } from '../../state/postgres/dispatch.js';
import { migratePostgres } from '../../state/postgres/migrations.js';
import { TestPostgres } from '../helpers/postgres.js';
import { dispatchSuite } from './dispatch-suite.js';

let pg: TestPostgres;

dispatchSuite(
  'postgres',
  async () => {
    const url = await pg.createDatabase('dispatch');
    await migratePostgres(url);
    return { store: new PgDispatchState(url), cleanup: async () => {} };
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
