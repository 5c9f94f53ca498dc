// Tickets as the NOC reads them: filtered lists, per-device and per-site counts, each ticket's
// status history, and `ticket` live events — all through the ticket store interface
// (state/tickets.ts), so the NOC works the same over SQLite and PostgreSQL and knows no table.
//
// Status history: the opening (the ticket's openedAt), then the statuses it entered, written in
// the same transaction as every status change made by an operator (CLI, HTTP) or the incident
// service. First response = the first Replied, Resolved or Closed in it.
//
// Live events: the store's change feed. A change notification (this process's commits in
// SQLite; any node's in PostgreSQL) triggers a read of changesSince(cursor); a poll every
// `pollMs` also catches writers the notification does not reach (the CLI on the same SQLite
// file). Every version of every ticket is published once, in commit order, with its cursor: the
// SSE id a reconnecting browser resumes from (noc/live.ts), on this node or any other.
import type { Logger } from 'pino';
import type { Ticket } from '../collector/tickets/index.js';
import type { TicketChange, TicketFilter, TicketStateStore } from '../state/tickets.js';
import type { LiveEvent, TicketSummary } from './api.js';
import type { TicketReplay } from './live.js';

export type { TicketFilter } from '../state/tickets.js';

export const DONE_STATUSES = new Set(['Resolved', 'Closed']);

export type OpenCounts = { byDevice: Map<string, number>; bySite: Map<string, number>; byPriority: Record<'Urgent' | 'High' | 'Medium' | 'Low', number> };

/** The live event of one change-feed entry. */
export function ticketEvent(c: TicketChange): LiveEvent {
  return {
    type: 'ticket',
    ref: c.ref,
    key: c.key,
    device: c.device,
    status: c.status,
    priority: c.priority,
    change: c.version === 1 ? 'created' : 'updated',
    at: c.at,
  };
}

export class TicketsView implements TicketReplay {
  private cursor = 0;
  private started: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private polling: Promise<void> | null = null;
  private again = false;
  /** The cursor is known (the head when we started); before that a hint only marks `hinted`. */
  private ready = false;
  private hinted = false;
  private closed = false;

  constructor(
    readonly store: TicketStateStore,
    private readonly opts: { log: Logger; publish: (e: LiveEvent, cursor: number) => void; pollMs?: number },
  ) {}

  position(): number | null {
    return this.ready ? this.cursor : null;
  }

  head(): Promise<number> {
    return this.store.head();
  }

  async eventsSince(cursor: number, limit: number): Promise<Array<{ cursor: number; event: LiveEvent }>> {
    const { changes } = await this.store.changesSince(cursor, limit);
    return changes.map((c) => ({ cursor: c.cursor, event: ticketEvent(c) }));
  }

  /** Starts following the change feed from its head: only later changes are news. */
  start(): Promise<void> {
    this.started ??= (async () => {
      this.unsubscribe = this.store.subscribe(() => void this.pollChanges());
      await this.readHead();
      if (this.closed) return;
      this.timer = setInterval(() => void this.pollChanges(), this.opts.pollMs ?? 500);
      this.timer.unref();
      // A change announced while the head was being read may be after it.
      if (this.hinted) void this.pollChanges();
    })();
    return this.started;
  }

