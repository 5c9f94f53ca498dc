// Tickets as the NOC reads them: filtered lists, per-device and per-site counts (read-only SQL on
// the built-in ticket store of the incident service, collector/tickets/store.ts), and each
// ticket's status history.
//
// Why a history here: the ticket store keeps a ticket's current status only, and the outbox rows
// that carried each change are deleted once sent (none are written without external sinks). So
// the NOC records every status it sees in noc.db (ticket_status_history) and publishes a `ticket`
// live event per change. It sees changes two ways:
// - made through this process's connection (the incident service, the HTTP ticket actions): a
//   TEMP trigger on that connection copies each insert/update into a TEMP table, read every
//   `pollMs` — every change, in order, whatever time the change carries;
// - made by another process (the CLI on the same file): a look-back poll for tickets whose
//   version moved (every `externalPollMs`). Two such changes inside one poll are seen as the last;
//   changes made while no NOC ran are seen, at their updated_at, when it starts.
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { IncidentServiceHandle } from '../collector/incident-service.js';
import type { Ticket } from '../collector/tickets/index.js';
import type { LiveEvent, TicketSummary } from './api.js';

/** Statuses that count as the first response (deadlines.ts: Replied, or a fulfilled-on status). */
export const RESPONSE_STATUSES = new Set(['Replied', 'Resolved', 'Closed']);
export const DONE_STATUSES = new Set(['Resolved', 'Closed']);

const HISTORY_DDL = `
CREATE TABLE IF NOT EXISTS ticket_status_history (
  ref TEXT NOT NULL, version INTEGER NOT NULL, status TEXT NOT NULL, at INTEGER NOT NULL,
  PRIMARY KEY (ref, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ticket_watch (id INTEGER PRIMARY KEY CHECK (id = 1), since INTEGER NOT NULL);
`;

type TicketRow = {
  ref: string;
  dedup_key: string;
  occurrence: number;
  version: number;
  status: string;
  priority: string;
  issue_type: string;
  customer: string;
  site: string | null;
  device: string;
  peripheral: string | null;
  opened_at: number;
  updated_at: number;
  closed_at: number | null;
  fields: string;
};

export type TicketFilter = {
  open?: boolean;
  status?: string[];
  priority?: string[];
  type?: string;
  customer?: string;
  site?: string;
  device?: string;
};

/** How far back the external poll looks for changed tickets (a change's `at` can trail the clock a little). */
const LOOKBACK_MS = 120_000;

type Change = { ref: string; dedup_key: string; version: number; status: string; priority: string; device: string; opened_at: number; updated_at: number };

// TEMP objects live in this connection only: nothing is added to the ticket database's schema.
const CHANGE_CAPTURE = `
CREATE TEMP TABLE IF NOT EXISTS noc_ticket_changes (
  id INTEGER PRIMARY KEY AUTOINCREMENT, ref TEXT NOT NULL, dedup_key TEXT NOT NULL, version INTEGER NOT NULL, status TEXT NOT NULL,
  priority TEXT NOT NULL, device TEXT NOT NULL, opened_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TEMP TRIGGER IF NOT EXISTS noc_ticket_inserted AFTER INSERT ON main.tickets BEGIN
  INSERT INTO noc_ticket_changes (ref, dedup_key, version, status, priority, device, opened_at, updated_at)
  VALUES (new.ref, new.dedup_key, new.version, new.status, new.priority, new.device, new.opened_at, new.updated_at);
END;
CREATE TEMP TRIGGER IF NOT EXISTS noc_ticket_updated AFTER UPDATE ON main.tickets BEGIN
  INSERT INTO noc_ticket_changes (ref, dedup_key, version, status, priority, device, opened_at, updated_at)
  VALUES (new.ref, new.dedup_key, new.version, new.status, new.priority, new.device, new.opened_at, new.updated_at);
END;
`;

export class TicketsView {
  readonly db: Database.Database;
  private readonly history: Database.Database;
  /** Highest version recorded per ticket. */
  private readonly seen = new Map<string, number>();
  private since: number;
  private timers: NodeJS.Timeout[] = [];
  private unsubscribe: (() => void) | null = null;
  private closed = false;

  constructor(
    private readonly incidents: IncidentServiceHandle,
    nocDb: Database.Database,
    private readonly opts: { log: Logger; publish: (e: LiveEvent) => void; pollMs?: number; externalPollMs?: number },
  ) {
    this.db = incidents.tickets.db;
    this.history = nocDb;
    this.history.exec(HISTORY_DDL);
    this.db.exec(CHANGE_CAPTURE);
    for (const r of this.history.prepare('SELECT ref, max(version) AS v FROM ticket_status_history GROUP BY ref').all() as Array<{ ref: string; v: number }>) this.seen.set(r.ref, r.v);
    const saved = this.history.prepare('SELECT since FROM ticket_watch WHERE id = 1').pluck().get() as number | undefined;
    this.since = saved ?? 0;
    // Catches up on what changed while no NOC watched (first start: every ticket), without events.
    this.pollExternal(true);
  }

