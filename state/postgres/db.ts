// The PostgreSQL connection pool of the state tier. BIGINT (epoch ms, ids, counts) is read as a
// JS number: every value we store fits in 2^53.
import pg from 'pg';

const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    // 20 = int8 (bigint, count(*)), 1700 = numeric (sum)
    if (oid === 20 || oid === 1700) return (v: string) => (v === null ? null : Number(v));
    return pg.types.getTypeParser(oid, format as 'text');
  },
} as unknown as pg.CustomTypesConfig;

export type PgPoolOptions = {
  max?: number;
  connectionTimeoutMillis?: number;
  queryTimeoutMs?: number;
  /** PostgreSQL ends a session whose transaction sat idle this long (its client paused or cut off mid-transaction). */
  idleInTransactionTimeoutMs?: number;
};

export function createPgPool(url: string, opts: PgPoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    types,
    max: opts.max ?? 10,
    connectionTimeoutMillis: opts.connectionTimeoutMillis ?? 10_000,
    query_timeout: opts.queryTimeoutMs,
    ...(opts.idleInTransactionTimeoutMs ? { idle_in_transaction_session_timeout: opts.idleInTransactionTimeoutMs } : {}),
  });
  // An idle client that loses its server (PostgreSQL restarting) must not crash the process; the
  // next query gets a fresh connection.
  pool.on('error', () => undefined);
  return pool;
}

/** A dedicated client with the same type parsing (LISTEN, migrations). */
export function createPgClient(url: string): pg.Client {
  return new pg.Client({ connectionString: url, types, connectionTimeoutMillis: 10_000 });
}

export type Queryable = Pick<pg.PoolClient, 'query'>;

/** Runs `fn` in one transaction on a pooled client; rolls back on error. */
export async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  // The server can end the connection between two statements (a restart, an idle-in-transaction
  // timeout): the next statement then fails, but the client's error event, with no listener while
  // it is checked out, would crash the process.
  let lost: Error | undefined;
  const onError = (e: Error) => (lost = e);
  c.on('error', onError);
  try {
    return await transactionOn(c, fn);
  } finally {
    c.off('error', onError);
    // A broken connection is dropped, not put back in the pool.
    c.release(lost);
  }
}

/** Runs `fn` in one transaction on a connection of the caller's; rolls back on error. */
export async function transactionOn<C extends Queryable, T>(c: C, fn: (c: C) => Promise<T>): Promise<T> {
  try {
    await c.query('BEGIN');
    const r = await fn(c);
    await c.query('COMMIT');
    return r;
  } catch (e) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}

/**
 * A store over a pool: its own, made from a URL and ended by close(), or a node's shared pool
 * (cluster mode), which its owner ends, not the store.
 */
export class PgPooledStore {
  readonly pool: pg.Pool;
  private readonly ownsPool: boolean;

  constructor(source: string | pg.Pool) {
    this.ownsPool = typeof source === 'string';
    this.pool = typeof source === 'string' ? createPgPool(source) : source;
  }

  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end();
  }
}
