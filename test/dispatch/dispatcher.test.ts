// The dispatcher over real SQLite stores: rules assign by region, skill, shift and load; no match
// stays unassigned with its reason (and is counted); an operator reassigns; a removed technician's
// tickets go back to the rules; escalation before breach once per stage, SLA-paused time not
// counted; resolving with a cause builds known fixes ranked by how often they held; the team
// performance report.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { operatorTicketActionOn } from '../../collector/tickets/actions.js';
import { serviceLevelAgreementSchema } from '../../collector/sla/index.js';
import { DispatchError } from '../../dispatch/service.js';
import { GOLD_24X7 } from '../helpers/sla.js';
import { harness, HOUR } from './support.js';

const T0 = Date.parse('2026-03-02T06:00:00Z'); // a Monday, 09:00 in Riyadh
const sla = { slas: {}, defaultSla: serviceLevelAgreementSchema.parse(GOLD_24X7) };

test('rules: region, then skill, then on shift, then the least loaded technician; the choice is in the ticket history', async () => {
  const h = await harness({
    units: {
      'pos-1/printer': { kind: 'printer', profile: 'epson-tm-t88vi' },
      'pos-2/clock': { kind: 'clock', profile: 'zkteco-k40' },
      'pos-3/printer': { kind: 'printer', profile: null },
    },
  });
  try {
    await h.team({ id: 'riyadh', name: 'Riyadh', sites: ['riyadh-1'], skills: ['printer'] });
    await h.team({ id: 'clocks', name: 'Clock crew', tenants: ['acme'], skills: ['clock'] });
    // Jeddah works Sunday–Thursday 08–16 Asia/Riyadh: off shift at T0 + 12 h.
    await h.team({
      id: 'jeddah',
      name: 'Jeddah',
      sites: ['jeddah-1'],
      calendar: {
        time_zone: 'Asia/Riyadh',
        support_and_resolution: (['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday'] as const).map((workday) => ({
          workday,
          start_time: '08:00',
          end_time: '16:00',
        })),
      },
    });
    await h.tech({ id: 'lina', name: 'Lina', team: 'riyadh' });
    await h.tech({ id: 'omar', name: 'Omar', team: 'riyadh' });
    await h.tech({ id: 'sara', name: 'Sara', team: 'clocks' });
    await h.tech({ id: 'ali', name: 'Ali', team: 'jeddah' });
    const late = T0 + 12 * HOUR;
    const a = await h.open('pos-1/printer/cutter-wear-out', late);
    const b = await h.open('pos-1/printer/paper-out', late);
    const c = await h.open('pos-2/clock/clock-drift', late);
    const d = await h.open('pos-3/printer/head-error', T0 + 12 * HOUR, { site: 'jeddah-1' });
    const r = await h.dispatcher.pass(T0 + 12 * HOUR);
    assert.equal(r, { assigned: 3, unassigned: 1, escalated: 0 });
    const ta = (await h.tickets.get(a))!;
    const tb = (await h.tickets.get(b))!;
    assert.is(ta.assignment!.team, 'riyadh');
    assert.is(tb.assignment!.team, 'riyadh');
    // Load: the second printer ticket goes to the other technician.
    assert.equal([ta.assignment!.technician, tb.assignment!.technician].sort(), ['lina', 'omar']);
    assert.is((await h.tickets.get(c))!.assignment!.technician, 'sara');
    const td = (await h.tickets.get(d))!;
    assert.is(td.assignment!.technician, null);
    assert.match(td.assignment!.reason, /no matching team on shift now \(jeddah\)/);
    assert.match(
      (await h.tickets.comments(a)).map((x) => x.body).join('\n'),
      /^Assigned to (Lina|Omar) \((lina|omar), team riyadh\) — dispatch rules: site riyadh-1, tenant acme, skill printer, team riyadh on shift/m,
    );
    // A second pass changes nothing (no new history lines).
    const before = (await h.tickets.comments(d)).length;
    assert.equal(await h.dispatcher.pass(T0 + 12 * HOUR + 1000), { assigned: 0, unassigned: 1, escalated: 0 });
    assert.is((await h.tickets.comments(d)).length, before);
    // Next morning (Tuesday 08:30 Riyadh) Jeddah is on shift: the waiting ticket is assigned
    // (and the others, left alone all night, escalate).
    const tuesday = Date.parse('2026-03-03T05:30:00Z');
    assert.equal((await h.dispatcher.pass(tuesday)).assigned, 1);
    assert.is((await h.tickets.get(d))!.assignment!.technician, 'ali');
  } finally {
    h.close();
  }
});

