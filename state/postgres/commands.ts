// Remote commands on PostgreSQL (cluster mode). Same behaviour as the SQLite store, same suite.
import type pg from 'pg';
import { commandOfRow, type CommandRow, type CommandStateStore, type CommandStatus, type NewCommand, type RemoteCommand } from '../commands.js';
import { createPgPool } from './db.js';

const COLUMNS = 'id, device, name, peripheral, args, "user", status, sent_at, expires_at, answered_at, result, error';

export class PgCommandState implements CommandStateStore {
  private readonly pool: pg.Pool;

  constructor(url: string) {
    this.pool = createPgPool(url);
  }

  async insert(c: NewCommand): Promise<void> {
    await this.pool.query(
      `INSERT INTO noc_commands (id, device, name, peripheral, args, "user", status, sent_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8)`,
      [c.id, c.device, c.name, c.peripheral, JSON.stringify(c.args), c.user, c.sentAt, c.expiresAt],
    );
  }

  async get(id: string): Promise<RemoteCommand | null> {
    const r = (await this.pool.query(`SELECT ${COLUMNS} FROM noc_commands WHERE id = $1`, [id])).rows[0] as CommandRow | undefined;
    return r ? commandOfRow(r) : null;
  }

  async ofDevice(device: string, limit: number): Promise<RemoteCommand[]> {
    return (
      (await this.pool.query(`SELECT ${COLUMNS} FROM noc_commands WHERE device = $1 ORDER BY sent_at DESC, seq DESC LIMIT $2`, [device, limit]))
        .rows as CommandRow[]
    ).map(commandOfRow);
  }

  async finish(id: string, status: CommandStatus, answeredAt: number | null, result: string | null, error: string | null): Promise<string | null> {
    const r = await this.pool.query(
      `UPDATE noc_commands SET status = $2, answered_at = $3, result = $4, error = $5 WHERE id = $1 AND status = 'pending' RETURNING device`,
      [id, status, answeredAt, result, error],
    );
    return (r.rows[0]?.device as string | undefined) ?? null;
  }

  async recordLateAnswer(id: string, answeredAt: number, result: string | null, error: string | null): Promise<void> {
    await this.pool.query('UPDATE noc_commands SET answered_at = $2, result = $3, error = coalesce(error, $4) WHERE id = $1 AND answered_at IS NULL', [
      id,
      answeredAt,
      result,
      error,
    ]);
  }

  async overdue(now: number): Promise<string[]> {
    return (await this.pool.query(`SELECT id FROM noc_commands WHERE status = 'pending' AND expires_at < $1`, [now])).rows.map((r: { id: string }) => r.id);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
