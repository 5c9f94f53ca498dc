// The incident store behaviour suite on PostgreSQL (cluster mode), against a real server started
// for this file; each test gets a fresh database.
import { migratePostgres } from '../../state/postgres/migrations.js';
import { PgIncidentState } from '../../state/postgres/incidents.js';
import { TestPostgres } from '../helpers/postgres.js';
import { incidentsSuite } from './incidents-suite.js';

let pg: TestPostgres;

incidentsSuite(
  'postgres',
  async (lifecycle) => {
    const url = await pg.createDatabase('incidents');
    await migratePostgres(url);
    return { store: new PgIncidentState(url, { lifecycle }), cleanup: async () => {} };
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