test("no team for the region: unassigned, reason recorded, counted; an operator assigns by hand; a removed technician's tickets go back to the rules", async () => {
  const h = await harness({ units: { 'pos-9/printer': { kind: 'printer', profile: null } } });
  try {
    await h.team({ id: 'riyadh', name: 'Riyadh', sites: ['riyadh-1'] });
    await h.tech({ id: 'lina', name: 'Lina', team: 'riyadh', email: 'lina@acme-service.example' });
    const ref = await h.open('pos-9/printer/paper-out', T0, { site: 'dammam-4' });
    assert.equal(await h.dispatcher.pass(T0), { assigned: 0, unassigned: 1, escalated: 0 });
    const t = (await h.tickets.get(ref))!;
    assert.equal(
      { technician: t.assignment!.technician, reason: t.assignment!.reason },
      { technician: null, reason: 'no team covers site dammam-4, tenant acme' },
    );
    assert.match((await h.tickets.comments(ref)).at(-1)!.body, /^Unassigned: no team covers site dammam-4/);
    // By hand (NOC board / CLI): the operator's choice stays, the rules leave it alone.
    const assigned = await h.dispatcher.assign(ref, 'lina', 'noc-admin', T0 + 1000);
    assert.equal(
      { technician: assigned.assignment!.technician, by: assigned.assignment!.by, email: assigned.assignment!.technicianEmail },
      { technician: 'lina', by: 'operator', email: 'lina@acme-service.example' },
    );
    assert.equal(await h.dispatcher.pass(T0 + 2000), { assigned: 0, unassigned: 0, escalated: 0 });
    try {
      await h.dispatcher.assign(ref, 'nobody', 'noc-admin', T0 + 3000);
      assert.unreachable();
    } catch (e) {
      assert.instance(e, DispatchError);
      assert.is((e as DispatchError).code, 'not-found');
    }
    // Lina leaves: the ticket goes back to the rules, which still match nobody for Dammam.
    assert.equal(await h.dispatcher.removeTechnician('lina', T0 + 4000), [ref]);
    const back = (await h.tickets.get(ref))!;
    assert.is(back.assignment!.technician, null);
    assert.match(back.assignment!.reason, /^technician lina was removed; no team covers site dammam-4/);
    assert.equal(await h.state.technicians(), []);
  } finally {
    h.close();
  }
});

