// Reports as JSON or CSV (format=csv: text/csv with a header row, for spreadsheets).
import { reportName, reportNames, reportQuery } from '../api.js';
import { needCollector, needIncidents, type NocContext } from '../context.js';
import { HttpError, route, type Route, sendCsvDownload } from '../http.js';
import { reportCsv, type Reports } from '../reports.js';

const DAY = 86_400_000;

export function reportRoutes(ctx: NocContext, reports: Reports | null): Route[] {
  return [
    route({
      method: 'GET',
      path: '/api/reports/:name',
      role: 'viewer',
      query: reportQuery,
      async handle({ params, query, res }) {
        const name = reportName.safeParse(params.name);
        if (!name.success) throw new HttpError(404, `no report ${params.name} (one of ${reportNames.join(', ')})`);
        needIncidents(ctx);
        // Reports join tickets with the fleet's inventory (MTBF exposure, sites): a node without a collector has none.
        needCollector(ctx);
        const now = Date.now();
        const to = query.to ?? now;
        const from = query.from ?? to - 30 * DAY;
        if (from > to) throw new HttpError(400, 'query.from: must not be after to (to defaults to now)');
        const report = await reports!.run(name.data, { from, to, tenant: query.tenant, tz: query.tz, limit: query.limit, now });
        if (query.format === 'json') return { json: report };
        const body = reportCsv(name.data, report);
        const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
        return sendCsvDownload(res, `fleetcare-${name.data}-${day(from)}-${day(to)}.csv`, body);
      },
    }),
  ];
}
