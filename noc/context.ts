// What every NOC route can reach. The broker, collector and incident service are null when this
// process does not run them (server roles), and routes that need them answer 503.
import type { Logger } from 'pino';
import type { BrokerHandle } from '../broker/index.js';
import type { CollectorHandle } from '../collector/index.js';
import type { IncidentServiceHandle } from '../collector/incident-service.js';
import type { ReportUnitStore } from '../state/report-units.js';
import type { CommandStateStore } from '../state/commands.js';
import type { NocAccountStore } from '../state/noc-accounts.js';
import type { NocConfig } from './config.js';
import { HttpError } from './http.js';
import type { LiveHub } from './live.js';

export type NocContext = {
  broker: BrokerHandle | null;
  collector: CollectorHandle | null;
  incidents: IncidentServiceHandle | null;
  /** Users, sessions, API tokens (state/noc-accounts.ts): noc.db, or PostgreSQL in cluster mode. */
  users: NocAccountStore;
  /** Remote commands (state/commands.ts): noc.db, or PostgreSQL in cluster mode. */
  commands: CommandStateStore;
  /** When each unit was first seen (MTBF exposure; state/report-units.ts): noc.db, or PostgreSQL. */
  reportUnits: ReportUnitStore;
  live: LiveHub;
  config: NocConfig;
  log: Logger;
  startedAt: number;
};

/** The collector, or 503 when this process does not run one. */
export function needCollector(ctx: NocContext): CollectorHandle {
  if (!ctx.collector) throw new HttpError(503, 'this server process runs no collector (role broker)');
  return ctx.collector;
}

/** The incident service, or 503 when it is off or not run here. */
export function needIncidents(ctx: NocContext): IncidentServiceHandle {
  if (!ctx.incidents) throw new HttpError(503, 'the incident service is not running in this process (collector.incidents.enabled false, or role broker)');
  return ctx.incidents;
}