test('escalation: at 75 % of the response time without a first response, once; On Hold time does not count; the resolution stage later', async () => {
  const h = await harness({ config: { escalation: { share: 0.75, actions: ['notify-lead', 'bump-priority'] } } });
  try {
    await h.team({ id: 'riyadh', name: 'Riyadh' });
    await h.tech({ id: 'lina', name: 'Lina', team: 'riyadh' });
    await h.tech({ id: 'boss', name: 'Boss', team: 'riyadh', lead: true, email: 'boss@acme-service.example' });
    // Medium: response 4 h, resolution 24 h (24/7 calendar).
    const ref = await h.open('pos-1/printer/paper-out', T0);
    await h.dispatcher.pass(T0);
    // 1 h on hold, then back: at T0 + 3.5 h only 2.5 h counted (62.5 %).
    await operatorTicketActionOn(h.tickets, ref, 'hold', undefined, T0 + 1 * HOUR, sla);
    await operatorTicketActionOn(h.tickets, ref, 'reopen', undefined, T0 + 2 * HOUR, sla);
    assert.is((await h.dispatcher.pass(T0 + 3.5 * HOUR)).escalated, 0);
    // While on hold nothing escalates at all.
    await operatorTicketActionOn(h.tickets, ref, 'hold', undefined, T0 + 3.6 * HOUR, sla);
    assert.is((await h.dispatcher.pass(T0 + 10 * HOUR)).escalated, 0);
    await operatorTicketActionOn(h.tickets, ref, 'reopen', undefined, T0 + 10 * HOUR, sla);
    // Counted: 1 h + 1.6 h + 0.4 h = 3 h = 75 %.
    assert.is((await h.dispatcher.pass(T0 + 10.4 * HOUR)).escalated, 1);
    let t = (await h.tickets.get(ref))!;
    assert.equal(
      t.escalations.map((e) => [e.stage, e.priorityFrom, e.priorityTo, e.notified]),
      [['response', 'Medium', 'High', ['boss@acme-service.example']]],
    );
    assert.is(t.priority, 'High');
    assert.match(
      (await h.tickets.comments(ref)).at(-1)!.body,
      /^Escalated \(response\): 75 % of the response time used without a first response; priority Medium → High; team lead told \(boss@acme-service.example\)/,
    );
    // Once per stage.
    assert.is((await h.dispatcher.pass(T0 + 10.5 * HOUR)).escalated, 0);
    // First response given; the resolution stage escalates at 75 % of its own time (High: 8 h → 6 h counted).
    await operatorTicketActionOn(h.tickets, ref, 'ack', undefined, T0 + 10.5 * HOUR, sla);
    assert.is((await h.dispatcher.pass(T0 + 11 * HOUR)).escalated, 0);
    assert.is((await h.dispatcher.pass(T0 + 30 * HOUR)).escalated, 1);
    t = (await h.tickets.get(ref))!;
    assert.equal(
      t.escalations.map((e) => e.stage),
      ['response', 'resolution'],
    );
    assert.is(t.priority, 'Urgent');
    assert.is((await h.dispatcher.pass(T0 + 31 * HOUR)).escalated, 0);
  } finally {
    h.close();
  }
});

test("resolving asks for a cause from the profile's failure modes; known fixes group by failure mode and model, ranked by how often they held", async () => {
  const units = {
    'pos-1/printer': { kind: 'printer', profile: 'epson-tm-t88vi' },
    'pos-2/printer': { kind: 'printer', profile: 'epson-tm-t88vi' },
    'pos-3/printer': { kind: 'printer', profile: 'epson-tm-t88vi' },
  };
  const h = await harness({ units, config: { knownFixWindowDays: 7 } });
  const DAY = 24 * HOUR;
  try {
    const codes = h.dispatcher.causeCodesOf((await h.tickets.get(await h.open('pos-1/printer/cutter-wear-out', T0)))!);
    assert.ok(codes.includes('cutter-wear-out'), codes.join(','));
    assert.ok(codes.includes('no-fault-found'));
    try {
      await h.dispatcher.resolve('pos-1/printer/cutter-wear-out', { code: 'made-up', text: 'x' }, 'lina', T0 + HOUR);
      assert.unreachable();
    } catch (e) {
      assert.is((e as DispatchError).code, 'bad-request');
      assert.match((e as Error).message, /cause "made-up" is not one of .*cutter-wear-out/);
    }
    // pos-1: cutter replaced, held. pos-2: blade cleaned, reopened within the window. pos-3: cutter replaced, held.
    await h.dispatcher.resolve('pos-1/printer/cutter-wear-out', { code: 'cutter-wear-out', text: 'Replaced the autocutter unit' }, 'lina', T0 + HOUR);
    await h.open('pos-2/printer/cutter-wear-out', T0);
    await h.dispatcher.resolve('pos-2/printer/cutter-wear-out', { code: 'no-fault-found', text: 'Cleaned the blade' }, 'omar', T0 + HOUR);
    await operatorTicketActionOn(h.tickets, 'pos-2/printer/cutter-wear-out', 'reopen', undefined, T0 + 2 * DAY, sla);
    await h.open('pos-3/printer/cutter-wear-out', T0);
    await h.dispatcher.resolve(
      'pos-3/printer/cutter-wear-out',
      { code: 'cutter-wear-out', text: 'Replaced the autocutter unit (CU-80)' },
      'lina',
      T0 + 2 * HOUR,
    );
    assert.is((await h.tickets.get('pos-3/printer/cutter-wear-out'))!.status, 'Resolved');
    const fixes = await h.dispatcher.knownFixes(T0 + 10 * DAY);
    assert.equal(
      fixes.map((f) => [f.cause, f.resolutions, f.held, f.failed, f.hitRate]),
      [
        ['cutter-wear-out', 2, 2, 0, 1],
        ['no-fault-found', 1, 0, 1, 0],
      ],
    );
    assert.is(fixes[0].text.en, 'Replaced the autocutter unit (CU-80)');
    // A new ticket of that kind on that model shows them, best first.
    // pos-1's first ticket is closed; the same fault on it later is a new ticket of that kind.
    await operatorTicketActionOn(h.tickets, 'pos-1/printer/cutter-wear-out', 'close', undefined, T0 + 9 * DAY, sla);
    await h.open('pos-1/printer/cutter-wear-out', T0 + 10 * DAY);
    const next = (await h.tickets.byKey('pos-1/printer/cutter-wear-out'))!;
    assert.is(next.occurrence, 2);
    const shown = await h.dispatcher.knownFixesForTicket(next, T0 + 10 * DAY);
    assert.equal(
      shown.map((f) => f.cause),
      ['cutter-wear-out', 'no-fault-found'],
    );
    // An operator's text replaces the collected one, in the languages written.
    await h.state.putKnownFixEdit(
      {
        profile: 'epson-tm-t88vi',
        failureMode: 'cutter-wear-out',
        cause: 'cutter-wear-out',
        title: 'Replace the autocutter',
        text: { en: 'Swap the autocutter unit; test 50 cuts.', ar: 'استبدل وحدة القاطع' },
      },
      'admin',
      T0 + 10 * DAY,
    );
    const edited = (await h.dispatcher.knownFixes(T0 + 10 * DAY))[0];
    assert.equal(
      { title: edited.title, edited: edited.edited, ar: edited.text.ar, held: edited.held },
      { title: 'Replace the autocutter', edited: true, ar: 'استبدل وحدة القاطع', held: 2 },
    );
  } finally {
    h.close();
  }
});

