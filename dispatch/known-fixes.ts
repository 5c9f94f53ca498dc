// Known fixes: resolutions of the same failure mode on the same model (firmware profile) with the
// same cause code, grouped and ranked by how often they held — a resolution held when its ticket
// was not reopened, and its fault not ticketed again, within the window. Pure over the resolved
// tickets; operators' texts (state/dispatch.ts known-fix edits) replace the collected ones.
import type { Ticket, TicketLanguage, TicketStatus } from '../collector/tickets/model.js';
import { knownFixId, type KnownFixEdit } from './model.js';

export type Resolution = { ref: string; text: string; at: number; outcome: 'held' | 'failed' | 'pending' };

export type KnownFix = {
  id: string;
  profile: string | null;
  failureMode: string;
  cause: string;
  title: string;
  /** Text per language: the operator's edit, else the latest resolution that held (else the latest one) under `en`… in the ticket's language. */
  text: Partial<Record<TicketLanguage, string>>;
  edited: boolean;
  hidden: boolean;
  resolutions: number;
  held: number;
  failed: number;
  pending: number;
  /** held / (held + failed); null until one outcome is known. */
  hitRate: number | null;
  lastAt: number;
  refs: string[];
};

export const failureModeOf = (key: string) => key.split('/')[2] ?? key;

/** Did the resolution at `at` of `ticket` hold? Reopened or ticketed again within the window → failed; window not over → pending. */
export function resolutionOutcome(
  ticket: Ticket,
  resolvedAt: number,
  statusLog: ReadonlyArray<{ status: TicketStatus; at: number }>,
  laterOccurrences: readonly Ticket[],
  windowMs: number,
  now: number,
): Resolution['outcome'] {
  const end = resolvedAt + windowMs;
  if (statusLog.some((s) => s.at > resolvedAt && s.at <= end && s.status === 'Open')) return 'failed';
  if (laterOccurrences.some((t) => t.occurrence > ticket.occurrence && t.openedAt > resolvedAt && t.openedAt <= end)) return 'failed';
  return now >= end ? 'held' : 'pending';
}

export type ResolvedTicket = { ticket: Ticket; statusLog: ReadonlyArray<{ status: TicketStatus; at: number }> };

/** All known fixes, best first (held, then resolutions, then most recent). */
export function knownFixes(
  resolved: readonly ResolvedTicket[],
  allOfKeys: ReadonlyMap<string, readonly Ticket[]>,
  edits: readonly KnownFixEdit[],
  windowMs: number,
  now: number,
): KnownFix[] {
  type Group = KnownFix & { texts: Array<{ lang: TicketLanguage; text: string; at: number; outcome: Resolution['outcome'] }> };
  const groups = new Map<string, Group>();
  /** The group of `id`, started with no resolutions when there is none yet. */
  const groupOf = (id: string, first: Pick<KnownFix, 'profile' | 'failureMode' | 'cause' | 'title' | 'edited'>): Group => {
    let g = groups.get(id);
    if (!g) {
      g = { id, ...first, text: {}, hidden: false, resolutions: 0, held: 0, failed: 0, pending: 0, hitRate: null, lastAt: 0, refs: [], texts: [] };
      groups.set(id, g);
    }
    return g;
  };
  for (const { ticket, statusLog } of resolved) {
    const cause = ticket.cause;
    if (!cause) continue;
    const failureMode = failureModeOf(ticket.key);
    const id = knownFixId(cause.profile, failureMode, cause.code);
    const g = groupOf(id, { profile: cause.profile, failureMode, cause: cause.code, title: `${cause.code}: ${failureMode}`, edited: false });
    const outcome = resolutionOutcome(ticket, cause.at, statusLog, allOfKeys.get(ticket.key) ?? [], windowMs, now);
    g.resolutions++;
    g[outcome]++;
    g.lastAt = Math.max(g.lastAt, cause.at);
    g.refs.push(ticket.ref);
    g.texts.push({ lang: ticket.language, text: cause.text, at: cause.at, outcome });
  }
  for (const e of edits) {
    const id = knownFixId(e.profile, e.failureMode, e.cause);
    const g = groupOf(id, { profile: e.profile, failureMode: e.failureMode, cause: e.cause, title: e.title, edited: true });
    g.title = e.title;
    g.edited = true;
    g.hidden = e.hidden;
    g.text = { ...e.text };
  }
  const out: KnownFix[] = [];
  for (const { texts, ...g } of groups.values()) {
    // Collected texts: per language, the latest that held, else the latest.
    const rank = (x: (typeof texts)[number]) => (x.outcome === 'held' ? 2 : x.outcome === 'pending' ? 1 : 0);
    for (const x of [...texts].sort((a, b) => rank(a) - rank(b) || a.at - b.at)) if (!g.edited) g.text[x.lang] = x.text;
    g.hitRate = g.held + g.failed > 0 ? g.held / (g.held + g.failed) : null;
    out.push(g);
  }
  return out.sort((a, b) => b.held - a.held || b.resolutions - a.resolutions || b.lastAt - a.lastAt || a.id.localeCompare(b.id));
}

/** The known fixes for a ticket of `failureMode` on `profile` (model): visible ones, best first. */
export function knownFixesFor(all: readonly KnownFix[], profile: string | null, failureMode: string, limit = 3): KnownFix[] {
  return all.filter((f) => !f.hidden && f.failureMode === failureMode && (f.profile === profile || profile === null)).slice(0, limit);
}

/** A fix's text in `lang`, else English, else any language it has. */
export function fixText(f: Pick<KnownFix, 'text'>, lang: TicketLanguage): string {
  return f.text[lang] ?? f.text.en ?? Object.values(f.text)[0] ?? '';
}

/** Search: every word must appear in the title, text, cause, failure mode or model. */
export function searchKnownFixes(all: readonly KnownFix[], q: string): KnownFix[] {
  const words = q.toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return [...all];
  return all.filter((f) => {
    const hay = [f.title, f.cause, f.failureMode, f.profile ?? '', ...Object.values(f.text)].join('\n').toLowerCase();
    return words.every((w) => hay.includes(w));
  });
}
