// The incident store behaviour suite on SQLite (incidents.db, the embedded default).
import { join } from 'node:path';
import { IncidentStore } from '../../collector/incidents/store.js';
import { SqliteIncidentState } from '../../state/sqlite/incidents.js';
import { tempDir } from '../helpers/tmp.js';
import { incidentsSuite } from './incidents-suite.js';

incidentsSuite('sqlite', async (lifecycle) => {
  const dir = tempDir('fleetcare-state-');
  const incidents = new IncidentStore(join(dir.path, 'incidents.db'), lifecycle);
  return {
    store: new SqliteIncidentState(incidents),
    cleanup: async () => {
      incidents.close();
      dir.remove();
    },
  };
});
