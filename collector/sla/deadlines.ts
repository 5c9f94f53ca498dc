// Response and resolution deadlines of one Issue under its Service Level Agreement, replayed from
// the Issue's status history (pure: same timeline, same SLA, same `now` → same answer).
//
// Rules (ERPNext Support, made precise):
// - The clock starts at `opening`. A pause status (default On Hold) records `on_hold_since` and
//   clears the deadlines still pending; leaving it adds the held wall time to `total_hold_time`.
// - Reopening (leaving a fulfilled-on status for another) counts the time since the resolution
//   as hold.
// - "Recomputed plus the hold" is done in working time: a deadline is the instant at which the
//   allotted working seconds have elapsed since `opening` outside every hold. (ERPNext adds the
//   held wall seconds to the deadline, which lets a weekend hold grant three extra working days;
//   a hold that falls outside working hours must not move the deadline.) A hold that begins after
//   a deadline has passed never moves it.
// - First response = the earliest of `first_responded_on`, the first Replied status and the first
//   fulfilled-on status (resolving answers the customer too).
// - Agreement status: no first response → First Response Due, or Failed once `now` is past
//   `responseBy`; a first response after `responseBy` → Failed; without resolution SLA → Fulfilled;
//   not resolved → Resolution Due, or Failed once `now` is past `resolutionBy`; resolved at or
//   before `resolutionBy` → Fulfilled, else Failed. A deadline met exactly is met.
import type { AgreementStatus, IssueStatus, IssueTimeline, ServiceLevelAgreement } from './schema.js';
import { addWorkingTimeExcluding, type Interval } from './working-time.js';

export type SlaDeadlines = {
  /** The priority whose times were applied (the SLA default when the Issue names none or an unknown one). */
  priority: string;
  /** Epoch ms; null while paused before the deadline was reached (ERPNext clears it). */
  responseBy: number | null;
  resolutionBy: number | null;
  agreementStatus: AgreementStatus;
  firstRespondedOn: number | null;
  /** When the Issue last entered a fulfilled-on status and still is in one. */
  resolutionDate: number | null;
  /** Entered a pause status and has not left it yet. */
  onHoldSince: number | null;
  /** Completed holds and reopen gaps, wall seconds (ERPNext `total_hold_time`). */
  totalHoldTime: number;
  /** How many times the Issue left a fulfilled-on status. */
  reopenCount: number;
  /** Every hold, including an ongoing one (to = Infinity). */
  holds: Interval[];
};

/**
 * Deadlines and agreement status as of `now` (epoch ms). Without `now`, as of the timeline's last
 * recorded moment (opening, first response or status change) — a pure function reads no clock.
 */
export function slaDeadlines(timeline: IssueTimeline, sla: ServiceLevelAgreement, now: number = lastMoment(timeline)): SlaDeadlines {
  const paused = (s: IssueStatus) => sla.pause_sla_on.includes(s);
  const fulfilled = (s: IssueStatus) => sla.sla_fulfilled_on.includes(s);
  const known = sla.priorities.find((p) => p.priority === timeline.priority);
  const level = known ?? sla.priorities.find((p) => p.priority === sla.default_priority)!;

  const holds: Interval[] = [];
  let status: IssueStatus = 'Open';
  let onHoldSince: number | null = null;
  let resolutionDate: number | null = null;
  let firstResponse: number | null = timeline.first_responded_on !== undefined && timeline.first_responded_on <= now ? timeline.first_responded_on : null;
  let reopenCount = 0;

  for (const change of timeline.status_changes) {
    if (change.at > now) break;
    const next = change.status;
    if (paused(status) && !paused(next) && onHoldSince !== null) {
      holds.push({ from: onHoldSince, to: change.at });
      onHoldSince = null;
    }
    if (fulfilled(status) && !fulfilled(next) && resolutionDate !== null) {
      holds.push({ from: resolutionDate, to: change.at });
      resolutionDate = null;
      reopenCount++;
    }
    if (!paused(status) && paused(next)) onHoldSince = change.at;
    if (!fulfilled(status) && fulfilled(next)) resolutionDate = change.at;
    if ((next === 'Replied' || fulfilled(next)) && (firstResponse === null || change.at < firstResponse)) firstResponse = change.at;
    status = next;
  }

  const totalHoldTime = holds.reduce((s, h) => s + (h.to - h.from), 0) / 1000;
  const allHolds = onHoldSince === null ? holds : [...holds, { from: onHoldSince, to: Infinity }];
  const deadline = (seconds: number) => addWorkingTimeExcluding(timeline.opening, seconds, sla.calendar, allHolds);
  const responseBy = deadline(level.response_time);
  const resolutionBy = sla.apply_sla_for_resolution ? deadline(level.resolution_time) : null;

  const late = (by: number | null, at: number) => by !== null && at > by;
  let agreementStatus: AgreementStatus;
  if (firstResponse === null) agreementStatus = late(responseBy, now) ? 'Failed' : 'First Response Due';
  else if (late(responseBy, firstResponse)) agreementStatus = 'Failed';
  else if (!sla.apply_sla_for_resolution) agreementStatus = 'Fulfilled';
  else if (resolutionDate === null) agreementStatus = late(resolutionBy, now) ? 'Failed' : 'Resolution Due';
  else agreementStatus = late(resolutionBy, resolutionDate) ? 'Failed' : 'Fulfilled';

  return {
    priority: level.priority,
    responseBy,
    resolutionBy,
    agreementStatus,
    firstRespondedOn: firstResponse,
    resolutionDate,
    onHoldSince,
    totalHoldTime,
    reopenCount,
    holds: allHolds,
  };
}

function lastMoment(t: IssueTimeline): number {
  return Math.max(t.opening, t.first_responded_on ?? 0, ...t.status_changes.map((c) => c.at));
}
