// Dispatch state on SQLite: tables in incidents.db beside the tickets (state/dispatch.ts).
import type Database from 'better-sqlite3';
import {
  knownFixEditSchema,
  knownFixId,
  teamSchema,
  technicianSchema,
  type KnownFixEdit,
  type KnownFixEditInput,
  type Team,
  type Technician,
} from '../../dispatch/model.js';
import { DispatchStateError, type DispatchStateStore } from '../dispatch.js';

export const DISPATCH_DDL = `
CREATE TABLE IF NOT EXISTS dispatch_teams (id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dispatch_technicians (id TEXT PRIMARY KEY, team TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS known_fix_edits (id TEXT PRIMARY KEY, body TEXT NOT NULL, by_user TEXT NOT NULL, at INTEGER NOT NULL);
`;

export class SqliteDispatchState implements DispatchStateStore {
  /** On an open database (incidents.db; it belongs to the caller). */
  constructor(private readonly db: Database.Database) {
    db.exec(DISPATCH_DDL);
  }

  async putTeam(team: Team, opts: { replace?: boolean } = {}): Promise<void> {
    const t = teamSchema.parse(team);
    const r = this.db
      .prepare(
        `INSERT INTO dispatch_teams (id, body) VALUES (?, ?) ${opts.replace ? 'ON CONFLICT (id) DO UPDATE SET body = excluded.body' : 'ON CONFLICT (id) DO NOTHING'}`,
      )
      .run(t.id, JSON.stringify(t));
    if (r.changes === 0) throw new DispatchStateError('exists', `team ${t.id} exists`);
  }

  async removeTeam(id: string): Promise<boolean> {
    return this.db
      .transaction(() => {
        const n = this.db.prepare('SELECT count(*) FROM dispatch_technicians WHERE team = ?').pluck().get(id) as number;
        if (n > 0) throw new DispatchStateError('bad-request', `team ${id} still has ${n} technician(s): remove or move them first`);
        return this.db.prepare('DELETE FROM dispatch_teams WHERE id = ?').run(id).changes > 0;
      })
      .immediate();
  }

  async teams(): Promise<Team[]> {
    return (this.db.prepare('SELECT body FROM dispatch_teams ORDER BY id').pluck().all() as string[]).map((b) => teamSchema.parse(JSON.parse(b)));
  }

  async putTechnician(tech: Technician, opts: { replace?: boolean } = {}): Promise<void> {
    const t = technicianSchema.parse(tech);
    this.db
      .transaction(() => {
        if (!this.db.prepare('SELECT 1 FROM dispatch_teams WHERE id = ?').get(t.team))
          throw new DispatchStateError('not-found', `no team ${t.team} (add it first: fleetcare team add)`);
        const r = this.db
          .prepare(
            `INSERT INTO dispatch_technicians (id, team, body) VALUES (?, ?, ?) ${opts.replace ? 'ON CONFLICT (id) DO UPDATE SET team = excluded.team, body = excluded.body' : 'ON CONFLICT (id) DO NOTHING'}`,
          )
          .run(t.id, t.team, JSON.stringify(t));
        if (r.changes === 0) throw new DispatchStateError('exists', `technician ${t.id} exists`);
      })
      .immediate();
  }

  async removeTechnician(id: string): Promise<boolean> {
    return this.db.prepare('DELETE FROM dispatch_technicians WHERE id = ?').run(id).changes > 0;
  }

  async technicians(): Promise<Technician[]> {
    return (this.db.prepare('SELECT body FROM dispatch_technicians ORDER BY id').pluck().all() as string[]).map((b) => technicianSchema.parse(JSON.parse(b)));
  }

  async putKnownFixEdit(edit: KnownFixEditInput, by: string, at: number): Promise<void> {
    const e = knownFixEditSchema.parse(edit);
    this.db
      .prepare(
        'INSERT INTO known_fix_edits (id, body, by_user, at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET body = excluded.body, by_user = excluded.by_user, at = excluded.at',
      )
      .run(knownFixId(e.profile, e.failureMode, e.cause), JSON.stringify(e), by, at);
  }

  async knownFixEdits(): Promise<Array<KnownFixEdit & { by: string; at: number }>> {
    const rows = this.db.prepare('SELECT body, by_user AS by, at FROM known_fix_edits ORDER BY id').all() as Array<{ body: string; by: string; at: number }>;
    return rows.map((r) => ({ ...knownFixEditSchema.parse(JSON.parse(r.body)), by: r.by, at: r.at }));
  }

  async close(): Promise<void> {}
}
