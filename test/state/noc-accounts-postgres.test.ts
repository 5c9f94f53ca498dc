// The NOC account behaviour suite on PostgreSQL (cluster mode), against a real server.
import { PgNocAccounts } from '../../state/postgres/noc-accounts.js';
import { nocAccountsSuite } from './noc-accounts-suite.js';
import { postgresStores } from './suite-support.js';

nocAccountsSuite(
  'postgres',
  ...postgresStores('noc', (url, { sessionTtlMs }: { sessionTtlMs: number }) => new PgNocAccounts(url, { sessionTtlMs, scryptCost: 16 })),
);
