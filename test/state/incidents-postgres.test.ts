// The incident store behaviour suite on PostgreSQL (cluster mode), against a real server started
import type { IncidentStoreOptions } from '../../collector/incidents/store.js';
import { PgIncidentState } from '../../state/postgres/incidents.js';
import { incidentsSuite } from './incidents-suite.js';
import { postgresStores } from './suite-support.js';

incidentsSuite('postgres', ...postgresStores('incidents', (url, lifecycle: IncidentStoreOptions) => new PgIncidentState(url, { lifecycle })));