  start(): void {
    this.timers.push(setInterval(() => this.pollChanges(), this.opts.pollMs ?? 500), setInterval(() => this.pollExternal(false), this.opts.externalPollMs ?? 5000));
    for (const t of this.timers) t.unref();
    // The outbox wakes its senders after a commit that added rows (only with external sinks).
    this.unsubscribe = this.incidents.ticketing.outbox.subscribe(() => setImmediate(() => this.pollChanges()));
  }

  close(): void {
    if (this.closed) return;
    this.pollChanges();
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.unsubscribe?.();
    try {
      this.db.exec('DROP TRIGGER IF EXISTS temp.noc_ticket_inserted; DROP TRIGGER IF EXISTS temp.noc_ticket_updated; DROP TABLE IF EXISTS temp.noc_ticket_changes;');
    } catch (e) {
      this.opts.log.warn({ err: (e as Error).message }, 'ticket change capture not removed');
    }
  }

  /** Records the changes captured on this connection since the last call, in order, and publishes them. */
  pollChanges(): void {
    if (this.closed) return;
    try {
      const rows = this.db.prepare('SELECT * FROM temp.noc_ticket_changes ORDER BY id').all() as Array<Change & { id: number }>;
      if (!rows.length) return;
      this.record(rows, false);
      this.db.prepare('DELETE FROM temp.noc_ticket_changes WHERE id <= ?').run(rows[rows.length - 1].id);
    } catch (e) {
      this.opts.log.error({ err: (e as Error).message }, 'ticket change poll failed; retried at the next poll');
    }
  }

  /** Finds versions changed by other processes (the CLI) and records them; publishes them unless `quiet`. */
  pollExternal(quiet: boolean): void {
    if (this.closed) return;
    try {
      this.pollChanges();
      const rows = this.db
        .prepare('SELECT ref, dedup_key, version, status, priority, device, opened_at, updated_at FROM tickets WHERE updated_at >= ? ORDER BY updated_at, ref')
        .all(this.since - LOOKBACK_MS) as Change[];
      this.record(rows, quiet);
    } catch (e) {
      this.opts.log.error({ err: (e as Error).message }, 'ticket watcher poll failed; retried at the next poll');
    }
  }

  private record(rows: Change[], quiet: boolean): void {
    const insert = this.history.prepare('INSERT OR IGNORE INTO ticket_status_history (ref, version, status, at) VALUES (?, ?, ?, ?)');
    const lastStatus = this.history.prepare('SELECT status FROM ticket_status_history WHERE ref = ? ORDER BY version DESC LIMIT 1').pluck();
    const events: LiveEvent[] = [];
    let newest = this.since;
    this.history.transaction(() => {
      for (const r of rows) {
        newest = Math.max(newest, r.updated_at);
        if ((this.seen.get(r.ref) ?? 0) >= r.version) continue;
        this.seen.set(r.ref, r.version);
        const before = lastStatus.get(r.ref) as string | undefined;
        // Only status changes go into the history (comments and SLA updates also bump the version).
        if (before !== r.status) insert.run(r.ref, r.version, r.status, r.version === 1 ? r.opened_at : r.updated_at);
        if (!quiet) events.push({ type: 'ticket', ref: r.ref, key: r.dedup_key, device: r.device, status: r.status, priority: r.priority, change: r.version === 1 ? 'created' : 'updated', at: r.updated_at });
      }
      if (newest > this.since) this.history.prepare('INSERT INTO ticket_watch (id, since) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET since = excluded.since').run(newest);
    })();
    this.since = newest;
    for (const e of events) this.opts.publish(e);
  }

  /** Status history of one ticket, oldest first. */
  statusHistory(ref: string): Array<{ status: string; at: number }> {
    return this.history.prepare('SELECT status, at FROM ticket_status_history WHERE ref = ? ORDER BY version').all(ref) as Array<{ status: string; at: number }>;
  }

  /** First-response times of the given tickets (first Replied/Resolved/Closed seen). */
  firstResponses(refs: string[]): Map<string, number> {
    const out = new Map<string, number>();
    if (!refs.length) return out;
    const stmt = this.history.prepare(`SELECT min(at) FROM ticket_status_history WHERE ref = ? AND status IN ('Replied', 'Resolved', 'Closed')`).pluck();
    for (const ref of refs) {
      const at = stmt.get(ref) as number | null;
      if (at !== null) out.set(ref, at);
    }
    return out;
  }

