// Escalation before breach: when a ticket has used a configured share (default 75 %) of its
// response time without a first response, or of its resolution time without being resolved, it
// escalates once per stage. Time is working time on the SLA calendar, holds excluded: the same
// timeline replay as the deadlines (collector/sla), so SLA-paused time never counts.
import { slaDeadlines, workingSecondsBetween, type ServiceLevelAgreement } from '../collector/sla/index.js';
import type { Ticket, TicketPriority, TicketStatus } from '../collector/tickets/model.js';

export type EscalationStage = 'response' | 'resolution';
export type DueEscalation = { stage: EscalationStage; share: number };

/**
 * Whether a stage of `ticket` could be due at `now`, without its history: working time without
 * holds never exceeds wall time, so a ticket younger than the share of its shortest stage still to
 * escalate cannot be due (most open tickets, every pass — no history read, no replay).
 */
export function couldBeDue(ticket: Ticket, sla: ServiceLevelAgreement, share: number, now: number): boolean {
  if (ticket.status === 'Resolved' || ticket.status === 'Closed') return false;
  const done = new Set((ticket.escalations ?? []).map((e) => e.stage));
  const times = sla.priorities.find((p) => p.priority === ticket.priority) ?? sla.priorities.find((p) => p.priority === sla.default_priority);
  if (!times) return true;
  const pending = [
    ...(done.has('response') ? [] : [times.response_time]),
    ...(done.has('resolution') || !sla.apply_sla_for_resolution ? [] : [times.resolution_time]),
  ];
  return pending.length > 0 && (now - ticket.openedAt) / 1000 >= share * Math.min(...pending);
}

/** Stages of `ticket` that are due to escalate at `now` and have not escalated yet. */
export function dueEscalations(
  ticket: Ticket,
  statusLog: ReadonlyArray<{ status: TicketStatus; at: number }>,
  sla: ServiceLevelAgreement | undefined,
  share: number,
  now: number,
): DueEscalation[] {
  if (!sla || !couldBeDue(ticket, sla, share, now)) return [];
  const done = new Set((ticket.escalations ?? []).map((e) => e.stage));
  const d = slaDeadlines({ opening: ticket.openedAt, priority: ticket.priority, status_changes: statusLog.filter((c) => c.at >= ticket.openedAt) }, sla, now);
  if (d.onHoldSince !== null) return [];
  const times = sla.priorities.find((p) => p.priority === d.priority);
  if (!times) return [];
  const used = workingSecondsBetween(ticket.openedAt, now, sla.calendar, d.holds);
  const out: DueEscalation[] = [];
  const check = (stage: EscalationStage, allotted: number) => {
    if (done.has(stage)) return;
    const s = allotted <= 0 ? 1 : used / allotted;
    if (s >= share) out.push({ stage, share: Math.round(s * 1000) / 1000 });
  };
  if (d.firstRespondedOn === null) check('response', times.response_time);
  if (sla.apply_sla_for_resolution && d.resolutionDate === null) check('resolution', times.resolution_time);
  return out;
}

const ORDER: TicketPriority[] = ['Low', 'Medium', 'High', 'Urgent'];

/** One step more urgent; a predicted failure stops below Urgent (a prediction never starts a top-priority clock). */
export function bumpedPriority(p: TicketPriority, issueType: string): TicketPriority | null {
  const i = ORDER.indexOf(p);
  const top = issueType === 'Predicted Failure' ? ORDER.length - 2 : ORDER.length - 1;
  return i < top ? ORDER[i + 1] : null;
}
