// NOC accounts on SQLite: noc/auth.ts UserStore (noc.db) seen through NocAccountStore.
import { UserStore, type Session } from '../../noc/auth.js';
import type { NocAccountStore, NocRole, NocUser } from '../noc-accounts.js';

export class SqliteNocAccounts implements NocAccountStore {
  readonly users: UserStore;

  constructor(source: UserStore | { path: string; sessionTtlMs: number; scryptCost?: number }) {
    this.users = source instanceof UserStore ? source : new UserStore(source.path, { sessionTtlMs: source.sessionTtlMs, scryptCost: source.scryptCost });
  }

  async addUser(name: string, role: NocRole, password: string): Promise<NocUser> {
    return this.users.addUser(name, role, password);
  }
  async ensureUser(name: string, role: NocRole, password: string): Promise<boolean> {
    return this.users.ensureUser(name, role, password);
  }
  async setPassword(name: string, password: string): Promise<void> {
    this.users.setPassword(name, password);
  }
  async setRole(name: string, role: NocRole): Promise<void> {
    this.users.setRole(name, role);
  }
  async removeUser(name: string): Promise<void> {
    this.users.removeUser(name);
  }
  async getUser(name: string): Promise<NocUser | null> {
    return this.users.getUser(name);
  }
  async listUsers(): Promise<Array<NocUser & { createdAt: number }>> {
    return this.users.listUsers();
  }
  checkPassword(name: string, password: string): Promise<NocUser | null> {
    return this.users.checkPassword(name, password);
  }
  async createSession(user: NocUser, now?: number): Promise<Session> {
    return this.users.createSession(user, now);
  }
  async session(id: string, now?: number): Promise<Session | null> {
    return this.users.session(id, now);
  }
  async endSession(id: string): Promise<void> {
    this.users.endSession(id);
  }
  async createApiToken(user: string, name: string): Promise<string> {
    return this.users.createApiToken(user, name);
  }
  checkApiToken(token: string): Promise<NocUser | null> {
    return this.users.checkApiToken(token);
  }
  async close(): Promise<void> {
    this.users.close();
  }
}
