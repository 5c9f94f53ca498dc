// Data routes of the API (fleet, devices, telemetry, tickets, reports, commands, live) and the
// services behind them, started together and stopped by close() (noc/server.ts).
import { liveQuery } from '../api.js';
import { CommandService } from '../commands.js';
import type { NocContext } from '../context.js';
import { FleetView } from '../fleet-view.js';
import { route, type Route } from '../http.js';
import { LiveFeed } from '../live-feed.js';
import { parseLastEventId } from '../live.js';
import { Reports } from '../reports.js';
import { TicketsView } from '../tickets.js';
import { commandRoutes } from './commands.js';
import { deviceRoutes } from './devices.js';
import { dispatchRoutes, startDispatcher } from './dispatch.js';
import { partsRoutes } from './parts.js';
import { reportRoutes } from './reports.js';
import { serviceRoutes } from './service.js';
import { ticketRoutes } from './tickets.js';

export type DataRoutes = { routes: Route[]; close(): Promise<void> };

export function dataRoutes(ctx: NocContext): DataRoutes {
  const publish = ctx.live.publish.bind(ctx.live);
  const collector = ctx.collector;
  const fleet = collector ? new FleetView(collector, { profilesDir: ctx.incidents?.config.profilesDir }) : null;
  const feed = collector ? new LiveFeed(collector, publish) : null;
  const commands = collector
    ? new CommandService(ctx.commands, collector, { timeoutMs: ctx.config.commandTimeoutMs, log: ctx.log, publish, tickets: ctx.incidents?.ticketState })
    : null;
  const tickets = ctx.incidents ? new TicketsView(ctx.incidents.ticketState, { log: ctx.log, publish }) : null;
  void tickets?.start();
  ctx.live.setTicketReplay(tickets);
  const dispatcher = fleet || ctx.incidents ? startDispatcher(ctx, fleet?.profiles ?? new Map()) : null;
  const reports = tickets && collector ? new Reports(tickets, collector, ctx.reportUnits) : null;
  // Units first seen now start their MTBF exposure now (and again every few minutes).
  // A device's inventory follows its birth message: look a little after each fleet change.
  const noteUnits = () => reports?.noteUnits().catch((e: Error) => ctx.log.warn({ err: e.message }, 'report units not noted; retried later'));
  void noteUnits();
  const unitTimer = reports ? setInterval(() => void noteUnits(), 5 * 60_000) : null;
  unitTimer?.unref();
  let unitSoon: NodeJS.Timeout | null = null;
  const offUnits =
    reports && collector
      ? collector.onFleetChange(() => {
          unitSoon ??= setTimeout(() => {
            unitSoon = null;
            void noteUnits();
          }, 3000);
          unitSoon.unref();
        })
      : null;
  const routes = [
    ...deviceRoutes(ctx, { fleet, tickets }),
    ...commandRoutes(ctx, commands),
    ...ticketRoutes(ctx, tickets),
    ...partsRoutes(ctx, { fleet, tickets }), // before /api/reports/:name
    ...dispatchRoutes(ctx, dispatcher), // before /api/reports/:name
    ...reportRoutes(ctx, reports),
    ...(ctx.incidents ? serviceRoutes(ctx) : []),
    route({
      method: 'GET',
      path: '/api/live',
      role: 'viewer',
      query: liveQuery,
      async handle({ req, res, user, query }) {
        // EventSource sends Last-Event-ID when it reconnects (to whichever node the load balancer picks).
        await ctx.live.attach(res, user!.name, parseLastEventId(req.headers['last-event-id']) ?? query.lastEventId ?? null);
        return { handled: true };
      },
    }),
  ];
  return {
    routes,
    async close() {
      if (unitTimer) clearInterval(unitTimer);
      if (unitSoon) clearTimeout(unitSoon);
      offUnits?.();
      commands?.close();
      await dispatcher?.close();
      feed?.close();
      fleet?.close();
      // Last: its final read publishes the changes committed up to now.
      await tickets?.close();
      ctx.live.setTicketReplay(null);
    },
  };
}
