// The command store behaviour suite on PostgreSQL (cluster mode), against a real server.
import { migratePostgres } from '../../state/postgres/migrations.js';
import { PgCommandState } from '../../state/postgres/commands.js';
import { TestPostgres } from '../helpers/postgres.js';
import { commandsSuite } from './commands-suite.js';

let pg: TestPostgres;

commandsSuite(
  'postgres',
  async () => {
    const url = await pg.createDatabase('commands');
    await migratePostgres(url);
    return { store: new PgCommandState(url), cleanup: async () => {} };
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
