// The behaviour of a ServiceRecordStore, run against every implementation
// (service-records-sqlite.test.ts, service-records-postgres.test.ts).
import * as assert from 'uvu/assert';
import type { ServiceRecordStore } from '../../collector/service-records/index.js';
import { storeSuite, type Fresh, type SuiteHooks } from './suite-support.js';

export function serviceRecordsSuite(name: string, factory: () => Promise<Fresh<ServiceRecordStore>>, hooks: SuiteHooks = {}): void {
  const { test, withStore } = storeSuite(`service record store (${name})`, factory, hooks);

  test(
    'a record reads back field for field, with the defaults filled in',
    withStore(async (s) => {
      const full = await s.add(
        {
          device: 'pos-1',
          peripheral: 'printer0',
          part: 'cutter',
          kind: 'preventive',
          at: 1_700_000_000_000,
          failed: false,
          profile: 'epson-tm-t88vi',
          serial: 'TM88-A',
          usage: 1_948_250.5,
          source: 'noc',
          ref: 'HD-T-0001',
          note: 'recorded by alice',
        },
        1_700_000_100_000,
      );
      const bare = await s.add({ device: 'pos-2', peripheral: 'msr0', part: 'read-head' }, 1_700_000_200_000);
      assert.ok(bare.id > full.id);
      const [a, b] = await s.list();
      assert.equal(a, full);
      assert.equal(a, {
        id: full.id,
        device: 'pos-1',
        peripheral: 'printer0',
        part: 'cutter',
        kind: 'preventive',
        at: 1_700_000_000_000,
        failed: false,
        profile: 'epson-tm-t88vi',
        serial: 'TM88-A',
        usage: 1_948_250.5,
        source: 'noc',
        ref: 'HD-T-0001',
        note: 'recorded by alice',
        recordedAt: 1_700_000_100_000,
      });
      // A part replaced counts as a failure unless told otherwise; done now, from the API.
      assert.equal(b, {
        id: bare.id,
        device: 'pos-2',
        peripheral: 'msr0',
        part: 'read-head',
        kind: 'part-replaced',
        at: 1_700_000_200_000,
        failed: true,
        source: 'api',
        recordedAt: 1_700_000_200_000,
      });
    }),
  );

  test(
    'bad input is refused with the field named, and nothing is written',
    withStore(async (s) => {
      for (const [input, field] of [
        [{ device: 'pos-1', peripheral: 'printer0', part: 'Cutter Blade' }, /part/],
        [{ device: '', peripheral: 'printer0', part: 'cutter' }, /device/],
        [{ device: 'pos-1', peripheral: 'printer0', part: 'cutter', kind: 'repainted' }, /kind/],
        [{ device: 'pos-1', peripheral: 'printer0', part: 'cutter', usage: -1 }, /usage/],
        [{ device: 'pos-1', peripheral: 'printer0', part: 'cutter', colour: 'red' }, /colour|unrecognized/i],
      ] as const) {
        let err: unknown;
        try {
          await s.add(input as never);
        } catch (e) {
          err = e;
        }
        assert.ok(err, `refused: ${JSON.stringify(input)}`);
        assert.match(String((err as Error).message), field);
      }
      assert.equal(await s.list(), []);
    }),
  );

  test(
    'listed in id order, per device, after an id, up to a limit',
    withStore(async (s) => {
      const ids: number[] = [];
      for (const [device, part] of [
        ['pos-1', 'cutter'],
        ['pos-2', 'read-head'],
        ['pos-1', 'print-head'],
        ['pos-3', 'unit'],
        ['pos-1', 'cutter'],
      ])
        ids.push((await s.add({ device, peripheral: 'p0', part, at: 1000 + ids.length })).id);
      assert.equal(
        (await s.list()).map((r) => r.id),
        ids,
      );
      assert.equal(
        (await s.list({ device: 'pos-1' })).map((r) => r.id),
        [ids[0], ids[2], ids[4]],
      );
      assert.equal(
        (await s.list({ afterId: ids[1] })).map((r) => r.id),
        ids.slice(2),
      );
      assert.equal(
        (await s.list({ device: 'pos-1', afterId: ids[0], limit: 1 })).map((r) => r.id),
        [ids[2]],
      );
      assert.equal(await s.list({ device: 'pos-9' }), []);
    }),
  );

  test(
    'annotate fills in what is missing and never overwrites what the technician gave',
    withStore(async (s) => {
      const blank = await s.add({ device: 'pos-1', peripheral: 'printer0', part: 'cutter' });
      const given = await s.add({ device: 'pos-1', peripheral: 'printer0', part: 'cutter', usage: 10, profile: 'given-profile' });
      await s.annotate(blank.id, { usage: 1_950_000, profile: 'epson-tm-t88vi' });
      await s.annotate(given.id, { usage: 99, profile: 'other' });
      await s.annotate(blank.id, { usage: 5 });
      const [a, b] = await s.list();
      assert.equal([a.usage, a.profile], [1_950_000, 'epson-tm-t88vi']);
      assert.equal([b.usage, b.profile], [10, 'given-profile']);
      // An unknown id is not an error (the record may have been pruned meanwhile).
      await s.annotate(blank.id + 1000, { usage: 1 });
    }),
  );

  test.run();
}
