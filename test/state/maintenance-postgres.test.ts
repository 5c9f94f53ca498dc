// The maintenance window behaviour suite on PostgreSQL (cluster mode), against a real server.
import { PgMaintenance } from '../../state/postgres/maintenance.js';
import { maintenanceSuite } from './maintenance-suite.js';
import { postgresStores } from './suite-support.js';

maintenanceSuite('postgres', ...postgresStores('maintenance', (url) => new PgMaintenance(url)));
