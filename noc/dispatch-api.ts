// The NOC's HTTP contract for dispatch (teams, technicians, assignment, known fixes, team
// performance): request schemas the server validates and answer types the web page imports
// (`import type` only). Routes: noc/routes/dispatch.ts; list in docs/noc-api.md.
import { z } from 'zod';
import type { KnownFix } from '../dispatch/known-fixes.js';
import { knownFixEditSchema, teamSchema, technicianSchema, type Team, type Technician } from '../dispatch/model.js';
import type { PerformanceRow, TeamPerformanceReport } from '../dispatch/report.js';

export type { KnownFix, PerformanceRow, Team, TeamPerformanceReport, Technician };

/** GET /api/dispatch: teams, technicians with their open-ticket load, and the unassigned count. */
export type DispatchOverview = { teams: Team[]; technicians: Array<Technician & { load: number }>; unassigned: number; undispatched: number };

export const putTeamRequest = z.object({ team: teamSchema, replace: z.boolean().default(false) }).strict();
export const putTechnicianRequest = z.object({ technician: technicianSchema, replace: z.boolean().default(false) }).strict();

/** POST /api/tickets/:ref/assign: a technician id, or null to hand the ticket back to the rules. */
export const assignRequest = z.object({ technician: z.string().min(1).max(64).nullable() }).strict();

/** POST /api/tickets/:ref/resolve-with-cause. */
export const resolveWithCauseRequest = z.object({ cause: z.string().min(1).max(80), text: z.string().min(1).max(5000) }).strict();

/** GET /api/tickets/:ref/known-fixes: the codes it may be resolved with and the top known fixes of its kind. */
export type TicketKnownFixes = { causeCodes: string[]; fixes: KnownFix[] };

export const knownFixesQuery = z.object({ q: z.string().max(200).default('') }).strict();
export type KnownFixesAnswer = { fixes: KnownFix[] };

export const knownFixEditRequest = knownFixEditSchema;

export const teamPerformanceQuery = z
  .object({
    /** Period start/end, ISO dates or epoch ms; default: the last 30 days. */
    from: z.string().max(40).optional(),
    to: z.string().max(40).optional(),
    format: z.enum(['json', 'csv']).default('json'),
  })
  .strict();
