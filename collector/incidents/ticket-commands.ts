// What an incident change asks of its ticket: the ticket commands (create, reopen, update,
// resolve, close) built from the incident, the ticket as it is now and the facts about the
// device (customer, serial, warranty, SLA, language). Pure: the embedded and the cluster incident
// services look the facts up their own way (SQLite synchronously, PostgreSQL asynchronously).
import type { FirmwareProfile } from '../../firmware-profiles/index.js';
import { changeComment, runbookText, sparePartFor, ticketDescription, ticketIssueType, ticketPriority, ticketSla, ticketSubject } from './ticket-text.js';
import type { IncidentsConfig } from './config.js';
import type { ServiceLevelAgreement } from '../sla/index.js';
import type { Ticket, TicketCommandInput, TicketLanguage } from '../tickets/index.js';
import type { SerialRecord, WarrantyAmcStatus, WarrantyClaimDraft } from '../warranty/schema.js';
import { warrantyClaimFor } from '../warranty/status.js';
import type { DetectorFeed } from './feed.js';
import type { Incident, IncidentChange } from './store.js';

export type IncidentFacts = {
  customer: string;
  serial: string | null;
  sla: ServiceLevelAgreement | undefined;
  timeZone: string | undefined;
  record: SerialRecord | undefined;
  warrantyStatus: WarrantyAmcStatus | null;
  lang: TicketLanguage;
};

/** The SLA and language of a customer (tenant) under `config`. */
export function customerTerms(config: IncidentsConfig, customer: string): { sla: ServiceLevelAgreement | undefined; lang: TicketLanguage } {
  return { sla: config.slas[customer] ?? config.defaultSla, lang: config.languages[customer] ?? config.defaultLanguage };
}

export function ticketCommandsFor(
  change: IncidentChange,
  current: Ticket | null,
  f: IncidentFacts,
  config: IncidentsConfig,
  profiles: ReadonlyMap<string, FirmwareProfile>,
): TicketCommandInput[] {
  const { incident, at } = change;
  const key = incident.key;
  const eventId = `incident-${incident.id}-${change.type}-${at}`;
  const create = (): TicketCommandInput => {
    const priority = ticketPriority(incident, f.sla);
    return {
      kind: 'create',
      key,
      at,
      eventId,
      ticket: {
        subject: ticketSubject(incident, f.lang),
        description: ticketDescription(incident, f.lang, {
          serial: f.serial,
          warranty: f.warrantyStatus,
          runbook: runbookText(incident.runbook, profiles, f.lang),
          now: at,
          sparePart: sparePartFor(incident, profiles),
        }),
        language: f.lang,
        priority,
        issueType: ticketIssueType(incident.kind, incident.issueType, config.issueTypes),
        customer: f.customer,
        site: incident.site,
        device: incident.device,
        peripheral: incident.scope === 'device' && incident.peripheral !== 'device' ? incident.peripheral : null,
        serial: f.serial,
        warrantyStatus: f.warrantyStatus,
        sla: ticketSla(f.sla, priority, at),
      },
    };
  };
  switch (change.ticket) {
    case 'none':
      return [];
    case 'create':
      return [create()];
    case 'reopen':
      // A ticket closed meanwhile (by an operator) is not reopened: the problem gets a new one.
      if (!current || current.status === 'Closed') return [create()];
      return [{ kind: 'set-status', key, at, eventId, status: 'Open', comment: changeComment(incident, 'reopened', f.lang) }];
    case 'update': {
      if (!current || current.status === 'Closed') return [];
      return [{ kind: 'update', key, at, eventId, comment: changeComment(incident, 'updated', f.lang), patch: { priority: ticketPriority(incident, f.sla) } }];
    }
    case 'resolve': {
      if (!current || current.status === 'Closed' || current.status === 'Resolved') return [];
      // The SLA update follows from the status history (onChange: refreshTicketSla).
      return [{ kind: 'set-status', key, at, eventId, status: 'Resolved', comment: changeComment(incident, 'recovered', f.lang) }];
    }
    case 'close':
      if (!current || current.status === 'Closed') return [];
      return [{ kind: 'close', key, at, eventId, resolution: changeComment(incident, 'closed', f.lang) }];
  }
}

/**
 * The customer, serial, SLA and language of an incident's device from the fleet inventory. The
 * warranty facts are looked up by each service (SQLite synchronously, PostgreSQL asynchronously).
 */
export function incidentParty(
  incident: Incident,
  inventoryOf: DetectorFeed['inventoryOf'],
  config: IncidentsConfig,
): Omit<IncidentFacts, 'record' | 'warrantyStatus'> {
  const inv = inventoryOf(incident.device, incident.scope === 'device' ? incident.peripheral : undefined);
  const customer = inv?.tenant ?? config.defaultCustomer;
  const peripheralSerial = incident.peripheral !== 'device' && incident.scope === 'device' ? inv?.peripherals.get(incident.peripheral)?.serial : undefined;
  const serial = peripheralSerial ?? (incident.scope === 'device' ? inv?.serial : undefined) ?? null;
  const { sla, lang } = customerTerms(config, customer);
  return { customer, serial, sla, timeZone: sla?.calendar.time_zone, lang };
}

/** The warranty claim the new ticket `ref` of a hardware failure asks for, or null. */
export function warrantyClaimDraftFor(incident: Incident, ref: string, at: number, f: IncidentFacts, config: IncidentsConfig): WarrantyClaimDraft | null {
  if (!f.record || ticketIssueType(incident.kind, incident.issueType, config.issueTypes) !== 'Hardware Failure') return null;
  return warrantyClaimFor(f.record, { complaint: ticketSubject(incident, 'en'), at, customer: f.customer, incident_key: ref }, { timeZone: f.timeZone });
}
