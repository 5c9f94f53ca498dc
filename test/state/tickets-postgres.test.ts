// The ticket store behaviour suite on PostgreSQL (cluster mode), against a real server started
// for this file; each test gets a fresh database.
import { PgTicketState } from '../../state/postgres/tickets.js';
import { migratedDatabases } from '../helpers/postgres.js';
import { ticketStoreSuite } from './ticket-store-suite.js';

const databases = migratedDatabases('tickets');

ticketStoreSuite(
  'postgres',
  async ({ sinks }) => {
    const url = await databases.create();
    return { store: new PgTicketState(url, { sinks }), cleanup: async () => {} };
  },
  databases.hooks,
);
