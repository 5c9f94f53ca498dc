// Remote commands: operators send, everyone reads the results.
import { commandRequestBody, commandsQuery, type CommandAccepted } from '../api.js';
import type { CommandService } from '../commands.js';
import { needCollector, servedWith, type NocContext } from '../context.js';
import { HttpError, route, type Route } from '../http.js';

/** Commands that act on one peripheral (the agent refuses them without one). */
const NEEDS_PERIPHERAL = new Set(['self-test', 'recover', 'sync-clock-time']);

export function commandRoutes(ctx: NocContext, commands: CommandService | null): Route[] {
  const service = servedWith(needCollector, ctx, commands);
  return [
    route({
      method: 'POST',
      path: '/api/devices/:id/commands',
      role: 'operator',
      body: commandRequestBody,
      async handle({ params, body, user }) {
        const d = needCollector(ctx).device(params.id);
        if (!d) throw new HttpError(404, `no device ${params.id}`);
        const ids = d.peripherals.map((p) => p.id);
        if (body.peripheral !== undefined && !ids.includes(body.peripheral))
          throw new HttpError(400, `body.peripheral: device ${d.device} has no peripheral ${body.peripheral} (has: ${ids.join(', ') || 'none'})`);
        if (body.peripheral === undefined && NEEDS_PERIPHERAL.has(body.name))
          throw new HttpError(400, `body.peripheral: ${body.name} needs a peripheral (one of ${ids.join(', ') || 'none'})`);
        // Sent even when the device is offline: the broker keeps it for the agent's persistent
        // session, and it expires (on both sides) if the device does not come back in time.
        const cmd = await service().send(d.device, body, user!.name);
        const json: CommandAccepted = { ...cmd, deviceOnline: d.online };
        return { status: 202, json };
      },
    }),
    route({
      method: 'GET',
      path: '/api/devices/:id/commands',
      role: 'viewer',
      query: commandsQuery,
      async handle({ params, query }) {
        if (!needCollector(ctx).device(params.id)) throw new HttpError(404, `no device ${params.id}`);
        return { json: { items: await service().ofDevice(params.id, query.limit) } };
      },
    }),
    route({
      method: 'GET',
      path: '/api/commands/:id',
      role: 'viewer',
      async handle({ params }) {
        const c = await service().get(params.id);
        if (!c) throw new HttpError(404, `no command ${params.id}`);
        return { json: c };
      },
    }),
  ];
}
