// The warranty behaviour suite on SQLite (warranty.db, the embedded default).
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { migrateSqlite } from '../../state/sqlite/migrations.js';
import { SqliteWarrantyState } from '../../state/sqlite/warranty.js';
import { tempDir } from '../helpers/tmp.js';
import { warrantySuite } from './warranty-suite.js';

warrantySuite('sqlite', async () => {
  const dir = tempDir('fleetcare-state-');
  const path = join(dir.path, 'warranty.db');
  const db = new Database(path);
  await migrateSqlite(db, 'warranty');
  db.close();
  return { store: new SqliteWarrantyState({ path }), cleanup: async () => dir.remove() };
});
