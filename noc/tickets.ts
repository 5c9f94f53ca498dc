// Tickets as the NOC reads them: filtered lists, per-device and per-site counts (read-only SQL on
// the built-in ticket store of the incident service, collector/tickets/store.ts), each ticket's
// status history, and `ticket` live events.
//
// Status history: `ticket_status_log` (collector/ticket-actions.ts), written in the same
// transaction as every status change made by an operator (CLI, HTTP) or the incident service; the
// opening is the ticket's openedAt. First response = the first Replied, Resolved or Closed in it.
//
// Live events: the ticket store has no change feed, and the outbox announces nothing without
// external sinks. So the NOC watches two ways:
// - changes made through this process's connection (the incident service, the HTTP ticket
//   actions): a TEMP trigger on that connection copies each insert/update into a TEMP table, read
//   every `pollMs` — every change, in order, whatever time the change carries;
// - changes made by another process (the CLI on the same file): a look-back poll for tickets
//   whose version moved (every `externalPollMs`); two such changes inside one poll are one event.
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { IncidentServiceHandle } from '../collector/incident-service.js';
import type { Ticket } from '../collector/tickets/index.js';
import { TICKET_STATUS_LOG_DDL } from '../collector/ticket-actions.js';
import type { LiveEvent, TicketSummary } from './api.js';

export const DONE_STATUSES = new Set(['Resolved', 'Closed']);

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
  /** Highest version published per ticket. */
  private readonly seen = new Map<string, number>();
  private since: number;
  private timers: NodeJS.Timeout[] = [];
  private unsubscribe: (() => void) | null = null;
  private closed = false;

  constructor(
    private readonly incidents: IncidentServiceHandle,
    private readonly opts: { log: Logger; publish: (e: LiveEvent) => void; pollMs?: number; externalPollMs?: number },
  ) {
    this.db = incidents.tickets.db;
    this.db.exec(TICKET_STATUS_LOG_DDL);
    this.db.exec(CHANGE_CAPTURE);
    // Versions as of now, without events: only later changes are news.
    this.since = (this.db.prepare('SELECT max(updated_at) FROM tickets').pluck().get() as number | null) ?? 0;
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
    for (const r of rows) {
      this.since = Math.max(this.since, r.updated_at);
      if ((this.seen.get(r.ref) ?? 0) >= r.version) continue;
      this.seen.set(r.ref, r.version);
      if (!quiet) this.opts.publish({ type: 'ticket', ref: r.ref, key: r.dedup_key, device: r.device, status: r.status, priority: r.priority, change: r.version === 1 ? 'created' : 'updated', at: r.updated_at });
    }
  }

  /** Status history of one ticket, oldest first: its opening, then ticket_status_log. */
  statusHistory(ref: string, openedAt: number): Array<{ status: string; at: number }> {
    const log = this.db.prepare('SELECT status, at FROM ticket_status_log WHERE ref = ? ORDER BY at, id').all(ref) as Array<{ status: string; at: number }>;
    return [{ status: 'Open', at: openedAt }, ...log];
  }

  /** First-response times of the given tickets (their first Replied, Resolved or Closed). */
  firstResponses(refs: string[]): Map<string, number> {
    const out = new Map<string, number>();
    const stmt = this.db.prepare(`SELECT min(at) FROM ticket_status_log WHERE ref = ? AND status IN ('Replied', 'Resolved', 'Closed')`).pluck();
    for (const ref of refs) {
      const at = stmt.get(ref) as number | null;
      if (at !== null) out.set(ref, at);
    }
    return out;
  }

  /** When a done ticket last entered Resolved/Closed and stayed there; null while it is not done. */
  resolvedAt(ref: string, status: string, closedAt: number | null, updatedAt: number): number | null {
    if (!DONE_STATUSES.has(status)) return null;
    let at: number | null = null;
    for (const s of this.statusHistory(ref, 0)) at = DONE_STATUSES.has(s.status) ? (at ?? s.at) : null;
    // A status set without the log (an older version, a raw outbox command): the last change.
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
