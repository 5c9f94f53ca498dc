// The behaviour of a ReportUnitStore, run against every implementation
// (report-units-sqlite.test.ts, report-units-postgres.test.ts).
import * as assert from 'uvu/assert';
import { storeSuite, type SuiteHooks } from './suite-support.js';
import type { ReportUnitStore } from '../../state/report-units.js';

export type ReportUnitsFactory = () => Promise<{ store: ReportUnitStore; cleanup(): Promise<void> }>;

export function reportUnitsSuite(name: string, factory: ReportUnitsFactory, hooks: SuiteHooks = {}): void {
  const { test } = storeSuite(`report unit store (${name})`, factory, hooks);

  test('a unit keeps its earliest sighting, model and kind; keys and all list what is known', async () => {
    const { store: s, cleanup } = await factory();
    try {
      assert.equal(await s.keys(), []);
      await s.add([], 1);
      await s.add(
        [
          { device: 'pos-1', unit: '-', model: 'T650', kind: 'device' },
          { device: 'pos-1', unit: 'printer', model: 'Epson TM-T88VI', kind: 'printer' },
        ],
        1000,
      );
      await s.add(
        [
          { device: 'pos-1', unit: 'printer', model: 'Star TSP100', kind: 'printer' },
          { device: 'pos-2', unit: '-', model: 'T650', kind: 'device' },
        ],
        2000,
      );
      await s.add([{ device: 'pos-2', unit: '-', model: 'T650', kind: 'device' }], 1500); // an older sighting (imported history)
      assert.equal((await s.keys()).sort(), ['pos-1/-', 'pos-1/printer', 'pos-2/-']);
      const all = (await s.all()).sort((a, b) => (a.device + a.unit < b.device + b.unit ? -1 : 1));
      assert.equal(all, [
        { device: 'pos-1', unit: '-', model: 'T650', kind: 'device', firstSeen: 1000 },
        { device: 'pos-1', unit: 'printer', model: 'Epson TM-T88VI', kind: 'printer', firstSeen: 1000 },
        { device: 'pos-2', unit: '-', model: 'T650', kind: 'device', firstSeen: 1500 },
      ]);
    } finally {
      await s.close();
      await cleanup();
    }
  });

  test.run();
}
