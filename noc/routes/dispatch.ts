// Dispatch in the NOC: teams and technicians (admin), assignment by hand (operator), resolving with
// a cause code, known fixes (per ticket, and the knowledge base: list, search, edit) and the team
// performance report (JSON or CSV). The dispatcher itself (dispatch/service.ts) runs its periodic
// pass here, beside the incident service whose ticket store it writes through — or, in a cluster,
// on the node that owns partition 0.
import { Dispatcher, DispatchError, unitFromFleet } from '../../dispatch/service.js';
import { PERFORMANCE_CSV_HEAD, performanceCsvRow } from '../../dispatch/report.js';
import { DispatchStateError } from '../../state/dispatch.js';
import type { FirmwareProfile } from '../../firmware-profiles/schema.js';
import {
  assignRequest,
  knownFixEditRequest,
  knownFixesQuery,
  putTeamRequest,
  putTechnicianRequest,
  resolveWithCauseRequest,
  teamPerformanceQuery,
  type DispatchOverview,
  type TicketKnownFixes,
} from '../dispatch-api.js';
import type { NocContext } from '../context.js';
import { HttpError, route, type Route, sendCsvDownload } from '../http.js';
import { toCsv } from '../reports.js';
import { searchKnownFixes } from '../../dispatch/known-fixes.js';

export function startDispatcher(ctx: NocContext, profiles: ReadonlyMap<string, FirmwareProfile>): Dispatcher | null {
  const incidents = ctx.incidents;
  if (!incidents?.dispatchState) return null;
  const dispatcher = new Dispatcher({
    tickets: incidents.ticketState,
    state: incidents.dispatchState,
    config: incidents.config.dispatch,
    slaContext: incidents.config,
    unitOf: unitFromFleet(ctx.collector),
    profiles,
    log: ctx.log.child({ component: 'dispatch' }),
  });
  // In a cluster the pass runs on the owner of partition 0 (collector/incidents/cluster-service.ts);
  // here the dispatcher answers the API only.
  if (!incidents.dispatchPassElsewhere) dispatcher.start();
  return dispatcher;
}

const STATUS: Record<DispatchError['code'] | DispatchStateError['code'], number> = { 'not-found': 404, 'bad-request': 400, 'not-changed': 409, exists: 409 };

async function mapped<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof DispatchError || e instanceof DispatchStateError) throw new HttpError(STATUS[e.code], e.message);
    throw e;
  }
}

/** A period bound: an ISO date/date-time or epoch ms. */
function instant(s: string | undefined, fallback: number, name: string): number {
  if (s === undefined) return fallback;
  const n = /^\d+$/.test(s) ? Number(s) : Date.parse(s);
  if (!Number.isFinite(n)) throw new HttpError(400, `${name}: not a date (ISO 8601 or epoch ms): ${s}`);
  return n;
}

