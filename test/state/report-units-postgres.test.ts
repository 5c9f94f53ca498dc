// The report unit behaviour suite on PostgreSQL (cluster mode), against a real server.
import { PgReportUnits } from '../../state/postgres/report-units.js';
import { reportUnitsSuite } from './report-units-suite.js';
import { postgresStores } from './suite-support.js';

reportUnitsSuite('postgres', ...postgresStores('units', (url) => new PgReportUnits(url)));
