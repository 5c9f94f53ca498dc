// The report unit behaviour suite on SQLite (noc.db, the embedded default).
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { migrateSqlite } from '../../state/sqlite/migrations.js';
import { SqliteReportUnits } from '../../state/sqlite/report-units.js';
import { tempDir } from '../helpers/tmp.js';
import { reportUnitsSuite } from './report-units-suite.js';

reportUnitsSuite('sqlite', async () => {
  const dir = tempDir('fleetcare-state-');
  const db = new Database(join(dir.path, 'noc.db'));
  await migrateSqlite(db, 'noc');
  return {
    store: new SqliteReportUnits(db),
    cleanup: async () => {
      db.close();
      dir.remove();
    },
  };
});
