// Embedded telemetry store (no InfluxDB configured): one SQLite file, so that one command runs
// the whole system on a fresh machine. Same queries, same answers as influx-store.ts.
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { BucketedSeries, BucketQuery, IngestRecord, LatestSample, SeqCount, SeriesPoint, SeriesQuery, StoredEvent, TelemetryStore } from './store.js';
import { bucketWidth, fieldName } from './store.js';
import { deviceTimeOf } from './clock-guard.js';

export class SqliteStore implements TelemetryStore {
  readonly kind = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly writeTx: (records: IngestRecord[]) => void;

  constructor(
    readonly path: string,
    private readonly log: Logger,
  ) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS telemetry (
        device TEXT NOT NULL, peripheral TEXT NOT NULL, kind TEXT NOT NULL, ts INTEGER NOT NULL,
        seq INTEGER NOT NULL, health TEXT NOT NULL, faults TEXT NOT NULL,
        metrics TEXT NOT NULL, counters TEXT NOT NULL, site TEXT, tenant TEXT,
        UNIQUE (device, seq, peripheral, ts));
      CREATE INDEX IF NOT EXISTS telemetry_series ON telemetry (device, peripheral, ts);
      CREATE TABLE IF NOT EXISTS events (
        device TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, type TEXT NOT NULL,
        peripheral TEXT, code TEXT, severity TEXT NOT NULL, message TEXT, data TEXT, site TEXT, tenant TEXT,
        UNIQUE (device, seq));
      CREATE INDEX IF NOT EXISTS events_time ON events (device, ts);
      CREATE TABLE IF NOT EXISTS device_clock (
        device TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, offset_ms REAL NOT NULL,
        UNIQUE (device, seq));
    `);
    // The device's own time of samples placed at arrival (implausible clock); NULL otherwise.
    // Added to tables made before it existed.
    for (const table of ['telemetry', 'events']) {
      const cols = this.db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>;
      if (!cols.some((c) => c.name === 'device_ts')) this.db.exec(`ALTER TABLE ${table} ADD COLUMN device_ts INTEGER`);
    }
    // OR REPLACE: a re-delivered message overwrites itself identically (same rule as InfluxDB).
    const tel = this.db.prepare(
      `INSERT OR REPLACE INTO telemetry (device, peripheral, kind, ts, seq, health, faults, metrics, counters, site, tenant, device_ts)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const ev = this.db.prepare(
      `INSERT OR REPLACE INTO events (device, seq, ts, type, peripheral, code, severity, message, data, site, tenant, device_ts)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const clock = this.db.prepare(`INSERT OR REPLACE INTO device_clock (device, seq, ts, offset_ms) VALUES (?, ?, ?, ?)`);
    this.writeTx = this.db.transaction((records: IngestRecord[]) => {
      for (const r of records) {
        const { site = null, tenant = null } = r.tags;
        if (r.channel === 'telemetry') {
          const deviceTs = r.clock?.sampleDeviceTs;
          r.message.samples.forEach((s, i) => {
            tel.run(
              r.device,
              s.peripheral,
              s.kind,
              s.ts,
              r.seq,
              s.health,
              s.faults.join(','),
              JSON.stringify(renamed(s.metrics)),
              JSON.stringify(renamed(s.counters)),
              site,
              tenant,
              deviceTs?.[i] ?? null,
            );
          });
        } else {
          const m = r.message;
          ev.run(
            r.device,
            r.seq,
            m.ts,
            m.type,
            m.peripheral ?? null,
            m.code ?? null,
            m.severity,
            m.message ?? null,
            m.data ? JSON.stringify(m.data) : null,
            site,
            tenant,
            r.clock?.deviceTs ?? null,
          );
        }
        clock.run(r.device, r.seq, r.message.ts, r.arrivedAt - deviceTimeOf(r));
      }
    });
  }

  async init(): Promise<void> {
    this.log.info({ path: this.path }, 'embedded SQLite telemetry store ready (no InfluxDB configured)');
  }

  async write(records: IngestRecord[]): Promise<void> {
    this.writeTx(records);
  }

  async latest(device: string): Promise<LatestSample[]> {
    const rows = this.db
      .prepare(
        `SELECT * FROM (
           SELECT *, row_number() OVER (PARTITION BY peripheral ORDER BY ts DESC, seq DESC) AS n
           FROM telemetry WHERE device = ?) WHERE n = 1 ORDER BY peripheral`,
      )
      .all(device) as Array<{ peripheral: string; kind: string; ts: number; seq: number; health: string; faults: string; metrics: string; counters: string }>;
    return rows.map((r) => ({
      device,
      peripheral: r.peripheral,
      kind: r.kind,
      ts: r.ts,
      seq: r.seq,
      health: r.health,
      faults: r.faults ? r.faults.split(',') : [],
      metrics: withoutCounters(JSON.parse(r.metrics), JSON.parse(r.counters)),
      counters: JSON.parse(r.counters),
    }));
  }

  async series(q: SeriesQuery): Promise<SeriesPoint[]> {
    const path = '$.' + fieldName(q.field);
    return this.db
      .prepare(
        `SELECT ts, coalesce(json_extract(counters, ?), json_extract(metrics, ?)) AS value FROM telemetry
         WHERE device = ? AND peripheral = ? AND ts >= ? AND ts <= ? AND value IS NOT NULL ORDER BY ts, seq`,
      )
      .all(path, path, q.device, q.peripheral, q.from, q.to) as SeriesPoint[];
  }

  async seriesBuckets(q: BucketQuery): Promise<BucketedSeries> {
    const path = '$.' + fieldName(q.field);
    const bucketMs = bucketWidth(q.from, q.to, q.buckets);
    // Integer division (parameters arrive as REAL): bucket k covers [from + k·bucketMs, from + (k+1)·bucketMs).
    const rows = this.db
      .prepare(
        `SELECT (ts - CAST(@from AS INTEGER)) / CAST(@bucketMs AS INTEGER) AS k, avg(v) AS value FROM (
           SELECT ts, coalesce(json_extract(counters, @path), json_extract(metrics, @path)) AS v FROM telemetry
           WHERE device = @device AND peripheral = @peripheral AND ts >= @from AND ts <= @to)
         WHERE v IS NOT NULL GROUP BY k ORDER BY k`,
      )
      .all({ path, bucketMs, from: q.from, to: q.to, device: q.device, peripheral: q.peripheral }) as Array<{ k: number; value: number }>;
    return { bucketMs, points: rows.map((r) => ({ ts: q.from + r.k * bucketMs, value: r.value })) };
  }

  async events(device: string, from: number, to: number, limit: number): Promise<StoredEvent[]> {
    const rows = this.db
      .prepare(
        `SELECT ts, seq, type, peripheral, code, severity, message, data FROM events
         WHERE device = ? AND ts >= ? AND ts <= ? ORDER BY ts DESC, seq DESC LIMIT ?`,
      )
      .all(device, from, to, limit) as Array<Omit<StoredEvent, 'data'> & { data: string | null }>;
    return rows.map((r) => ({ ...r, data: r.data ? (JSON.parse(r.data) as StoredEvent['data']) : null }));
  }

  async seqCounts(device: string): Promise<SeqCount[]> {
    return this.db
      .prepare(
        `SELECT seq, count(*) AS points FROM (
           SELECT seq FROM telemetry WHERE device = ? UNION ALL SELECT seq FROM events WHERE device = ?)
         GROUP BY seq ORDER BY seq`,
      )
      .all(device, device) as SeqCount[];
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

function renamed(values: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(values)) out[fieldName(k)] = v;
  return out;
}

// InfluxDB keeps one field per name: a counter wins over a metric of the same name (line-protocol.ts).
function withoutCounters(metrics: Record<string, number>, counters: Record<string, number>): Record<string, number> {
  for (const k of Object.keys(counters)) delete metrics[k];
  return metrics;
}
