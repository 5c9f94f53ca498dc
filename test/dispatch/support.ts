// A dispatcher over real SQLite stores (incidents.db schema via the migrations), for the dispatch tests.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { pino } from 'pino';
import { serviceLevelAgreementSchema } from '../../collector/sla/index.js';
import type { TicketFieldsInput } from '../../collector/tickets/model.js';
import { dispatchConfigSchema, type DispatchConfigInput, type TeamInput, type TechnicianInput, teamSchema, technicianSchema } from '../../dispatch/model.js';
import { Dispatcher, type UnitFacts } from '../../dispatch/service.js';
import { defaultFirmwareProfilesDir, loadFirmwareProfiles } from '../../firmware-profiles/index.js';
import { SqliteDispatchState } from '../../state/sqlite/dispatch.js';
import { migrateSqlite } from '../../state/sqlite/migrations.js';
import { SqliteTicketState } from '../../state/sqlite/tickets.js';
import { tempDir } from '../helpers/tmp.js';
import { GOLD_24X7 } from '../helpers/sla.js';

export const HOUR = 3_600_000;

export type Harness = {
  db: Database.Database;
  tickets: SqliteTicketState;
  state: SqliteDispatchState;
  dispatcher: Dispatcher;
  /** Creates a ticket for device/peripheral/failure-mode at `at`. */
  open(key: string, at: number, over?: Partial<TicketFieldsInput>): Promise<string>;
  team(t: TeamInput): Promise<void>;
  tech(t: TechnicianInput): Promise<void>;
  close(): void;
};

/** Units the fake fleet knows: `device/peripheral` → kind and profile. */
export async function harness(opts: { units?: Record<string, UnitFacts>; config?: DispatchConfigInput; sinks?: string[] } = {}): Promise<Harness> {
  const dir = tempDir('fleetcare-dispatch-');
  const db = new Database(join(dir.path, 'incidents.db'));
  await migrateSqlite(db, 'incidents');
  const tickets = new SqliteTicketState({ db, sinks: opts.sinks ?? [] });
  const state = new SqliteDispatchState(db);
  const units = opts.units ?? {};
  const dispatcher = new Dispatcher({
    tickets,
    state,
    config: dispatchConfigSchema.parse(opts.config ?? {}),
    slaContext: { slas: {}, defaultSla: serviceLevelAgreementSchema.parse(GOLD_24X7) },
    unitOf: (device, peripheral) => units[`${device}/${peripheral ?? '-'}`] ?? { kind: null, profile: null },
    profiles: new Map(loadFirmwareProfiles(defaultFirmwareProfilesDir()).map((p) => [p.id, p])),
    log: pino({ level: 'silent' }),
  });
  return {
    db,
    tickets,
    state,
    dispatcher,
    async open(key, at, over = {}) {
      const [device, peripheral] = key.split('/');
      const sla = { serviceLevelAgreement: 'Gold 24x7', responseBy: null, resolutionBy: null, agreementStatus: 'First Response Due' as const };
      const r = await tickets.enqueue({
        kind: 'create',
        key,
        at,
        ticket: {
          subject: `problem ${key}`,
          description: 'd',
          priority: 'Medium',
          issueType: 'Hardware Failure',
          customer: 'acme',
          site: 'riyadh-1',
          device,
          peripheral: peripheral === '-' ? null : peripheral,
          sla,
          ...over,
        },
      });
      if (!r.applied) throw new Error(`not created: ${key}`);
      return r.ref;
    },
    team: (t) => state.putTeam(teamSchema.parse(t)),
    tech: (t) => state.putTechnician(technicianSchema.parse(t)),
    close() {
      db.close();
      dir.remove();
    },
  };
}
