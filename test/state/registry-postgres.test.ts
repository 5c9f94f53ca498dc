// The registry behaviour suite on PostgreSQL (cluster mode), against a real server.
import { PgRegistryState } from '../../state/postgres/registry.js';
import { registrySuite } from './registry-suite.js';
import { postgresStores } from './suite-support.js';

registrySuite('postgres', ...postgresStores('registry', (url) => new PgRegistryState(url, { scryptCost: 16 })));
