// The dispatch store behaviour suite on SQLite (incidents.db, the embedded default).
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { SqliteDispatchState } from '../../state/sqlite/dispatch.js';
import { migrateSqlite } from '../../state/sqlite/migrations.js';
import { tempDir } from '../helpers/tmp.js';
import { dispatchSuite } from './dispatch-suite.js';

dispatchSuite('sqlite', async () => {
  const dir = tempDir('fleetcare-state-');
  const db = new Database(join(dir.path, 'incidents.db'));
  await migrateSqlite(db, 'incidents');
  return {
    store: new SqliteDispatchState(db),
    cleanup: async () => {
      db.close();
      dir.remove();
    },
  };
});
