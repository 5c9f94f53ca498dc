// The registry behaviour suite on SQLite (the embedded default).
import { SqliteRegistryState } from '../../state/sqlite/registry.js';
import { registrySuite } from './registry-suite.js';
import { sqliteFileStores } from './suite-support.js';

registrySuite(
  'sqlite',
  sqliteFileStores('registry.sqlite', 'registry', (path) => new SqliteRegistryState({ path, opts: { scryptCost: 16 } })),
);
