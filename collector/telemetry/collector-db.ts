// The collector's own SQLite (collector.db in dataDir): dedup rows, the spool for when the
// telemetry store is down, dead letters, and persisted fleet state. Never the telemetry itself
// (that lives in the store), so it stays small.
import Database from 'better-sqlite3';
import type { IngestRecord } from './store.js';

export type SpoolRow = { id: number; bytes: number; record: IngestRecord };

export type DeadLetter = { id: number; at: number; topic: string; reason: string; detail: string; payload: string };

export class CollectorDb {
  readonly db: Database.Database;
  private readonly isReceivedStmt: Database.Statement;
  private readonly maxSeqStmt: Database.Statement;
  /** Highest committed seq per device (lazily loaded). */
  private readonly maxReceived = new Map<string, number>();
  private readonly markReceivedStmt: Database.Statement;
  private readonly spoolInsert: Database.Statement;
  private readonly deadInsert: Database.Statement;
  private readonly deadTrim: Database.Statement;
  /** Marks records received (dedup) and, when given, spools them — one transaction. */
  readonly commit: (records: IngestRecord[], spoolJson: string[] | null, at: number) => void;
  readonly deleteSpooled: (ids: number[]) => void;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // FULL: an acked message must survive a power cut (the agent deletes it on our ack).
    this.db.pragma('synchronous = FULL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS received (device TEXT NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL,
        PRIMARY KEY (device, seq)) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS received_at ON received (at);
      CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL, seq INTEGER NOT NULL,
        bytes INTEGER NOT NULL, record TEXT NOT NULL, at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, topic TEXT NOT NULL,
        reason TEXT NOT NULL, detail TEXT NOT NULL, payload TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS devices (device TEXT PRIMARY KEY, state TEXT NOT NULL) WITHOUT ROWID;
    `);
    this.isReceivedStmt = this.db.prepare('SELECT 1 FROM received WHERE device = ? AND seq = ?').pluck();
    this.maxSeqStmt = this.db.prepare('SELECT max(seq) FROM received WHERE device = ?').pluck();
    this.markReceivedStmt = this.db.prepare('INSERT OR IGNORE INTO received (device, seq, at) VALUES (?, ?, ?)');
    this.spoolInsert = this.db.prepare('INSERT INTO spool (device, seq, bytes, record, at) VALUES (?, ?, ?, ?, ?)');
    this.deadInsert = this.db.prepare('INSERT INTO dead_letters (at, topic, reason, detail, payload) VALUES (?, ?, ?, ?, ?)');
    this.deadTrim = this.db.prepare('DELETE FROM dead_letters WHERE id <= ?');
    this.commit = this.db.transaction((records: IngestRecord[], spoolJson: string[] | null, at: number) => {
      records.forEach((r, i) => {
        this.markReceivedStmt.run(r.device, r.seq, at);
        const max = this.maxReceived.get(r.device);
        if (max !== undefined && r.seq > max) this.maxReceived.set(r.device, r.seq);
        if (spoolJson) this.spoolInsert.run(r.device, r.seq, spoolJson[i].length, spoolJson[i], at);
      });
    });
    const del = this.db.prepare('DELETE FROM spool WHERE id = ?');
    this.deleteSpooled = this.db.transaction((ids: number[]) => {
      for (const id of ids) del.run(id);
    });
  }

  isReceived(device: string, seq: number): boolean {
    // Fast path for the common case (new data): above the highest seq ever committed for the
    // device it cannot be in the table. Pruning only lowers the true max, so this stays safe.
    let max = this.maxReceived.get(device);
    if (max === undefined) {
      max = (this.maxSeqStmt.get(device) as number | null) ?? 0;
      this.maxReceived.set(device, max);
    }
    if (seq > max) return false;
    return this.isReceivedStmt.get(device, seq) !== undefined;
  }

  pruneReceived(before: number): number {
    return this.db.prepare('DELETE FROM received WHERE at < ?').run(before).changes;
  }

  spoolTotals(): { rows: number; bytes: number } {
    return this.db.prepare('SELECT count(*) AS rows, coalesce(sum(bytes), 0) AS bytes FROM spool').get() as { rows: number; bytes: number };
  }

  /** Oldest spooled records first, up to `maxPoints` points (at least one row). */
  spoolHead(limit: number): SpoolRow[] {
    return (this.db.prepare('SELECT id, bytes, record FROM spool ORDER BY id LIMIT ?').all(limit) as Array<{ id: number; bytes: number; record: string }>).map(
      (r) => ({ id: r.id, bytes: r.bytes, record: JSON.parse(r.record) as IngestRecord }),
    );
  }

  addDeadLetter(at: number, topic: string, reason: string, detail: string, payload: string, maxRows: number): void {
    const id = Number(this.deadInsert.run(at, topic, reason, detail, payload).lastInsertRowid);
    // Bounded: keep the newest maxRows (ids only grow, so this deletes at most one row).
    if (id > maxRows) this.deadTrim.run(id - maxRows);
  }

  trimDeadLetters(maxRows: number): void {
    const max = (this.db.prepare('SELECT max(id) FROM dead_letters').pluck().get() as number | null) ?? 0;
    if (max > maxRows) this.deadTrim.run(max - maxRows);
  }

  deadLetters(limit = 100, reason?: string): DeadLetter[] {
    return (
      reason
        ? this.db.prepare('SELECT * FROM dead_letters WHERE reason = ? ORDER BY id DESC LIMIT ?').all(reason, limit)
        : this.db.prepare('SELECT * FROM dead_letters ORDER BY id DESC LIMIT ?').all(limit)
    ) as DeadLetter[];
  }

  loadDevices(): Array<{ device: string; state: string }> {
    return this.db.prepare('SELECT device, state FROM devices').all() as Array<{ device: string; state: string }>;
  }

  saveDevices(states: Array<[string, string]>): void {
    const up = this.db.prepare('INSERT INTO devices (device, state) VALUES (?, ?) ON CONFLICT (device) DO UPDATE SET state = excluded.state');
    this.db.transaction(() => {
      for (const [d, s] of states) up.run(d, s);
    })();
  }

  close(): void {
    this.db.close();
  }
}
