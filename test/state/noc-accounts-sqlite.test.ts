// The NOC account behaviour suite on SQLite (noc.db, the embedded default).
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { migrateSqlite } from '../../state/sqlite/migrations.js';
import { SqliteNocAccounts } from '../../state/sqlite/noc-accounts.js';
import { tempDir } from '../helpers/tmp.js';
import { nocAccountsSuite } from './noc-accounts-suite.js';

nocAccountsSuite('sqlite', async ({ sessionTtlMs }) => {
  const dir = tempDir('fleetcare-state-');
  const path = join(dir.path, 'noc.db');
  const db = new Database(path);
  await migrateSqlite(db, 'noc');
  db.close();
  return { store: new SqliteNocAccounts({ path, sessionTtlMs, scryptCost: 16 }), cleanup: async () => dir.remove() };
});
