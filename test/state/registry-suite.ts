// The behaviour of a RegistryStateStore, run against every implementation
// (registry-sqlite.test.ts, registry-postgres.test.ts).
import * as assert from 'uvu/assert';
import { rejectsWith, storeSuite, type SuiteHooks } from './suite-support.js';
import { RegistryError } from '../../broker/registry.js';
import type { RegistryStateStore } from '../../state/registry.js';

/** A fresh, empty, migrated store (scrypt cost small: the suite checks rules, not cost). */
export type RegistryFactory = () => Promise<{ store: RegistryStateStore; cleanup(): Promise<void> }>;

const rejects = (p: Promise<unknown>, code: RegistryError['code'], pattern: RegExp) => rejectsWith(p, RegistryError, code, pattern);

export function registrySuite(name: string, factory: RegistryFactory, hooks: SuiteHooks = {}): void {
  const { test, withStore } = storeSuite(`registry store (${name})`, factory, hooks);

  test(
    'a device logs in with its token only; rotate replaces the token; disabled and removed devices cannot',
    withStore(async (s) => {
      const token = await s.addDevice('pos-0001', { site: 'store-12', tenant: 'acme' });
      assert.equal(await s.verify('pos-0001', token), { kind: 'device', id: 'pos-0001', site: 'store-12', tenant: 'acme' });
      assert.is(await s.verify('pos-0001', Buffer.from(token)).then((p) => p?.kind), 'device');
      assert.is(await s.verify('pos-0001', 'wrong'), null);
      assert.is(await s.verify('nobody', token), null);
      await rejects(s.addDevice('pos-0001'), 'exists', /already exists/);
      const rotated = await s.addDevice('pos-0001', { rotate: true, site: 'store-13' });
      assert.is(await s.verify('pos-0001', token), null);
      assert.equal(await s.verify('pos-0001', rotated), { kind: 'device', id: 'pos-0001', site: 'store-13', tenant: 'acme' });
      const third = await s.rotateDeviceToken('pos-0001');
      assert.is(await s.verify('pos-0001', rotated), null);
      assert.ok(await s.verify('pos-0001', third));
      await s.setDeviceDisabled('pos-0001', true);
      assert.is(await s.verify('pos-0001', third), null);
      assert.is((await s.getDevice('pos-0001'))?.disabled, true);
      await s.setDeviceDisabled('pos-0001', false);
      assert.ok(await s.verify('pos-0001', third));
      assert.is(await s.removeDevice('pos-0001'), true);
      assert.is(await s.removeDevice('pos-0001'), false);
      assert.is(await s.verify('pos-0001', third), null);
      await rejects(s.rotateDeviceToken('pos-0001'), 'not-found', /no device pos-0001/);
      await rejects(s.setDeviceDisabled('pos-0001', true), 'not-found', /no device/);
    }),
  );

  test(
    'listing, records and invalid names',
    withStore(async (s) => {
      const before = Date.now();
      await s.addDevice('pos-b');
      await s.addDevice('pos-a', { tenant: 't1' });
      const list = await s.listDevices();
      assert.equal(
        list.map((d) => [d.id, d.site, d.tenant, d.disabled]),
        [
          ['pos-a', null, 't1', false],
          ['pos-b', null, null, false],
        ],
      );
      assert.ok(list[0].createdAt >= before && list[0].createdAt <= Date.now());
      assert.is(await s.getDevice('missing'), null);
      await rejects(s.addDevice('bad/id'), 'invalid', /device id/);
      await rejects(s.addServiceAccount('bad id', 'viewer'), 'invalid', /service account name/);
    }),
  );

  test(
    'service accounts share the login namespace with devices; rotate creates or re-roles',
    withStore(async (s) => {
      await s.addDevice('pos-1');
      const tok = await s.addServiceAccount('grafana', 'viewer');
      assert.equal(await s.verify('grafana', tok), { kind: 'service', name: 'grafana', role: 'viewer' });
      await rejects(s.addServiceAccount('grafana', 'viewer'), 'exists', /already exists/);
      await rejects(s.addServiceAccount('pos-1', 'viewer'), 'exists', /already a device id/);
      await rejects(s.addDevice('grafana'), 'exists', /already a service account/);
      await rejects(s.rotateServiceToken('pos-1', 'collector'), 'exists', /already a device id/);
      const c1 = await s.rotateServiceToken('collector-internal', 'collector');
      const c2 = await s.rotateServiceToken('collector-internal', 'collector');
      assert.is(await s.verify('collector-internal', c1), null);
      assert.equal(await s.verify('collector-internal', c2), { kind: 'service', name: 'collector-internal', role: 'collector' });
      const g2 = await s.rotateServiceToken('grafana', 'collector');
      assert.equal(await s.verify('grafana', g2), { kind: 'service', name: 'grafana', role: 'collector' });
      assert.equal(
        (await s.listServiceAccounts()).map((a) => [a.name, a.role]),
        [
          ['collector-internal', 'collector'],
          ['grafana', 'collector'],
        ],
      );
      assert.is(await s.removeServiceAccount('grafana'), true);
      assert.is(await s.removeServiceAccount('grafana'), false);
      assert.is(await s.verify('grafana', g2), null);
    }),
  );

  test(
    'every rotate, remove and disable is a credential change after the cursor, latest seq per login; adds and enables are not',
    withStore(async (s) => {
      const start = await s.credentialChangeCursor();
      await s.addDevice('pos-1');
      await s.addDevice('pos-2');
      await s.addServiceAccount('grafana', 'viewer');
      await s.setDeviceDisabled('pos-2', false);
      assert.equal(await s.credentialChangesSince(start), [], 'adding and enabling revoke nothing');
      assert.is(await s.credentialChangeCursor(), start);
      await s.rotateDeviceToken('pos-1');
      const afterRotate = await s.credentialChangeCursor();
      assert.ok(afterRotate > start);
      await s.setDeviceDisabled('pos-2', true);
      await s.addDevice('pos-1', { rotate: true });
      await s.rotateServiceToken('grafana', 'viewer');
      await s.removeServiceAccount('grafana');
      assert.is(await s.removeDevice('missing'), false);
      const changes = await s.credentialChangesSince(start);
      assert.equal(
        changes.map((c) => c.name),
        ['pos-2', 'pos-1', 'grafana'],
        'one entry per login, oldest latest-change first',
      );
      const seqs = changes.map((c) => c.seq);
      assert.equal(
        seqs,
        [...seqs].sort((a, b) => a - b),
      );
      assert.is(seqs[2], await s.credentialChangeCursor());
      assert.equal(
        (await s.credentialChangesSince(afterRotate)).map((c) => c.name),
        ['pos-2', 'pos-1', 'grafana'],
        'pos-1 again: its rotate by re-adding came after the cursor',
      );
      assert.equal(await s.credentialChangesSince(await s.credentialChangeCursor()), []);
    }),
  );

  test(
    "a broker's login gives who it is and the credential-change cursor as of the same read",
    withStore(async (s) => {
      const token = await s.addDevice('pos-1', { site: 'store-1' });
      const first = await s.login('pos-1', token);
      assert.equal(first, { principal: { kind: 'device', id: 'pos-1', site: 'store-1', tenant: null }, cursor: await s.credentialChangeCursor() });
      const rotated = await s.rotateDeviceToken('pos-1');
      const refused = await s.login('pos-1', token);
      assert.is(refused.principal, null);
      assert.ok(refused.cursor > first.cursor, 'the rotate is in the cursor the refusal was read at');
      assert.equal((await s.login('pos-1', rotated)).principal?.kind, 'device');
      assert.equal(await s.login('nobody', token), { principal: null, cursor: refused.cursor });
      const svc = await s.addServiceAccount('grafana', 'viewer');
      assert.equal((await s.login('grafana', svc)).principal, { kind: 'service', name: 'grafana', role: 'viewer' });
      // Many at once (a failover's burst of CONNECTs): each gets its own answer.
      const ids = Array.from({ length: 12 }, (_, i) => `pos-b${i}`);
      const tokens = await Promise.all(ids.map((id) => s.addDevice(id)));
      const answers = await Promise.all([
        ...ids.map((id, i) => s.login(id, tokens[i])),
        ...ids.map((id, i) => s.login(id, tokens[(i + 1) % ids.length])),
        s.login('pos-b0', tokens[0]),
        s.login('ghost', tokens[0]),
        // Names no login can have, in the same burst: refused, without failing the others.
        s.login('bad\u0000name', tokens[0]),
        s.login('x'.repeat(300), tokens[0]),
      ]);
      assert.equal(
        answers.map((a) => (a.principal?.kind === 'device' ? a.principal.id : null)),
        [...ids, ...ids.map(() => null), 'pos-b0', null, null, null],
      );
    }),
  );

  test.run();
}
