// Where shared state lives: `sqlite` (embedded files in the data dir, the default) or `postgres`
// (cluster mode: every node names the same database). The server config's `state` field.
import { z } from 'zod';

export const stateConfigSchema = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('sqlite') }).strict(),
    z
      .object({
        kind: z.literal('postgres'),
        /** postgres://user:password@host:port/database (libpq URL; ?sslmode=… accepted). */
        url: z.string().regex(/^postgres(ql)?:\/\/[^/]+\/[^/?]+/, 'expected postgres://user@host:port/database'),
      })
      .strict(),
  ])
  .default({ kind: 'sqlite' });
export type StateConfig = z.infer<typeof stateConfigSchema>;
