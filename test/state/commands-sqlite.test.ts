// The command store behaviour suite on SQLite (noc.db, the embedded default).
import { SqliteCommandState } from '../../state/sqlite/commands.js';
import { commandsSuite } from './commands-suite.js';
import { sqliteStores } from './suite-support.js';

commandsSuite(
  'sqlite',
  sqliteStores('noc.db', 'noc', (db) => new SqliteCommandState(db)),
);
