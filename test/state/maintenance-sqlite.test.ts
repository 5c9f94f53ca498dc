// The maintenance window behaviour suite on SQLite (incidents.db, the embedded default).
import { join } from 'node:path';
import { IncidentStore } from '../../collector/incidents/store.js';
import { SqliteMaintenance } from '../../state/sqlite/maintenance.js';
import { tempDir } from '../helpers/tmp.js';
import { maintenanceSuite } from './maintenance-suite.js';

maintenanceSuite('sqlite', async () => {
  const dir = tempDir('fleetcare-state-');
  const incidents = new IncidentStore(join(dir.path, 'incidents.db'));
  return {
    store: new SqliteMaintenance(incidents),
    cleanup: async () => {
      incidents.close();
      dir.remove();
    },
  };
});
