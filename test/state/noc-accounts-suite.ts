// The behaviour of a NocAccountStore, run against every implementation
// (noc-accounts-sqlite.test.ts, noc-accounts-postgres.test.ts).
import * as assert from 'uvu/assert';
import { rejectsWith, storeSuite, type SuiteHooks } from './suite-support.js';
import { UserError } from '../../noc/auth.js';
import type { NocAccountStore } from '../../state/noc-accounts.js';

/** A fresh, empty, migrated store with the given session lifetime (scrypt cost small). */
export type NocAccountsFactory = (opts: { sessionTtlMs: number }) => Promise<{ store: NocAccountStore; cleanup(): Promise<void> }>;

const rejects = (p: Promise<unknown>, code: UserError['code'], pattern: RegExp) => rejectsWith(p, UserError, code, pattern);

export function nocAccountsSuite(name: string, factory: NocAccountsFactory, hooks: SuiteHooks = {}): void {
  const suite = storeSuite(`NOC account store (${name})`, (ttl: number = 3_600_000) => factory({ sessionTtlMs: ttl }), hooks);
  const test = suite.test;
  const withStore = (fn: (s: NocAccountStore) => Promise<void>, ttl = 3_600_000) => suite.withStore(fn, ttl);

  test(
    'users: add, duplicate, invalid fields, password check, role, list, remove',
    withStore(async (s) => {
      assert.equal(await s.addUser('alice', 'admin', 'correct horse battery'), { name: 'alice', role: 'admin' });
      await rejects(s.addUser('alice', 'viewer', 'another long password'), 'exists', /already exists/);
      await rejects(s.addUser('bad name!', 'viewer', 'another long password'), 'invalid', /name/);
      await rejects(s.addUser('bob', 'king' as never, 'another long password'), 'invalid', /role/);
      await rejects(s.addUser('bob', 'viewer', 'x'), 'invalid', /password/);
      assert.is(await s.ensureUser('bob', 'viewer', 'bob password long'), true);
      assert.is(await s.ensureUser('bob', 'admin', 'other password long'), false);
      assert.equal(await s.checkPassword('alice', 'correct horse battery'), { name: 'alice', role: 'admin' });
      assert.is(await s.checkPassword('alice', 'wrong password here'), null);
      assert.is(await s.checkPassword('nobody', 'correct horse battery'), null);
      await s.setRole('bob', 'operator');
      assert.equal(await s.getUser('bob'), { name: 'bob', role: 'operator' });
      await rejects(s.setRole('carol', 'viewer'), 'not-found', /no user carol/);
      assert.equal(
        (await s.listUsers()).map((u) => [u.name, u.role]),
        [
          ['alice', 'admin'],
          ['bob', 'operator'],
        ],
      );
      await s.removeUser('bob');
      await rejects(s.removeUser('bob'), 'not-found', /no user bob/);
      assert.is(await s.getUser('bob'), null);
    }),
  );

  test(
    'sessions carry their CSRF token, expire, end, and die with a password change or the user',
    withStore(async (s) => {
      const alice = await s.addUser('alice', 'operator', 'correct horse battery');
      const now = Date.now();
      const a = await s.createSession(alice, now);
      assert.is(a.expiresAt, now + 60_000);
      assert.ok(a.id.length >= 40 && a.csrfToken.length >= 30);
      assert.equal(await s.session(a.id, now + 1), { id: a.id, user: alice, csrfToken: a.csrfToken, expiresAt: a.expiresAt });
      assert.is(await s.session(a.id, now + 60_000), null, 'expired');
      assert.is(await s.session('not-a-session'), null);
      const b = await s.createSession(alice, now);
      await s.endSession(b.id);
      assert.is(await s.session(b.id, now + 1), null);
      const c = await s.createSession(alice, now);
      await s.setPassword('alice', 'a brand new password');
      assert.is(await s.session(c.id, now + 1), null, 'a password change ends sessions');
      assert.ok(await s.checkPassword('alice', 'a brand new password'));
      await rejects(s.setPassword('carol', 'a brand new password'), 'not-found', /no user carol/);
      const d = await s.createSession(alice, now);
      await s.removeUser('alice');
      assert.is(await s.session(d.id, now + 1), null);
    }, 60_000),
  );

  test(
    'API tokens: shown once, checked by hash, malformed ones refused, gone with the user',
    withStore(async (s) => {
      await s.addUser('grafana', 'viewer', 'long enough password');
      const token = await s.createApiToken('grafana', 'dashboards');
      assert.match(token, /^fct_[0-9a-f]{12}_[A-Za-z0-9_-]{32}$/);
      assert.equal(await s.checkApiToken(token), { name: 'grafana', role: 'viewer' });
      assert.is(await s.checkApiToken(token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A')), null);
      assert.is(await s.checkApiToken('Bearer nonsense'), null);
      await rejects(s.createApiToken('nobody', 'x'), 'not-found', /no user nobody/);
      await s.removeUser('grafana');
      assert.is(await s.checkApiToken(token), null);
    }),
  );

  test.run();
}
