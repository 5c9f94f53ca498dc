// The agent's durable outbox (DESIGN §4): every telemetry and event message is written here
// BEFORE it is published, and a row is deleted only when the collector's `ack` covers its seq.
//
// Choices, briefly:
// - WAL + synchronous=FULL. A seq leaves the device right after its row commits; with NORMAL a
//   power cut can roll back a commit whose message was already published, and the same seq would
//   later be reused for other data that the collector then drops as a duplicate. FULL costs one
//   fsync per commit, i.e. about one every publish interval (5 s): nothing on this workload.
// - seqs are reserved in blocks (persisted in the DB and in a small sidecar file) so that status,
//   inventory and cmd/res seqs cost no write, a corrupt DB replaced by a fresh one never restarts
//   at 1, and a full disk can still hand out safe seqs for a while. A restart skips the rest of
//   the block: seqs have gaps, never repeats.
// - Sent times live in memory only: a new MQTT session re-sends every unacked row anyway, and one
//   write per publish would only wear the flash.
import Database from 'better-sqlite3';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import type { Logger } from 'pino';
import type { EventMessage } from '../protocol/index.js';

export type OutboxChannel = 'telemetry' | 'event';
export type OutboxRow = { seq: number; channel: OutboxChannel; payload: string };

/** Fields of an event the outbox raises about itself (drops, corruption). */
export type OutboxEventFields = Pick<EventMessage, 'code' | 'severity' | 'message' | 'data'>;

export type OutboxOptions = {
  /** SQLite file; created with its folder's permissions. */
  path: string;
  maxRows: number;
  maxBytes: number;
  thinKeepEvery: number;
  ackTimeoutMs: number;
  maxInFlight: number;
  journal: boolean;
  log: Logger;
  /** Serialises an `outbox-dropped` event with the given seq and ts (the agent knows the envelope). */
  buildEvent: (seq: number, ts: number, fields: OutboxEventFields) => string;
  /** Disk-full fallback: newest messages kept in memory until the disk takes writes again. */
  memoryMaxRows?: number;
  memoryMaxBytes?: number;
  /** How often a degraded outbox retries the disk. */
  retryMs?: number;
  /** Test hook: SQLite `max_page_count`, which makes SQLite itself fail with SQLITE_FULL. */
  maxPageCount?: number;
  now?: () => number;
};

export type OutboxMode = 'ok' | 'disk-full' | 'memory-only';

export type OutboxStats = {
  mode: OutboxMode;
  rows: number;
  bytes: number;
  memoryRows: number;
  inFlight: number;
  appended: number;
  sent: number;
  resent: number;
  acked: number;
  /** Points (samples + events) dropped to stay within bounds, since this outbox was opened. */
  droppedPoints: number;
  droppedMessages: number;
  corruptRecoveries: number;
  diskFullEpisodes: number;
  nextSeq: number;
};

/** seqs reserved per persisted write. */
const SEQ_BLOCK = 1000;
const REPORT_BYTES_ESTIMATE = 400;

type MemRow = OutboxRow & { bytes: number; points: number; ts: number };
type Drops = { messages: number; samples: number; events: number };

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY,
  channel TEXT NOT NULL,
  payload TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  points INTEGER NOT NULL,
  ts INTEGER NOT NULL,
  thin INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_by_thin ON outbox (channel, thin, seq);
