// Dispatch state on PostgreSQL (cluster mode): teams, technicians and known-fix texts shared by
// every node (state/dispatch.ts). Tables from migration 0010-dispatch.
import type pg from 'pg';
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
import { createPgPool, inTransaction } from './db.js';

export class PgDispatchState implements DispatchStateStore {
  private readonly pool: pg.Pool;

  constructor(url: string) {
    this.pool = createPgPool(url, { max: 4 });
  }

  async putTeam(team: Team, opts: { replace?: boolean } = {}): Promise<void> {
    const t = teamSchema.parse(team);
    const r = await this.pool.query(
      `INSERT INTO dispatch_teams (id, body) VALUES ($1, $2) ${opts.replace ? 'ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body' : 'ON CONFLICT (id) DO NOTHING'}`,
      [t.id, JSON.stringify(t)],
    );
    if (r.rowCount === 0) throw new DispatchStateError('exists', `team ${t.id} exists`);
  }

  async removeTeam(id: string): Promise<boolean> {
    return inTransaction(this.pool, async (c) => {
      // Locks the team row so a technician cannot join it meanwhile.
      const team = await c.query('SELECT 1 FROM dispatch_teams WHERE id = $1 FOR UPDATE', [id]);
      if (!team.rowCount) return false;
      const n = Number((await c.query('SELECT count(*) AS n FROM dispatch_technicians WHERE team = $1', [id])).rows[0].n);
      if (n > 0) throw new DispatchStateError('bad-request', `team ${id} still has ${n} technician(s): remove or move them first`);
      await c.query('DELETE FROM dispatch_teams WHERE id = $1', [id]);
      return true;
    });
  }

  async teams(): Promise<Team[]> {
    return (await this.pool.query('SELECT body FROM dispatch_teams ORDER BY id')).rows.map((r: { body: unknown }) => teamSchema.parse(r.body));
  }

  async putTechnician(tech: Technician, opts: { replace?: boolean } = {}): Promise<void> {
    const t = technicianSchema.parse(tech);
    await inTransaction(this.pool, async (c) => {
      if (!(await c.query('SELECT 1 FROM dispatch_teams WHERE id = $1 FOR SHARE', [t.team])).rowCount)
        throw new DispatchStateError('not-found', `no team ${t.team} (add it first: fleetcare team add)`);
      const r = await c.query(
        `INSERT INTO dispatch_technicians (id, team, body) VALUES ($1, $2, $3) ${opts.replace ? 'ON CONFLICT (id) DO UPDATE SET team = EXCLUDED.team, body = EXCLUDED.body' : 'ON CONFLICT (id) DO NOTHING'}`,
        [t.id, t.team, JSON.stringify(t)],
      );
      if (r.rowCount === 0) throw new DispatchStateError('exists', `technician ${t.id} exists`);
    });
  }

  async removeTechnician(id: string): Promise<boolean> {
    return ((await this.pool.query('DELETE FROM dispatch_technicians WHERE id = $1', [id])).rowCount ?? 0) > 0;
  }

  async technicians(): Promise<Technician[]> {
    return (await this.pool.query('SELECT body FROM dispatch_technicians ORDER BY id')).rows.map((r: { body: unknown }) => technicianSchema.parse(r.body));
  }

  async putKnownFixEdit(edit: KnownFixEditInput, by: string, at: number): Promise<void> {
    const e = knownFixEditSchema.parse(edit);
    await this.pool.query(
      'INSERT INTO known_fix_edits (id, body, by_user, at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body, by_user = EXCLUDED.by_user, at = EXCLUDED.at',
      [knownFixId(e.profile, e.failureMode, e.cause), JSON.stringify(e), by, at],
    );
  }

  async knownFixEdits(): Promise<Array<KnownFixEdit & { by: string; at: number }>> {
    const rows = (await this.pool.query('SELECT body, by_user, at FROM known_fix_edits ORDER BY id')).rows as Array<{
      body: unknown;
      by_user: string;
      at: number;
    }>;
    return rows.map((r) => ({ ...knownFixEditSchema.parse(r.body), by: r.by_user, at: r.at }));
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
