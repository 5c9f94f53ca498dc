// Service Level Agreement formats (ERPNext Support vocabulary). Durations are seconds, instants
// are epoch milliseconds (ISO strings with an offset are accepted on input), dates are YYYY-MM-DD
// in the agreement's time zone.
import { z } from 'zod';
import { isValidTimeZone } from './zoned.js';

export const issueStatusSchema = z.enum(['Open', 'Replied', 'On Hold', 'Resolved', 'Closed']);
export type IssueStatus = z.infer<typeof issueStatusSchema>;

export const agreementStatusSchema = z.enum(['First Response Due', 'Resolution Due', 'Fulfilled', 'Failed']);
export type AgreementStatus = z.infer<typeof agreementStatusSchema>;

export const weekdaySchema = z.enum(['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday']);
export type Weekday = z.infer<typeof weekdaySchema>;
/** Index = Date#getDay(). */
export const weekdays: readonly Weekday[] = weekdaySchema.options;

export const timeZoneSchema = z.string().refine(isValidTimeZone, { message: 'not an IANA time zone known to this runtime' });

/** `HH:MM` or `HH:MM:SS`, 00:00 … 24:00 (24:00 only makes sense as an end). */
export const timeOfDaySchema = z
  .string()
  .regex(/^([01]\d|2[0-4]):[0-5]\d(:[0-5]\d)?$/, 'expected HH:MM or HH:MM:SS')
  .refine((s) => secondsOfDay(s) <= 86_400, 'after 24:00');

export function secondsOfDay(hhmm: string): number {
  const [h, m, s] = hhmm.split(':').map(Number);
  return h * 3600 + m * 60 + (s ?? 0);
}

export const dateSchema = z.iso.date();

/** An instant: epoch ms, or an ISO date-time with offset (turned into epoch ms). */
export const instantSchema = z.union([z.number().int().nonnegative(), z.iso.datetime({ offset: true }).transform((s) => Date.parse(s))]);

/** One row of ERPNext's `support_and_resolution`: several rows for one weekday = several windows. */
export const supportWindowSchema = z
  .object({ workday: weekdaySchema, start_time: timeOfDaySchema, end_time: timeOfDaySchema })
  .refine((w) => secondsOfDay(w.start_time) < secondsOfDay(w.end_time), { message: 'end_time must be after start_time', path: ['end_time'] });
export type SupportWindow = z.infer<typeof supportWindowSchema>;

/** A dated override: the windows of that date replace its weekday's (China's make-up working days). */
export const workingDateSchema = z
  .object({ date: dateSchema, start_time: timeOfDaySchema, end_time: timeOfDaySchema })
  .refine((w) => secondsOfDay(w.start_time) < secondsOfDay(w.end_time), { message: 'end_time must be after start_time', path: ['end_time'] });

type Span = { start_time: string; end_time: string };
function overlapIssue<T extends Span>(rows: T[], keyOf: (r: T) => string): number | null {
  for (let i = 0; i < rows.length; i++) {
    for (let j = 0; j < i; j++) {
      if (keyOf(rows[i]) !== keyOf(rows[j])) continue;
      const a = rows[i],
        b = rows[j];
      if (secondsOfDay(a.start_time) < secondsOfDay(b.end_time) && secondsOfDay(b.start_time) < secondsOfDay(a.end_time)) return i;
    }
  }
  return null;
}

/**
 * Working-hours calendar. `twenty_four_seven: true` = 7×24×365: every instant counts, windows and
 * holidays are ignored (a 24/7 contract does not stop for a holiday).
 */
export const workingCalendarSchema = z
  .object({
    time_zone: timeZoneSchema,
    twenty_four_seven: z.boolean().default(false),
    support_and_resolution: z.array(supportWindowSchema).default([]),
    holidays: z.array(dateSchema).default([]),
    extra_working_days: z.array(workingDateSchema).default([]),
  })
  .superRefine((c, ctx) => {
    if (!c.twenty_four_seven && c.support_and_resolution.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['support_and_resolution'], message: 'a calendar that is not 24/7 needs at least one working window' });
    }
    const i = overlapIssue(c.support_and_resolution, (r) => r.workday);
    if (i !== null) ctx.addIssue({ code: 'custom', path: ['support_and_resolution', i], message: 'overlaps another window of the same workday' });
    const j = overlapIssue(c.extra_working_days, (r) => r.date);
    if (j !== null) ctx.addIssue({ code: 'custom', path: ['extra_working_days', j], message: 'overlaps another window of the same date' });
  });
export type WorkingCalendar = z.infer<typeof workingCalendarSchema>;
export type WorkingCalendarInput = z.input<typeof workingCalendarSchema>;

