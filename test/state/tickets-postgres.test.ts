// The ticket store behaviour suite on PostgreSQL (cluster mode), against a real server started
// for this file; each test gets a fresh database.
import { migratePostgres } from '../../state/postgres/migrations.js';
import { PgTicketState } from '../../state/postgres/tickets.js';
import { TestPostgres } from '../helpers/postgres.js';
import { ticketStoreSuite } from './ticket-store-suite.js';

let pg: TestPostgres;

ticketStoreSuite(
  'postgres',
  async ({ sinks }) => {
    const url = await pg.createDatabase('tickets');
    await migratePostgres(url);
    return { store: new PgTicketState(url, { sinks }), cleanup: async () => {} };
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
