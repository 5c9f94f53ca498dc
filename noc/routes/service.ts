// Service history of a device and the fleet's fitted part lives (collector/service-records,
// collector/reliability), for the device page and the reports.
import type { ReliabilityAnswer, ServiceHistoryAnswer } from '../api.js';
import { needDetectors, needServiceRecords, type NocContext } from '../context.js';
import { route, type Route } from '../http.js';

export function serviceRoutes(ctx: NocContext): Route[] {
  return [
    route({
      method: 'GET',
      path: '/api/devices/:id/service',
      role: 'viewer',
      async handle({ params }): Promise<{ json: ServiceHistoryAnswer }> {
        const records = await needServiceRecords(ctx).list({ device: params.id });
        return { json: { items: records.map(({ recordedAt: _r, profile: _p, ...r }) => r) } };
      },
    }),
    route({
      method: 'GET',
      path: '/api/reliability',
      role: 'viewer',
      handle(): { json: ReliabilityAnswer } {
        const inc = needDetectors(ctx);
        const minFailures = inc.config.detectors?.wear?.fleetLife?.minFailures ?? 10;
        return { json: { minFailures, models: inc.lifeModels().map((m) => ({ ...m, inUse: m.failures >= minFailures })) } };
      },
    }),
  ];
}
