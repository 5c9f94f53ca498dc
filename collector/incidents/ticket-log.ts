// The log lines of the incident services (embedded: service.ts, cluster: cluster-service.ts)
// about the ticket commands of an incident change, so both say the same thing in the same words.
import type { Logger } from 'pino';
import type { ApplyResult, TicketCommandInput } from '../tickets/index.js';
import type { IncidentChange } from './store.js';

/** Building the commands threw: a bug in one ticket must not block every other incident. */
export function logTicketBuildFailed(log: Logger, counters: { ticketErrors: number }, change: IncidentChange, e: unknown): void {
  counters.ticketErrors++;
  log.error(
    { key: change.incident.key, change: change.type, err: (e as Error).stack ?? String(e) },
    'could not build the ticket command; incident kept without it',
  );
}

/** The store refused one command (the rest of the change stands). */
export function logTicketRefused(log: Logger, counters: { ticketErrors: number }, change: IncidentChange, cmd: TicketCommandInput, e: unknown): void {
  counters.ticketErrors++;
  log.error({ key: change.incident.key, change: change.type, command: cmd.kind, err: (e as Error).message }, 'ticket command refused');
}

export function logTicketCommand(log: Logger, change: IncidentChange, cmd: TicketCommandInput, r: ApplyResult): void {
  log.info(
    { key: change.incident.key, change: change.type, command: cmd.kind, applied: r.applied, ref: r.ref, ...(r.applied ? {} : { reason: r.reason }) },
    'ticket command',
  );
}

/** A change that asks nothing of its ticket because it is suppressed (flapping, inhibited, maintenance). */
export function logSuppressedChange(log: Logger, change: IncidentChange): void {
  if (change.ticket === 'none' && change.suppressed)
    log.info({ key: change.incident.key, change: change.type, suppressed: change.suppressed }, 'incident change without ticket');
}
