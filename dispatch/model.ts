// Field-service dispatch vocabulary: teams (regions, skills, working hours), technicians, the
// dispatch config (escalation before breach, known-fix window). zod is the source of truth; the
// ticket side (assignment, escalations, cause) is in collector/tickets/model.ts because tickets
// carry it to every sink.
import { z } from 'zod';
import { workingCalendarSchema } from '../collector/sla/index.js';
import { ticketLanguageSchema } from '../collector/tickets/model.js';
import { peripheralKind } from '../protocol/messages.js';

const id = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'lower-case letters, digits, ".", "_" and "-", starting with a letter or digit');

export const teamSchema = z
  .object({
    id,
    name: z.string().min(1).max(120),
    /** Region: the sites the team covers; empty = any site (of its tenants). */
    sites: z.array(z.string().min(1)).default([]),
    /** Region: the tenants (ticket customers) the team serves; empty = any tenant. */
    tenants: z.array(z.string().min(1)).default([]),
    /** Skills: device kinds the team repairs; empty = every kind. */
    skills: z.array(peripheralKind).default([]),
    /** Working hours (collector/sla calendar); null = always on shift. */
    calendar: workingCalendarSchema.nullable().default(null),
  })
  .strict();
export type Team = z.infer<typeof teamSchema>;
export type TeamInput = z.input<typeof teamSchema>;

export const technicianSchema = z
  .object({
    id,
    name: z.string().min(1).max(120),
    team: id,
    email: z.email().nullable().default(null),
    /** The team lead is told of escalations. */
    lead: z.boolean().default(false),
    /** The NOC user this technician logs in as, when there is one. */
    nocUser: z.string().min(1).nullable().default(null),
  })
  .strict();
export type Technician = z.infer<typeof technicianSchema>;
export type TechnicianInput = z.input<typeof technicianSchema>;

export const escalationActionSchema = z.enum(['notify-lead', 'bump-priority']);

export const dispatchConfigSchema = z
  .object({
    /** Run the dispatch rules and the escalation check (off: tickets are only assigned by hand). */
    enabled: z.boolean().default(true),
    /** How often open tickets are dispatched and checked for escalation. */
    passMs: z.number().int().positive().default(30_000),
    escalation: z
      .object({
        /** Escalate when this share of the response or resolution time is used without the matching status change. */
        share: z.number().gt(0).lt(1).default(0.75),
        actions: z.array(escalationActionSchema).min(1).default(['notify-lead']),
      })
      .strict()
      .prefault({}),
    /** A resolution "held" when its ticket was not reopened (nor its fault ticketed again) within this many days. */
    knownFixWindowDays: z.number().positive().default(30),
  })
  .strict();
export type DispatchConfig = z.infer<typeof dispatchConfigSchema>;
export type DispatchConfigInput = z.input<typeof dispatchConfigSchema>;

/** An operator's text of a known fix, per language, replacing the text taken from resolutions. */
export const knownFixEditSchema = z
  .object({
    profile: z.string().min(1).nullable(),
    failureMode: z.string().min(1),
    cause: z.string().min(1),
    title: z.string().min(1).max(200),
    text: z.partialRecord(ticketLanguageSchema, z.string().min(1).max(5000)).refine((t) => Object.keys(t).length > 0, 'at least one language'),
    hidden: z.boolean().default(false),
  })
  .strict();
export type KnownFixEdit = z.infer<typeof knownFixEditSchema>;
export type KnownFixEditInput = z.input<typeof knownFixEditSchema>;

/** One known fix's identity: same failure mode, same model (profile), same cause code. */
export const knownFixId = (profile: string | null, failureMode: string, cause: string) => `${profile ?? '-'}|${failureMode}|${cause}`;
