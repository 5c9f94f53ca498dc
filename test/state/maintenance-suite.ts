// The behaviour of a MaintenanceStore, run against every implementation
// (maintenance-sqlite.test.ts, maintenance-postgres.test.ts).
import * as assert from 'uvu/assert';
import { storeSuite, type SuiteHooks } from './suite-support.js';
import type { MaintenanceStore, MaintenanceWindow } from '../../state/maintenance.js';

export type MaintenanceFactory = () => Promise<{ store: MaintenanceStore; cleanup(): Promise<void> }>;

// Monday 2026-01-05 22:30 in Dubai (UTC+4) = 18:30 UTC.
const MON_2230_DUBAI = Date.UTC(2026, 0, 5, 18, 30);
// Added, then read back field for field.
const WEEKLY_RESTART: MaintenanceWindow = {
  kind: 'weekly',
  site: 's1',
  timeZone: 'Asia/Dubai',
  days: ['mon'],
  start: '22:00',
  durationMinutes: 60,
  note: 'weekly restart',
};

export function maintenanceSuite(name: string, factory: MaintenanceFactory, hooks: SuiteHooks = {}): void {
  const { test } = storeSuite(`maintenance store (${name})`, factory, hooks);

  test('windows are validated, listed, matched per site and time, and removed', async () => {
    const { store: s, cleanup } = await factory();
    try {
      const weekly = await s.addMaintenance(WEEKLY_RESTART);
      const once = await s.addMaintenance({ kind: 'once', site: 's2', from: 1000, to: 2000 });
      assert.ok(once > weekly);
      let err: unknown;
      try {
        await s.addMaintenance({ kind: 'once', site: 's3', from: 2000, to: 1000 });
      } catch (e) {
        err = e;
      }
      assert.match(String((err as Error)?.message), 'to must be after from');
      assert.equal(
        (await s.maintenance()).map((w) => [w.id, w.site, w.kind]),
        [
          [weekly, 's1', 'weekly'],
          [once, 's2', 'once'],
        ],
      );
      assert.equal((await s.maintenance())[0], { id: weekly, ...WEEKLY_RESTART });
      assert.is(await s.inMaintenance('s1', MON_2230_DUBAI), true);
      assert.is(await s.inMaintenance('s1', MON_2230_DUBAI + 3_600_000), false);
      assert.is(await s.inMaintenance('s2', 1500), true);
      assert.is(await s.inMaintenance('s2', 2000), false);
      assert.is(await s.inMaintenance(null, 1500), false);
      assert.is(await s.inMaintenance('s9', 1500), false);
      assert.is(await s.removeMaintenance(once), true);
      assert.is(await s.removeMaintenance(once), false);
      assert.is(await s.inMaintenance('s2', 1500), false);
    } finally {
      await s.close();
      await cleanup();
    }
  });

  test.run();
}
