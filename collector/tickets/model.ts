// Ticket model in the ERPNext Support vocabulary (Issue), and the commands that change a ticket.
// zod is the source of truth; types are inferred. SLA and warranty values are computed by
// collector/sla and collector/warranty; tickets only carry them.
import { z } from 'zod';

export const ticketStatuses = ['Open', 'Replied', 'On Hold', 'Resolved', 'Closed'] as const;
export const ticketStatusSchema = z.enum(ticketStatuses);
export type TicketStatus = z.infer<typeof ticketStatusSchema>;

/** ERPNext "Issue Priority" names (Low, Medium, High by default; Helpdesk adds Urgent). */
export const ticketPrioritySchema = z.enum(['Urgent', 'High', 'Medium', 'Low']);
export type TicketPriority = z.infer<typeof ticketPrioritySchema>;

export const issueTypeSchema = z.enum(['Hardware Failure', 'Predicted Failure', 'Consumable', 'Connectivity', 'Firmware Update']);
export type IssueType = z.infer<typeof issueTypeSchema>;

export const warrantyStatusSchema = z.enum(['Under Warranty', 'Out of Warranty', 'Under AMC', 'Out of AMC']);
export type WarrantyStatus = z.infer<typeof warrantyStatusSchema>;

export const agreementStatusSchema = z.enum(['First Response Due', 'Resolution Due', 'Fulfilled', 'Failed', 'Paused']);
export type AgreementStatus = z.infer<typeof agreementStatusSchema>;

/** What an operator can do to a ticket (collector/tickets/actions.ts). `reopen` sets it Open again (also: back from On Hold). */
export const operatorActionSchema = z.enum(['ack', 'comment', 'hold', 'reopen', 'resolve', 'close']);
export type OperatorAction = z.infer<typeof operatorActionSchema>;

export const ticketLanguageSchema = z.enum(['en', 'ar', 'fa', 'zh']);
export type TicketLanguage = z.infer<typeof ticketLanguageSchema>;

