// The TelemetryStore contract over the embedded SQLite store, a fresh file per test.
import { join } from 'node:path';
import { SqliteStore } from '../../collector/index.js';
import { silentLog } from '../helpers/log.js';
import { tempDir } from '../helpers/tmp.js';
import { telemetryStoreSuite } from './telemetry-store-suite.js';

telemetryStoreSuite('sqlite', async () => {
  const dir = tempDir('fleetcare-store-contract-');
  return { store: new SqliteStore(join(dir.path, 'telemetry.db'), silentLog()), cleanup: async () => dir.remove() };
});
