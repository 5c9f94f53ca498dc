// Remote commands sent from the NOC (noc/commands.ts CommandService): the record of each command
// and its outcome. SQLite (noc.db) in state/sqlite/commands.ts, PostgreSQL in
// state/postgres/commands.ts, so a command sent from one NOC node can be answered through another.
import type { CommandStatus, RemoteCommand } from '../noc/api.js';

export type { CommandStatus, RemoteCommand };

export type NewCommand = {
  id: string;
  device: string;
  name: RemoteCommand['name'];
  peripheral: string | null;
  args: Record<string, unknown>;
  user: string;
  sentAt: number;
  expiresAt: number;
};

export interface CommandStateStore {
  /** Records a command as pending (before it is sent, so a fast answer finds it). */
  insert(cmd: NewCommand): Promise<void>;
  get(id: string): Promise<RemoteCommand | null>;
  /** Newest first. */
  ofDevice(device: string, limit: number): Promise<RemoteCommand[]>;
  /**
   * Ends a pending command (status, when answered, the result as JSON text, the error). Returns
   * its device when it was pending and is now ended, null otherwise (already ended, unknown id).
   */
  finish(id: string, status: CommandStatus, answeredAt: number | null, result: string | null, error: string | null): Promise<string | null>;
  /** Keeps a late answer with an already ended command (its status does not change); first answer wins. */
  recordLateAnswer(id: string, answeredAt: number, result: string | null, error: string | null): Promise<void>;
  /** Ids of pending commands whose deadline is before `now`. */
  overdue(now: number): Promise<string[]>;
  close(): Promise<void>;
}

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

/** A stored row (same columns in both implementations) as the API's RemoteCommand. */
export function commandOfRow(r: Row): RemoteCommand {
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
export type CommandRow = Row;