  /** When each ticket last entered Resolved/Closed and stayed there (null if it is not done). */
  resolvedAt(ref: string, status: string, closedAt: number | null, updatedAt: number): number | null {
    if (!DONE_STATUSES.has(status)) return null;
    const h = this.statusHistory(ref);
    let at: number | null = null;
    for (const s of h) at = DONE_STATUSES.has(s.status) ? (at ?? s.at) : null;
    return at ?? closedAt ?? updatedAt;
  }

  list(f: TicketFilter, offset: number, limit: number): { total: number; items: TicketSummary[] } {
    const { where, args } = whereOf(f);
    const total = this.db.prepare(`SELECT count(*) FROM tickets ${where}`).pluck().get(...args) as number;
    const rows = this.db.prepare(`SELECT * FROM tickets ${where} ORDER BY opened_at DESC, ref LIMIT ? OFFSET ?`).all(...args, limit, offset) as TicketRow[];
    return { total, items: this.summaries(rows) };
  }

  /** A device's tickets: open ones first, then the most recent others. */
  ofDevice(device: string, limit: number): TicketSummary[] {
    const rows = this.db
      .prepare(`SELECT * FROM tickets WHERE device = ? ORDER BY status IN ('Resolved', 'Closed'), opened_at DESC LIMIT ?`)
      .all(device, limit) as TicketRow[];
    return this.summaries(rows);
  }

  get(ref: string): { ticket: Ticket; summary: TicketSummary } | null {
    const t = this.incidents.tickets.get(ref);
    if (!t) return null;
    const row = this.db.prepare('SELECT * FROM tickets WHERE ref = ?').get(ref) as TicketRow;
    return { ticket: t, summary: this.summaries([row])[0] };
  }

  /** Open tickets (not Resolved/Closed) per device, per site and per priority. */
  openCounts(): { byDevice: Map<string, number>; bySite: Map<string, number>; byPriority: Record<'Urgent' | 'High' | 'Medium' | 'Low', number> } {
    const rows = this.db
      .prepare(`SELECT device, site, priority, count(*) AS n FROM tickets WHERE status NOT IN ('Resolved', 'Closed') GROUP BY device, site, priority`)
      .all() as Array<{ device: string; site: string | null; priority: string; n: number }>;
    const byDevice = new Map<string, number>();
    const bySite = new Map<string, number>();
    const byPriority = { Urgent: 0, High: 0, Medium: 0, Low: 0 };
    for (const r of rows) {
      byDevice.set(r.device, (byDevice.get(r.device) ?? 0) + r.n);
      const site = r.site ?? '(no site)';
      bySite.set(site, (bySite.get(site) ?? 0) + r.n);
      if (r.priority in byPriority) byPriority[r.priority as keyof typeof byPriority] += r.n;
    }
    return { byDevice, bySite, byPriority };
  }

  private summaries(rows: TicketRow[]): TicketSummary[] {
    const first = this.firstResponses(rows.map((r) => r.ref));
    return rows.map((r) => {
      const f = JSON.parse(r.fields) as Ticket;
      return {
        ref: r.ref,
        key: r.dedup_key,
        occurrence: r.occurrence,
        status: r.status as TicketSummary['status'],
        priority: r.priority as TicketSummary['priority'],
        issueType: r.issue_type,
        subject: f.subject,
        language: f.language,
        customer: r.customer,
        site: r.site,
        device: r.device,
        peripheral: r.peripheral,
        serial: f.serial ?? null,
        warrantyStatus: f.warrantyStatus ?? null,
        sla: {
          serviceLevelAgreement: f.sla?.serviceLevelAgreement ?? null,
          responseBy: f.sla?.responseBy ?? null,
          resolutionBy: f.sla?.resolutionBy ?? null,
          agreementStatus: f.sla?.agreementStatus ?? null,
        },
        openedAt: r.opened_at,
        updatedAt: r.updated_at,
        closedAt: r.closed_at,
        firstRespondedAt: first.get(r.ref) ?? null,
        version: r.version,
      };
    });
  }
}

function whereOf(f: TicketFilter): { where: string; args: unknown[] } {
  const where: string[] = [];
  const args: unknown[] = [];
  if (f.open === true) where.push(`status NOT IN ('Resolved', 'Closed')`);
  if (f.open === false) where.push(`status IN ('Resolved', 'Closed')`);
  for (const [col, list] of [['status', f.status], ['priority', f.priority]] as const) {
    if (list?.length) {
      where.push(`${col} IN (${list.map(() => '?').join(', ')})`);
      args.push(...list);
    }
  }
  for (const [col, v] of [['issue_type', f.type], ['customer', f.customer], ['site', f.site], ['device', f.device]] as const) {
    if (v !== undefined) {
      where.push(`${col} = ?`);
      args.push(v);
    }
  }
  return { where: where.length ? `WHERE ${where.join(' AND ')}` : '', args };
}
