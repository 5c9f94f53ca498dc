// The service record behaviour suite on PostgreSQL (cluster mode), against a real server.
import { PgServiceRecordStore } from '../../state/postgres/service-records.js';
import { serviceRecordsSuite } from './service-records-suite.js';
import { postgresStores } from './suite-support.js';

serviceRecordsSuite('postgres', ...postgresStores('service_records', (url) => new PgServiceRecordStore(url)));
