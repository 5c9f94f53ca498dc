// Live updates for the web page: server-sent events on GET /api/live. One-way, through proxies,
// reconnects by itself in the browser (EventSource), and needs no extra dependency.
// A slow client is never allowed to grow the server's memory: when its socket buffer is over
// `maxBufferedBytes`, it is dropped and its EventSource reconnects and refetches.
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { LiveEvent } from './api.js';

type Client = { res: ServerResponse; user: string };

export class LiveHub {
  private readonly clients = new Set<Client>();
  private readonly heartbeat: NodeJS.Timeout;
  private nextId = 1;
  sent = 0;
  dropped = 0;

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

  /** Takes over the response as an event stream until the client goes away. */
  attach(res: ServerResponse, user: string): void {
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.write('retry: 3000\n\n');
    const c: Client = { res, user };
    this.clients.add(c);
    res.on('close', () => this.clients.delete(c));
  }

  /** Sends one event to every client. */
  publish(event: LiveEvent): void {
    if (!this.clients.size) return;
    const frame = `id: ${this.nextId++}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
    for (const c of this.clients) this.write(c, frame);
    this.sent++;
  }

  private write(c: Client, frame: string): void {
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
