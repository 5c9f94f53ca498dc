// The registry behaviour suite on PostgreSQL (cluster mode), against a real server; and the move of
// an installation's scrypt token hashes to SHA-256 at each token's next login.
import pg from 'pg';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PgRegistryState } from '../../state/postgres/registry.js';
import { migratedDatabases } from '../helpers/postgres.js';
import { registrySuite } from './registry-suite.js';
import { postgresStores } from './suite-support.js';

registrySuite('postgres', ...postgresStores('registry', (url) => new PgRegistryState(url, { scryptCost: 16 })));

const rehash = suite('registry on PostgreSQL: scrypt hashes of an older installation');
const databases = migratedDatabases('registry-rehash');
rehash.before(databases.hooks.before);
rehash.after(databases.hooks.after);

rehash('keep logging in on every node, and each is stored again with SHA-256 at its first login', async () => {
  const url = await databases.create();
  const old = new PgRegistryState(url, { tokenHash: 'scrypt', scryptCost: 16 });
  const node = new PgRegistryState(url);
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  const kinds = async () =>
    (
      await db.query<{ name: string; hash: string }>(
        'SELECT id AS name, token_hash AS hash FROM devices UNION ALL SELECT name, token_hash FROM service_accounts ORDER BY 1',
      )
    ).rows.map((r) => [r.name, r.hash.split('$')[0]]);
  try {
    const t1 = await old.addDevice('pos-0001');
    const t2 = await old.addDevice('pos-0002');
    const c1 = await old.addServiceAccount('collector', 'collector');
    assert.is((await node.login('pos-0001', 'wrong')).principal, null);
    assert.equal(await kinds(), [
      ['collector', 'scrypt'],
      ['pos-0001', 'scrypt'],
      ['pos-0002', 'scrypt'],
    ]);
    assert.ok((await node.login('pos-0001', t1)).principal);
    assert.ok((await node.login('collector', c1)).principal);
    assert.equal(await kinds(), [
      ['collector', 'sha256'],
      ['pos-0001', 'sha256'],
      ['pos-0002', 'scrypt'],
    ]);
    assert.ok((await node.login('pos-0001', t1)).principal, 'the same token against its new hash');
    assert.ok((await old.login('pos-0001', t1)).principal, 'another node, whatever its own setting');
    // A token rotated by a node still hashing with scrypt: the new one logs in, the old one is refused.
    const rotated = await old.rotateDeviceToken('pos-0002');
    assert.ok((await node.login('pos-0002', rotated)).principal);
    assert.is((await node.login('pos-0002', t2)).principal, null);
  } finally {
    await db.end();
    await old.close();
    await node.close();
  }
});

rehash.run();