export const slaPrioritySchema = z
  .object({
    priority: z.string().min(1),
    response_time: z.number().int().nonnegative(),
    resolution_time: z.number().int().nonnegative(),
  })
  .refine((p) => p.response_time <= p.resolution_time, { message: 'response_time must not exceed resolution_time', path: ['response_time'] });
export type SlaPriority = z.infer<typeof slaPrioritySchema>;

/**
 * What a detector raised. `wear-out` and `degradation` are predictions (the part still works);
 * the rest are failures that already happened.
 */
export const incidentKindSchema = z.enum(['wear-out', 'degradation', 'recurring-fault', 'reactive', 'offline', 'site']);
export type IncidentKind = z.infer<typeof incidentKindSchema>;
export const predictedIncidentKinds: readonly IncidentKind[] = ['wear-out', 'degradation'];

/**
 * Service Level Agreement for one contract. `priorities` is ordered most urgent first (that order
 * is what "top priority" and the caps mean). `priority_caps`: the most urgent priority an incident
 * kind may get; predictions are never given the top priority whatever the caps say.
 */
export const serviceLevelAgreementSchema = z
  .object({
    service_level: z.string().min(1),
    customer: z.string().min(1).optional(),
    default_priority: z.string().min(1),
    priorities: z.array(slaPrioritySchema).min(1),
    calendar: workingCalendarSchema,
    apply_sla_for_resolution: z.boolean().default(true),
    pause_sla_on: z.array(issueStatusSchema).default(['On Hold']),
    sla_fulfilled_on: z.array(issueStatusSchema).default(['Resolved', 'Closed']),
    priority_caps: z.partialRecord(incidentKindSchema, z.string().min(1)).default({}),
  })
  .superRefine((s, ctx) => {
    const names = s.priorities.map((p) => p.priority);
    names.forEach((n, i) => {
      if (names.indexOf(n) !== i) ctx.addIssue({ code: 'custom', path: ['priorities', i, 'priority'], message: `duplicate priority ${n}` });
    });
    if (!names.includes(s.default_priority))
      ctx.addIssue({ code: 'custom', path: ['default_priority'], message: `not one of the priorities (${names.join(', ')})` });
    for (const st of s.pause_sla_on) {
      if (st === 'Open') ctx.addIssue({ code: 'custom', path: ['pause_sla_on'], message: 'Open cannot pause the agreement' });
      if (s.sla_fulfilled_on.includes(st)) ctx.addIssue({ code: 'custom', path: ['pause_sla_on'], message: `${st} is also a fulfilled-on status` });
    }
    if (s.sla_fulfilled_on.includes('Open')) ctx.addIssue({ code: 'custom', path: ['sla_fulfilled_on'], message: 'Open cannot fulfil the agreement' });
    for (const [kind, cap] of Object.entries(s.priority_caps)) {
      if (cap === undefined) continue;
      if (!names.includes(cap)) ctx.addIssue({ code: 'custom', path: ['priority_caps', kind], message: `not one of the priorities (${names.join(', ')})` });
      else if (predictedIncidentKinds.includes(kind as IncidentKind) && cap === names[0] && names.length > 1) {
        ctx.addIssue({ code: 'custom', path: ['priority_caps', kind], message: `a prediction never starts a ${cap} clock` });
      }
    }
  });
export type ServiceLevelAgreement = z.infer<typeof serviceLevelAgreementSchema>;
export type ServiceLevelAgreementInput = z.input<typeof serviceLevelAgreementSchema>;

/**
 * What happened to one Issue, as the SLA sees it. The status before the first change is Open.
 * `opening` = ERPNext's `service_level_agreement_creation`.
 */
export const issueTimelineSchema = z
  .object({
    opening: instantSchema,
    priority: z.string().min(1).optional(),
    first_responded_on: instantSchema.optional(),
    status_changes: z.array(z.object({ at: instantSchema, status: issueStatusSchema })).default([]),
  })
  .superRefine((t, ctx) => {
    t.status_changes.forEach((c, i) => {
      if (c.at < t.opening) ctx.addIssue({ code: 'custom', path: ['status_changes', i, 'at'], message: 'before the opening' });
      if (i > 0 && c.at < t.status_changes[i - 1].at) ctx.addIssue({ code: 'custom', path: ['status_changes', i, 'at'], message: 'out of order' });
    });
    if (t.first_responded_on !== undefined && t.first_responded_on < t.opening) {
      ctx.addIssue({ code: 'custom', path: ['first_responded_on'], message: 'before the opening' });
    }
  });
export type IssueTimeline = z.infer<typeof issueTimelineSchema>;
export type IssueTimelineInput = z.input<typeof issueTimelineSchema>;
