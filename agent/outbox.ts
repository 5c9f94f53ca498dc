// The agent's durable outbox (docs/durability.md): every telemetry and event message is written here
// BEFORE it is published, and a row is deleted only when the collector's `ack` covers its seq.
//
// Choices, briefly:
// - WAL + synchronous=FULL. A seq leaves the device right after its row commits; with NORMAL a
//   power cut can roll back a commit whose message was already published, and the same seq would
//   later be reused for other data that the collector then drops as a duplicate. FULL costs one
//   fsync per commit, i.e. about one every publish interval (5 s): nothing on this workload.
// - seqs are reserved in blocks (persisted in the DB and in a small sidecar file) so that status,
//   inventory and cmd/res seqs cost no write and a corrupt DB replaced by a fresh one never
//   restarts at 1. A restart skips the rest of the block: seqs have gaps, never repeats. No seq
//   beyond the last *durably* reserved block is ever handed out to an outboxed message: when
//   neither the DB nor the sidecar takes the reservation (full disk), new messages are held in
//   memory without a seq (not sent) until a reservation succeeds. The sidecar is preallocated
//   and rewritten in place (two checksummed slots), so it still takes reservations on a full disk.
// - Rows held only in memory (disk full) are accounted in the sidecar too, so a kill -9 before
//   they reach the disk is reported at the next start instead of vanishing without a trace.
// - A corrupt database gives back every row that can still be read before it is moved aside.
// - Sent times live in memory only: a new MQTT session re-sends every unacked row anyway, and one
//   write per publish would only wear the flash.
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fdatasyncSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import type { Logger } from 'pino';
import { LogLimiter } from '../logging/log-limiter.js';
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
  /** Rows read back from corrupt databases and kept. */
  salvagedRows: number;
  diskFullEpisodes: number;
  /** Messages held in memory without a seq because no seq block could be reserved durably. */
  heldRows: number;
  /** Memory-only rows of the previous run that never reached the disk (found at start). */
  lostAtRestart: number;
  /** Highest seq durably reserved; no outboxed message ever gets a higher one. */
  reservedUpTo: number;
  nextSeq: number;
};

/** What the outbox held only in memory, as last written to the sidecar. */
type MemoryAccount = { messages: number; samples: number; events: number; lo: number; hi: number };

/** seqs reserved per persisted write. */
const SEQ_BLOCK = 1000;
const REPORT_BYTES_ESTIMATE = 400;

type MemRow = OutboxRow & { bytes: number; points: number; ts: number };
/** A message kept in memory before it has a seq (no block could be reserved). */
type HeldRow = { channel: OutboxChannel; points: number; bytes: number; make: (seq: number) => string };
/** Two slots of this size; each is rewritten in place, so a full disk still takes it. */
const SIDECAR_SLOT = 256;
/** Point lookups allowed when salvaging past a damaged page. */
const SALVAGE_PROBES = 200_000;
class SeqsExhausted extends Error {}
type Drops = { messages: number; samples: number; events: number };

/** The `outbox-full` event for drops `d`; `diskFull`: the dropped messages were the ones kept in memory. */
function dropReportFields(d: Drops, droppedTotal: number, diskFull: boolean): OutboxEventFields {
  const dropped = `dropped ${d.messages} old messages (${d.samples} samples, ${d.events} events)`;
  return {
    code: 'outbox-full',
    severity: d.events > 0 ? 'critical' : 'warning',
    message: diskFull ? `disk full: ${dropped} kept in memory, to stay within bounds` : `outbox full: ${dropped} to stay within bounds`,
    data: {
      dropped: d.samples + d.events,
      droppedMessages: d.messages,
      droppedSamples: d.samples,
      droppedEvents: d.events,
      droppedTotal,
      ...(diskFull ? { diskFull: true } : {}),
    },
  };
}