  /** The cursor to follow from; until it is known (the store unreachable at start) nothing is published, so old changes are never news. */
  private async readHead(): Promise<void> {
    try {
      this.cursor = await this.store.head();
      this.ready = true;
    } catch (e) {
      this.opts.log.error({ err: (e as Error).message }, 'ticket change feed unavailable; retried at the next poll');
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.started;
    await this.pollChanges();
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe?.();
  }

  /** Publishes the changes committed since the last call, in order. One read at a time; a call during a read runs once more after it. */
  pollChanges(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (!this.ready) {
      this.hinted = true;
      // Only the timer runs after start() finished: read the head again.
      return this.timer ? this.readHead() : Promise.resolve();
    }
    if (this.polling) {
      this.again = true;
      return this.polling;
    }
    this.polling = (async () => {
      try {
        do {
          this.again = false;
          for (;;) {
            const { changes, cursor } = await this.store.changesSince(this.cursor);
            this.cursor = cursor;
            for (const c of changes) this.opts.publish(ticketEvent(c), c.cursor);
            if (changes.length < 1000) break;
          }
        } while (this.again && !this.closed);
      } catch (e) {
        this.opts.log.error({ err: (e as Error).message }, 'ticket change poll failed; retried at the next poll');
      } finally {
        this.polling = null;
      }
    })();
    return this.polling;
  }

  /** Status history of one ticket, oldest first: its opening, then the statuses it entered. */
  async statusHistory(ref: string, openedAt: number): Promise<Array<{ status: string; at: number }>> {
    return [{ status: 'Open', at: openedAt }, ...(await this.store.statusLog(ref))];
  }

  /** First-response times of the given tickets (their first Replied, Resolved or Closed). */
  firstResponses(refs: string[]): Promise<Map<string, number>> {
    return this.store.firstResponses(refs);
  }

  /** When a done ticket last entered Resolved/Closed and stayed there; null while it is not done. */
  async resolvedAt(ref: string, status: string, closedAt: number | null, updatedAt: number): Promise<number | null> {
    if (!DONE_STATUSES.has(status)) return null;
    let at: number | null = null;
    for (const s of await this.store.statusLog(ref)) at = DONE_STATUSES.has(s.status) ? (at ?? s.at) : null;
    // A status set without the log (an older version, a raw outbox command): the last change.
    return at ?? closedAt ?? updatedAt;
  }

  async list(f: TicketFilter, offset: number, limit: number): Promise<{ total: number; items: TicketSummary[] }> {
    const page = await this.store.list(f, { offset, limit });
    return { total: page.total, items: await this.summaries(page.items) };
  }

  /** A device's tickets: open ones first, then the most recent others. */
  async ofDevice(device: string, limit: number): Promise<TicketSummary[]> {
    return this.summaries(await this.store.ofDevice(device, limit));
  }

  async get(ref: string): Promise<{ ticket: Ticket; summary: TicketSummary } | null> {
    const t = await this.store.get(ref);
    if (!t) return null;
    return { ticket: t, summary: (await this.summaries([t]))[0] };
  }

  /** Open tickets (not Resolved/Closed) per device, per site and per priority. */
  async openCounts(): Promise<OpenCounts> {
    const byDevice = new Map<string, number>();
    const bySite = new Map<string, number>();
    const byPriority = { Urgent: 0, High: 0, Medium: 0, Low: 0 };
    for (const r of await this.store.openCounts()) {
      byDevice.set(r.device, (byDevice.get(r.device) ?? 0) + r.count);
      const site = r.site ?? '(no site)';
      bySite.set(site, (bySite.get(site) ?? 0) + r.count);
      if (r.priority in byPriority) byPriority[r.priority as keyof typeof byPriority] += r.count;
    }
    return { byDevice, bySite, byPriority };
  }

  private async summaries(tickets: Ticket[]): Promise<TicketSummary[]> {
    const first = await this.firstResponses(tickets.map((t) => t.ref));
    return tickets.map((t) => ({
      ref: t.ref,
      key: t.key,
      occurrence: t.occurrence,
      status: t.status,
      priority: t.priority,
      issueType: t.issueType,
      subject: t.subject,
      language: t.language,
      customer: t.customer,
      site: t.site,
      device: t.device,
      peripheral: t.peripheral,
      serial: t.serial ?? null,
      warrantyStatus: t.warrantyStatus ?? null,
      sla: {
        serviceLevelAgreement: t.sla?.serviceLevelAgreement ?? null,
        responseBy: t.sla?.responseBy ?? null,
        resolutionBy: t.sla?.resolutionBy ?? null,
        agreementStatus: t.sla?.agreementStatus ?? null,
      },
      openedAt: t.openedAt,
      updatedAt: t.updatedAt,
      closedAt: t.closedAt,
      firstRespondedAt: first.get(t.ref) ?? null,
      version: t.version,
      assignment: t.assignment ?? null,
      escalated: (t.escalations ?? []).map((e) => e.stage),
    }));
  }
}
