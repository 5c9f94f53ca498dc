// Which priority an incident's ticket gets under an agreement. Predictions never start the top
// priority's clock: a part that will wear out in two weeks is not an outage.
import { predictedIncidentKinds, type IncidentKind, type ServiceLevelAgreement } from './schema.js';

/** Priorities most urgent first, and the most urgent priority each incident kind may get. */
export type PriorityPolicy = { order: readonly string[]; caps: Partial<Record<IncidentKind, string>>; default: string };

export function priorityPolicyOf(sla: ServiceLevelAgreement): PriorityPolicy {
  return { order: sla.priorities.map((p) => p.priority), caps: sla.priority_caps, default: sla.default_priority };
}

/**
 * The priority to ticket with: the requested one (the policy default when unknown), made no more
 * urgent than the kind's cap, and — for predictions — never the top priority (capped to the
 * second; a policy with a single priority has nothing below the top to cap to).
 */
export function effectivePriority(requested: string | undefined, incidentKind: IncidentKind, policy: PriorityPolicy): string {
  const rank = (p: string | undefined) => (p === undefined ? -1 : policy.order.indexOf(p));
  let r = rank(requested);
  if (r < 0) r = Math.max(0, rank(policy.default));
  const cap = rank(policy.caps[incidentKind]);
  if (cap >= 0) r = Math.max(r, cap);
  if (predictedIncidentKinds.includes(incidentKind)) r = Math.max(r, Math.min(1, policy.order.length - 1));
  return policy.order[r];
}