test('team performance: handled, first response and resolution against the SLA, reopen and first-time-fix rates per team and technician', async () => {
  const h = await harness();
  try {
    await h.team({ id: 'riyadh', name: 'Riyadh' });
    await h.tech({ id: 'lina', name: 'Lina', team: 'riyadh' });
    const a = await h.open('pos-1/printer/a', T0);
    await h.dispatcher.assign(a, 'lina', 'admin', T0);
    const b = await h.open('pos-2/printer/b', T0);
    await h.dispatcher.assign(b, 'lina', 'admin', T0);
    // a: answered in 1 h (Medium: 4 h), resolved at 2 h; stays resolved → first-time fix.
    await operatorTicketActionOn(h.tickets, a, 'ack', undefined, T0 + HOUR, sla);
    await h.dispatcher.resolve(a, { code: 'other', text: 'fixed' }, 'lina', T0 + 2 * HOUR);
    // b: answered at 5 h (late), resolved, reopened.
    await operatorTicketActionOn(h.tickets, b, 'ack', undefined, T0 + 5 * HOUR, sla);
    await operatorTicketActionOn(h.tickets, b, 'resolve', undefined, T0 + 6 * HOUR, sla);
    await operatorTicketActionOn(h.tickets, b, 'reopen', undefined, T0 + 7 * HOUR, sla);
    await h.open('pos-3/printer/c', T0 + 3 * HOUR, { site: 'nowhere' });
    const report = await h.dispatcher.teamPerformance(T0 - HOUR, T0 + 10 * HOUR, T0 + 10 * HOUR);
    assert.is(report.unassigned, 1);
    const lina = report.rows.find((r) => r.technician === 'lina')!;
    const team = report.rows.find((r) => r.scope === 'team')!;
    assert.equal({ ...lina, scope: undefined }, { ...team, scope: undefined, technician: 'lina', name: 'Lina' });
    assert.equal(
      [
        lina.handled,
        lina.responded,
        lina.responseWithSla,
        lina.responseMet,
        lina.avgFirstResponseMinutes,
        lina.resolved,
        lina.reopened,
        lina.reopenRate,
        lina.firstTimeFixes,
        lina.firstTimeFixRate,
      ],
      [2, 2, 2, 1, 180, 2, 1, 0.5, 1, 0.5],
    );
  } finally {
    h.close();
  }
});

test.run();
