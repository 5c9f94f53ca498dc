// The behaviour of a DedupStore, run against every implementation (dedup-sqlite.test.ts,
// dedup-postgres.test.ts).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { DedupStore } from '../../state/dedup.js';

export type DedupFactory = () => Promise<{ store: DedupStore; reopen(): Promise<DedupStore>; cleanup(): Promise<void> }>;

export function dedupSuite(name: string, factory: DedupFactory, hooks: { before?: () => Promise<void>; after?: () => Promise<void> } = {}): void {
  const test = suite(`dedup store (${name})`);
  if (hooks.before) test.before(hooks.before);
  if (hooks.after) test.after(hooks.after);

  test('a record is seen once marked, per device, also by the next owner; marking twice is harmless; prune forgets old marks', async () => {
    const { store, reopen, cleanup } = await factory();
    let next: DedupStore | null = null;
    try {
      assert.equal(await store.seen([]), []);
      assert.equal(await store.seen([{ device: 'a', seq: 1 }]), [false]);
      await store.markReceived(
        [
          { device: 'a', seq: 1 },
          { device: 'a', seq: 2 },
          { device: 'b', seq: 1 },
        ],
        1000,
      );
      await store.markReceived([{ device: 'a', seq: 2 }], 1500);
      await store.markReceived([], 1500);
      assert.equal(
        await store.seen([
          { device: 'a', seq: 2 },
          { device: 'a', seq: 3 },
          { device: 'b', seq: 1 },
          { device: 'b', seq: 2 },
          { device: 'a', seq: 1 },
        ]),
        [true, false, true, false, true],
      );
      // Below the highest seq but never marked (a gap): not seen.
      await store.markReceived([{ device: 'c', seq: 10 }], 2000);
      assert.equal(
        await store.seen([
          { device: 'c', seq: 5 },
          { device: 'c', seq: 10 },
        ]),
        [false, true],
      );
      // The next owner (a restarted collector, another node) knows the same.
      next = await reopen();
      assert.equal(
        await next.seen([
          { device: 'a', seq: 1 },
          { device: 'c', seq: 10 },
          { device: 'c', seq: 11 },
        ]),
        [true, true, false],
      );
      assert.is(await next.pruneReceived(1500), 3, 'the marks made at 1000');
      assert.equal(
        await next.seen([
          { device: 'a', seq: 1 },
          { device: 'a', seq: 2 },
          { device: 'c', seq: 10 },
        ]),
        [false, false, true],
      );
    } finally {
      await next?.close();
      await store.close();
      await cleanup();
    }
  });

  test.run();
}
