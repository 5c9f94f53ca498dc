// The behaviour of a CommandStateStore, run against every implementation
// (commands-sqlite.test.ts, commands-postgres.test.ts).
import * as assert from 'uvu/assert';
import { storeSuite, type SuiteHooks } from './suite-support.js';
import type { CommandStateStore, NewCommand } from '../../state/commands.js';

export type CommandsFactory = () => Promise<{ store: CommandStateStore; cleanup(): Promise<void> }>;

const T0 = 1_767_000_000_000;
const cmd = (id: string, over: Partial<NewCommand> = {}): NewCommand => ({
  id,
  device: 'pos-1',
  name: 'self-test',
  peripheral: 'printer',
  args: { full: true },
  user: 'op',
  sentAt: T0,
  expiresAt: T0 + 30_000,
  ...over,
});

export function commandsSuite(name: string, factory: CommandsFactory, hooks: SuiteHooks = {}): void {
  const { test, withStore } = storeSuite(`command store (${name})`, factory, hooks);

  test(
    'a command is pending until finished once; a late answer is kept without changing the status',
    withStore(async (s) => {
      await s.insert(cmd('c1'));
      assert.equal(await s.get('c1'), {
        id: 'c1',
        device: 'pos-1',
        name: 'self-test',
        peripheral: 'printer',
        args: { full: true },
        user: 'op',
        status: 'pending',
        sentAt: T0,
        expiresAt: T0 + 30_000,
        answeredAt: null,
        result: null,
        error: null,
      });
      assert.is(await s.finish('c1', 'ok', T0 + 5, JSON.stringify({ passed: true }), null), 'pos-1');
      assert.is(await s.finish('c1', 'failed', T0 + 6, null, 'late'), null, 'only a pending command ends');
      const done = await s.get('c1');
      assert.equal([done?.status, done?.answeredAt, done?.result, done?.error], ['ok', T0 + 5, { passed: true }, null]);
      assert.is(await s.finish('nope', 'ok', T0, null, null), null);
      assert.is(await s.get('nope'), null);
      await s.insert(cmd('c2'));
      await s.finish('c2', 'expired', null, null, 'no answer before the deadline');
      await s.recordLateAnswer('c2', T0 + 40_000, JSON.stringify('ok'), null);
      await s.recordLateAnswer('c2', T0 + 50_000, JSON.stringify('second'), 'x');
      const late = await s.get('c2');
      assert.equal([late?.status, late?.answeredAt, late?.result, late?.error], ['expired', T0 + 40_000, 'ok', 'no answer before the deadline']);
    }),
  );

  test(
    'per-device listing newest first, and overdue pending commands',
    withStore(async (s) => {
      await s.insert(cmd('a', { sentAt: T0, expiresAt: T0 + 10 }));
      await s.insert(cmd('b', { sentAt: T0 + 1, expiresAt: T0 + 20 }));
      await s.insert(cmd('c', { sentAt: T0 + 1, expiresAt: T0 + 5, peripheral: null, args: {} }));
      await s.insert(cmd('d', { device: 'pos-2', sentAt: T0 + 2, expiresAt: T0 + 1 }));
      assert.equal(
        (await s.ofDevice('pos-1', 10)).map((c) => c.id),
        ['c', 'b', 'a'],
        'same ms: the later insert first',
      );
      assert.equal(
        (await s.ofDevice('pos-1', 2)).map((c) => c.id),
        ['c', 'b'],
      );
      assert.equal((await s.overdue(T0 + 11)).sort(), ['a', 'c', 'd']);
      await s.finish('a', 'ok', T0 + 3, null, null);
      assert.equal((await s.overdue(T0 + 100)).sort(), ['b', 'c', 'd']);
      assert.equal((await s.get('c'))?.peripheral, null);
    }),
  );

  test.run();
}
