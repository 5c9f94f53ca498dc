// Health and metrics for operations: /healthz (the process answers), /readyz (its parts are
// connected and the store accepts writes), /metrics (Prometheus).
import type { NocContext } from '../context.js';
import { HttpError, route, type Route } from '../http.js';
import { serverMetrics, type HttpMetrics } from '../metrics.js';

export function opsRoutes(ctx: NocContext, http: HttpMetrics): Route[] {
  return [
    route({ method: 'GET', path: '/healthz', role: 'public', handle: () => ({ json: { status: 'ok', uptimeS: Math.round((Date.now() - ctx.startedAt) / 1000) } }) }),
    route({
      method: 'GET',
      path: '/readyz',
      role: 'public',
      handle() {
        const checks: Record<string, { ok: boolean; detail?: string }> = {};
        if (ctx.broker) checks.broker = { ok: true, detail: `${ctx.broker.stats().connections} clients` };
        if (ctx.collector) {
          const s = ctx.collector.stats();
          checks.collector = { ok: s.mqtt.connected, detail: s.mqtt.connected ? 'connected to broker' : 'not connected to broker' };
          const failing = s.ingest.spool.rows > 0;
          checks.store = { ok: !failing, detail: failing ? `${s.ingest.spool.rows} batches spooled: ${ctx.collector.store.kind} store not accepting writes` : `${ctx.collector.store.kind} store` };
        }
        if (ctx.incidents) {
          const s = ctx.incidents.stats();
          const failed = Object.values(s.sinks).reduce((n, v) => n + v.failedRows, 0);
          checks.tickets = { ok: failed === 0, detail: failed ? `${failed} ticket commands failed (see fleetcare tickets)` : 'ok' };
        }
        const ok = Object.values(checks).every((c) => c.ok);
        return { status: ok ? 200 : 503, json: { status: ok ? 'ready' : 'degraded', checks } };
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
