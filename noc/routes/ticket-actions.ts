// POST /api/tickets/:ref/actions: an operator acknowledges, comments, holds, reopens, resolves or
// closes a ticket. The same function as `fleetcare tickets …` (collector/tickets/actions.ts): the
// status change, its SLA recomputation and the sends to every sink commit together.
import { operatorTicketActionOn, TicketActionError } from '../../collector/tickets/actions.js';
import { ticketActionRequest } from '../api.js';
import { PartNotKnownError, recordPartReplaced } from '../../collector/service-records/index.js';
import { needIncidents, needServiceRecords, type NocContext } from '../context.js';
import { HttpError, route, type Route } from '../http.js';

const STATUS_OF: Record<TicketActionError['code'], number> = { 'not-found': 404, superseded: 409, 'not-changed': 409, 'bad-request': 400 };

export function ticketActionRoutes(ctx: NocContext): Route[] {
  return [
    route({
      method: 'POST',
      path: '/api/tickets/:ref/actions',
      role: 'operator',
      body: ticketActionRequest,
      async handle({ params, body, user }) {
        const incidents = needIncidents(ctx);
        // Checked before the action commits: a "part replaced" that cannot be recorded refuses the whole action.
        const records = body.partReplaced && (body.action === 'resolve' || body.action === 'close') ? needServiceRecords(ctx) : null;
        const text = body.text?.trim() ? `${body.text.trim()}\n— ${user!.name}` : undefined;
        try {
          const r = await operatorTicketActionOn(incidents.ticketState, params.ref, body.action, text, Date.now(), incidents.config);
          ctx.log.info({ user: user!.name, ref: params.ref, action: body.action, status: r.ticket.status }, 'ticket action');
          if (records) {
            // "Part replaced": a service record re-bases the part's wear at the incident service's next tick.
            const record = await recordPartReplaced(records, r.ticket, body.part, user!.name);
            return { json: { ticket: r.ticket, commands: r.commands.length, serviceRecord: record.id } };
          }
          return { json: { ticket: r.ticket, commands: r.commands.length } };
        } catch (e) {
          if (e instanceof PartNotKnownError) throw new HttpError(400, e.message, 'bad-request');
          if (e instanceof TicketActionError) throw new HttpError(STATUS_OF[e.code], e.message, e.code);
          throw e;
        }
      },
    }),
  ];
}
