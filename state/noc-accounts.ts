// NOC users, sessions (with their CSRF token) and API tokens: the seam that lets any NOC node
// serve any request in cluster mode. Same method names as noc/auth.ts UserStore (the SQLite
// implementation wraps it); PostgreSQL in state/postgres/noc-accounts.ts.
import type { Session } from '../noc/auth.js';
import type { NocRole, NocUser } from '../noc/api.js';

export type { NocRole, NocUser, Session };

export interface NocAccountStore {
  /** UserError 'invalid' (names the field) or 'exists'. */
  addUser(name: string, role: NocRole, password: string): Promise<NocUser>;
  /** Creates the user unless it exists; true when created. */
  ensureUser(name: string, role: NocRole, password: string): Promise<boolean>;
  /** Also ends the user's sessions. UserError 'unknown' for a missing user. */
  setPassword(name: string, password: string): Promise<void>;
  setRole(name: string, role: NocRole): Promise<void>;
  /** Ends the user's sessions and API tokens with it. */
  removeUser(name: string): Promise<void>;
  getUser(name: string): Promise<NocUser | null>;
  listUsers(): Promise<Array<NocUser & { createdAt: number }>>;
  /** The user if the password matches; unknown names cost the same scrypt work. */
  checkPassword(name: string, password: string): Promise<NocUser | null>;
  createSession(user: NocUser, now?: number): Promise<Session>;
  /** The live session of this id (not expired, user not disabled), or null. */
  session(id: string, now?: number): Promise<Session | null>;
  endSession(id: string): Promise<void>;
  /** Returns the token once (`fct_<id>_<secret>`); only its hash is kept. */
  createApiToken(user: string, name: string): Promise<string>;
  checkApiToken(token: string): Promise<NocUser | null>;
  close(): Promise<void>;
}
