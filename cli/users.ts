// `fleetcare user …`: NOC users where the server keeps them — the data dir's noc.db (usable while
// the server runs, SQLite WAL) or, with `state.kind` postgres in the config, PostgreSQL. Passwords come from a file or stdin, never from a flag (shell history, ps).
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError, UserStore } from '../noc/auth.js';
import type { NocAccountStore } from '../state/noc-accounts.js';
import { migratePostgres } from '../state/postgres/migrations.js';
import { PgNocAccounts } from '../state/postgres/noc-accounts.js';
import { SqliteNocAccounts } from '../state/sqlite/noc-accounts.js';
import { nocRole } from '../noc/api.js';
import { ConfigError, UsageError } from './errors.js';
import { loadServerConfig } from './server-config.js';
import { printList } from './table.js';

type Flags = Record<string, string | boolean | undefined>;

async function readPassword(flags: Flags): Promise<string> {
  const file = flags['password-file'];
  let text: string;
  if (typeof file === 'string') {
    try {
      text = readFileSync(file === '-' ? 0 : file, 'utf8');
    } catch (e) {
      throw new ConfigError(`${file}: cannot read: ${(e as Error).message}`);
    }
  } else {
    if (process.stdin.isTTY) process.stderr.write('password (then Enter; at least 10 characters): ');
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) {
      chunks.push(c as Buffer);
      if (process.stdin.isTTY && (c as Buffer).includes(10)) break;
    }
    text = Buffer.concat(chunks).toString('utf8');
  }
  return text.replace(/\r?\n$/, '');
}

export async function userCommand(positionals: string[], flags: Flags): Promise<void> {
  const [action, name] = positionals;
  const config = loadServerConfig({ config: flags.config, 'data-dir': flags['data-dir'] });
  let users: NocAccountStore;
  if (config.state.kind === 'postgres') {
    // Same schema check as the server's start: a newer schema is refused, a fresh one created.
    await migratePostgres(config.state.url);
    users = new PgNocAccounts(config.state.url);
  } else {
    mkdirSync(config.dataDir, { recursive: true });
    users = new SqliteNocAccounts(new UserStore(join(config.dataDir, 'noc.db')));
  }
  try {
    switch (action) {
      case 'add': {
        if (!name) throw new UsageError('user add needs a NAME');
        const role = nocRole.safeParse(flags.role ?? 'viewer');
        if (!role.success) throw new UsageError(`--role: one of ${nocRole.options.join(', ')}`);
        await users.addUser(name, role.data, await readPassword(flags));
        process.stderr.write(`user ${name} added (${role.data})\n`);
        return;
      }
      case 'passwd':
        if (!name) throw new UsageError('user passwd needs a NAME');
        await users.setPassword(name, await readPassword(flags));
        process.stderr.write(`password of ${name} changed; their sessions are ended\n`);
        return;
      case 'role': {
        const role = nocRole.safeParse(flags.role);
        if (!name || !role.success) throw new UsageError(`user role NAME --role ${nocRole.options.join('|')}`);
        await users.setRole(name, role.data);
        return;
      }
      case 'remove':
        if (!name) throw new UsageError('user remove needs a NAME');
        await users.removeUser(name);
        return;
      case 'token':
        if (!name) throw new UsageError('user token needs a NAME');
        process.stdout.write((await users.createApiToken(name, typeof flags['token-name'] === 'string' ? flags['token-name'] : 'cli')) + '\n');
        process.stderr.write(`API token for ${name} (shown once, above): send it as "Authorization: Bearer <token>"\n`);
        return;
      case 'list':
        printList(
          await users.listUsers(),
          [
            { head: 'USER', value: (u) => u.name },
            { head: 'ROLE', value: (u) => u.role },
            { head: 'CREATED', value: (u) => new Date(u.createdAt).toISOString() },
          ],
          { json: !!flags.json, empty: 'no users' },
        );
        return;
      default:
        throw new UsageError(`user: unknown action "${action ?? ''}" (add, passwd, role, remove, token, list)`);
    }
  } catch (e) {
    if (e instanceof UserError) throw new ConfigError(e.message);
    throw e;
  } finally {
    await users.close();
  }
}
