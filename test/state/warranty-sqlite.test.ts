// The warranty behaviour suite on SQLite (warranty.db, the embedded default).
import { SqliteWarrantyState } from '../../state/sqlite/warranty.js';
import { warrantySuite } from './warranty-suite.js';
import { sqliteFileStores } from './suite-support.js';

warrantySuite(
  'sqlite',
  sqliteFileStores('warranty.db', 'warranty', (path) => new SqliteWarrantyState({ path })),
);
