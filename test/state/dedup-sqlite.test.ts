// The dedup behaviour suite on SQLite (collector.db, the embedded default).
import { join } from 'node:path';
import { SqliteDedup } from '../../state/sqlite/dedup.js';
import { tempDir } from '../helpers/tmp.js';
import { dedupSuite } from './dedup-suite.js';

dedupSuite('sqlite', async () => {
  const dir = tempDir('fleetcare-state-');
  const path = join(dir.path, 'collector.db');
  return { store: new SqliteDedup({ path }), reopen: async () => new SqliteDedup({ path }), cleanup: async () => dir.remove() };
});