/** The drops a report says: those of the still-unsent `open` report (if any) plus the new ones. */
function dropsToReport(open: { d: Drops } | null, unreported: Drops): Drops {
  if (!open) return { ...unreported };
  return { messages: open.d.messages + unreported.messages, samples: open.d.samples + unreported.samples, events: open.d.events + unreported.events };
}

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
  private readonly counters = {
    appended: 0,
    sent: 0,
    resent: 0,
    acked: 0,
    droppedPoints: 0,
    droppedMessages: 0,
    corruptRecoveries: 0,
    salvagedRows: 0,
    diskFullEpisodes: 0,
    lostAtRestart: 0,
  };
  /** Messages waiting for a seq (in arrival order, after every row in `memory`). */
  private held: HeldRow[] = [];
  /** The newest in-memory drop report, while still unsent. */
  private memReport: { seq: number; d: Drops } | null = null;
  /** Sidecar: newest slot generation, and whether the preallocated file is in place. */
  private sidecarGen = 0;
  private sidecarReady = false;
  private lastMemoryAccount = '';
  private readonly logLimit = new LogLimiter(60_000);
  /** Since when messages have been held without a seq, and how many (reported when it ends). */
  private heldEpisode: { since: number; count: number } | null = null;
  /** Notices written by the transaction in progress. */
  private noticesInTx = 0;
  private st!: ReturnType<Outbox['prepare']>;

  constructor(opts: OutboxOptions) {
    this.o = { memoryMaxRows: 2000, memoryMaxBytes: 4 * 1024 * 1024, retryMs: 30_000, now: Date.now, ...opts };
    this.log = opts.log.child({ component: 'outbox' });
    this.openDb();
  }

  // ---------------------------------------------------------------------------------------------
  // opening, corruption

  private openDb(): void {
    const side = this.readSidecar();
    this.nextSeqValue = side.reserved + 1;
    this.reservedUpTo = side.reserved;
    try {
      this.openFile(this.o.path);
    } catch (e) {
      if (!isCorrupt(e)) throw e;
      this.replaceCorrupt(e);
    }
    if (side.memory && side.memory.messages > 0) this.accountLostMemory(side.memory);
  }

  /**
   * The previous run held rows only in memory (disk full) and died before they reached the disk:
   * those not on disk now are lost (some may have reached the collector before the kill).
   * Reported as an `outbox-dropped` event, counted like any other drop.
   */
  private accountLostMemory(m: MemoryAccount): void {
    let present = 0;
    try {
      if (m.lo > 0) present = (this.db.prepare('SELECT COUNT(*) AS n FROM outbox WHERE seq BETWEEN ? AND ?').get(m.lo, m.hi) as { n: number }).n;
    } catch {
      /* unreadable: count them all as lost */
    }
    const lost = Math.max(0, m.messages - present);
    if (lost === 0) return;
    const share = lost / m.messages;
    const samples = Math.round(m.samples * share);
    const events = Math.round(m.events * share);
    this.counters.lostAtRestart += lost;
    this.counters.droppedMessages += lost;
    this.counters.droppedPoints += samples + events;
    this.log.error(
      { lost, samples, events, seqFrom: m.lo || undefined, seqTo: m.hi || undefined },
      'messages held only in memory (disk was full) were lost when the agent stopped',
    );
    this.pendingNotices.push({
      code: 'outbox-memory-lost',
      severity: events > 0 ? 'critical' : 'warning',
      message: `${lost} messages (${samples} samples, ${events} events) held only in memory while the disk was full were lost when the agent stopped; some may have reached the server before`,
      data: {
        dropped: samples + events,
        droppedMessages: lost,
        droppedSamples: samples,
        droppedEvents: events,
        lostAtRestart: true,
        ...(m.lo > 0 ? { seqFrom: m.lo, seqTo: m.hi } : {}),
      },
    });
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
      const floor = Math.max(meta('seqReserved'), sizes.max ?? 0, this.reservedUpTo, this.nextSeqValue - 1);
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

  /**
   * The sidecar: two fixed-size slots, each `{json} <hash>`, the newer valid generation wins. A
   * torn write spoils only the slot being written; the other still holds the previous state.
   * A plain number (the older format) is read too.
   */
  private readSidecar(): { reserved: number; memory: MemoryAccount | null } {
    let text: string;
    try {
      text = readFileSync(this.sidecarPath(), 'utf8');
    } catch {
      return { reserved: 0, memory: null };
    }
    if (/^\s*\d+\s*$/.test(text)) {
      const n = Number(text.trim());
      return { reserved: Number.isSafeInteger(n) && n > 0 ? n : 0, memory: null };
    }
    let best: { g: number; r: number; m?: MemoryAccount } | null = null;
    for (let i = 0; i < 2; i++) {
      const m = /^(\{.*\}) ([0-9a-f]{16})\s*$/s.exec(text.slice(i * SIDECAR_SLOT, (i + 1) * SIDECAR_SLOT));
      if (!m || sidecarHash(m[1]) !== m[2]) continue;
      try {
        const v = JSON.parse(m[1]) as { g: number; r: number; m?: MemoryAccount };
        if (Number.isSafeInteger(v.g) && Number.isSafeInteger(v.r) && (!best || v.g > best.g)) best = v;
      } catch {
        /* a damaged slot */
      }
    }
    if (!best) return { reserved: 0, memory: null };
    this.sidecarGen = best.g;
    try {
      this.sidecarReady = statSync(this.sidecarPath()).size === 2 * SIDECAR_SLOT;
    } catch {
      this.sidecarReady = false;
    }
    return { reserved: best.r, memory: best.m ?? null };
  }

  /** Writes the reservation and the memory-only account durably; throws when it cannot. */
  private writeSidecar(reserved: number, memory: MemoryAccount): void {
    const g = this.sidecarGen + 1;
    const body = JSON.stringify({ g, r: reserved, ...(memory.messages > 0 ? { m: memory } : {}) });
    const slot = Buffer.from(`${body} ${sidecarHash(body)}`.padEnd(SIDECAR_SLOT - 1) + '\n');
    if (slot.length !== SIDECAR_SLOT) throw new Error('seq sidecar slot overflow');
    if (this.sidecarReady) {
      // In place: no block to allocate, so this works on a full disk.
      const fd = openSync(this.sidecarPath(), 'r+');
      try {
        writeSync(fd, slot, 0, SIDECAR_SLOT, (g % 2) * SIDECAR_SLOT);
        fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } else {
      const tmp = `${this.sidecarPath()}.tmp`;
      const fd = openSync(tmp, 'w');
      try {
        writeSync(fd, Buffer.concat([slot, slot]));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.sidecarPath());
      this.sidecarReady = true;
    }
    this.sidecarGen = g;
    this.lastMemoryAccount = JSON.stringify(memory);
  }

  private memoryAccount(): MemoryAccount {
    const a: MemoryAccount = { messages: this.memory.length + this.held.length, samples: 0, events: 0, lo: 0, hi: 0 };
    for (const r of [...this.memory, ...this.held]) {
      if (r.channel === 'telemetry') a.samples += r.points;
      else a.events += r.points;
    }
    if (this.memory.length) {
      a.lo = this.memory[0].seq;
      a.hi = this.memory[this.memory.length - 1].seq;
    }
    return a;
  }

  /** Writes the sidecar; false (logged, rate-limited) when it cannot. */
  private trySidecar(reserved: number): boolean {
    try {
      this.writeSidecar(reserved, this.memoryAccount());
    } catch (e) {
      this.logLimit.maybe('sidecar', this.o.now(), (suppressed) =>
        this.log.warn(
          { err: (e as Error).message, suppressed },
          suppressed ? `cannot write the seq sidecar file (${suppressed} more times since the last line)` : 'cannot write the seq sidecar file',
        ),
      );
      return false;
    }
    const failures = this.logLimit.end('sidecar');
    if (failures > 0) this.log.info({ failures }, `seq sidecar file writable again after ${failures} failed writes`);
    return true;
  }

  /** Keeps the sidecar's memory-only account current while the disk is full. */
  private syncMemoryAccount(): void {
    if (JSON.stringify(this.memoryAccount()) === this.lastMemoryAccount) return;
    this.trySidecar(this.reservedUpTo);
  }

  /**
   * Reads back every row of a corrupt database that SQLite can still read: a scan in seq order,
   * and past a damaged page, point lookups seq by seq until rows can be read again (row-by-row
   * salvage, like the shell's `.recover` for one table). Rows whose payload does not parse back
   * to its own seq are not trusted.
   */
  private salvage(path: string): { rows: MemRow[]; total: number | null; atLeast: number } {
    const rows: MemRow[] = [];
    let total: number | null = null;
    /** seqs the index still lists: a second b-tree, often intact when table pages are not. */
    const indexed = new Set<number>();
    let indexComplete = false;
    let db: Database.Database | null = null;
    try {
      db = new Database(path, { readonly: true, fileMustExist: true });
      try {
        total = (db.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number }).n;
      } catch {
        total = null;
      }
      try {
        for (const r of db.prepare('SELECT seq FROM outbox INDEXED BY outbox_by_thin').iterate() as Iterable<{ seq: number }>) indexed.add(r.seq);
        indexComplete = true;
      } catch {
        /* a damaged index page: what was read so far still helps */
      }
      const scan = db.prepare('SELECT seq, channel, payload, points, ts FROM outbox WHERE seq > ? ORDER BY seq LIMIT 256');
      const one = db.prepare('SELECT seq, channel, payload, points, ts FROM outbox WHERE seq = ?');
      const top = Math.max(this.reservedUpTo, this.nextSeqValue - 1);
      const keep = (r: { seq: number; channel: string; payload: unknown; points: number; ts: number }) => {
        if ((r.channel !== 'telemetry' && r.channel !== 'event') || typeof r.payload !== 'string') return;
        try {
          if ((JSON.parse(r.payload) as { seq?: unknown }).seq !== r.seq) return;
        } catch {
          return;
        }
        rows.push({
          seq: r.seq,
          channel: r.channel,
          payload: r.payload,
          bytes: Buffer.byteLength(r.payload),
          points: Number(r.points) || 1,
          ts: Number(r.ts) || this.o.now(),
        });
      };
      type Raw = Parameters<typeof keep>[0];
      let after = 0;
      let probes = 0;
      for (;;) {
        try {
          const batch = scan.all(after) as Raw[];
          if (batch.length === 0) break;
          for (const r of batch) keep(r);
          after = batch[batch.length - 1].seq;
          continue;
        } catch {
          /* a damaged page: step over it below */
        }
        let found = false;
        for (let seq = after + 1; seq <= top && probes < SALVAGE_PROBES; seq++) {
          probes++;
          try {
            const r = one.get(seq) as Raw | undefined;
            if (r) {
              keep(r);
              after = seq;
              found = true;
              break;
            }
          } catch {
            /* inside the damaged page */
          }
        }
        if (!found) break;
      }
      // Rows the index knows and the scan could not reach (past the probe budget).
      const got = new Set(rows.map((r) => r.seq));
      for (const seq of indexed) {
        if (got.has(seq)) continue;
        try {
          const r = one.get(seq) as Raw | undefined;
          if (r) keep(r);
        } catch {
          /* on a damaged page */
        }
      }
      rows.sort((a, b) => a.seq - b.seq);
    } catch {
      /* not a database at all: nothing to read back */
    } finally {
      try {
        db?.close();
      } catch {
        /* corrupt handle */
      }
    }
    const known = new Set([...indexed, ...rows.map((r) => r.seq)]);
    if (total === null && indexComplete) total = known.size;
    return { rows, total, atLeast: known.size };
  }

  /** Salvages what is readable, moves a corrupt database aside, starts a fresh one; an event says what was saved and lost. */
  private replaceCorrupt(cause: unknown): void {
    const aside = `${this.o.path}.corrupt-${this.o.now()}`;
    this.counters.corruptRecoveries++;
    try {
      (this.db as Database.Database | undefined)?.close();
    } catch {
      /* corrupt handle */
    }
    this.inFlight.clear();
    this.cursor = 0;
    this.openReport = null;
    const knownRows = this.rows;
    const { rows: saved, total, atLeast } = this.salvage(this.o.path);
    // How many rows there were is known when SQLite could still count them (or list them from
    // the index), or when the damage showed up after this process had opened the file.
    const before = total ?? (knownRows > 0 ? Math.max(knownRows, atLeast) : null);
    const lost = before === null ? null : Math.max(0, before - saved.length);
    let moved = true;
    for (const suffix of ['', '-wal', '-shm']) {
      try {
        if (existsSync(this.o.path + suffix)) renameSync(this.o.path + suffix, aside + suffix);
      } catch (e) {
        moved = false;
        this.log.error({ err: (e as Error).message }, 'could not move the corrupt outbox aside');
      }
    }
    this.log.error(
      { code: sqliteCode(cause), err: (cause as Error).message, movedTo: aside, salvaged: saved.length, lost: lost ?? 'unknown' },
      `outbox database is corrupt; read back ${saved.length} rows, ${lost === null ? 'an unknown number' : lost} lost; moved it aside and started a fresh one`,
    );
    this.rows = 0;
    this.bytes = 0;
    const lostAtLeast = lost ?? Math.max(0, atLeast - saved.length);
    this.counters.droppedMessages += lostAtLeast;
    this.counters.droppedPoints += lostAtLeast;
    this.pendingNotices.push({
      code: 'outbox-corrupt',
      severity: 'critical',
      message: `outbox database was corrupt; ${saved.length} unsent messages read back, ${lost === null ? 'an unknown number' : lost} lost; moved aside to ${aside}`,
      data: {
        corrupt: true,
        salvaged: saved.length,
        ...(lost !== null
          ? { dropped: lost, droppedMessages: lost }
          : { lostUnknown: true, ...(atLeast > saved.length ? { dropped: atLeast - saved.length, droppedMessages: atLeast - saved.length } : {}) }),
      },
    });
    try {
      if (!moved) throw new Error('corrupt file still in place');
      this.openFile(this.o.path);
    } catch (e) {
      this.mode = 'memory-only';
      this.log.error({ err: (e as Error).message }, 'cannot create a fresh outbox on disk; running with an in-memory outbox (lost on restart)');
      this.openFileInMemory();
    }
    this.restoreSalvaged(saved);
  }

  /** Puts the salvaged rows and the corruption notice into the fresh database at once. */
  private restoreSalvaged(saved: MemRow[]): void {
    const top = saved.reduce((m, r) => Math.max(m, r.seq), 0);
    this.nextSeqValue = Math.max(this.nextSeqValue, top + 1);
    this.reservedUpTo = Math.max(this.reservedUpTo, top);
    try {
      if (!this.haveSeqs(4 + this.pendingNotices.length)) throw new SeqsExhausted('cannot reserve seqs for the corruption notice');
      this.db.transaction(() => {
        for (const r of saved) {
          this.makeRoom(1, r.bytes);
          this.insertRow(r);
        }
        this.reportInTx();
      })();
      this.noticesCommitted();
      this.counters.salvagedRows += saved.length;
    } catch (e) {
      // The fresh file takes no writes either (disk full): keep them in memory, sendable.
      this.restoreAfterFailedTx(this.nextSeqValue);
      this.onWriteError(e, 'restore salvaged rows');
      this.memory.push(...saved);
      this.memory.sort((a, b) => a.seq - b.seq);
      this.memoryBytes += saved.reduce((n, r) => n + r.bytes, 0);
      this.counters.salvagedRows += saved.length;
      this.reportInMemory();
      this.syncMemoryAccount();
    }
  }

  private openFileInMemory(): void {
    const keep = this.nextSeqValue;
    this.openFile(':memory:');
    this.nextSeqValue = Math.max(keep, this.nextSeqValue);
  }

  // ---------------------------------------------------------------------------------------------
  // seq allocation

  /**
   * Reserves seqs up to `upTo` durably: in the sidecar (in place, fsynced) and in the DB (outside
   * any transaction, so a rollback cannot undo it). Either one is enough. False when neither took it.
   */
  private reserve(upTo: number): boolean {
    let durable = this.trySidecar(upTo);
    if (!this.db.inTransaction && this.mode !== 'memory-only') {
      try {
        this.st.setMeta.run('seqReserved', upTo);
        durable = true;
      } catch {
        /* disk full or damaged: the sidecar may still have it */
      }
    }
    if (durable) this.reservedUpTo = Math.max(this.reservedUpTo, upTo);
    return durable;
  }

  /** Makes sure `n` more seqs are durably reserved; false when they cannot be. */
  private haveSeqs(n: number): boolean {
    if (this.nextSeqValue + n - 1 <= this.reservedUpTo) return true;
    return this.reserve(this.nextSeqValue + n - 1 + SEQ_BLOCK);
  }

  /** The next seq, never beyond the durable reservation (throws `SeqsExhausted` instead). */
  private takeSeq(): number {
    if (!this.haveSeqs(1)) throw new SeqsExhausted('no seq block could be reserved durably');
    return this.nextSeqValue++;
  }

  /**
   * A seq for a message that is not outboxed (status, inventory, cmd/res). Never throws. When no
   * block can be reserved (the disk is full and the sidecar is gone), it repeats the highest
   * reserved seq rather than go beyond it: those channels are not deduplicated by the collector,
   * while a telemetry or event seq beyond the reservation could be repeated after a restart and
   * silently dropped as a duplicate.
   */
  allocateSeq(): number {
    if (this.haveSeqs(1)) return this.nextSeqValue++;
    return Math.max(1, this.reservedUpTo);
  }

  // ---------------------------------------------------------------------------------------------
  // writing

  /**
   * Appends one message, written durably before it is returned (so before it is published).
   * `make(seq)` serialises it with its seq. Never throws: a disk that refuses the write puts the
   * outbox in a degraded mode (see `stats().mode`). Returns the seq, or 0 when the message is
   * held in memory without one (no seq block could be reserved durably).
   */
  append(channel: OutboxChannel, points: number, make: (seq: number) => string): number {
    if (this.closed) throw new Error('outbox closed');
    if (this.mode === 'disk-full') {
      this.tryRecover();
      if (this.mode === 'disk-full') return this.appendToMemory(channel, points, make);
    }
    // Reserved outside the transaction, so that a rollback cannot undo the reservation. The row,
    // its notices and a drop report need a few seqs at most.
    if (!this.haveSeqs(4 + this.pendingNotices.length)) {
      this.onWriteError(new SeqsExhausted('cannot reserve seqs: neither the database nor the sidecar file takes a write'), 'reserve seqs');
      return this.appendToMemory(channel, points, make);
    }
    for (let attempt = 0; ; attempt++) {
      const reserved = this.nextSeqValue;
      try {
        const seq = this.db.transaction(() => this.appendTx(channel, points, make))();
        this.noticesCommitted();
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
      // reservedUpTo stays: reservations are made outside transactions (or in the sidecar).
      this.unreported = { messages: meta('unreportedMessages'), samples: meta('unreportedSamples'), events: meta('unreportedEvents') };
    } catch {
      /* the DB is unreadable too; the caller handles it */
    }
    this.openReport = null;
    this.noticesInTx = 0;
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
      // Taken off the list only once the transaction commits (see `noticesCommitted`).
      for (const notice of this.pendingNotices.slice(this.noticesInTx)) this.insertEventTx(notice);
      this.noticesInTx = this.pendingNotices.length;
      if (hasDrops) {
        // While the outbox is full and nothing goes out, drops keep coming: they are added to the
        // report that has not been sent yet instead of filling the outbox with reports.
        const open = this.openReport && this.openReport.seq > this.cursor && !this.inFlight.has(this.openReport.seq) ? this.openReport : null;
        const d = dropsToReport(open, this.unreported);
        const fields = dropReportFields(d, this.counters.droppedPoints, false);
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

  private noticesCommitted(): void {
    this.pendingNotices.splice(0, this.noticesInTx);
    this.noticesInTx = 0;
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
    if (!isSqlite(e) && !(e instanceof SeqsExhausted)) {
      this.logLimit.maybe(`write:${what}`, this.o.now(), (suppressed) =>
        this.log.error({ err: (e as Error).message, what, suppressed }, 'outbox write failed'),
      );
    }
    if (this.mode === 'ok') {
      this.mode = 'disk-full';
      this.counters.diskFullEpisodes++;
      const why = e instanceof SeqsExhausted ? 'no seq block reservable' : sqliteCode(e) || (e as Error).message;
      // Once a minute at most: on a disk that is almost full a small write succeeds, the outbox
      // leaves this mode and the next write fails again — an episode every few seconds.
      this.logLimit.maybe('disk-full', this.o.now(), (suppressed) =>
        this.log.error(
          {
            code: sqliteCode(e) || 'unknown',
            what,
            keepInMemory: this.o.memoryMaxRows,
            retryMs: this.o.retryMs,
            episodes: this.counters.diskFullEpisodes,
            suppressed,
          },
          `outbox cannot write to disk (${why}); keeping the newest messages in memory and retrying`,
        ),
      );
      this.retryTimer = setInterval(() => this.tryRecover(), this.o.retryMs);
      this.retryTimer.unref();
    }
  }

  /**
   * Keeps a message in memory (disk full). It gets a seq only from a durably reserved block;
   * until then it is held without one and not sent. The newest messages are kept within the
   * memory bounds (oldest telemetry dropped first), every drop is counted and reported by an
   * in-memory `outbox-dropped` event, and the sidecar keeps an account of what lives only in
   * memory, so a kill -9 now is reported at the next start.
   */
  private appendToMemory(channel: OutboxChannel, points: number, make: (seq: number) => string): number {
    const row: HeldRow = { channel, points, bytes: Buffer.byteLength(make(0)), make };
    this.held.push(row);
    this.memoryBytes += row.bytes;
    this.counters.appended++;
    this.sequenceHeld();
    const isHeld = this.held.includes(row);
    if (isHeld) {
      this.heldEpisode ??= { since: this.o.now(), count: 0 };
      this.heldEpisode.count++;
    }
    // Sequenced last by sequenceHeld (it was the newest held row), before any report below.
    const seq = isHeld ? 0 : this.nextSeqValue - 1;
    this.boundMemory();
    this.reportInMemory();
    this.syncMemoryAccount();
    return seq;
  }

  /** Gives held messages their seqs, in arrival order, as far as the reservation goes. */
  private sequenceHeld(): void {
    while (this.held.length > 0 && this.haveSeqs(1)) {
      const h = this.held.shift()!;
      const seq = this.nextSeqValue++;
      const payload = h.make(seq);
      const bytes = Buffer.byteLength(payload);
      this.memory.push({ seq, channel: h.channel, payload, bytes, points: h.points, ts: this.o.now() });
      this.memoryBytes += bytes - h.bytes;
    }
    const ep = this.heldEpisode;
    if (ep && this.held.length === 0 && this.haveSeqs(1)) {
      // The episode is over: say so, so the NOC knows why these messages arrived late.
      this.heldEpisode = null;
      const heldMs = this.o.now() - ep.since;
      this.log.warn({ held: ep.count, heldMs }, 'seqs can be reserved again; messages held without a seq are sequenced and sent');
      this.pendingNotices.push({
        code: 'outbox-seq-held',
        severity: 'warning',
        message: `no seq block could be reserved for ${Math.round(heldMs / 1000)} s (disk full): ${ep.count} messages were held in memory without a seq, not sent`,
        data: { held: ep.count, heldMs },
      });
    }
  }

  private boundMemory(): void {
    const count = () => this.memory.length + this.held.length;
    while (count() > 1 && (count() > this.o.memoryMaxRows || this.memoryBytes > this.o.memoryMaxBytes)) {
      // Oldest telemetry first (sequenced rows are older than held ones); events only when no
      // telemetry is left.
      const i = this.memory.findIndex((r) => r.channel === 'telemetry');
      if (i >= 0) {
        this.dropMemory(this.memory.splice(i, 1)[0]);
        continue;
      }
      const j = this.held.findIndex((r) => r.channel === 'telemetry');
      if (j >= 0) this.dropMemory(this.held.splice(j, 1)[0]);
      else if (this.memory.length > 0) this.dropMemory(this.memory.shift()!);
      else this.dropMemory(this.held.shift()!);
    }
  }

  private dropMemory(r: MemRow | HeldRow): void {
    this.memoryBytes -= r.bytes;
    if ('seq' in r) {
      this.inFlight.delete(r.seq);
      if (this.memReport?.seq === r.seq) this.memReport = null;
    }
    this.countDrop(r.channel, r.points);
  }

  /** The disk-full twin of `reportInTx`: notices and an `outbox-dropped` event kept in memory. */
  private reportInMemory(): void {
    if (this.reporting) return;
    this.reporting = true;
    try {
      while (this.pendingNotices.length > 0 && this.haveSeqs(1)) this.pushMemoryEvent(this.pendingNotices.shift()!);
      if (this.unreported.messages === 0) return;
      const r = this.memReport;
      const open = r && r.seq > this.cursor && !this.inFlight.has(r.seq) && this.memory.some((m) => m.seq === r.seq) ? r : null;
      const d = dropsToReport(open, this.unreported);
      const fields = dropReportFields(d, this.counters.droppedPoints, true);
      if (open) {
        const m = this.memory.find((x) => x.seq === open.seq)!;
        const payload = this.o.buildEvent(m.seq, this.o.now(), fields);
        const bytes = Buffer.byteLength(payload);
        this.memoryBytes += bytes - m.bytes;
        m.payload = payload;
        m.bytes = bytes;
        open.d = d;
      } else if (this.haveSeqs(1) && this.held.length === 0) {
        this.memReport = { seq: this.pushMemoryEvent(fields), d };
      } else return;
      this.unreported = { messages: 0, samples: 0, events: 0 };
    } finally {
      this.reporting = false;
    }
  }

  private pushMemoryEvent(fields: OutboxEventFields): number {
    const seq = this.nextSeqValue++;
    const ts = this.o.now();
    const payload = this.o.buildEvent(seq, ts, fields);
    const bytes = Buffer.byteLength(payload);
    this.memory.push({ seq, channel: 'event', payload, bytes, points: 1, ts });
    this.memoryBytes += bytes;
    return seq;
  }

  /** Tries to move the in-memory rows to disk; leaves degraded mode when that works. */
  tryRecover(): boolean {
    if (this.mode !== 'disk-full' || this.closed) return this.mode === 'ok';
    // Seqs for the held messages (and a report) first, durably; without them nothing moves.
    if (!this.haveSeqs(this.held.length + 4 + this.pendingNotices.length)) return false;
    this.sequenceHeld();
    try {
      this.db.transaction(() => {
        for (const [a, b] of this.pendingAcks) this.deleteRangeTx(a, b);
        for (const r of this.memory) {
          this.makeRoom(1, r.bytes);
          this.insertRow(r);
        }
        this.reportInTx();
      })();
      this.noticesCommitted();
    } catch (e) {
      this.restoreAfterFailedTx(this.nextSeqValue);
      if (isCorrupt(e)) this.replaceCorrupt(e);
      return false;
    }
    const moved = this.memory.length;
    this.memory = [];
    this.memoryBytes = 0;
    this.memReport = null;
    this.pendingAcks = [];
    this.mode = 'ok';
    if (this.retryTimer) clearInterval(this.retryTimer);
    this.retryTimer = null;
    this.syncMemoryAccount();
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
      const expired = [...this.inFlight]
        .filter(([, at]) => now - at >= this.o.ackTimeoutMs)
        .map(([seq]) => seq)
        .sort((a, b) => a - b);
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
    this.memoryBytes = [...this.memory, ...this.held].reduce((s, r) => s + r.bytes, 0);
    if (n > 0) this.syncMemoryAccount();
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
      memoryRows: this.memory.length + this.held.length,
      inFlight: this.inFlight.size,
      ...this.counters,
      heldRows: this.held.length,
      reservedUpTo: this.reservedUpTo,
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
    if (this.memory.length || this.held.length) {
      // The sidecar holds their account: the next start reports them as lost.
      this.log.warn({ lost: this.memory.length + this.held.length }, 'outbox closing with messages that only lived in memory (disk was full)');
    }
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

function sidecarHash(body: string): string {
  return createHash('sha256').update(body).digest('hex').slice(0, 16);
}
