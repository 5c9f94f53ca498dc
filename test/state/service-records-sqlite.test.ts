// The service record behaviour suite on SQLite (collector/service-records.db, the embedded default).
import { SqliteServiceRecordStore } from '../../state/sqlite/service-records.js';
import { serviceRecordsSuite } from './service-records-suite.js';
import { sqliteFileStores } from './suite-support.js';

serviceRecordsSuite(
  'sqlite',
  sqliteFileStores('service-records.db', 'serviceRecords', (path) => new SqliteServiceRecordStore(path)),
);
