// Versioned schema migrations for both state implementations, driven by umzug with a storage per
// implementation (a `fleetcare_migrations` table in the database itself). Each implementation
// keeps its own ordered list (state/sqlite/migrations.ts, state/postgres/migrations.ts); names
// sort in order and are never renamed. A database that has run a migration this code does not
// know was written by a newer fleetcare: it is refused before anything is written.
import { Umzug, type UmzugStorage } from 'umzug';

export type StateMigration<C> = { name: string; up(context: C): Promise<void> | void };

/** The database's schema is newer than this build (or from another product). */
export class StateSchemaTooNewError extends Error {
  constructor(
    readonly what: string,
    readonly unknown: string[],
    readonly known: string[],
  ) {
    super(
      `${what}: the schema was written by a newer fleetcare (migrations ${unknown.join(', ')} are unknown to this version, which knows up to ${known[known.length - 1] ?? '(none)'}); upgrade fleetcare or restore a backup made by this version — nothing was changed`,
    );
    this.name = 'StateSchemaTooNewError';
  }
}

export type MigrationReport = { applied: string[]; current: string | null };

/**
 * Runs the pending migrations in order. The caller wraps this in one transaction on the same
 * connection (both SQLite and PostgreSQL have transactional DDL), so a failed or refused run
 * leaves the database as it was.
 */
export async function runMigrations<C extends object>(
  what: string,
  migrations: ReadonlyArray<StateMigration<C>>,
  storage: UmzugStorage<C>,
  context: C,
): Promise<MigrationReport> {
  const known = migrations.map((m) => m.name);
  const executed = await storage.executed({ context });
  const unknown = executed.filter((n) => !known.includes(n));
  if (unknown.length) throw new StateSchemaTooNewError(what, unknown, known);
  const umzug = new Umzug<C>({
    migrations: migrations.map((m) => ({ name: m.name, up: async ({ context: c }) => m.up(c) })),
    storage,
    context,
    logger: undefined,
  });
  const applied = await umzug.up();
  return { applied: applied.map((m) => m.name), current: known[known.length - 1] ?? null };
}

/** Which migrations ran, for `fleetcare migrate` to compare two stores. */
export async function executedMigrations<C extends object>(storage: UmzugStorage<C>, context: C): Promise<string[]> {
  return storage.executed({ context });
}
