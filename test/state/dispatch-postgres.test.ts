// The dispatch store behaviour suite on PostgreSQL (cluster mode), against a real server.
import { PgDispatchState } from '../../state/postgres/dispatch.js';
import { dispatchSuite } from './dispatch-suite.js';
import { postgresStores } from './suite-support.js';

dispatchSuite('postgres', ...postgresStores('dispatch', (url) => new PgDispatchState(url)));
