// The ticket store behaviour suite on PostgreSQL (cluster mode), against a real server started
import { PgTicketState } from '../../state/postgres/tickets.js';
import { ticketStoreSuite } from './ticket-store-suite.js';
import { postgresStores } from './suite-support.js';

ticketStoreSuite('postgres', ...postgresStores('tickets', (url, { sinks }: { sinks: string[] }) => new PgTicketState(url, { sinks })));
