// The report unit behaviour suite on PostgreSQL (cluster mode), against a real server.
import { migratePostgres } from '../../state/postgres/migrations.js';
import { PgReportUnits } from '../../state/postgres/report-units.js';
import { TestPostgres } from '../helpers/postgres.js';
import { reportUnitsSuite } from './report-units-suite.js';

let pg: TestPostgres;

reportUnitsSuite(
  'postgres',
  async () => {
    const url = await pg.createDatabase('units');
    await migratePostgres(url);
    return { store: new PgReportUnits(url), cleanup: async () => {} };
  },
  {
    before: async () => {
      pg = await TestPostgres.create();
    },
    after: async () => {
      await pg?.destroy();
    },
  },
);
