// The warranty behaviour suite on PostgreSQL (cluster mode), against a real server.
import { PgWarrantyState } from '../../state/postgres/warranty.js';
import { warrantySuite } from './warranty-suite.js';
import { postgresStores } from './suite-support.js';

warrantySuite('postgres', ...postgresStores('warranty', (url) => new PgWarrantyState(url)));
