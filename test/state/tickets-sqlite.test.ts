// The ticket store behaviour suite on SQLite (the embedded default).
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { migrateSqlite } from '../../state/sqlite/migrations.js';
import { SqliteTicketState } from '../../state/sqlite/tickets.js';
import { tempDir } from '../helpers/tmp.js';
import { ticketStoreSuite } from './ticket-store-suite.js';

ticketStoreSuite('sqlite', async ({ sinks }) => {
  const dir = tempDir('fleetcare-state-');
  const db = new Database(join(dir.path, 'incidents.db'));
  db.pragma('journal_mode = WAL');
  await migrateSqlite(db, 'incidents');
  return {
    store: new SqliteTicketState({ db, sinks }),
    cleanup: async () => {
      db.close();
      dir.remove();
    },
  };
});
