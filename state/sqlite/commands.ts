// Remote commands on SQLite (the remote_commands table of noc.db).
import type Database from 'better-sqlite3';
import { commandOfRow, type CommandRow, type CommandStateStore, type CommandStatus, type NewCommand, type RemoteCommand } from '../commands.js';

export const REMOTE_COMMANDS_DDL = `
CREATE TABLE IF NOT EXISTS remote_commands (
  id TEXT PRIMARY KEY, device TEXT NOT NULL, name TEXT NOT NULL, peripheral TEXT, args TEXT NOT NULL,
  user TEXT NOT NULL, status TEXT NOT NULL, sent_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
  answered_at INTEGER, result TEXT, error TEXT
);
CREATE INDEX IF NOT EXISTS remote_commands_device ON remote_commands (device, sent_at);
CREATE INDEX IF NOT EXISTS remote_commands_pending ON remote_commands (status, expires_at);
`;

export class SqliteCommandState implements CommandStateStore {
  private readonly s: Record<'insert' | 'get' | 'ofDevice' | 'finish' | 'device' | 'late' | 'overdue', Database.Statement>;

  /** On an open database (noc.db; it belongs to the caller). */
  constructor(db: Database.Database) {
    db.exec(REMOTE_COMMANDS_DDL);
    this.s = {
      insert: db.prepare(
        `INSERT INTO remote_commands (id, device, name, peripheral, args, user, status, sent_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)`,
      ),
      get: db.prepare('SELECT * FROM remote_commands WHERE id = ?'),
      ofDevice: db.prepare('SELECT * FROM remote_commands WHERE device = ? ORDER BY sent_at DESC, rowid DESC LIMIT ?'),
      finish: db.prepare(`UPDATE remote_commands SET status = ?, answered_at = ?, result = ?, error = ? WHERE id = ? AND status = 'pending'`),
      device: db.prepare('SELECT device FROM remote_commands WHERE id = ?').pluck(),
      late: db.prepare('UPDATE remote_commands SET answered_at = ?, result = ?, error = coalesce(error, ?) WHERE id = ? AND answered_at IS NULL'),
      overdue: db.prepare(`SELECT id FROM remote_commands WHERE status = 'pending' AND expires_at < ?`).pluck(),
    };
  }

  async insert(c: NewCommand): Promise<void> {
    this.s.insert.run(c.id, c.device, c.name, c.peripheral, JSON.stringify(c.args), c.user, c.sentAt, c.expiresAt);
  }

  async get(id: string): Promise<RemoteCommand | null> {
    const r = this.s.get.get(id) as CommandRow | undefined;
    return r ? commandOfRow(r) : null;
  }

  async ofDevice(device: string, limit: number): Promise<RemoteCommand[]> {
    return (this.s.ofDevice.all(device, limit) as CommandRow[]).map(commandOfRow);
  }

  async finish(id: string, status: CommandStatus, answeredAt: number | null, result: string | null, error: string | null): Promise<string | null> {
    if (!this.s.finish.run(status, answeredAt, result, error, id).changes) return null;
    return this.s.device.get(id) as string;
  }

  async recordLateAnswer(id: string, answeredAt: number, result: string | null, error: string | null): Promise<void> {
    this.s.late.run(answeredAt, result, error, id);
  }

  async overdue(now: number): Promise<string[]> {
    return this.s.overdue.all(now) as string[];
  }

  async close(): Promise<void> {}
}
