// Data routes of the API (fleet, devices, telemetry, tickets, reports, commands, live).
import type { NocContext } from '../context.js';
import type { Route } from '../http.js';

export function dataRoutes(_ctx: NocContext): Route[] {
  return [];
}