const segment = z
  .string()
  .min(1)
  .max(80)
  .regex(/^[^/#\s]+$/, 'no "/", "#" or whitespace');
/** `device/peripheral/failure-mode`; the peripheral is `-` for device-wide problems (offline, disk). */
export const dedupKeySchema = z
  .string()
  .max(255) // PagerDuty's limit; also fits a Frappe Data field (varchar 140 is the default — see report)
  .refine((s) => {
    const parts = s.split('/');
    return parts.length === 3 && parts.every((p) => segment.safeParse(p).success);
  }, 'must be device/peripheral/failure-mode');

export function dedupKey(device: string, peripheral: string | null | undefined, failureMode: string): string {
  return `${device}/${peripheral || '-'}/${failureMode}`;
}

/** SLA figures as computed by collector/sla (epoch ms; null = no deadline, e.g. paused). */
export const ticketSlaSchema = z.object({
  serviceLevelAgreement: z.string().nullable().default(null),
  responseBy: z.number().int().nullable().default(null),
  resolutionBy: z.number().int().nullable().default(null),
  agreementStatus: agreementStatusSchema.nullable().default(null),
});
export type TicketSla = z.infer<typeof ticketSlaSchema>;

/**
 * Who goes (dispatch/): a technician of a team, chosen by the dispatch rules or by an operator.
 * `technician: null` = the rules matched nobody (the ticket stays unassigned, `reason` says why).
 */
export const ticketAssignmentSchema = z.object({
  technician: z.string().min(1).nullable(),
  /** The technician's display name and e-mail at assignment time (what sinks and notices show). */
  technicianName: z.string().nullable().default(null),
  technicianEmail: z.string().nullable().default(null),
  team: z.string().min(1).nullable(),
  by: z.enum(['rules', 'operator']),
  at: z.number().int(),
  reason: z.string().max(500),
});
export type TicketAssignment = z.infer<typeof ticketAssignmentSchema>;

/** One escalation before breach (dispatch/escalation.ts): once per ticket and stage. */
export const ticketEscalationSchema = z.object({
  stage: z.enum(['response', 'resolution']),
  at: z.number().int(),
  /** Share of the stage's SLA time used when it escalated (SLA-paused time not counted). */
  share: z.number(),
  priorityFrom: z.string().nullable().default(null),
  priorityTo: z.string().nullable().default(null),
  /** Team lead e-mails told (through the notice sinks). */
  notified: z.array(z.string()).default([]),
});
export type TicketEscalation = z.infer<typeof ticketEscalationSchema>;

/** What fixed it: a cause code from the profile's failure modes and the resolution text (known fixes). */
export const ticketCauseSchema = z.object({
  code: z.string().min(1).max(80),
  text: z.string().min(1).max(5000),
  /** The firmware profile (model) of the part, when known: known fixes group by it. */
  profile: z.string().nullable().default(null),
  by: z.string().min(1),
  at: z.number().int(),
});
export type TicketCause = z.infer<typeof ticketCauseSchema>;

export const ticketFieldsSchema = z.object({
  subject: z.string().min(1).max(140),
  /** What was seen, the figures, the ETA and the runbook, in `language` (see render.ts). */
  description: z.string().max(20_000),
  language: ticketLanguageSchema.default('en'),
  priority: ticketPrioritySchema,
  issueType: issueTypeSchema,
  /** The tenant (ERPNext Customer). */
  customer: z.string().min(1),
  site: z.string().nullable().default(null),
  device: z.string().min(1),
  peripheral: z.string().nullable().default(null),
  serial: z.string().nullable().default(null),
  warrantyStatus: warrantyStatusSchema.nullable().default(null),
  sla: ticketSlaSchema.default({ serviceLevelAgreement: null, responseBy: null, resolutionBy: null, agreementStatus: null }),
  /** null = not dispatched yet (tickets written before dispatch existed read as null too). */
  assignment: ticketAssignmentSchema.nullable().default(null),
  escalations: z.array(ticketEscalationSchema).default([]),
  cause: ticketCauseSchema.nullable().default(null),
});
export type TicketFields = z.infer<typeof ticketFieldsSchema>;
export type TicketFieldsInput = z.input<typeof ticketFieldsSchema>;

/** Fields an update may change (last value wins when updates are coalesced). */
export const ticketPatchSchema = z
  .object({
    priority: ticketPrioritySchema,
    warrantyStatus: warrantyStatusSchema.nullable(),
    sla: ticketSlaSchema,
    subject: z.string().min(1).max(140),
    assignment: ticketAssignmentSchema.nullable(),
    escalations: z.array(ticketEscalationSchema),
    cause: ticketCauseSchema.nullable(),
  })
  .partial();
export type TicketPatch = z.infer<typeof ticketPatchSchema>;

const base = {
  key: dedupKeySchema,
  /** When the change happened (epoch ms). */
  at: z.number().int(),
  /** The detector event / incident transition that caused this change; quoted in every comment. */
  eventId: z.string().min(1).max(200).optional(),
};

export const ticketCommandSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('create'), ...base, ticket: ticketFieldsSchema }),
  /** A comment (new figures, ETA moved, recurrence) and/or changed fields. */
  z.object({ kind: z.literal('update'), ...base, comment: z.string().max(20_000).optional(), patch: ticketPatchSchema.optional() }),
  z.object({ kind: z.literal('set-status'), ...base, status: ticketStatusSchema.exclude(['Closed']), comment: z.string().max(20_000).optional() }),
  z.object({ kind: z.literal('close'), ...base, resolution: z.string().max(20_000).optional() }),
]);
export type TicketCommand = z.infer<typeof ticketCommandSchema>;
export type TicketCommandInput = z.input<typeof ticketCommandSchema>;

/** A ticket as held by the built-in store. `ref` identifies one occurrence of a dedup key. */
export type Ticket = TicketFields & {
  ref: string;
  key: string;
  occurrence: number;
  status: TicketStatus;
  version: number;
  openedAt: number;
  updatedAt: number;
  closedAt: number | null;
  resolution: string | null;
};

/**
 * The ticket reference used towards external systems (their unique field / idempotency key).
 * A dedup key can be ticketed again after its ticket was closed (a new failure of the same
 * part): the first occurrence is the key itself, later ones `key#2`, `key#3`…
 */
export function ticketRef(key: string, occurrence: number): string {
  return occurrence <= 1 ? key : `${key}#${occurrence}`;
}

/**
 * What a sink is asked to do: create, or one coalesced update (several comments joined into
 * one, field changes merged, the last status kept).
 */
export type SinkOperation =
  | { kind: 'create'; ref: string; key: string; version: number; ticket: TicketFields; eventIds: string[] }
  | {
      kind: 'update';
      ref: string;
      key: string;
      version: number;
      comment: string | null;
      patch: TicketPatch;
      status: TicketStatus | null;
      resolution: string | null;
      eventIds: string[];
    };
