// The incident store on PostgreSQL (cluster mode): the same lifecycle as the SQLite one
// (collector/incidents/store.ts — read its header for the rules), checked by the same suite.
//
// In a cluster each incident and each device's detector state belongs to the partition of its
// device (`partition`, cluster/partitions.ts; a site incident to the partition of `site:<site>`):
// only the partition's owner writes them. `applyIn` runs inside the caller's transaction, so the
// incident service can fence it by the partition leases and enqueue the ticket commands in the
// same commit (collector/incidents/cluster-pipeline.ts); `scope` limits the time-based sweep to the
// partitions the caller owns.
import type pg from 'pg';
import { partitionOf } from '../../cluster/partitions.js';
import type { Finding } from '../../collector/detectors/types.js';
import {
  LIVE_STATES as LIVE,
  NEW_INCIDENT_COLUMNS,
  incidentStoreOptions,
  newIncidentValues,
  toIncident,
  type ChangeType,
  type Incident,
  type IncidentChange,
  type IncidentStoreOptions,
  type TicketAction,
} from '../../collector/incidents/store.js';
import type { IncidentApplyHooks, IncidentFilter, IncidentHistoryEntry, IncidentStateStore } from '../incidents.js';
import type { MaintenanceWindow } from '../maintenance.js';
import { inTransaction, PgPooledStore, type Queryable } from './db.js';
import { PgMaintenance } from './maintenance.js';
import { windowActive } from '../../collector/incidents/maintenance.js';

type Row = Record<string, unknown>;

/** Hooks of an apply inside a caller's transaction: they may write through the same client. */
export type PgApplyHooks = { onChange?: (change: IncidentChange) => void | Promise<void> };

/** The partitions whose incidents an apply may sweep (all of them without a scope). */
export type PartitionScope = { partitions: readonly number[] };

type Emit = (type: ChangeType, id: number, ticket: TicketAction, suppressed?: IncidentChange['suppressed']) => Promise<void>;

export type PgIncidentStateOptions = {
  lifecycle?: IncidentStoreOptions;
  /** The cluster's partition count (cluster/partitions.ts); 1 outside a cluster. */
  partitions?: number;
};

export class PgIncidentState extends PgPooledStore implements IncidentStateStore {
  readonly options: ReturnType<typeof incidentStoreOptions.parse>;
  readonly partitions: number;
  private readonly windows: PgMaintenance;

  /** Over the database at `url` (or a pool made by createPgPool: BIGINT read as numbers), already migrated (state/postgres/migrations.ts). */
  constructor(source: string | pg.Pool, opts: PgIncidentStateOptions = {}) {
    super(source);
    this.options = incidentStoreOptions.parse(opts.lifecycle ?? {});
    this.partitions = opts.partitions ?? 1;
    this.windows = new PgMaintenance(this.pool);
  }

  partitionOf(device: string): number {
    return partitionOf(device, this.partitions);
  }

  // ---- reads ----

  async get(key: string, c: Queryable = this.pool): Promise<Incident | null> {
    const r = (await c.query(`SELECT * FROM incidents WHERE key = $1 AND ${LIVE}`, [key])).rows[0] as Row | undefined;
    return r ? toIncident(r) : null;
  }

  async byId(id: number, c: Queryable = this.pool): Promise<Incident | null> {
    const r = (await c.query('SELECT * FROM incidents WHERE id = $1', [id])).rows[0] as Row | undefined;
    return r ? toIncident(r) : null;
  }

