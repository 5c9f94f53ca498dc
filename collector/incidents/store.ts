// Incident lifecycle in SQLite. One live incident per dedup key (a partial unique index makes a
// duplicate impossible even under concurrent writers), every change in one transaction with the
// caller's hook (the ticket outbox is written in that same transaction), and no state in memory:
// reopening the database after a restart continues exactly where it stopped.
//
//   pending ──hold──▶ open ──recovery holds recoverMs──▶ resolved ──reopenWindow──▶ closed
//      │ recovered        ▲                                  │ firing again
//      ▼ (discarded)      └──────────── reopened ◀───────────┘
//
// Tickets are suggested per change (`ticket`), never sent here: muted by a maintenance window,
// inhibited by a live site incident, or flapping means `none`; a suppressed incident that is
// still open when the suppression ends is `released` with `create`.
import Database from 'better-sqlite3';
import { z } from 'zod';
import type { Finding, FindingKind, DetectorName, IssuePriority, RunbookRef } from '../detectors/types.js';
import { maintenanceWindow, windowActive, type MaintenanceWindow } from './maintenance.js';

export type IncidentState = 'pending' | 'open' | 'resolved' | 'closed';

export type Incident = {
  id: number;
  key: string;
  device: string;
  peripheral: string;
  failureMode: string;
  site: string | null;
  scope: 'device' | 'site';
  detector: DetectorName;
  kind: FindingKind;
  priority: IssuePriority;
  issueType: string;
  state: IncidentState;
  figures: Record<string, number | string>;
  eta: number | null;
  runbook: RunbookRef;
  inhibitableBySite: boolean;
  firstSeen: number;
  lastFiring: number;
  openedAt: number | null;
  recoveringSince: number | null;
  resolvedAt: number | null;
  closedAt: number | null;
  holdMs: number;
  recoverMs: number;
  reopenCount: number;
  flapping: boolean;
  /** Open/resolve transition times inside the flap window. */
  transitions: number[];
  /** A ticket was asked for (create) for this incident. */
  ticketed: boolean;
  /** Opened during a maintenance window of its site (ticket muted). */
  muted: boolean;
  /** Key of the site incident that inhibits this one. */
  inhibitedBy: string | null;
  updatedAt: number;
};

export type ChangeType = 'opened' | 'reopened' | 'updated' | 'resolved' | 'closed' | 'flapping' | 'flap-ended' | 'inhibited' | 'released';
/** What the ticket sinks should do with the change. */
export type TicketAction = 'create' | 'update' | 'reopen' | 'resolve' | 'close' | 'none';

export type IncidentChange = {
  type: ChangeType;
  ticket: TicketAction;
  at: number;
  incident: Incident;
  /** Why the ticket action is `none` when it would otherwise be one: muted, inhibited, flapping. */
  suppressed?: 'maintenance' | 'inhibited' | 'flapping';
};

export type ApplyHooks = {
  /**
   * Called inside the transaction for every change; what it writes through stores on the same
   * database (the ticket outbox) commits with the change. A throw rolls the whole apply back.
   */
  onChange?: (change: IncidentChange) => void;
};

export const incidentStoreOptions = z
  .object({
    /** Default hold before a firing condition opens an incident (a finding's holdMs wins). */
    holdMs: z.number().nonnegative().default(60_000),
    /** Default time the recovery condition must hold before resolving. */
    recoverMs: z
      .number()
      .nonnegative()
      .default(5 * 60_000),
    /** Firing again within this after resolving reopens the same incident. */
    reopenWindowMs: z
      .number()
      .nonnegative()
      .default(24 * 3_600_000),
    /** This many open/resolve transitions inside flapWindowMs mark the incident flapping… */
    flapCount: z.number().int().min(2).default(4),
    flapWindowMs: z.number().positive().default(3_600_000),
    /** …and it stops flapping after this long without a transition. */
    flapQuietMs: z.number().positive().default(3_600_000),
    /** An ETA moving by more than this is worth a ticket update. */
    etaUpdateMs: z.number().positive().default(86_400_000),
  })
  .strict()
  .prefault({});
