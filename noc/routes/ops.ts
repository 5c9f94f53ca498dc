// Health and metrics for operations: /healthz (the process answers), /readyz (its parts are
// connected and the store accepts writes; each failing dependency named, per node), /metrics
// (Prometheus).
import { partitionsOf, type NocContext } from '../context.js';
import { HttpError, route, type Route } from '../http.js';
import { serverMetrics, type HttpMetrics } from '../metrics.js';

type Check = { ok: boolean; detail?: string };

/** Every dependency of this node and whether it works now. */
export async function readiness(ctx: NocContext): Promise<Record<string, Check>> {
  const checks: Record<string, Check> = {};
  if (ctx.state) {
    try {
      await ctx.state.check();
      checks.state = { ok: true, detail: `${ctx.state.kind} reachable` };
    } catch (e) {
      checks.state = { ok: false, detail: `${ctx.state.kind} ${(e as Error).message}` };
    }
  }
  if (ctx.broker) checks.broker = { ok: true, detail: `${ctx.broker.stats().connections} clients` };
  if (ctx.collector) {
    const s = ctx.collector.stats();
    checks.collector = { ok: s.mqtt.connected, detail: s.mqtt.connected ? 'connected to broker' : 'not connected to broker' };
    const failing = s.ingest.spool.rows > 0;
    checks.store = {
      ok: !failing,
      detail: failing ? `${s.ingest.spool.rows} batches spooled: ${ctx.collector.store.kind} store not accepting writes` : `${ctx.collector.store.kind} store`,
    };
    const partitions = partitionsOf(ctx.collector);
    if (partitions) {
      const p = partitions.stats();
      // A node that never completed a lease round cannot know what it owns.
      // An observer (a NOC-only node) takes no leases, so it never has a lease round.
      if (partitions.mode === 'observer') checks.partitions = { ok: true, detail: 'observer: owns no partitions' };
      else
        checks.partitions =
          p.lastRoundAt === null
            ? { ok: false, detail: 'no partition lease round has completed yet' }
            : { ok: true, detail: `owns ${p.owned.length} of ${partitions.count} partitions` };
    }
  }
  if (ctx.incidents?.stats) {
    const s = ctx.incidents.stats();
    const failed = Object.values(s.sinks).reduce((n, v) => n + v.failedRows, 0);
    checks.tickets = { ok: failed === 0, detail: failed ? `${failed} ticket commands failed (see fleetcare tickets)` : 'ok' };
  } else if (ctx.incidents && checks.state?.ok !== false) {
    // No senders here (a NOC-only node): the shared outbox tells whether sends are failing.
    try {
      const failed = (await ctx.incidents.ticketState.failures()).length;
      checks.tickets = { ok: failed === 0, detail: failed ? `${failed} ticket commands failed (see fleetcare tickets)` : 'ok' };
    } catch (e) {
      checks.tickets = { ok: false, detail: `ticket store unreadable (${(e as Error).message})` };
    }
  }
  return checks;
}

export function opsRoutes(ctx: NocContext, http: HttpMetrics): Route[] {
  return [
    route({
      method: 'GET',
      path: '/healthz',
      role: 'public',
      handle: () => ({ json: { status: 'ok', uptimeS: Math.round((Date.now() - ctx.startedAt) / 1000) } }),
    }),
    route({
      method: 'GET',
      path: '/readyz',
      role: 'public',
      async handle() {
        const checks = await readiness(ctx);
        const failing = Object.entries(checks)
          .filter(([, c]) => !c.ok)
          .map(([name, c]) => `${name}: ${c.detail}`);
        const ok = failing.length === 0;
        return {
          status: ok ? 200 : 503,
          json: { status: ok ? 'ready' : 'degraded', ...(ctx.nodeId ? { node: ctx.nodeId } : {}), ...(ok ? {} : { failing }), checks },
        };
      },
    }),
    route({
      method: 'GET',
      path: '/metrics',
      role: ctx.config.publicMetrics ? 'public' : 'viewer',
      async handle({ res }) {
        if (!res) throw new HttpError(500, 'no response');
        const body = await serverMetrics(ctx, http);
        res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Cache-Control': 'no-store' });
        res.end(body);
        return { handled: true };
      },
    }),
  ];
}
