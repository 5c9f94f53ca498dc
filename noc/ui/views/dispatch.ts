// Dispatch on the page: the technician column of the incidents board (who goes, unassigned with
// the reason, escalated, reassign by hand), a ticket's known fixes and the resolve-with-cause form
// in its details, and the team performance card of the reports page.
import type { TicketSummary, UiLanguage } from '../../api.js';
import type { DispatchOverview, KnownFix, TeamPerformanceReport, TicketKnownFixes } from '../../dispatch-api.js';
import { api } from '../client.js';
import { td } from '../dispatch-i18n.js';
import { h } from '../dom.js';
import { duration, language, num, pct, t } from '../i18n.js';
import { errorText, table, toast } from '../ui.js';

/** Teams and technicians (for the reassign menu) and the unassigned count; refreshed with the board. */
export async function fetchDispatch(): Promise<DispatchOverview | null> {
  try {
    return await api.get<DispatchOverview>('/api/dispatch');
  } catch {
    return null; // the board still works without the menu
  }
}

export async function assignTicket(ref: string, technician: string | null): Promise<boolean> {
  try {
    const r = await api.post<{ assignment: { technicianName: string | null; technician: string | null } | null }>(
      `/api/tickets/${encodeURIComponent(ref)}/assign`,
      { technician },
    );
    toast(
      r.assignment?.technician ? td('dispatch.assigned', { name: r.assignment.technicianName ?? r.assignment.technician }) : td('dispatch.unassigned'),
      'ok',
    );
    return true;
  } catch (e) {
    toast(t('common.error', { message: errorText(e) }), 'error');
    return false;
  }
}

/** The technician cell: name (team), or Unassigned with the reason; a menu to reassign for operators. */
export function technicianCell(x: TicketSummary, overview: DispatchOverview | null, canOperate: boolean, onAssigned: () => void): HTMLElement {
  const a = x.assignment;
  const who = !a
    ? h('span', { class: 'muted small' }, td('dispatch.notDispatched'))
    : a.technician
      ? h('span', { class: 'technician' }, a.technicianName ?? a.technician, h('div', { class: 'muted small' }, a.team ?? ''))
      : h('span', { class: 'badge unassigned', title: a.reason }, td('dispatch.unassigned'));
  const escalated = x.escalated.length ? h('span', { class: 'badge escalated', title: x.escalated.join(', ') }, td('dispatch.escalated')) : null;
  const open = x.status !== 'Resolved' && x.status !== 'Closed';
  const menu =
    canOperate && open && overview
      ? h(
          'select',
          {
            class: 'assign-select',
            'aria-label': `${td('dispatch.assign')} ${x.ref}`,
            onchange: (e: Event) => {
              const v = (e.target as HTMLSelectElement).value;
              void assignTicket(x.ref, v === '' ? null : v).then(onAssigned);
            },
          },
          h('option', { value: '', selected: !a?.technician }, td('dispatch.rules')),
          overview.technicians.map((tech) =>
            h('option', { value: tech.id, selected: a?.technician === tech.id }, `${tech.name} (${tech.team}, ${num(tech.load, 0)})`),
          ),
        )
      : null;
  return h(
    'td',
    { class: 'assignment', 'data-technician': a?.technician ?? '', 'data-assignment': a ? (a.technician ? 'assigned' : 'unassigned') : 'none' },
    who,
    escalated,
    menu,
  );
}

function fixText(f: KnownFix, lang: UiLanguage | string): string {
  const text = f.text as Partial<Record<string, string>>;
  return text[lang] ?? text.en ?? Object.values(text)[0] ?? '';
}

/** A ticket's top known fixes (same problem, same model), in the ticket's language where written. */
export function knownFixesSection(k: TicketKnownFixes, ticketLanguage: string): HTMLElement {
  return h(
    'section',
    { class: 'known-fixes', 'data-section': 'known-fixes' },
    h('h3', null, td('dispatch.knownFixes')),
    k.fixes.length
      ? h(
          'ol',
          null,
          k.fixes.map((f) =>
            h(
              'li',
              { 'data-fix': f.id },
              h('strong', null, f.title),
              ' ',
              h('span', { class: 'muted small' }, td('dispatch.held', { held: num(f.held, 0), total: num(f.resolutions, 0) })),
              h('p', { dir: 'auto', class: 'fix-text' }, fixText(f, ticketLanguage)),
            ),
          ),
        )
      : h('p', { class: 'muted' }, td('dispatch.noKnownFixes')),
  );
}

/** Resolve with a cause code (from the profile's failure modes) and what fixed it. */
export function resolveWithCauseForm(ref: string, codes: string[], onDone: () => void): HTMLElement {
  const cause = h(
    'select',
    { id: `cause-${ref}`, class: 'cause-select', required: true },
    codes.map((c) => h('option', { value: c }, c)),
  );
  const text = h('textarea', { class: 'cause-text', rows: '2', maxlength: '5000', required: true, 'aria-label': td('dispatch.resolution') });
  return h(
    'form',
    {
      class: 'resolve-cause',
      onsubmit: (e: Event) => {
        e.preventDefault();
        const body = { cause: cause.value, text: text.value.trim() };
        if (!body.text) return;
        api
          .post(`/api/tickets/${encodeURIComponent(ref)}/resolve-with-cause`, body)
          .then(() => {
            toast(td('dispatch.resolved', { cause: body.cause }), 'ok');
            onDone();
          })
          .catch((err) => toast(t('common.error', { message: errorText(err) }), 'error'));
      },
    },
    h('h3', null, td('dispatch.resolveCause')),
    h('label', null, td('dispatch.cause'), ' ', cause),
    h('label', null, td('dispatch.resolution'), text),
    h('button', { type: 'submit', class: 'btn btn-small btn-primary' }, td('dispatch.resolveCause')),
  );
}

const rate = (x: number | null) => (x === null ? '—' : pct(x));
const share = (n: number, d: number) => (d ? `${pct(n / d)} (${num(n, 0)}/${num(d, 0)})` : '—');

export function teamPerformanceTable(r: TeamPerformanceReport): HTMLElement {
  return h(
    'div',
    null,
    table(
      r.rows,
      [
        { head: td('perf.team'), cell: (x) => (x.scope === 'team' ? h('strong', null, x.team ?? '—') : (x.team ?? '—')) },
        { head: td('perf.technician'), cell: (x) => (x.scope === 'technician' ? `${x.name ?? x.technician}` : '—') },
        { head: td('perf.handled'), numeric: true, cell: (x) => num(x.handled, 0) },
        { head: td('perf.response'), numeric: true, cell: (x) => share(x.responseMet, x.responseWithSla) },
        { head: td('perf.avgResponse'), numeric: true, cell: (x) => (x.avgFirstResponseMinutes === null ? '—' : duration(x.avgFirstResponseMinutes * 60_000)) },
        { head: td('perf.resolution'), numeric: true, cell: (x) => share(x.resolutionMet, x.resolutionWithSla) },
        { head: td('perf.reopen'), numeric: true, cell: (x) => rate(x.reopenRate) },
        { head: td('perf.ftf'), numeric: true, cell: (x) => rate(x.firstTimeFixRate) },
      ],
      {
        empty: td('perf.none'),
        caption: td('perf.title'),
        rowAttrs: (x) => ({ 'data-scope': x.scope, 'data-team': x.team ?? '', 'data-technician': x.technician ?? '' }),
      },
    ),
    r.unassigned ? h('p', { class: 'muted small' }, td('perf.unassigned', { n: num(r.unassigned, 0) })) : null,
  );
}

export { language };
