// The registry behaviour suite on SQLite (the embedded default).
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { migrateSqlite } from '../../state/sqlite/migrations.js';
import { SqliteRegistryState } from '../../state/sqlite/registry.js';
import { tempDir } from '../helpers/tmp.js';
import { registrySuite } from './registry-suite.js';

registrySuite('sqlite', async () => {
  const dir = tempDir('fleetcare-state-');
  const path = join(dir.path, 'registry.sqlite');
  const db = new Database(path);
  await migrateSqlite(db, 'registry');
  db.close();
  return { store: new SqliteRegistryState({ path, opts: { scryptCost: 16 } }), cleanup: async () => dir.remove() };
});
