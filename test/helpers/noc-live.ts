// The NOC's live stream (GET /api/live) as clients see it across several NOC nodes of a cluster:
// a browser-like SSE client that resumes on the next node with Last-Event-ID, and a TCP load
// balancer in front of the nodes, and a real browser's EventSource in a page. Used by
// test/noc/cluster-nodes.test.ts and test/cluster/noc-failover.test.ts.
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Page } from 'playwright-core';
import type { LiveEvent } from '../../noc/api.js';
import { waitFor } from './net.js';

/**
 * A browser's EventSource, over several NOC nodes behind a load balancer: it remembers the last
 * SSE id (also from id-only frames) and, when its stream ends, reconnects to the next node with
 * Last-Event-ID — once `gate` allows (a browser's retry timer; the test opens it).
 */
export class ResumingLiveClient {
  readonly events: Array<{ id: string | null; event: LiveEvent; node: string }> = [];
  lastId: string | null = null;
  connections: string[] = [];
  private ac: AbortController | null = null;
  private closed = false;
  private gate: Promise<void> = Promise.resolve();
  private openGate: () => void = () => undefined;

  constructor(
    private readonly nodes: string[],
    private readonly cookie: string,
  ) {}

  /** Connects to nodes[0] and waits for the stream to open. */
  async start(): Promise<void> {
    void this.run(0);
    await waitFor('live stream open', () => this.connections.length > 0);
  }

  /** Holds the next reconnect until release(). */
  holdReconnect(): void {
    this.gate = new Promise((r) => (this.openGate = r));
  }

  release(): void {
    this.openGate();
  }

  get tickets(): Array<{ id: number; event: Extract<LiveEvent, { type: 'ticket' }> }> {
    return this.events.filter((e) => e.event.type === 'ticket').map((e) => ({ id: Number(e.id), event: e.event as Extract<LiveEvent, { type: 'ticket' }> }));
  }

  private async run(i: number): Promise<void> {
    while (!this.closed) {
      const node = this.nodes[i % this.nodes.length];
      i++;
      this.ac = new AbortController();
      try {
        const headers: Record<string, string> = { cookie: this.cookie, accept: 'text/event-stream' };
        if (this.lastId !== null) headers['last-event-id'] = this.lastId;
        const res = await fetch(`${node}/api/live`, { headers, signal: this.ac.signal });
        if (res.status !== 200) throw new Error(`live: ${res.status}`);
        this.connections.push(node);
        await this.read(res.body!, node);
      } catch {
        // the node went away (or refused): reconnect to the next one
      }
      if (this.closed) return;
      await this.gate;
      // A browser waits `retry` ms; a short pause keeps a refusing node from being hammered.
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async read(body: ReadableStream<Uint8Array>, node: string): Promise<void> {
    const dec = new TextDecoder();
    let buf = '';
    for await (const chunk of body) {
      buf += dec.decode(chunk, { stream: true });
      for (let k = buf.indexOf('\n\n'); k >= 0; k = buf.indexOf('\n\n')) {
        const lines = buf.slice(0, k).split('\n');
        buf = buf.slice(k + 2);
        // The id field sets the last event id even on a frame without data (SSE spec).
        const id = lines.find((l) => l.startsWith('id: '))?.slice(4) ?? null;
        if (id !== null) this.lastId = id;
        const data = lines.find((l) => l.startsWith('data: '));
        if (data) this.events.push({ id, event: JSON.parse(data.slice(6)) as LiveEvent, node });
      }
    }
  }

  close(): void {
    this.closed = true;
    this.openGate();
    this.ac?.abort();
  }
}

/**
 * A TCP load balancer in front of the NOC nodes: each connection goes to the first node that
 * accepts it. hold() parks new connections until release() (a browser's retry timer, made
 * deterministic).
 */
export async function startBalancer(nodes: () => string[]): Promise<{ url: string; hold(): void; release(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let gate: Promise<void> = Promise.resolve();
  let open: () => void = () => undefined;
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    const tryNode = (i: number) => {
      const list = nodes();
      if (i >= list.length || client.destroyed) return client.destroy();
      const u = new URL(list[i]);
      const up = connect(Number(u.port), u.hostname);
      sockets.add(up);
      let connected = false;
      up.once('connect', () => {
        connected = true;
        client.pipe(up);
        up.pipe(client);
      });
      up.on('error', () => (connected ? client.destroy() : tryNode(i + 1)));
      up.on('close', () => {
        sockets.delete(up);
        if (connected) client.destroy();
      });
      client.on('close', () => up.destroy());
    };
    void gate.then(() => tryNode(0));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    hold() {
      gate = new Promise((r) => (open = r));
    },
    release() {
      open();
    },
    async close() {
      open();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A ticket event as a browser's EventSource got it: its lastEventId (the change cursor), ref and change. */
export type BrowserTicketEvent = { id: string; ref: string; change: string };

/**
 * In a real browser page at `base` (e.g. a load balancer): logs in as `username` like the web page
 * does and opens an EventSource on /api/live, which reconnects by itself (with Last-Event-ID).
 * `tickets()` are the ticket events it got so far, `opens()` how often its stream opened.
 */
export async function openBrowserLiveStream(
  page: Page,
  base: string,
  login: { username: string; password: string },
): Promise<{ tickets(): Promise<BrowserTicketEvent[]>; opens(): Promise<number> }> {
  await page.goto(`${base}/healthz`);
  await page.evaluate(async ({ username, password }) => {
    const r = await fetch('/api/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    if (r.status !== 200) throw new Error(`login: ${r.status}`);
    const w = window as unknown as { tickets: BrowserTicketEvent[]; opens: number };
    w.tickets = [];
    w.opens = 0;
    const es = new EventSource('/api/live');
    es.onopen = () => w.opens++;
    es.addEventListener('ticket', (e) => {
      const data = JSON.parse((e as MessageEvent<string>).data) as { ref: string; change: string };
      w.tickets.push({ id: (e as MessageEvent).lastEventId, ref: data.ref, change: data.change });
    });
  }, login);
  return {
    tickets: () => page.evaluate(() => (window as unknown as { tickets: BrowserTicketEvent[] }).tickets),
    opens: () => page.evaluate(() => (window as unknown as { opens: number }).opens),
  };
}
