// The command store behaviour suite on PostgreSQL (cluster mode), against a real server.
import { PgCommandState } from '../../state/postgres/commands.js';
import { migratedDatabases } from '../helpers/postgres.js';
import { commandsSuite } from './commands-suite.js';

const databases = migratedDatabases('commands');

commandsSuite(
  'postgres',
  async () => {
    const url = await databases.create();
    return { store: new PgCommandState(url), cleanup: async () => {} };
  },
  databases.hooks,
);
