// The command store behaviour suite on PostgreSQL (cluster mode), against a real server.
import { PgCommandState } from '../../state/postgres/commands.js';
import { commandsSuite } from './commands-suite.js';
import { postgresStores } from './suite-support.js';

commandsSuite('postgres', ...postgresStores('commands', (url) => new PgCommandState(url)));
