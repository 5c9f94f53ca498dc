// Live updates for the web page: server-sent events on GET /api/live. One-way, through proxies,
// reconnects by itself in the browser (EventSource), and needs no extra dependency.
// A slow client is never allowed to grow the server's memory: when its socket buffer is over
// `maxBufferedBytes`, it is dropped and its EventSource reconnects and refetches.
//
// Ticket events are resumable across NOC nodes: their SSE id is the ticket change-feed cursor
// (state/tickets.ts), which every node over the same store shares (PostgreSQL in cluster mode). A
// browser that reconnects — to this node or, behind a load balancer, to another — sends the last
// id it saw as Last-Event-ID and is first sent every ticket change after it, then the live ones,
// each once. Other events (device, health, command) carry no id: the page refetches those views
// after a reconnect. A client that connects without an id is told the current cursor at once
// (an id-only frame), so even its first reconnect resumes.
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { LogLimiter } from '../logging/log-limiter.js';
import type { LiveEvent } from './api.js';

/** The ticket change feed as live events (noc/tickets.ts TicketsView). */
export interface TicketReplay {
  /** The cursor of the last ticket change published live here; null while unknown (store unreachable since start). */
  position(): number | null;
  /** The store's newest cursor. */
  head(): Promise<number>;
  /** Ticket events after `cursor`, in commit order, at most `limit`. */
  eventsSince(cursor: number, limit: number): Promise<Array<{ cursor: number; event: LiveEvent }>>;
}

type Client = {
  res: ServerResponse;
  user: string;
  /** The newest ticket cursor this client was sent; older ticket events are not sent again. */
  ticketCursor: number;
  /** Live events that arrived while its replay ran; sent after it. */
  queued: Array<{ frame: string; cursor?: number }> | null;
};

const REPLAY_PAGE = 500;

/** A Last-Event-ID we issued: a ticket cursor (a non-negative integer); anything else is ignored. */
export function parseLastEventId(v: string | string[] | undefined | null): number | null {
  const s = Array.isArray(v) ? v[0] : v;
  if (!s || !/^\d{1,15}$/.test(s.trim())) return null;
  return Number(s.trim());
}

const frameOf = (event: LiveEvent, cursor?: number) =>
  `${cursor === undefined ? '' : `id: ${cursor}\n`}event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;

export class LiveHub {
  private readonly clients = new Set<Client>();
  private readonly heartbeat: NodeJS.Timeout;
  private replay: TicketReplay | null = null;
  private readonly refusedLog = new LogLimiter(30_000);
  sent = 0;
  dropped = 0;
  /** Ticket events sent to reconnecting clients from the change feed. */
  replayed = 0;

  constructor(
    private readonly log: Logger,
    private readonly opts: { heartbeatMs?: number; maxBufferedBytes?: number } = {},
  ) {
    // A comment line keeps idle connections open through proxies and detects dead peers.
    this.heartbeat = setInterval(() => {
      for (const c of this.clients) this.write(c, ': keep-alive\n\n');
    }, opts.heartbeatMs ?? 15_000);
    this.heartbeat.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /** Where resuming clients' missed ticket events come from (none: tickets are not served here). */
  setTicketReplay(replay: TicketReplay | null): void {
    this.replay = replay;
  }

  /**
   * Takes over the response as an event stream until the client goes away. `lastEventId`: the
   * Last-Event-ID of a reconnecting client; the ticket events after it are sent first. When they
   * cannot be read (the store unreachable), the stream is ended, so the client retries rather than
   * silently missing changes.
   */
  async attach(res: ServerResponse, user: string, lastEventId: number | null = null): Promise<void> {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 3000\n\n');
    // Joined before the replay is read, so nothing published meanwhile is missed (it is queued,
    // and sent after the replay unless the replay already had it).
    const c: Client = { res, user, ticketCursor: 0, queued: [] };
    this.clients.add(c);
    res.on('close', () => this.clients.delete(c));
    const replay = this.replay;
    if (replay) {
      const position = replay.position();
      try {
        // This node has not yet read where the change feed stands (its store was unreachable): it
        // cannot say which changes a client has missed, so the client retries (maybe on another node).
        if (position === null) throw new Error('ticket change feed not read yet');
        let cursor = lastEventId;
        // An id from another store (a rebuilt database) would hide every change up to it: start fresh.
        if (cursor !== null && cursor > (await replay.head())) cursor = null;
        if (cursor === null) {
          c.ticketCursor = position;
          res.write(`id: ${position}\n\n`);
        } else {
          c.ticketCursor = cursor;
          for (;;) {
            const page = await replay.eventsSince(cursor, REPLAY_PAGE);
            if (!this.clients.has(c)) return;
            for (const e of page) this.sendTicket(c, frameOf(e.event, e.cursor), e.cursor, true);
            if (page.length) cursor = page[page.length - 1].cursor;
            if (page.length < REPLAY_PAGE) break;
          }
        }
      } catch (e) {
        this.refusedLog.maybe('unreadable', Date.now(), (suppressed) =>
          this.log.warn(
            { user, lastEventId, err: (e as Error).message, suppressed },
            'live stream ended at once: ticket changes unreadable here; the client retries',
          ),
        );
        this.clients.delete(c);
        res.end();
        return;
      }
    }
    const queued = c.queued ?? [];
    c.queued = null;
    for (const q of queued) {
      if (q.cursor === undefined) this.write(c, q.frame);
      else this.sendTicket(c, q.frame, q.cursor, false);
    }
  }

  /** Sends one event to every client; `cursor`: a ticket event's change-feed cursor (its SSE id). */
  publish(event: LiveEvent, cursor?: number): void {
    if (!this.clients.size) return;
    const frame = frameOf(event, cursor);
    for (const c of this.clients) {
      if (c.queued) c.queued.push({ frame, cursor });
      else if (cursor === undefined) this.write(c, frame);
      else this.sendTicket(c, frame, cursor, false);
    }
    this.sent++;
  }

  private sendTicket(c: Client, frame: string, cursor: number, replayed: boolean): void {
    if (cursor <= c.ticketCursor) return;
    c.ticketCursor = cursor;
    if (replayed) this.replayed++;
    this.write(c, frame);
  }

  private write(c: Client, frame: string): void {
    if (!this.clients.has(c)) return;
    if (c.res.writableLength > (this.opts.maxBufferedBytes ?? 1_000_000)) {
      this.dropped++;
      this.log.warn({ user: c.user, buffered: c.res.writableLength }, 'live client too slow; dropped (it reconnects)');
      this.clients.delete(c);
      c.res.destroy();
      return;
    }
    c.res.write(frame);
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }
}