`;
const JOURNAL_SCHEMA = `
CREATE TABLE IF NOT EXISTS outbox_journal (seq INTEGER PRIMARY KEY, channel TEXT, points INTEGER, at INTEGER);
CREATE TABLE IF NOT EXISTS outbox_journal_dropped (seq INTEGER PRIMARY KEY, at INTEGER);
`;

function sqliteCode(e: unknown): string {
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'string' ? code : '';
}
const isCorrupt = (e: unknown) => {
  const c = sqliteCode(e);
  return c.startsWith('SQLITE_CORRUPT') || c === 'SQLITE_NOTADB';
};
const isSqlite = (e: unknown) => sqliteCode(e).startsWith('SQLITE_');

export class Outbox {
  private db!: Database.Database;
  private readonly o: Required<Omit<OutboxOptions, 'maxPageCount'>> & { maxPageCount?: number };
  private readonly log: Logger;
  private mode: OutboxMode = 'ok';
  private nextSeqValue = 1;
  private reservedUpTo = 0;
  private rows = 0;
  private bytes = 0;
  /** Rows that could not be written (disk full), newest kept, in seq order. */
  private memory: MemRow[] = [];
  private memoryBytes = 0;
  /** Acks that could not be applied to the disk yet. */
  private pendingAcks: Array<[number, number]> = [];
  /** seq → when it was last handed out for sending (this session). */
  private inFlight = new Map<number, number>();
  /** Highest seq handed out for sending in this session. */
  private cursor = 0;
  private unreported: Drops = { messages: 0, samples: 0, events: 0 };
  private pendingNotices: OutboxEventFields[] = [];
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private reporting = false;
  /** The newest drop report, while it is still unsent (drops are added to it). */
  private openReport: { seq: number; d: Drops } | null = null;
  private readonly counters = { appended: 0, sent: 0, resent: 0, acked: 0, droppedPoints: 0, droppedMessages: 0, corruptRecoveries: 0, diskFullEpisodes: 0 };
  private st!: ReturnType<Outbox['prepare']>;

  constructor(opts: OutboxOptions) {
    this.o = { memoryMaxRows: 2000, memoryMaxBytes: 4 * 1024 * 1024, retryMs: 30_000, now: Date.now, ...opts };
    this.log = opts.log.child({ component: 'outbox' });
    this.openDb();
  }

  // ---------------------------------------------------------------------------------------------
  // opening, corruption

  private openDb(): void {
    try {
      this.openFile(this.o.path);
    } catch (e) {
      if (!isCorrupt(e)) throw e;
      this.replaceCorrupt(e);
    }
  }

  private openFile(path: string): void {
    const db = new Database(path);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('journal_size_limit = 4194304');
      // The working set is the newest rows and the in-flight window: a small page cache will do.
      db.pragma('cache_size = -512');
      if (this.o.maxPageCount) db.pragma(`max_page_count = ${this.o.maxPageCount}`);
      db.exec(SCHEMA);
      if (this.o.journal) db.exec(JOURNAL_SCHEMA);
      this.db = db;
      this.st = this.prepare();
      const sizes = this.st.sizes.get() as { n: number; b: number | null; max: number | null };
      this.rows = sizes.n;
      this.bytes = sizes.b ?? 0;
      const meta = (k: string) => (this.st.getMeta.get(k) as { value: number } | undefined)?.value ?? 0;
      this.unreported = { messages: meta('unreportedMessages'), samples: meta('unreportedSamples'), events: meta('unreportedEvents') };
      const floor = Math.max(meta('seqReserved'), sizes.max ?? 0, this.readSidecar(), this.nextSeqValue - 1);
      this.nextSeqValue = floor + 1;
      this.reservedUpTo = floor;
    } catch (e) {
      try {
        db.close();
      } catch {
        /* already unusable */
      }
      throw e;
    }
  }

  private prepare() {
    const db = this.db;
    return {
      sizes: db.prepare('SELECT COUNT(*) AS n, SUM(bytes) AS b, MAX(seq) AS max FROM outbox'),
      getMeta: db.prepare('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      insert: db.prepare('INSERT INTO outbox (seq, channel, payload, bytes, points, ts) VALUES (?, ?, ?, ?, ?, ?)'),
      journal: this.o.journal ? db.prepare('INSERT OR IGNORE INTO outbox_journal (seq, channel, points, at) VALUES (?, ?, ?, ?)') : null,
      journalDropped: this.o.journal ? db.prepare('INSERT OR IGNORE INTO outbox_journal_dropped (seq, at) VALUES (?, ?)') : null,
      after: db.prepare('SELECT seq, channel, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?'),
      one: db.prepare('SELECT seq, channel, payload FROM outbox WHERE seq = ?'),
      ackRange: db.prepare('DELETE FROM outbox WHERE seq BETWEEN ? AND ? RETURNING seq, bytes'),
      thinChunk: db.prepare("SELECT seq, bytes, points FROM outbox WHERE channel = 'telemetry' ORDER BY thin, seq LIMIT ?"),
      oldestEvent: db.prepare("SELECT seq, bytes, points FROM outbox WHERE channel = 'event' ORDER BY seq LIMIT 1"),
      countTelemetry: db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE channel = 'telemetry'"),
      del: db.prepare('DELETE FROM outbox WHERE seq = ?'),
      bumpThin: db.prepare('UPDATE outbox SET thin = thin + 1 WHERE seq = ?'),
      rowBytes: db.prepare('SELECT bytes FROM outbox WHERE seq = ?'),
      updatePayload: db.prepare('UPDATE outbox SET payload = ?, bytes = ? WHERE seq = ?'),
    };
  }

  private sidecarPath(): string {
    return `${this.o.path}.seq`;
  }

  private readSidecar(): number {
    try {
      const n = Number(readFileSync(this.sidecarPath(), 'utf8').trim());
      return Number.isSafeInteger(n) && n > 0 ? n : 0;
    } catch {
      return 0;
    }
  }

  private writeSidecar(reserved: number): void {
    const tmp = `${this.sidecarPath()}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, String(reserved));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.sidecarPath());
  }

  /** Moves a corrupt database aside and starts a fresh one; a notice event says what was lost. */
  private replaceCorrupt(cause: unknown): void {
    const aside = `${this.o.path}.corrupt-${this.o.now()}`;
    this.counters.corruptRecoveries++;
    this.log.error(
      { code: sqliteCode(cause), err: (cause as Error).message, movedTo: aside },
      'outbox database is corrupt; moved it aside and started a fresh one (its unsent messages are lost)',
    );
    try {
      (this.db as Database.Database | undefined)?.close();
    } catch {
      /* corrupt handle */
    }
    this.inFlight.clear();
    this.cursor = 0;
    let moved = true;
    for (const suffix of ['', '-wal', '-shm']) {
      try {
        if (existsSync(this.o.path + suffix)) renameSync(this.o.path + suffix, aside + suffix);
      } catch (e) {
        moved = false;
        this.log.error({ err: (e as Error).message }, 'could not move the corrupt outbox aside');
      }
    }
    const lostRows = this.rows;
    this.rows = 0;
    this.bytes = 0;
    this.pendingNotices.push({
      code: 'outbox-corrupt',
      severity: 'critical',
      message: `outbox database was corrupt; moved aside to ${aside}; unsent messages in it are lost`,
      // How many rows were lost is known only when the corruption showed up after opening.
      data: lostRows > 0 ? { dropped: lostRows, corrupt: true } : { corrupt: true },
    });
    try {
      if (!moved) throw new Error('corrupt file still in place');
      this.openFile(this.o.path);
      this.persistReservation(this.nextSeqValue - 1 + SEQ_BLOCK);
    } catch (e) {
      this.mode = 'memory-only';
      this.log.error({ err: (e as Error).message }, 'cannot create a fresh outbox on disk; running with an in-memory outbox (lost on restart)');
      this.openFileInMemory();
    }
  }

  private openFileInMemory(): void {
    const keep = this.nextSeqValue;
    this.openFile(':memory:');
    this.nextSeqValue = Math.max(keep, this.nextSeqValue);
  }

  // ---------------------------------------------------------------------------------------------
  // seq allocation

  private persistReservation(upTo: number): void {
    this.st.setMeta.run('seqReserved', upTo);
    this.reservedUpTo = upTo;
    try {
      this.writeSidecar(upTo);
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'cannot write the seq sidecar file');
    }
  }

  private takeSeq(): number {
    const seq = this.nextSeqValue;
    if (seq > this.reservedUpTo && this.mode !== 'disk-full') this.persistReservation(seq + SEQ_BLOCK - 1);
    this.nextSeqValue++;
    return seq;
  }

  /** A seq for a message that is not outboxed (status, inventory, cmd/res). Never throws. */
  allocateSeq(): number {
    try {
      return this.takeSeq();
    } catch (e) {
      this.onWriteError(e, 'allocate seq');
      // Degraded: hand out the next seq from memory; past the reserved block a restart could
      // repeat it, which the log line above already says.
      return this.nextSeqValue++;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // writing

  /**
   * Appends one message, written durably before it is returned (so before it is published).
   * `make(seq)` serialises it with its seq. Never throws: a disk that refuses the write puts the
   * outbox in a degraded mode (see `stats().mode`).
   */
  append(channel: OutboxChannel, points: number, make: (seq: number) => string): number {
    if (this.closed) throw new Error('outbox closed');
    if (this.mode === 'disk-full') {
      this.tryRecover();
      if (this.mode === 'disk-full') return this.appendToMemory(channel, points, make);
    }
    for (let attempt = 0; ; attempt++) {
      const reserved = this.nextSeqValue;
      try {
        const seq = this.db.transaction(() => this.appendTx(channel, points, make))();
        this.counters.appended++;
        return seq;
      } catch (e) {
        this.restoreAfterFailedTx(reserved);
        if (isCorrupt(e) && attempt === 0) {
          this.replaceCorrupt(e);
          continue;
        }
        this.onWriteError(e, 'append');
        return this.appendToMemory(channel, points, make);
      }
    }
  }

  /** In-memory mirrors of the DB are recomputed when a transaction rolled back. */
  private restoreAfterFailedTx(nextSeq: number): void {
    try {
      const sizes = this.st.sizes.get() as { n: number; b: number | null };
      this.rows = sizes.n;
      this.bytes = sizes.b ?? 0;
      const meta = (k: string) => (this.st.getMeta.get(k) as { value: number } | undefined)?.value ?? 0;
      this.reservedUpTo = meta('seqReserved');
      this.unreported = { messages: meta('unreportedMessages'), samples: meta('unreportedSamples'), events: meta('unreportedEvents') };
    } catch {
      /* the DB is unreadable too; the caller handles it */
    }
    this.openReport = null;
    // A seq handed out inside a failed transaction may already be in a payload: never reuse it.
    this.nextSeqValue = Math.max(this.nextSeqValue, nextSeq);
  }

  private appendTx(channel: OutboxChannel, points: number, make: (seq: number) => string): number {
    const seq = this.takeSeq();
    const payload = make(seq);
    const bytes = Buffer.byteLength(payload);
    this.makeRoom(1, bytes);
    this.insertRow({ seq, channel, payload, bytes, points, ts: this.o.now() });
    this.reportInTx();
    return seq;
  }

  private insertRow(r: MemRow): void {
    this.st.insert.run(r.seq, r.channel, r.payload, r.bytes, r.points, r.ts);
    this.st.journal?.run(r.seq, r.channel, r.points, r.ts);
    this.rows++;
    this.bytes += r.bytes;
  }

  /** Writes an `outbox-dropped` event for drops not yet reported, and any notices. */
  private reportInTx(): void {
    if (this.reporting) return;
    const hasDrops = this.unreported.messages > 0;
    if (!hasDrops && this.pendingNotices.length === 0) return;
    this.reporting = true;
    try {
      for (const notice of this.pendingNotices.splice(0)) this.insertEventTx(notice);
      if (hasDrops) {
        // While the outbox is full and nothing goes out, drops keep coming: they are added to the
        // report that has not been sent yet instead of filling the outbox with reports.
        const open = this.openReport && this.openReport.seq > this.cursor && !this.inFlight.has(this.openReport.seq) ? this.openReport : null;
        const d: Drops = open
          ? { messages: open.d.messages + this.unreported.messages, samples: open.d.samples + this.unreported.samples, events: open.d.events + this.unreported.events }
          : { ...this.unreported };
        const fields: OutboxEventFields = {
          code: 'outbox-full',
          severity: d.events > 0 ? 'critical' : 'warning',
          message: `outbox full: dropped ${d.messages} old messages (${d.samples} samples, ${d.events} events) to stay within bounds`,
          data: { dropped: d.samples + d.events, droppedMessages: d.messages, droppedSamples: d.samples, droppedEvents: d.events, droppedTotal: this.counters.droppedPoints },
        };
        const updated = open ? this.updateEventTx(open.seq, fields) : false;
        if (!updated) {
          this.makeRoom(1, REPORT_BYTES_ESTIMATE);
          this.openReport = { seq: this.insertEventTx(fields), d };
        } else if (open) open.d = d;
        this.unreported = { messages: 0, samples: 0, events: 0 };
        this.saveUnreported();
      }
    } finally {
      this.reporting = false;
    }
  }

  private insertEventTx(fields: OutboxEventFields): number {
    const seq = this.takeSeq();
    const ts = this.o.now();
    const payload = this.o.buildEvent(seq, ts, fields);
    this.insertRow({ seq, channel: 'event', payload, bytes: Buffer.byteLength(payload), points: 1, ts });
    return seq;
  }

  /** Rewrites a not-yet-sent event row in place; false when the row is gone. */
  private updateEventTx(seq: number, fields: OutboxEventFields): boolean {
    const old = this.st.rowBytes.get(seq) as { bytes: number } | undefined;
    if (!old) return false;
    const payload = this.o.buildEvent(seq, this.o.now(), fields);
    const bytes = Buffer.byteLength(payload);
    this.st.updatePayload.run(payload, bytes, seq);
    this.bytes += bytes - old.bytes;
    return true;
  }

  private saveUnreported(): void {
    this.st.setMeta.run('unreportedMessages', this.unreported.messages);
    this.st.setMeta.run('unreportedSamples', this.unreported.samples);
    this.st.setMeta.run('unreportedEvents', this.unreported.events);
  }

  /**
   * Frees room for `addRows`/`addBytes`: thins old telemetry first (keeping every Nth message,
   * oldest and least-thinned first), drops the oldest events only when no telemetry is left.
   */
  private makeRoom(addRows: number, addBytes: number): void {
    let changed = false;
    while (this.rows > 0 && (this.rows + addRows > this.o.maxRows || this.bytes + addBytes > this.o.maxBytes)) {
      changed = true;
      const telemetryRows = (this.st.countTelemetry.get() as { n: number }).n;
      if (telemetryRows > 0) {
        const chunkSize = Math.max(this.o.thinKeepEvery, Math.ceil(telemetryRows / 8));
        const chunk = this.st.thinChunk.all(chunkSize) as Array<{ seq: number; bytes: number; points: number }>;
        if (chunk.length === 1) this.dropRow(chunk[0], 'telemetry');
        else
          chunk.forEach((r, i) => {
            if (i % this.o.thinKeepEvery === 0) this.st.bumpThin.run(r.seq);
            else this.dropRow(r, 'telemetry');
          });
      } else {
        const ev = this.st.oldestEvent.get() as { seq: number; bytes: number; points: number } | undefined;
        if (!ev) break;
        this.dropRow(ev, 'event');
      }
    }
    if (changed) this.saveUnreported();
  }

  private dropRow(r: { seq: number; bytes: number; points: number }, channel: OutboxChannel): void {
    this.st.del.run(r.seq);
    this.st.journalDropped?.run(r.seq, this.o.now());
    this.rows--;
    this.bytes -= r.bytes;
    this.inFlight.delete(r.seq);
    this.countDrop(channel, r.points);
  }

  private countDrop(channel: OutboxChannel, points: number): void {
    this.unreported.messages++;
    if (channel === 'telemetry') this.unreported.samples += points;
    else this.unreported.events += points;
    this.counters.droppedMessages++;
    this.counters.droppedPoints += points;
  }

  // ---------------------------------------------------------------------------------------------
  // degraded mode: disk full or failing writes

  private onWriteError(e: unknown, what: string): void {
    if (!isSqlite(e)) {
      this.log.error({ err: (e as Error).message, what }, 'outbox write failed');
    }
    if (this.mode === 'ok') {
      this.mode = 'disk-full';
      this.counters.diskFullEpisodes++;
      this.log.error(
        { code: sqliteCode(e) || 'unknown', what, keepInMemory: this.o.memoryMaxRows, retryMs: this.o.retryMs },
        `outbox cannot write to disk (${sqliteCode(e) || (e as Error).message}); keeping the newest messages in memory and retrying`,
      );
      this.retryTimer = setInterval(() => this.tryRecover(), this.o.retryMs);
      this.retryTimer.unref();
    }
  }

  private appendToMemory(channel: OutboxChannel, points: number, make: (seq: number) => string): number {
    const seq = this.nextSeqValue++;
    const payload = make(seq);
    const row: MemRow = { seq, channel, payload, bytes: Buffer.byteLength(payload), points, ts: this.o.now() };
    this.memory.push(row);
    this.memoryBytes += row.bytes;
    this.counters.appended++;
    while (this.memory.length > 1 && (this.memory.length > this.o.memoryMaxRows || this.memoryBytes > this.o.memoryMaxBytes)) {
      let i = this.memory.findIndex((r) => r.channel === 'telemetry' && r !== row);
      if (i < 0) i = 0;
      const [gone] = this.memory.splice(i, 1);
      this.memoryBytes -= gone.bytes;
      this.inFlight.delete(gone.seq);
      this.countDrop(gone.channel, gone.points);
    }
    return seq;
  }

  /** Tries to move the in-memory rows to disk; leaves degraded mode when that works. */
  tryRecover(): boolean {
    if (this.mode !== 'disk-full' || this.closed) return this.mode === 'ok';
    try {
      this.db.transaction(() => {
        for (const [a, b] of this.pendingAcks) this.deleteRangeTx(a, b);
        const last = this.memory.length ? this.memory[this.memory.length - 1].seq : 0;
        this.persistReservation(Math.max(this.nextSeqValue - 1, last) + SEQ_BLOCK);
        for (const r of this.memory) {
          this.makeRoom(1, r.bytes);
          this.insertRow(r);
        }
        this.reportInTx();
      })();
    } catch (e) {
      this.restoreAfterFailedTx(this.nextSeqValue);
      if (isCorrupt(e)) this.replaceCorrupt(e);
      return false;
    }
    const moved = this.memory.length;
    this.memory = [];
    this.memoryBytes = 0;
    this.pendingAcks = [];
    this.mode = 'ok';
    if (this.retryTimer) clearInterval(this.retryTimer);
    this.retryTimer = null;
    this.log.warn({ persisted: moved }, 'outbox can write to disk again; in-memory messages persisted');
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // sending and acks

  /** A new MQTT session: everything unacked is sent again, in seq order. */
  resetSession(): void {
    this.inFlight.clear();
    this.cursor = 0;
  }

  /**
   * Rows to publish now: sent rows whose ack is overdue, then unsent rows in seq order, within
   * the in-flight window. Marks them sent at `now`. Never throws.
   */
  takeForSend(): OutboxRow[] {
    const now = this.o.now();
    const out: OutboxRow[] = [];
    try {
      const expired = [...this.inFlight].filter(([, at]) => now - at >= this.o.ackTimeoutMs).map(([seq]) => seq).sort((a, b) => a - b);
      for (const seq of expired) {
        const r = this.findRow(seq);
        if (!r) {
          this.inFlight.delete(seq);
          continue;
        }
        out.push(r);
        this.inFlight.set(seq, now);
        this.counters.resent++;
      }
      const room = this.o.maxInFlight - this.inFlight.size;
      if (room > 0) {
        const fresh = this.st.after.all(this.cursor, room) as OutboxRow[];
        const mem = this.memory.filter((r) => r.seq > this.cursor && !this.isPendingAck(r.seq)).slice(0, room);
        const merged = mem.length ? [...fresh, ...mem].sort((a, b) => a.seq - b.seq).slice(0, room) : fresh;
        for (const r of merged) {
          if (this.isPendingAck(r.seq)) continue;
          out.push({ seq: r.seq, channel: r.channel, payload: r.payload });
          this.inFlight.set(r.seq, now);
          this.cursor = Math.max(this.cursor, r.seq);
          this.counters.sent++;
        }
      }
    } catch (e) {
      if (isCorrupt(e)) this.replaceCorrupt(e);
      else this.log.error({ code: sqliteCode(e), err: (e as Error).message }, 'outbox read failed');
    }
    return out;
  }

  private findRow(seq: number): OutboxRow | undefined {
    const m = this.memory.find((r) => r.seq === seq);
    if (m) return m;
    return this.st.one.get(seq) as OutboxRow | undefined;
  }

  private isPendingAck(seq: number): boolean {
    return this.pendingAcks.some(([a, b]) => seq >= a && seq <= b);
  }

  private deleteRangeTx(from: number, to: number): number {
    const gone = this.st.ackRange.all(from, to) as Array<{ seq: number; bytes: number }>;
    for (const g of gone) {
      this.rows--;
      this.bytes -= g.bytes;
      this.inFlight.delete(g.seq);
    }
    return gone.length;
  }

  /** Deletes exactly the rows the ack covers; returns how many were deleted. Never throws. */
  ack(ranges: ReadonlyArray<readonly [number, number]>): number {
    let n = 0;
    const before = this.memory.length;
    this.memory = this.memory.filter((r) => !ranges.some(([a, b]) => r.seq >= a && r.seq <= b));
    n += before - this.memory.length;
    this.memoryBytes = this.memory.reduce((s, r) => s + r.bytes, 0);
    for (const [a, b] of ranges) for (const seq of this.inFlight.keys()) if (seq >= a && seq <= b) this.inFlight.delete(seq);
    try {
      n += this.db.transaction(() => ranges.reduce((s, [a, b]) => s + this.deleteRangeTx(a, b), 0))();
    } catch (e) {
      this.restoreAfterFailedTx(this.nextSeqValue);
      if (isCorrupt(e)) this.replaceCorrupt(e);
      else {
        this.onWriteError(e, 'ack');
        this.pendingAcks.push(...ranges.map(([a, b]) => [a, b] as [number, number]));
      }
    }
    this.counters.acked += n;
    return n;
  }

  // ---------------------------------------------------------------------------------------------

  stats(): OutboxStats {
    return {
      mode: this.mode,
      rows: this.rows,
      bytes: this.bytes,
      memoryRows: this.memory.length,
      inFlight: this.inFlight.size,
      ...this.counters,
      nextSeq: this.nextSeqValue,
    };
  }

  /** All unacked rows in seq order (disk and memory); for tests and the `inventory` of state. */
  pending(): OutboxRow[] {
    const rows = this.db.prepare('SELECT seq, channel, payload FROM outbox ORDER BY seq').all() as OutboxRow[];
    return [...rows, ...this.memory.map(({ seq, channel, payload }) => ({ seq, channel, payload }))].sort((a, b) => a.seq - b.seq);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer) clearInterval(this.retryTimer);
    if (this.memory.length) this.log.warn({ lost: this.memory.length }, 'outbox closing with messages that only lived in memory (disk was full)');
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      /* best effort */
    }
    try {
      this.db.close();
    } catch {
      /* already closed */
    }
  }
}
