// Remote commands sent from the NOC: recorded in noc.db before they go out (so a fast answer
// always finds its record), sent through the collector (cmd/req, QoS 1), answered by the agent's
// cmd/res. A command nobody answered within the timeout is marked expired (the agent drops it too:
// the request carries the same deadline). A late answer to an expired command is kept with it
// (result/error) but its status stays expired: the operator was already told.
import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { CollectorHandle } from '../collector/index.js';
import type { CommandResult } from '../protocol/index.js';
import type { CommandRequestBody, CommandStatus, LiveEvent, RemoteCommand } from './api.js';

const DDL = `
CREATE TABLE IF NOT EXISTS remote_commands (
  id TEXT PRIMARY KEY, device TEXT NOT NULL, name TEXT NOT NULL, peripheral TEXT, args TEXT NOT NULL,
  user TEXT NOT NULL, status TEXT NOT NULL, sent_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
  answered_at INTEGER, result TEXT, error TEXT
);
CREATE INDEX IF NOT EXISTS remote_commands_device ON remote_commands (device, sent_at);
CREATE INDEX IF NOT EXISTS remote_commands_pending ON remote_commands (status, expires_at);
`;

type Row = {
  id: string;
  device: string;
  name: RemoteCommand['name'];
  peripheral: string | null;
  args: string;
  user: string;
  status: CommandStatus;
  sent_at: number;
  expires_at: number;
  answered_at: number | null;
  result: string | null;
  error: string | null;
};

function toCommand(r: Row): RemoteCommand {
  return {
    id: r.id,
    device: r.device,
    name: r.name,
    peripheral: r.peripheral,
    args: JSON.parse(r.args) as Record<string, unknown>,
    user: r.user,
    status: r.status,
    sentAt: r.sent_at,
    expiresAt: r.expires_at,
    answeredAt: r.answered_at,
    result: r.result === null ? null : (JSON.parse(r.result) as unknown),
    error: r.error,
  };
}

/** Command results are JSON of any size from a device: keep at most this much. */
const MAX_RESULT_CHARS = 64 * 1024;

export class CommandService {
  private readonly timer: NodeJS.Timeout;
  private readonly offResults: () => void;
  private closed = false;

  constructor(
    private readonly db: Database.Database,
    private readonly collector: CollectorHandle,
    private readonly opts: { timeoutMs: number; log: Logger; publish: (e: LiveEvent) => void },
  ) {
    db.exec(DDL);
    this.offResults = collector.onCommandResult((r, at) => this.answer(r, at));
    // Sweeps often enough that "expired" shows within a second of the deadline.
    this.timer = setInterval(() => this.expire(Date.now()), Math.min(1000, Math.max(100, Math.floor(opts.timeoutMs / 10))));
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.offResults();
  }

  /**
   * Records and sends; the answer comes later (get, or a `command` live event). Does not wait for
   * the broker: with the broker unreachable the HTTP answer still comes at once, and the command
   * ends `failed` ("not sent: …") when the collector gives up on it.
   */
  send(device: string, body: CommandRequestBody, user: string, now = Date.now()): RemoteCommand {
    const id = randomUUID();
    const expiresAt = now + this.opts.timeoutMs;
    this.db
      .prepare(`INSERT INTO remote_commands (id, device, name, peripheral, args, user, status, sent_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)`)
      .run(id, device, body.name, body.peripheral ?? null, JSON.stringify(body.args ?? {}), user, now, expiresAt);
    this.opts.log.info({ id, device, name: body.name, peripheral: body.peripheral, user }, 'remote command');
    this.collector.sendCommand(device, { id, name: body.name, peripheral: body.peripheral, args: body.args }, this.opts.timeoutMs).catch((e: Error) => {
      if (!this.closed) this.finish(id, 'failed', null, null, `not sent: ${e.message}`.slice(0, 1000), Date.now());
    });
    return this.get(id)!;
  }

  get(id: string): RemoteCommand | null {
    const r = this.db.prepare('SELECT * FROM remote_commands WHERE id = ?').get(id) as Row | undefined;
    return r ? toCommand(r) : null;
  }

  ofDevice(device: string, limit: number): RemoteCommand[] {
    return (this.db.prepare('SELECT * FROM remote_commands WHERE device = ? ORDER BY sent_at DESC, rowid DESC LIMIT ?').all(device, limit) as Row[]).map(toCommand);
  }

  private answer(r: CommandResult, at: number): void {
    if (this.closed) return;
    try {
      const row = this.db.prepare('SELECT device, status FROM remote_commands WHERE id = ?').get(r.id) as Pick<Row, 'device' | 'status'> | undefined;
      if (!row || row.device !== r.device) return; // not ours (another NOC, a CLI tool) or a device answering for another
      let result: string | null = r.result === undefined ? null : JSON.stringify(r.result);
      if (result !== null && result.length > MAX_RESULT_CHARS) result = JSON.stringify({ truncated: true, chars: result.length });
      if (row.status !== 'pending') {
        this.db.prepare('UPDATE remote_commands SET answered_at = ?, result = ?, error = coalesce(error, ?) WHERE id = ? AND answered_at IS NULL').run(at, result, r.error ?? null, r.id);
        return;
      }
      // The agent answers `expired` to a request that reached it after its deadline.
      const status: CommandStatus = r.ok ? 'ok' : r.error === 'expired' ? 'expired' : 'failed';
      this.finish(r.id, status, at, result, r.error ?? null, at);
    } catch (e) {
      this.opts.log.error({ id: r.id, err: (e as Error).message }, 'command result not recorded');
    }
  }

  /** Ends a pending command; `answeredAt` is null when the device did not answer. */
  private finish(id: string, status: CommandStatus, answeredAt: number | null, result: string | null, error: string | null, at: number): void {
    const changed = this.db
      .prepare(`UPDATE remote_commands SET status = ?, answered_at = ?, result = ?, error = ? WHERE id = ? AND status = 'pending'`)
      .run(status, answeredAt, result, error, id).changes;
    if (!changed) return;
    const device = this.db.prepare('SELECT device FROM remote_commands WHERE id = ?').pluck().get(id) as string;
    this.opts.log.info({ id, device, status, error }, 'remote command finished');
    this.opts.publish({ type: 'command', id, device, status, at });
  }

  /** Marks pending commands past their deadline expired. */
  expire(now: number): number {
    if (this.closed) return 0;
    try {
      const ids = this.db.prepare(`SELECT id FROM remote_commands WHERE status = 'pending' AND expires_at < ?`).pluck().all(now) as string[];
      for (const id of ids) this.finish(id, 'expired', null, null, 'no answer before the deadline', now);
      return ids.length;
    } catch (e) {
      this.opts.log.error({ err: (e as Error).message }, 'command expiry sweep failed');
      return 0;
    }
  }
}
