// The dedup behaviour suite on PostgreSQL (cluster mode), against a real server.
import { migratePostgres } from '../../state/postgres/migrations.js';
import { PgDedup } from '../../state/postgres/dedup.js';
import { TestPostgres } from '../helpers/postgres.js';
import { dedupSuite } from './dedup-suite.js';

let pg: TestPostgres;

dedupSuite(
  'postgres',
  async () => {
    const url = await pg.createDatabase('dedup');
    await migratePostgres(url);
    return { store: new PgDedup(url), reopen: async () => new PgDedup(url), cleanup: async () => {} };
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