export type IncidentStoreOptions = z.input<typeof incidentStoreOptions>;

type Row = Record<string, unknown>;

export function toIncident(r: Row): Incident {
  return {
    id: r.id as number,
    key: r.key as string,
    device: r.device as string,
    peripheral: r.peripheral as string,
    failureMode: r.failure_mode as string,
    site: (r.site as string | null) ?? null,
    scope: r.scope as Incident['scope'],
    detector: r.detector as DetectorName,
    kind: r.kind as FindingKind,
    priority: r.priority as IssuePriority,
    issueType: r.issue_type as string,
    state: r.state as IncidentState,
    figures: JSON.parse(r.figures as string),
    eta: (r.eta as number | null) ?? null,
    runbook: JSON.parse(r.runbook as string),
    inhibitableBySite: r.inhibitable === 1,
    firstSeen: r.first_seen as number,
    lastFiring: r.last_firing as number,
    openedAt: (r.opened_at as number | null) ?? null,
    recoveringSince: (r.recovering_since as number | null) ?? null,
    resolvedAt: (r.resolved_at as number | null) ?? null,
    closedAt: (r.closed_at as number | null) ?? null,
    holdMs: r.hold_ms as number,
    recoverMs: r.recover_ms as number,
    reopenCount: r.reopen_count as number,
    flapping: r.flapping === 1,
    transitions: JSON.parse(r.transitions as string),
    ticketed: r.ticketed === 1,
    muted: r.muted === 1,
    inhibitedBy: (r.inhibited_by as string | null) ?? null,
    updatedAt: r.updated_at as number,
  };
}

/** The columns a new (pending) incident is inserted with, `newIncidentValues` in order (SQLite and PostgreSQL). */
export const NEW_INCIDENT_COLUMNS =
  'key, device, peripheral, failure_mode, site, scope, detector, kind, priority, issue_type, figures, eta, runbook, inhibitable, first_seen, last_firing, hold_ms, recover_ms';

export function newIncidentValues(f: Finding, now: number, defaults: { holdMs: number; recoverMs: number }): unknown[] {
  return [
    f.key,
    f.device,
    f.peripheral,
    f.failureMode,
    f.site ?? null,
    f.scope,
    f.detector,
    f.kind,
    f.priority,
    f.issueType,
    JSON.stringify(f.figures),
    f.eta ?? null,
    JSON.stringify(f.runbook),
    f.inhibitableBySite ? 1 : 0,
    Math.min(f.since ?? now, now),
    now,
    f.holdMs ?? defaults.holdMs,
    f.recoverMs ?? defaults.recoverMs,
  ];
}

export const LIVE_STATES = "state IN ('pending', 'open', 'resolved')";
const LIVE = LIVE_STATES;

/** The incident store's tables (state/sqlite/migrations.ts runs the same at start). */
export const INCIDENT_STORE_DDL = `
      CREATE TABLE IF NOT EXISTS incidents (
        id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, device TEXT NOT NULL, peripheral TEXT NOT NULL,
        failure_mode TEXT NOT NULL, site TEXT, scope TEXT NOT NULL, detector TEXT NOT NULL, kind TEXT NOT NULL,
        priority TEXT NOT NULL, issue_type TEXT NOT NULL, state TEXT NOT NULL, figures TEXT NOT NULL, eta INTEGER,
        runbook TEXT NOT NULL, inhibitable INTEGER NOT NULL, first_seen INTEGER NOT NULL, last_firing INTEGER NOT NULL,
        opened_at INTEGER, recovering_since INTEGER, resolved_at INTEGER, closed_at INTEGER, hold_ms INTEGER NOT NULL,
        recover_ms INTEGER NOT NULL, reopen_count INTEGER NOT NULL DEFAULT 0, flapping INTEGER NOT NULL DEFAULT 0,
        transitions TEXT NOT NULL DEFAULT '[]', ticketed INTEGER NOT NULL DEFAULT 0, muted INTEGER NOT NULL DEFAULT 0,
        inhibited_by TEXT, updated_at INTEGER NOT NULL);
      -- One live incident per dedup key: creation is transactional per key (no duplicate alarms).
      CREATE UNIQUE INDEX IF NOT EXISTS incidents_live_key ON incidents (key) WHERE ${LIVE};
      CREATE INDEX IF NOT EXISTS incidents_state ON incidents (state, site);
      CREATE TABLE IF NOT EXISTS incident_log (id INTEGER PRIMARY KEY AUTOINCREMENT, incident INTEGER NOT NULL, at INTEGER NOT NULL,
        type TEXT NOT NULL, ticket TEXT NOT NULL, suppressed TEXT, figures TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS incident_log_incident ON incident_log (incident, id);
      CREATE TABLE IF NOT EXISTS maintenance_windows (id INTEGER PRIMARY KEY AUTOINCREMENT, site TEXT NOT NULL, spec TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS detector_state (name TEXT PRIMARY KEY, state TEXT NOT NULL, at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS detector_devices (device TEXT PRIMARY KEY, state TEXT NOT NULL, at INTEGER NOT NULL);
`;