export function dispatchRoutes(ctx: NocContext, dispatcher: Dispatcher | null): Route[] {
  const need = (): Dispatcher => {
    if (!dispatcher) throw new HttpError(503, 'the incident service is not running in this process (collector.incidents.enabled false, or role broker)');
    return dispatcher;
  };
  return [
    route({
      method: 'GET',
      path: '/api/dispatch',
      role: 'viewer',
      async handle() {
        const d = need();
        const [teams, technicians, open] = await Promise.all([
          d.deps.state.teams(),
          d.deps.state.technicians(),
          d.deps.tickets.list({ open: true }, { offset: 0, limit: 100_000 }),
        ]);
        const load = Dispatcher.loads(open.items);
        const json: DispatchOverview = {
          teams,
          technicians: technicians.map((t) => ({ ...t, load: load.get(t.id) ?? 0 })),
          unassigned: open.items.filter((t) => t.assignment && t.assignment.technician === null).length,
          undispatched: open.items.filter((t) => !t.assignment).length,
        };
        return { json };
      },
    }),
    route({
      method: 'POST',
      path: '/api/dispatch/teams',
      role: 'admin',
      body: putTeamRequest,
      async handle({ body, user }) {
        await mapped(() => need().deps.state.putTeam(body.team, { replace: body.replace }));
        ctx.log.info({ user: user!.name, team: body.team.id }, 'team saved');
        return { json: { team: body.team } };
      },
    }),
    route({
      method: 'POST',
      path: '/api/dispatch/technicians',
      role: 'admin',
      body: putTechnicianRequest,
      async handle({ body, user }) {
        await mapped(() => need().deps.state.putTechnician(body.technician, { replace: body.replace }));
        ctx.log.info({ user: user!.name, technician: body.technician.id }, 'technician saved');
        // A new technician may be the match unassigned tickets were waiting for.
        void need()
          .pass(Date.now())
          .catch(() => undefined);
        return { json: { technician: body.technician } };
      },
    }),
    route({
      method: 'DELETE',
      path: '/api/dispatch/technicians/:id',
      role: 'admin',
      async handle({ params, user }) {
        const refs = await mapped(() => need().removeTechnician(params.id, Date.now()));
        ctx.log.info({ user: user!.name, technician: params.id, tickets: refs.length }, 'technician removed; tickets back to the rules');
        return { json: { removed: params.id, redispatched: refs } };
      },
    }),
    route({
      method: 'POST',
      path: '/api/tickets/:ref/assign',
      role: 'operator',
      body: assignRequest,
      async handle({ params, body, user }) {
        const ticket = await mapped(() => need().assign(params.ref, body.technician, user!.name, Date.now()));
        ctx.log.info({ user: user!.name, ref: params.ref, technician: ticket.assignment?.technician ?? null }, 'ticket assigned');
        return { json: { ref: ticket.ref, assignment: ticket.assignment } };
      },
    }),
    route({
      method: 'GET',
      path: '/api/tickets/:ref/known-fixes',
      role: 'viewer',
      async handle({ params }) {
        const d = need();
        const t = await d.deps.tickets.get(params.ref);
        if (!t) throw new HttpError(404, `no ticket ${params.ref}`);
        const json: TicketKnownFixes = { causeCodes: d.causeCodesOf(t), fixes: await d.knownFixesForTicket(t, Date.now()) };
        return { json };
      },
    }),
    route({
      method: 'POST',
      path: '/api/tickets/:ref/resolve-with-cause',
      role: 'operator',
      body: resolveWithCauseRequest,
      async handle({ params, body, user }) {
        const ticket = await mapped(() => need().resolve(params.ref, { code: body.cause, text: body.text }, user!.name, Date.now()));
        ctx.log.info({ user: user!.name, ref: params.ref, cause: body.cause }, 'ticket resolved with a cause');
        return { json: { ref: ticket.ref, status: ticket.status, cause: ticket.cause } };
      },
    }),
    route({
      method: 'GET',
      path: '/api/known-fixes',
      role: 'viewer',
      query: knownFixesQuery,
      async handle({ query }) {
        return { json: { fixes: searchKnownFixes(await need().knownFixes(Date.now()), query.q) } };
      },
    }),
    route({
      method: 'POST',
      path: '/api/known-fixes',
      role: 'operator',
      body: knownFixEditRequest,
      async handle({ body, user }) {
        await need().deps.state.putKnownFixEdit(body, user!.name, Date.now());
        return { json: { saved: true } };
      },
    }),
    route({
      method: 'GET',
      path: '/api/reports/team-performance',
      role: 'viewer',
      query: teamPerformanceQuery,
      async handle({ query, res }) {
        const now = Date.now();
        const to = instant(query.to, now, 'to');
        const from = instant(query.from, to - 30 * 86_400_000, 'from');
        if (from > to) throw new HttpError(400, 'from: after to');
        const report = await need().teamPerformance(from, to, now);
        if (query.format === 'json') return { json: report };
        const body = toCsv(PERFORMANCE_CSV_HEAD, report.rows.map(performanceCsvRow));
        return sendCsvDownload(
          res,
          `fleetcare-team-performance-${new Date(from).toISOString().slice(0, 10)}-${new Date(to).toISOString().slice(0, 10)}.csv`,
          body,
        );
      },
    }),
  ];
}
