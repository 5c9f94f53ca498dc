// The report unit behaviour suite on SQLite (noc.db, the embedded default).
import { SqliteReportUnits } from '../../state/sqlite/report-units.js';
import { reportUnitsSuite } from './report-units-suite.js';
import { sqliteStores } from './suite-support.js';

reportUnitsSuite(
  'sqlite',
  sqliteStores('noc.db', 'noc', (db) => new SqliteReportUnits(db)),
);
