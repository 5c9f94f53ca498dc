// Configuration of the incident service (collector/incidents/service.ts): detectors, incident
// lifecycle, ticket sinks, and per tenant its Service Level Agreement and ticket language.
// zod is the source of truth; `incidentsConfigSchema.parse({})` gives a working default.
import { z } from 'zod';
import { dispatchConfigSchema } from '../../dispatch/model.js';
import { detectorConfig } from '../detectors/types.js';
import { incidentStoreOptions } from './store.js';
import { serviceLevelAgreementSchema } from '../sla/schema.js';
import { issueTypeSchema, ticketLanguageSchema, ticketPrioritySchema, ticketingConfigSchema } from '../tickets/index.js';

/** An SLA whose priorities are ticket priorities (Urgent, High, Medium, Low): the ticket carries the name. */
const tenantSla = serviceLevelAgreementSchema.superRefine((s, ctx) => {
  s.priorities.forEach((p, i) => {
    if (!ticketPrioritySchema.safeParse(p.priority).success) {
      ctx.addIssue({ code: 'custom', path: ['priorities', i, 'priority'], message: `must be one of ${ticketPrioritySchema.options.join(', ')}` });
    }
  });
});

export const incidentsConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** How often the detectors are evaluated and the incidents advanced. */
    tickMs: z.number().int().positive().default(1000),
    /** Inventory (site, tenant, serials, profiles) is re-read from the fleet state this often. */
    inventoryRefreshMs: z.number().int().positive().default(30_000),
    /** The detectors' state is saved this often (and at stop); its size grows with the fleet. Cluster mode saves at every tick. */
    stateSaveMs: z.number().int().positive().default(30_000),
    /** Live tickets are checked this often for a passed SLA deadline (agreement status → Failed). */
    slaCheckMs: z.number().int().positive().default(60_000),
    /** Firmware profiles (fault mappings, rated life, runbooks); default: the shipped ones. */
    profilesDir: z.string().min(1).optional(),
    detectors: detectorConfig,
    /** Hold, recovery, reopen window, flapping (collector/incidents). */
    lifecycle: incidentStoreOptions,
    /** External sinks (ERPNext, Zammad, webhooks); the built-in store is always on. */
    tickets: ticketingConfigSchema.prefault({}),
    /** Service Level Agreement per tenant (the ticket's customer). */
    slas: z.record(z.string().min(1), tenantSla).default({}),
    /** Used for tenants without their own SLA; none = tickets carry no deadlines. */
    defaultSla: tenantSla.optional(),
    /** Ticket language per tenant. */
    languages: z.record(z.string().min(1), ticketLanguageSchema).default({}),
    defaultLanguage: ticketLanguageSchema.default('en'),
    /** Customer of tickets for devices whose inventory names no tenant. */
    defaultCustomer: z.string().min(1).default('unassigned'),
    /** Detector/profile issue type (e.g. `printer-operator`) → ticket Issue Type; wins over the built-in mapping. */
    issueTypes: z.record(z.string().min(1), issueTypeSchema).default({}),
    /** Teams, technicians and escalation before breach (dispatch/). */
    dispatch: dispatchConfigSchema.prefault({}),
    warranty: z
      .object({
        /** Create a Warranty Claim draft for a hardware failure of a serial under warranty. */
        claims: z.boolean().default(true),
      })
      .prefault({}),
  })
  .strict();
export type IncidentsConfig = z.infer<typeof incidentsConfigSchema>;
export type IncidentsConfigInput = z.input<typeof incidentsConfigSchema>;
