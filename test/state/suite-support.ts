// What every store behaviour suite shares (aedes abstract-persistence style): a uvu suite named
// after the implementation, a fresh store per test that is closed and cleaned up after it, and a
// check that a promise fails with a given error class, code and message; and the per-test stores
// most suites run on (a migrated SQLite file in a temp dir, a migrated PostgreSQL database).
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { suite, type Test } from 'uvu';
import * as assert from 'uvu/assert';
import { migrateSqlite, type SqliteSchema } from '../../state/sqlite/migrations.js';
import { migratedDatabases } from '../helpers/postgres.js';
import { tempDir } from '../helpers/tmp.js';

export type SuiteHooks = { before?: () => Promise<void>; after?: () => Promise<void> };
export type Fresh<S> = { store: S; cleanup(): Promise<void> };

/**
 * A suite over one implementation. `withStore(fn, ...factoryArgs)` makes a test body that gets a
 * fresh store from `factory`, and closes and cleans it up whatever the test does.
 */
export function storeSuite<S extends { close(): Promise<void> }, A extends unknown[] = []>(
  title: string,
  factory: (...args: A) => Promise<Fresh<S>>,
  hooks: SuiteHooks = {},
): { test: Test; withStore: (fn: (s: S) => Promise<void>, ...args: A) => () => Promise<void> } {
  const test = suite(title);
  if (hooks.before) test.before(hooks.before);
  if (hooks.after) test.after(hooks.after);
  const withStore =
    (fn: (s: S) => Promise<void>, ...args: A) =>
    async () => {
      const { store, cleanup } = await factory(...args);
      try {
        await fn(store);
      } finally {
        await store.close();
        await cleanup();
      }
    };
  return { test, withStore };
}

/** `p` rejects with an instance of `type` whose `code` and message are the ones given. */
export async function rejectsWith<E extends Error & { code: string }>(
  p: Promise<unknown>,
  type: abstract new (...args: never[]) => E,
  code: E['code'],
  pattern: RegExp,
): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  assert.instance(err, type as unknown as abstract new (...args: never[]) => unknown, `expected ${type.name} ${code}`);
  assert.is((err as E).code, code);
  assert.match((err as Error).message, pattern);
}

/**
 * A store factory for an SQLite suite: each call opens `file` in a new temp dir, migrates it to
 * `schema` and hands the connection to `open`; cleanup closes it and removes the dir.
 */
export function sqliteStores<S, A extends unknown[] = []>(
  file: string,
  schema: SqliteSchema,
  open: (db: Database.Database, ...args: A) => S,
): (...args: A) => Promise<Fresh<S>> {
  return async (...args) => {
    const dir = tempDir('fleetcare-state-');
    const db = new Database(join(dir.path, file));
    await migrateSqlite(db, schema);
    return {
      store: open(db, ...args),
      cleanup: async () => {
        db.close();
        dir.remove();
      },
    };
  };
}

/**
 * A store factory and suite hooks for a PostgreSQL suite: the hooks start and remove one server;
 * each call makes a fresh migrated database (named after `prefix`) and hands its URL to `open`.
 */
export function postgresStores<S, A extends unknown[] = []>(
  prefix: string,
  open: (url: string, ...args: A) => S,
): [factory: (...args: A) => Promise<Fresh<S>>, hooks: SuiteHooks] {
  const databases = migratedDatabases(prefix);
  return [async (...args) => ({ store: open(await databases.create(), ...args), cleanup: async () => {} }), databases.hooks];
}

/**
 * Like `sqliteStores` for a store that opens its file itself: the file is migrated and closed
 * first, then `open` gets its path.
 */
export function sqliteFileStores<S, A extends unknown[] = []>(
  file: string,
  schema: SqliteSchema,
  open: (path: string, ...args: A) => S,
): (...args: A) => Promise<Fresh<S>> {
  return async (...args) => {
    const dir = tempDir('fleetcare-state-');
    const path = join(dir.path, file);
    const db = new Database(path);
    await migrateSqlite(db, schema);
    db.close();
    return { store: open(path, ...args), cleanup: async () => dir.remove() };
  };
}
