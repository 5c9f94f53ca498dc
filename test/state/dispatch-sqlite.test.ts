// The dispatch store behaviour suite on SQLite (incidents.db, the embedded default).
import { SqliteDispatchState } from '../../state/sqlite/dispatch.js';
import { dispatchSuite } from './dispatch-suite.js';
import { sqliteStores } from './suite-support.js';

dispatchSuite(
  'sqlite',
  sqliteStores('incidents.db', 'incidents', (db) => new SqliteDispatchState(db)),
);
