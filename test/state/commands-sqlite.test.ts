// The command store behaviour suite on SQLite (noc.db, the embedded default).
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { migrateSqlite } from '../../state/sqlite/migrations.js';
import { SqliteCommandState } from '../../state/sqlite/commands.js';
import { tempDir } from '../helpers/tmp.js';
import { commandsSuite } from './commands-suite.js';

commandsSuite('sqlite', async () => {
  const dir = tempDir('fleetcare-state-');
  const db = new Database(join(dir.path, 'noc.db'));
  await migrateSqlite(db, 'noc');
  return {
    store: new SqliteCommandState(db),
    cleanup: async () => {
      db.close();
      dir.remove();
    },
  };
});
