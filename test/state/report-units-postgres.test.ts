// The report unit behaviour suite on PostgreSQL (cluster mode), against a real server.
import { PgReportUnits } from '../../state/postgres/report-units.js';
import { migratedDatabases } from '../helpers/postgres.js';
import { reportUnitsSuite } from './report-units-suite.js';

const databases = migratedDatabases('units');

reportUnitsSuite(
  'postgres',
  async () => {
    const url = await databases.create();
    return { store: new PgReportUnits(url), cleanup: async () => {} };
  },
  databases.hooks,
);
