// The NOC account behaviour suite on SQLite (noc.db, the embedded default).
import { SqliteNocAccounts } from '../../state/sqlite/noc-accounts.js';
import { nocAccountsSuite } from './noc-accounts-suite.js';
import { sqliteFileStores } from './suite-support.js';

nocAccountsSuite(
  'sqlite',
  sqliteFileStores('noc.db', 'noc', (path, { sessionTtlMs }: { sessionTtlMs: number }) => new SqliteNocAccounts({ path, sessionTtlMs, scryptCost: 16 })),
);
