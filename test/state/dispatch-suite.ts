// The behaviour of a DispatchStateStore, run against every implementation (dispatch-sqlite.test.ts,
// dispatch-postgres.test.ts): teams and technicians with their refusals, known-fix texts.
import * as assert from 'uvu/assert';
import { teamSchema, technicianSchema } from '../../dispatch/model.js';
import { DispatchStateError, type DispatchStateStore } from '../../state/dispatch.js';
import { rejectsWith, storeSuite, type SuiteHooks } from './suite-support.js';

export type DispatchFactory = () => Promise<{ store: DispatchStateStore; cleanup(): Promise<void> }>;

const team = (id: string, over: Record<string, unknown> = {}) => teamSchema.parse({ id, name: `Team ${id}`, ...over });
const tech = (id: string, teamId: string, over: Record<string, unknown> = {}) => technicianSchema.parse({ id, name: `Tech ${id}`, team: teamId, ...over });

export function dispatchSuite(name: string, factory: DispatchFactory, hooks: SuiteHooks = {}): void {
  const { test, withStore } = storeSuite(`dispatch store (${name})`, factory, hooks);

  test(
    'teams: added, listed in id order with their region, skills and calendar; a second add refused, replace changes it',
    withStore(async (s) => {
      assert.equal(await s.teams(), []);
      const calendar = {
        time_zone: 'Asia/Riyadh',
        twenty_four_seven: false,
        support_and_resolution: [{ workday: 'Sunday', start_time: '08:00', end_time: '16:00' }],
        holidays: [],
        extra_working_days: [],
      };
      await s.putTeam(team('riyadh', { sites: ['riyadh-1'], tenants: ['acme'], skills: ['printer', 'clock'], calendar }));
      await s.putTeam(team('jeddah'));
      assert.equal(
        (await s.teams()).map((t) => t.id),
        ['jeddah', 'riyadh'],
      );
      assert.equal((await s.teams())[1], team('riyadh', { sites: ['riyadh-1'], tenants: ['acme'], skills: ['printer', 'clock'], calendar }));
      await rejectsWith(s.putTeam(team('riyadh')), DispatchStateError, 'exists', /team riyadh exists/);
      await s.putTeam(team('riyadh', { name: 'Riyadh (north)' }), { replace: true });
      assert.is((await s.teams()).find((t) => t.id === 'riyadh')!.name, 'Riyadh (north)');
    }),
  );

  test(
    'technicians: need an existing team; a team with technicians cannot be removed; removing answers whether one was there',
    withStore(async (s) => {
      await rejectsWith(s.putTechnician(tech('lina', 'nowhere')), DispatchStateError, 'not-found', /no team nowhere/);
      await s.putTeam(team('riyadh'));
      await s.putTechnician(tech('lina', 'riyadh', { email: 'lina@svc.example', lead: true }));
      await s.putTechnician(tech('ali', 'riyadh'));
      await rejectsWith(s.putTechnician(tech('ali', 'riyadh')), DispatchStateError, 'exists', /technician ali exists/);
      assert.equal(
        (await s.technicians()).map((t) => [t.id, t.team, t.email, t.lead]),
        [
          ['ali', 'riyadh', null, false],
          ['lina', 'riyadh', 'lina@svc.example', true],
        ],
      );
      await rejectsWith(s.removeTeam('riyadh'), DispatchStateError, 'bad-request', /still has 2 technician/);
      assert.is(await s.removeTechnician('ali'), true);
      assert.is(await s.removeTechnician('ali'), false);
      assert.is(await s.removeTechnician('lina'), true);
      assert.is(await s.removeTeam('riyadh'), true);
      assert.is(await s.removeTeam('riyadh'), false);
    }),
  );

  test(
    'known-fix texts: one per profile, failure mode and cause; the last write wins with who and when',
    withStore(async (s) => {
      await s.putKnownFixEdit(
        { profile: 'epson-tm-t88vi', failureMode: 'cutter-wear-out', cause: 'cutter-wear-out', title: 'Replace the cutter', text: { en: 'Swap it.' } },
        'admin',
        1000,
      );
      await s.putKnownFixEdit(
        { profile: null, failureMode: 'offline', cause: 'cable-or-power', title: 'Power', text: { zh: '检查电源' }, hidden: true },
        'op',
        2000,
      );
      await s.putKnownFixEdit(
        {
          profile: 'epson-tm-t88vi',
          failureMode: 'cutter-wear-out',
          cause: 'cutter-wear-out',
          title: 'Replace the autocutter',
          text: { en: 'Swap it.', ar: 'استبدله' },
        },
        'op',
        3000,
      );
      const all = await s.knownFixEdits();
      assert.equal(
        all.map((e) => [e.profile, e.failureMode, e.title, e.hidden, e.by, e.at]),
        [
          [null, 'offline', 'Power', true, 'op', 2000],
          ['epson-tm-t88vi', 'cutter-wear-out', 'Replace the autocutter', false, 'op', 3000],
        ],
      );
      assert.equal(all[1].text, { en: 'Swap it.', ar: 'استبدله' });
    }),
  );

  test.run();
}