  async list(filter: IncidentFilter = {}): Promise<Incident[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.state) {
      args.push(Array.isArray(filter.state) ? filter.state : [filter.state]);
      where.push(`state = ANY($${args.length})`);
    }
    if (filter.site) {
      args.push(filter.site);
      where.push(`site = $${args.length}`);
    }
    if (filter.key) {
      args.push(filter.key);
      where.push(`key = $${args.length}`);
    }
    const rows = (await this.pool.query(`SELECT * FROM incidents ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id`, args)).rows as Row[];
    return rows.map(toIncident);
  }

  async history(id: number): Promise<IncidentHistoryEntry[]> {
    return (await this.pool.query('SELECT at, type, ticket, suppressed FROM incident_log WHERE incident = $1 ORDER BY id', [id]))
      .rows as IncidentHistoryEntry[];
  }

  async liveDevices(scope?: PartitionScope, c: Queryable = this.pool): Promise<string[]> {
    const r = scope
      ? await c.query(`SELECT DISTINCT device FROM incidents WHERE ${LIVE} AND partition = ANY($1::int[])`, [scope.partitions])
      : await c.query(`SELECT DISTINCT device FROM incidents WHERE ${LIVE}`);
    return r.rows.map((x: { device: string }) => x.device);
  }

  // ---- detector state ----

  async saveDeviceStates(states: Iterable<[string, unknown]>, at: number): Promise<number> {
    return inTransaction(this.pool, (c) => this.saveDeviceStatesIn(c, states, at));
  }

  /** One statement for the whole batch (a tick may save thousands of devices). */
  async saveDeviceStatesIn(c: Queryable, states: Iterable<[string, unknown]>, at: number): Promise<number> {
    const devices: string[] = [];
    const parts: number[] = [];
    const jsons: string[] = [];
    let bytes = 0;
    for (const [device, state] of states) {
      const json = JSON.stringify(state);
      bytes += json.length;
      devices.push(device);
      parts.push(this.partitionOf(device));
      jsons.push(json);
    }
    if (!devices.length) return 0;
    await c.query(
      `INSERT INTO detector_devices (device, partition, state, at) SELECT d, p, s, $4 FROM unnest($1::text[], $2::int[], $3::text[]) AS t(d, p, s)
       ON CONFLICT (device) DO UPDATE SET partition = excluded.partition, state = excluded.state, at = excluded.at`,
      [devices, parts, jsons, at],
    );
    return bytes;
  }

  async loadDeviceStates<T>(scope?: PartitionScope): Promise<T[]> {
    const r = scope
      ? await this.pool.query('SELECT state FROM detector_devices WHERE partition = ANY($1::int[])', [scope.partitions])
      : await this.pool.query('SELECT state FROM detector_devices');
    return r.rows.map((x: { state: string }) => JSON.parse(x.state) as T);
  }

  // ---- maintenance windows (the maintenance_windows table; the apply reads them in its transaction) ----

  addMaintenance(w: MaintenanceWindow): Promise<number> {
    return this.windows.addMaintenance(w);
  }
  removeMaintenance(id: number): Promise<boolean> {
    return this.windows.removeMaintenance(id);
  }
  maintenance(): Promise<Array<MaintenanceWindow & { id: number }>> {
    return this.windows.maintenance();
  }
  async inMaintenance(site: string | null | undefined, at: number, c: Queryable = this.pool): Promise<boolean> {
    if (!site) return false;
    const rows = (await c.query('SELECT spec FROM maintenance_windows WHERE site = $1', [site])).rows as Array<{ spec: string }>;
    return rows.some((r) => windowActive(JSON.parse(r.spec) as MaintenanceWindow, at));
  }

  // ---- lifecycle ----

  async apply(findings: readonly Finding[], now: number, hooks: IncidentApplyHooks = {}): Promise<IncidentChange[]> {
    return inTransaction(this.pool, (c) => this.applyIn(c, findings, now, hooks));
  }

  /**
   * The apply on the caller's client, inside the caller's transaction (nothing commits here).
   * With `scope`, only incidents of those partitions are swept (and findings must be of them).
   */
  async applyIn(c: Queryable, findings: readonly Finding[], now: number, hooks: PgApplyHooks = {}, scope?: PartitionScope): Promise<IncidentChange[]> {
    const changes: IncidentChange[] = [];
    const emit: Emit = async (type, id, ticket, suppressed) => {
      const incident = (await this.byId(id, c))!;
      if (ticket === 'create') {
        await c.query('UPDATE incidents SET ticketed = 1 WHERE id = $1', [id]);
        incident.ticketed = true;
      }
      await c.query('INSERT INTO incident_log (incident, at, type, ticket, suppressed, figures) VALUES ($1, $2, $3, $4, $5, $6)', [
        id,
        now,
        type,
        ticket,
        suppressed ?? null,
        JSON.stringify(incident.figures),
      ]);
      const change: IncidentChange = { type, ticket, at: now, incident, ...(suppressed ? { suppressed } : {}) };
      await hooks.onChange?.(change);
      changes.push(change);
    };
    // As in SQLite: a `recovered` finding can only change a key with a live incident.
    const live = scope
      ? await c.query(`SELECT key FROM incidents WHERE ${LIVE} AND partition = ANY($1::int[])`, [scope.partitions])
      : await c.query(`SELECT key FROM incidents WHERE ${LIVE}`);
    const liveKeys = new Set(live.rows.map((r: { key: string }) => r.key));
    const relevant = findings.filter((f) => f.status !== 'recovered' || liveKeys.has(f.key));
    const ordered = [...relevant.filter((f) => f.scope === 'site'), ...relevant.filter((f) => f.scope !== 'site')];
    for (const f of ordered) await this.one(c, f, now, emit);
    await this.sweep(c, now, emit, scope);
    return changes;
  }

  private async live(c: Queryable, key: string): Promise<Row | undefined> {
    return (await c.query(`SELECT * FROM incidents WHERE key = $1 AND ${LIVE}`, [key])).rows[0] as Row | undefined;
  }

  private async one(c: Queryable, f: Finding, now: number, emit: Emit): Promise<void> {
    let row = await this.live(c, f.key);
    if (row && row.state === 'resolved' && now - (row.resolved_at as number) > this.options.reopenWindowMs) {
      await this.closeResolved(c, toIncident(row), now, emit);
      row = undefined;
    }
    if (f.status === 'recovered') {
      if (!row) return;
      if (row.state === 'pending') {
        await c.query('DELETE FROM incidents WHERE id = $1', [row.id]);
      } else if (row.state === 'open' && row.recovering_since === null) {
        await c.query('UPDATE incidents SET recovering_since = $1, updated_at = $1 WHERE id = $2', [now, row.id]);
      }
      return;
    }
    if (!row) {
      const values = [...newIncidentValues(f, now, this.options), now, this.partitionOf(f.device)];
      await c.query(
        `INSERT INTO incidents (${NEW_INCIDENT_COLUMNS}, updated_at, partition, state) VALUES (${values.map((_, i) => `$${i + 1}`).join(', ')}, 'pending')`,
        values,
      );
      return;
    }
    const figures = JSON.stringify(f.figures);
    const inc = toIncident(row);
    await c.query(
      'UPDATE incidents SET last_firing = $1, recovering_since = NULL, figures = $2, eta = $3, priority = $4, issue_type = $5, updated_at = $1 WHERE id = $6',
      [now, figures, f.eta ?? null, f.priority, f.issueType, inc.id],
    );
    if (inc.state === 'resolved') {
      await this.transition(c, inc, 'open', now, emit);
    } else if (inc.state === 'open') {
      const etaMoved = f.eta !== undefined && inc.eta !== null && Math.abs(f.eta - inc.eta) > this.options.etaUpdateMs;
      if (f.priority !== inc.priority || etaMoved) {
        const why = await this.suppression(c, inc, now);
        await emit('updated', inc.id, inc.ticketed && !why ? 'update' : 'none', why ?? undefined);
      }
    }
  }

  private async suppression(c: Queryable, inc: Incident, now: number): Promise<IncidentChange['suppressed'] | null> {
    if (inc.flapping) return 'flapping';
    if (await this.inhibitor(c, inc)) return 'inhibited';
    if (await this.inMaintenance(inc.site, now, c)) return 'maintenance';
    return null;
  }

  /** A site incident may belong to another partition: read only. */
  private async inhibitor(c: Queryable, inc: Incident): Promise<string | null> {
    if (inc.scope !== 'device' || !inc.inhibitableBySite || !inc.site) return null;
    const r = (await c.query(`SELECT key FROM incidents WHERE scope = 'site' AND site = $1 AND state IN ('pending', 'open') LIMIT 1`, [inc.site])).rows[0] as
      | { key: string }
      | undefined;
    return r?.key ?? null;
  }

  private recordTransition(inc: Incident, now: number): { transitions: number[]; startsFlapping: boolean } {
    const transitions = [...inc.transitions, now].filter((t) => t > now - this.options.flapWindowMs);
    return { transitions, startsFlapping: !inc.flapping && transitions.length >= this.options.flapCount };
  }

  private async transition(c: Queryable, inc: Incident, to: 'open' | 'resolved', now: number, emit: Emit): Promise<void> {
    const { transitions, startsFlapping } = this.recordTransition(inc, now);
    const flapping = inc.flapping || startsFlapping;
    if (to === 'open') {
      const first = inc.state === 'pending';
      const inhibitedBy = await this.inhibitor(c, inc);
      const muted = await this.inMaintenance(inc.site, now, c);
      await c.query(
        `UPDATE incidents SET state = 'open', opened_at = COALESCE(opened_at, $1), resolved_at = NULL, recovering_since = NULL,
           reopen_count = reopen_count + $2, transitions = $3, flapping = $4, muted = $5, inhibited_by = $6, updated_at = $1 WHERE id = $7`,
        [now, first ? 0 : 1, JSON.stringify(transitions), flapping ? 1 : 0, muted ? 1 : 0, inhibitedBy, inc.id],
      );
      const why: IncidentChange['suppressed'] | null = flapping ? 'flapping' : inhibitedBy ? 'inhibited' : muted ? 'maintenance' : null;
      if (first) await emit('opened', inc.id, why ? 'none' : 'create', why ?? undefined);
      else if (startsFlapping) await emit('flapping', inc.id, inc.ticketed ? 'update' : 'none');
      else await emit('reopened', inc.id, why ? 'none' : inc.ticketed ? 'reopen' : 'create', why ?? undefined);
    } else {
      await c.query(
        `UPDATE incidents SET state = 'resolved', resolved_at = $1, recovering_since = NULL, transitions = $2, flapping = $3, updated_at = $1 WHERE id = $4`,
        [now, JSON.stringify(transitions), flapping ? 1 : 0, inc.id],
      );
      if (startsFlapping) await emit('flapping', inc.id, inc.ticketed ? 'update' : 'none');
      else await emit('resolved', inc.id, flapping || !inc.ticketed ? 'none' : 'resolve', flapping ? 'flapping' : undefined);
    }
  }

  private async closeResolved(c: Queryable, inc: Incident, now: number, emit: Emit): Promise<void> {
    await c.query(`UPDATE incidents SET state = 'closed', closed_at = $1, flapping = 0, updated_at = $1 WHERE id = $2`, [now, inc.id]);
    await emit('closed', inc.id, inc.ticketed ? 'close' : 'none');
  }

  private async sweep(c: Queryable, now: number, emit: Emit, scope?: PartitionScope): Promise<void> {
    const o = this.options;
    const args: unknown[] = [now - o.reopenWindowMs];
    if (scope) args.push(scope.partitions);
    const rows = (
      (
        await c.query(
          `SELECT * FROM incidents WHERE (state = 'pending' OR (state = 'open' AND (recovering_since IS NOT NULL OR ticketed = 0 OR (inhibitable = 1 AND site IS NOT NULL)))
         OR (state = 'resolved' AND resolved_at < $1) OR flapping = 1) ${scope ? 'AND partition = ANY($2::int[])' : ''} ORDER BY scope DESC, id`,
          args,
        )
      ).rows as Row[]
    ).map(toIncident);
    for (const seen of rows) {
      const inc = (await this.byId(seen.id, c))!; // earlier steps of this sweep may have changed it
      if (inc.state === 'pending') {
        if (inc.lastFiring - inc.firstSeen >= inc.holdMs) await this.transition(c, inc, 'open', now, emit);
        continue;
      }
      if (inc.state === 'open' && inc.recoveringSince !== null && now - inc.recoveringSince >= inc.recoverMs) {
        await this.transition(c, inc, 'resolved', now, emit);
        continue;
      }
      if (inc.state === 'resolved' && now - inc.resolvedAt! > o.reopenWindowMs) {
        await this.closeResolved(c, inc, now, emit);
        continue;
      }
      if (inc.flapping && (inc.transitions.length === 0 || now - inc.transitions[inc.transitions.length - 1] >= o.flapQuietMs)) {
        await c.query(`UPDATE incidents SET flapping = 0, transitions = '[]', updated_at = $1 WHERE id = $2`, [now, inc.id]);
        await emit('flap-ended', inc.id, !inc.ticketed ? (inc.state === 'open' ? 'create' : 'none') : inc.state === 'open' ? 'update' : 'resolve');
        continue;
      }
      if (inc.state !== 'open') continue;
      const inhibitedBy = await this.inhibitor(c, inc);
      const muted = await this.inMaintenance(inc.site, now, c);
      if (inhibitedBy !== inc.inhibitedBy || muted !== inc.muted) {
        await c.query('UPDATE incidents SET inhibited_by = $1, muted = $2, updated_at = $3 WHERE id = $4', [inhibitedBy, muted ? 1 : 0, now, inc.id]);
        if (inhibitedBy && !inc.inhibitedBy) await emit('inhibited', inc.id, inc.ticketed ? 'update' : 'none', 'inhibited');
      }
      if (!inc.ticketed && !inc.flapping && !inhibitedBy && !muted) await emit('released', inc.id, 'create');
    }
  }
}
