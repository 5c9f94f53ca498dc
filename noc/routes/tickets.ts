// Tickets with their SLA fields, one ticket with comments, external links and status history.
import { ticketsQuery, type TicketDetail, type TicketsAnswer } from '../api.js';
import { needIncidents, servedWith, type NocContext } from '../context.js';
import { HttpError, route, type Route } from '../http.js';
import type { TicketsView } from '../tickets.js';

export function ticketRoutes(ctx: NocContext, tickets: TicketsView | null): Route[] {
  const view = servedWith(needIncidents, ctx, tickets);
  return [
    route({
      method: 'GET',
      path: '/api/tickets',
      role: 'viewer',
      query: ticketsQuery,
      async handle({ query }) {
        const { limit, offset, ...filter } = query;
        const page = await view().list(filter, offset, limit);
        const json: TicketsAnswer = { total: page.total, offset, limit, items: page.items };
        return { json };
      },
    }),
    route({
      method: 'GET',
      path: '/api/tickets/:ref',
      role: 'viewer',
      async handle({ params }) {
        const incidents = needIncidents(ctx);
        const tickets = view();
        const found = await tickets.get(params.ref);
        if (!found) throw new HttpError(404, `no ticket ${params.ref} (a ref contains "/": URL-encode it as %2F)`);
        const { ticket, summary } = found;
        const incident = (await incidents.incidents?.get(ticket.key)) ?? null;
        const json: TicketDetail = {
          ...summary,
          description: ticket.description,
          resolution: ticket.resolution,
          comments: (await tickets.store.comments(ticket.ref)).map((c) => ({ id: c.id, at: c.at, body: c.body, eventId: c.eventId })),
          links: (await tickets.store.links({ ref: ticket.ref })).map((l) => ({
            system: l.system,
            externalId: l.externalId,
            state: l.state,
            updatedAt: l.updatedAt,
          })),
          statusHistory: await tickets.statusHistory(ticket.ref, ticket.openedAt),
          incident: incident
            ? {
                state: incident.state,
                detector: incident.detector,
                kind: incident.kind,
                eta: incident.eta,
                figures: incident.figures,
                firstSeen: incident.firstSeen,
                openedAt: incident.openedAt,
              }
            : null,
        };
        return { json };
      },
    }),
  ];
}
