// The dispatch rules: which technician a new ticket goes to. Pure: the same ticket, teams,
// technicians, loads and instant give the same answer. Order of the rules:
//   region (the team covers the ticket's site and tenant) → skill (the device kind) → on shift
//   (the team's working-hours calendar, collector/sla) → least loaded technician (open tickets).
// No match leaves the ticket unassigned with the reason, so the board can show and count it.
import { workingIntervals } from '../collector/sla/index.js';
import type { Team, Technician } from './model.js';

export type DispatchTicket = { ref: string; customer: string; site: string | null; kind: string | null };

export type DispatchDecision = { technician: Technician; team: Team; reason: string } | { technician: null; team: null; reason: string };

/** Whether `team` works at `now` (no calendar: always). */
export function onShift(team: Team, now: number): boolean {
  if (!team.calendar) return true;
  const first = workingIntervals(now, team.calendar).next();
  return !first.done && first.value.from <= now;
}

export const coversRegion = (team: Team, t: Pick<DispatchTicket, 'customer' | 'site'>) =>
  (team.tenants.length === 0 || team.tenants.includes(t.customer)) && (team.sites.length === 0 || (t.site !== null && team.sites.includes(t.site)));

/** An unknown kind (device not in the fleet view) is matched by every team. */
export const hasSkill = (team: Team, kind: string | null) => kind === null || team.skills.length === 0 || (team.skills as string[]).includes(kind);

/** How specific a team's region is: a team naming the site beats one naming the tenant beats a catch-all. */
const specificity = (team: Team) => (team.sites.length ? 2 : 0) + (team.tenants.length ? 1 : 0);

export function chooseTechnician(
  ticket: DispatchTicket,
  teams: readonly Team[],
  technicians: readonly Technician[],
  load: ReadonlyMap<string, number>,
  now: number,
): DispatchDecision {
  const where = `site ${ticket.site ?? '(none)'}, tenant ${ticket.customer}`;
  const regional = teams.filter((t) => coversRegion(t, ticket));
  if (!regional.length) return { technician: null, team: null, reason: `no team covers ${where}` };
  const skilled = regional.filter((t) => hasSkill(t, ticket.kind));
  if (!skilled.length) return { technician: null, team: null, reason: `no team covering ${where} has the skill ${ticket.kind}` };
  const staffed = skilled.filter((t) => technicians.some((x) => x.team === t.id));
  if (!staffed.length) return { technician: null, team: null, reason: `team(s) ${skilled.map((t) => t.id).join(', ')} cover ${where} but have no technicians` };
  const working = staffed.filter((t) => onShift(t, now));
  if (!working.length)
    return {
      technician: null,
      team: null,
      reason: `no matching team on shift now (${staffed.map((t) => t.id).join(', ')}); tried again at the next dispatch pass`,
    };
  const teamOf = new Map(working.map((t) => [t.id, t]));
  const candidates = technicians
    .filter((x) => teamOf.has(x.team))
    .map((x) => ({ x, team: teamOf.get(x.team)!, load: load.get(x.id) ?? 0 }))
    .sort((a, b) => a.load - b.load || specificity(b.team) - specificity(a.team) || a.x.id.localeCompare(b.x.id));
  const best = candidates[0];
  return {
    technician: best.x,
    team: best.team,
    reason: `dispatch rules: ${where}${ticket.kind ? `, skill ${ticket.kind}` : ''}, team ${best.team.id} on shift, ${best.load} open ticket(s) before this one`,
  };
}
