// What a NOC node needs in cluster mode beyond the shared account/command stores: a probe of the
// state tier for /readyz, and, on a node that runs no incident service (a NOC-only node), a
// read-only view of tickets and incidents over the shared stores. Any NOC node then serves any
// request: what it cannot answer from shared state (the detectors' in-memory figures) is a 503
// naming why (noc/context.ts `needDetectors`).
import type { IncidentsConfig } from '../collector/incidents/config.js';
import type { ServiceRecordStore } from '../collector/service-records/index.js';
import { PgServiceRecordStore } from '../state/postgres/service-records.js';
import { createPgPool } from '../state/postgres/db.js';
import { PgDispatchState } from '../state/postgres/dispatch.js';
import { PgTicketState } from '../state/postgres/tickets.js';
import type { DispatchStateStore } from '../state/dispatch.js';
import type { TicketStateStore } from '../state/tickets.js';
import type { NocIncident, NocIncidents, NocStateTier } from './context.js';

/** How long /readyz waits for PostgreSQL before calling it unreachable. */
const PROBE_TIMEOUT_MS = 2000;

/** Where a PostgreSQL URL points, without its credentials (for messages). */
export function postgresWhere(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return '(unparsable URL)';
  }
}

/** A one-connection probe of the PostgreSQL state tier: `SELECT 1` within PROBE_TIMEOUT_MS. */
export function postgresProbe(url: string): NocStateTier & { close(): Promise<void> } {
  const pool = createPgPool(url, { max: 1, connectionTimeoutMillis: PROBE_TIMEOUT_MS });
  const where = postgresWhere(url);
  return {
    kind: 'postgres',
    async check() {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          pool.query('SELECT 1'),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS);
          }),
        ]);
      } catch (e) {
        throw new Error(`unreachable at ${where} (${(e as Error).message || (e as { code?: string }).code || 'connection failed'})`);
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => pool.end(),
  };
}

export type SharedIncidentsInput = {
  /** The shared ticket store; or the PostgreSQL URL to open one (this view then closes it). */
  tickets: TicketStateStore | { url: string };
  /** The incidents config every node of the cluster uses (SLA calendars for ticket actions, profiles). */
  config: IncidentsConfig;
  /** The shared incident store (state/incidents.ts); null until one is reachable: tickets then show no incident. */
  incidents?: { get(key: string): Promise<NocIncident | null> } | null;
  /** The shared service-record store, or the PostgreSQL URL to open one (this view then closes it); null: the service history and "part replaced" answer 503 here. */
  serviceRecords?: ServiceRecordStore | { url: string } | null;
  /** The shared teams and technicians; or the PostgreSQL URL to open them (this view then closes them). */
  dispatchState?: DispatchStateStore | { url: string };
};

/**
 * The NOC's view of tickets and incidents on a node without an incident service: everything from
 * shared stores, no detectors (part wear, life models: 503), no ticket senders (the collector
 * that owns partition 0 runs those).
 */
export function sharedIncidentsView(input: SharedIncidentsInput): NocIncidents & { close(): Promise<void> } {
  const owned = 'url' in input.tickets ? new PgTicketState(input.tickets.url) : null;
  const ticketState = owned ?? (input.tickets as TicketStateStore);
  const ownedDispatch = input.dispatchState && 'url' in input.dispatchState ? new PgDispatchState(input.dispatchState.url) : null;
  const dispatchState = ownedDispatch ?? (input.dispatchState as DispatchStateStore | undefined);
  const ownedRecords = input.serviceRecords && 'url' in input.serviceRecords ? new PgServiceRecordStore(input.serviceRecords.url) : null;
  return {
    ticketState,
    config: input.config,
    incidents: input.incidents ?? null,
    serviceRecords: ownedRecords ?? ((input.serviceRecords as ServiceRecordStore | null | undefined) || null),
    ...(dispatchState ? { dispatchState, dispatchPassElsewhere: true } : {}),
    async close() {
      await owned?.close();
      await ownedDispatch?.close();
      await ownedRecords?.close();
    },
  };
}