export class IncidentStore {
  readonly db: Database.Database;
  readonly options: z.infer<typeof incidentStoreOptions>;
  private readonly ownsDb: boolean;

  /** `db`: a path (opened here, WAL) or an open database shared with the ticket outbox. */
  constructor(db: string | Database.Database, options: IncidentStoreOptions = {}) {
    this.options = incidentStoreOptions.parse(options);
    this.ownsDb = typeof db === 'string';
    this.db = typeof db === 'string' ? new Database(db) : db;
    if (this.ownsDb) {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
    }
    this.db.exec(INCIDENT_STORE_DDL);
  }

  close(): void {
    if (this.ownsDb) this.db.close();
  }

  // ------------------------------------------------------------------------------------------
  // queries

  /** The live (not closed) incident of a key. */
  get(key: string): Incident | null {
    const r = this.db.prepare(`SELECT * FROM incidents WHERE key = ? AND ${LIVE}`).get(key) as Row | undefined;
    return r ? toIncident(r) : null;
  }

  byId(id: number): Incident | null {
    const r = this.db.prepare('SELECT * FROM incidents WHERE id = ?').get(id) as Row | undefined;
    return r ? toIncident(r) : null;
  }

  list(filter: { state?: IncidentState | IncidentState[]; site?: string; key?: string } = {}): Incident[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.state) {
      const states = Array.isArray(filter.state) ? filter.state : [filter.state];
      where.push(`state IN (${states.map(() => '?').join(', ')})`);
      args.push(...states);
    }
    if (filter.site) {
      where.push('site = ?');
      args.push(filter.site);
    }
    if (filter.key) {
      where.push('key = ?');
      args.push(filter.key);
    }
    const sql = `SELECT * FROM incidents ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id`;
    return (this.db.prepare(sql).all(...args) as Row[]).map(toIncident);
  }

  /** Every change an incident went through, oldest first. */
  history(id: number): Array<{ at: number; type: ChangeType; ticket: TicketAction; suppressed: string | null }> {
    return this.db.prepare('SELECT at, type, ticket, suppressed FROM incident_log WHERE incident = ? ORDER BY id').all(id) as never;
  }

  // ------------------------------------------------------------------------------------------
  // maintenance windows

  addMaintenance(w: MaintenanceWindow): number {
    const parsed = maintenanceWindow.parse(w);
    return Number(this.db.prepare('INSERT INTO maintenance_windows (site, spec) VALUES (?, ?)').run(parsed.site, JSON.stringify(parsed)).lastInsertRowid);
  }

  removeMaintenance(id: number): boolean {
    return this.db.prepare('DELETE FROM maintenance_windows WHERE id = ?').run(id).changes > 0;
  }

  maintenance(): Array<MaintenanceWindow & { id: number }> {
    return (this.db.prepare('SELECT id, spec FROM maintenance_windows ORDER BY id').all() as Array<{ id: number; spec: string }>).map((r) => ({
      id: r.id,
      ...JSON.parse(r.spec),
    }));
  }

  inMaintenance(site: string | null | undefined, at: number): boolean {
    if (!site) return false;
    const rows = this.db.prepare('SELECT spec FROM maintenance_windows WHERE site = ?').all(site) as Array<{ spec: string }>;
    return rows.some((r) => windowActive(JSON.parse(r.spec) as MaintenanceWindow, at));
  }

  // ------------------------------------------------------------------------------------------
  // detector state (so the detectors' trailing windows survive a restart too)

  saveDetectorState(name: string, state: unknown, at: number): void {
    this.db
      .prepare('INSERT INTO detector_state (name, state, at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET state = excluded.state, at = excluded.at')
      .run(name, JSON.stringify(state), at);
  }

  loadDetectorState<T>(name: string): T | null {
    const r = this.db.prepare('SELECT state FROM detector_state WHERE name = ?').get(name) as { state: string } | undefined;
    return r ? (JSON.parse(r.state) as T) : null;
  }

  deleteDetectorState(name: string): void {
    this.db.prepare('DELETE FROM detector_state WHERE name = ?').run(name);
  }

  /** Per-device detector state (only the devices that changed are written; see pipeline.ts). */
  saveDeviceStates(states: Iterable<[string, unknown]>, at: number): number {
    const stmt = this.db.prepare(
      'INSERT INTO detector_devices (device, state, at) VALUES (?, ?, ?) ON CONFLICT (device) DO UPDATE SET state = excluded.state, at = excluded.at',
    );
    let bytes = 0;
    for (const [device, state] of states) {
      const json = JSON.stringify(state);
      bytes += json.length;
      stmt.run(device, json, at);
    }
    return bytes;
  }

  loadDeviceStates<T>(): T[] {
    return (this.db.prepare('SELECT state FROM detector_devices').pluck().all() as string[]).map((s) => JSON.parse(s) as T);
  }

  /** Devices with a live incident (their recovery must be evaluated even when they send nothing new). */
  liveDevices(): string[] {
    return this.db.prepare(`SELECT DISTINCT device FROM incidents WHERE ${LIVE}`).pluck().all() as string[];
  }

  // ------------------------------------------------------------------------------------------
  // lifecycle

  /**
   * Applies one evaluation's findings at `now`, then advances time-based transitions (holds,
   * recoveries, reopen windows, flapping, suppressions ending). All in one transaction, with
   * `hooks.onChange` called inside it for each change. Returns the changes.
   */
  apply(findings: readonly Finding[], now: number, hooks: ApplyHooks = {}): IncidentChange[] {
    return this.db.transaction(() => {
      const changes: IncidentChange[] = [];
      const emit = (type: ChangeType, id: number, ticket: TicketAction, suppressed?: IncidentChange['suppressed']) => {
        const incident = this.byId(id)!;
        if (ticket === 'create') {
          this.db.prepare('UPDATE incidents SET ticketed = 1 WHERE id = ?').run(id);
          incident.ticketed = true;
        }
        this.db
          .prepare('INSERT INTO incident_log (incident, at, type, ticket, suppressed, figures) VALUES (?, ?, ?, ?, ?, ?)')
          .run(id, now, type, ticket, suppressed ?? null, JSON.stringify(incident.figures));
        const change: IncidentChange = { type, ticket, at: now, incident, ...(suppressed ? { suppressed } : {}) };
        hooks.onChange?.(change);
        changes.push(change);
      };
      // A healthy fleet reports `recovered` for every key on every evaluation; only keys with a live
      // incident can change on one (`one` returns at once otherwise), so skip the rest here: one
      // query per apply instead of one per finding (50k per tick at 10k devices).
      const liveKeys = new Set(this.db.prepare(`SELECT key FROM incidents WHERE ${LIVE}`).pluck().all() as string[]);
      const relevant = findings.filter((f) => f.status !== 'recovered' || liveKeys.has(f.key));
      // Site findings first, so that device findings of the same evaluation see the site incident.
      const ordered = [...relevant.filter((f) => f.scope === 'site'), ...relevant.filter((f) => f.scope !== 'site')];
      for (const f of ordered) this.one(f, now, emit);
      this.sweep(now, emit);
      return changes;
    })();
  }

  /** Time passes with nothing observed. */
  tick(now: number, hooks: ApplyHooks = {}): IncidentChange[] {
    return this.apply([], now, hooks);
  }

  private live(key: string): Row | undefined {
    return this.db.prepare(`SELECT * FROM incidents WHERE key = ? AND ${LIVE}`).get(key) as Row | undefined;
  }

  private one(f: Finding, now: number, emit: Emit): void {
    let row = this.live(f.key);
    if (row && row.state === 'resolved' && now - (row.resolved_at as number) > this.options.reopenWindowMs) {
      this.closeResolved(toIncident(row), now, emit);
      row = undefined;
    }
    if (f.status === 'recovered') {
      if (!row) return;
      if (row.state === 'pending') {
        // Recovered before the hold: nothing was ever announced, nothing to keep.
        this.db.prepare('DELETE FROM incidents WHERE id = ?').run(row.id);
      } else if (row.state === 'open' && row.recovering_since === null) {
        this.db.prepare('UPDATE incidents SET recovering_since = ?, updated_at = ? WHERE id = ?').run(now, now, row.id);
      }
      return;
    }
    if (!row) {
      const values = [...newIncidentValues(f, now, this.options), now];
      this.db
        .prepare(`INSERT INTO incidents (${NEW_INCIDENT_COLUMNS}, updated_at, state) VALUES (${values.map(() => '?').join(', ')}, 'pending')`)
        .run(...values);
      return;
    }
    const figures = JSON.stringify(f.figures);
    const inc = toIncident(row);
    this.db
      .prepare('UPDATE incidents SET last_firing = ?, recovering_since = NULL, figures = ?, eta = ?, priority = ?, issue_type = ?, updated_at = ? WHERE id = ?')
      .run(now, figures, f.eta ?? null, f.priority, f.issueType, now, inc.id);
    if (inc.state === 'resolved') {
      this.transition(inc, 'open', now, emit);
    } else if (inc.state === 'open') {
      const etaMoved = f.eta !== undefined && inc.eta !== null && Math.abs(f.eta - inc.eta) > this.options.etaUpdateMs;
      if (f.priority !== inc.priority || etaMoved) {
        const why = this.suppression(inc, now);
        emit('updated', inc.id, inc.ticketed && !why ? 'update' : 'none', why ?? undefined);
      }
    }
  }

  /** Why a ticket must not be created/updated for this incident now, or null. */
  private suppression(inc: Incident, now: number): IncidentChange['suppressed'] | null {
    if (inc.flapping) return 'flapping';
    if (this.inhibitor(inc)) return 'inhibited';
    if (this.inMaintenance(inc.site, now)) return 'maintenance';
    return null;
  }

  /** The live site incident (pending counts: it is firing) that explains this device incident. */
  private inhibitor(inc: Incident): string | null {
    if (inc.scope !== 'device' || !inc.inhibitableBySite || !inc.site) return null;
    const r = this.db.prepare(`SELECT key FROM incidents WHERE scope = 'site' AND site = ? AND state IN ('pending', 'open')`).get(inc.site) as
      | { key: string }
      | undefined;
    return r?.key ?? null;
  }

  private recordTransition(inc: Incident, now: number): { transitions: number[]; startsFlapping: boolean } {
    const transitions = [...inc.transitions, now].filter((t) => t > now - this.options.flapWindowMs);
    const startsFlapping = !inc.flapping && transitions.length >= this.options.flapCount;
    return { transitions, startsFlapping };
  }

  private transition(inc: Incident, to: 'open' | 'resolved', now: number, emit: Emit): void {
    const { transitions, startsFlapping } = this.recordTransition(inc, now);
    const flapping = inc.flapping || startsFlapping;
    if (to === 'open') {
      const first = inc.state === 'pending';
      const inhibitedBy = this.inhibitor(inc);
      const muted = this.inMaintenance(inc.site, now);
      this.db
        .prepare(`UPDATE incidents SET state = 'open', opened_at = COALESCE(opened_at, ?), resolved_at = NULL, recovering_since = NULL,
          reopen_count = reopen_count + ?, transitions = ?, flapping = ?, muted = ?, inhibited_by = ?, updated_at = ? WHERE id = ?`)
        .run(now, first ? 0 : 1, JSON.stringify(transitions), flapping ? 1 : 0, muted ? 1 : 0, inhibitedBy, now, inc.id);
      const why: IncidentChange['suppressed'] | null = flapping ? 'flapping' : inhibitedBy ? 'inhibited' : muted ? 'maintenance' : null;
      if (first) emit('opened', inc.id, why ? 'none' : 'create', why ?? undefined);
      else if (startsFlapping) emit('flapping', inc.id, inc.ticketed ? 'update' : 'none');
      else emit('reopened', inc.id, why ? 'none' : inc.ticketed ? 'reopen' : 'create', why ?? undefined);
    } else {
      this.db
        .prepare(
          `UPDATE incidents SET state = 'resolved', resolved_at = ?, recovering_since = NULL, transitions = ?, flapping = ?, updated_at = ? WHERE id = ?`,
        )
        .run(now, JSON.stringify(transitions), flapping ? 1 : 0, now, inc.id);
      if (startsFlapping) emit('flapping', inc.id, inc.ticketed ? 'update' : 'none');
      else emit('resolved', inc.id, flapping || !inc.ticketed ? 'none' : 'resolve', flapping ? 'flapping' : undefined);
    }
  }

  private closeResolved(inc: Incident, now: number, emit: Emit): void {
    this.db.prepare(`UPDATE incidents SET state = 'closed', closed_at = ?, flapping = 0, updated_at = ? WHERE id = ?`).run(now, now, inc.id);
    emit('closed', inc.id, inc.ticketed ? 'close' : 'none');
  }

  private sweep(now: number, emit: Emit): void {
    const o = this.options;
    const rows = (
      this.db
        .prepare(`SELECT * FROM incidents WHERE state = 'pending' OR (state = 'open' AND (recovering_since IS NOT NULL OR ticketed = 0 OR (inhibitable = 1 AND site IS NOT NULL)))
          OR (state = 'resolved' AND resolved_at < ?) OR flapping = 1 ORDER BY scope DESC, id`)
        .all(now - o.reopenWindowMs) as Row[]
    ).map(toIncident);
    for (const seen of rows) {
      const inc = this.byId(seen.id)!; // earlier steps of this sweep may have changed it
      if (inc.state === 'pending') {
        if (inc.lastFiring - inc.firstSeen >= inc.holdMs) this.transition(inc, 'open', now, emit);
        continue;
      }
      if (inc.state === 'open' && inc.recoveringSince !== null && now - inc.recoveringSince >= inc.recoverMs) {
        this.transition(inc, 'resolved', now, emit);
        continue;
      }
      if (inc.state === 'resolved' && now - inc.resolvedAt! > o.reopenWindowMs) {
        this.closeResolved(inc, now, emit);
        continue;
      }
      if (inc.flapping && (inc.transitions.length === 0 || now - inc.transitions[inc.transitions.length - 1] >= o.flapQuietMs)) {
        this.db.prepare('UPDATE incidents SET flapping = 0, transitions = ?, updated_at = ? WHERE id = ?').run('[]', now, inc.id);
        emit('flap-ended', inc.id, !inc.ticketed ? (inc.state === 'open' ? 'create' : 'none') : inc.state === 'open' ? 'update' : 'resolve');
        continue;
      }
      if (inc.state !== 'open') continue;
      const inhibitedBy = this.inhibitor(inc);
      const muted = this.inMaintenance(inc.site, now);
      if (inhibitedBy !== inc.inhibitedBy || muted !== inc.muted) {
        this.db.prepare('UPDATE incidents SET inhibited_by = ?, muted = ?, updated_at = ? WHERE id = ?').run(inhibitedBy, muted ? 1 : 0, now, inc.id);
        if (inhibitedBy && !inc.inhibitedBy) emit('inhibited', inc.id, inc.ticketed ? 'update' : 'none', 'inhibited');
      }
      if (!inc.ticketed && !inc.flapping && !inhibitedBy && !muted) emit('released', inc.id, 'create');
    }
  }
}

type Emit = (type: ChangeType, id: number, ticket: TicketAction, suppressed?: IncidentChange['suppressed']) => void;
