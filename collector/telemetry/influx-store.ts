// Telemetry store on InfluxDB 1.x. Admin (database, retention policies, downsampling CQ) and
// queries go through the `influx` package; writes are raw line protocol POSTed to /write over
// a keep-alive agent (cheaper than writePoints, and lets us tell error kinds apart exactly).
import http from 'node:http';
import https from 'node:https';
import influx from 'influx';
import type { InfluxDB as InfluxClient, ISchemaOptions } from 'influx';
import type { Logger } from 'pino';
import type { InfluxConfig } from '../config.js';
import { recordLines } from './line-protocol.js';
import { isNetworkError } from '../network-errors.js';
import {
  RESERVED_FIELDS,
  StoreWriteError,
  bucketWidth,
  fieldName,
  newestFirst,
  type BucketedSeries,
  type BucketQuery,
  type StoredEvent,
  type IngestRecord,
  type LatestSample,
  type SeqCount,
  type SeriesPoint,
  type SeriesQuery,
  type TelemetryStore,
} from './store.js';

// biome-ignore lint/suspicious/noShadowRestrictedNames: the influx package's escape helpers; the global escape() is never wanted here
const { InfluxDB, FieldType, escape } = influx;

export const RAW_RP = 'raw';
export const DOWNSAMPLED_RP = 'downsampled';
export const DOWNSAMPLE_CQ = 'telemetry_downsample';
const TELEMETRY_TAGS = ['device', 'kind', 'peripheral', 'site', 'tenant'];

type RawSeries = { name: string; tags?: Record<string, string>; columns: string[]; values?: unknown[][] };
type RawResult = { results: Array<{ error?: string; series?: RawSeries[] }> };

function rows(s: RawSeries): Array<Record<string, unknown>> {
  return (s.values ?? []).map((v) => Object.fromEntries(s.columns.map((c, k) => [c, v[k]])));
}

/** Classifies an error thrown by node-influx (admin/query path) the same way as our writes. */
function classify(e: unknown): StoreWriteError {
  if (e instanceof StoreWriteError) return e;
  const err = e as { code?: string; message?: string; res?: { statusCode?: number } };
  const status = err.res?.statusCode;
  if (status && status >= 500) return new StoreWriteError('server', `InfluxDB answered ${status}: ${err.message}`, status);
  if (status && status >= 400) return new StoreWriteError('rejected', `InfluxDB answered ${status}: ${err.message}`, status);
  if (isNetworkError(err)) return new StoreWriteError('unreachable', `${err.code}: ${err.message}`);
  if (/no host available|timed out|timeout|ECONNREFUSED|socket hang up/i.test(err.message ?? ''))
    return new StoreWriteError('unreachable', err.message ?? String(e));
  return new StoreWriteError('server', err.message ?? String(e));
}

export class InfluxStore implements TelemetryStore {
  readonly kind = 'influx' as const;
  readonly client: InfluxClient;
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly auth: string | undefined;
  private ready = false;
  /** Field name → type of the telemetry measurement, as written (and as SHOW FIELD KEYS says). */
  private readonly telemetryFields = new Map<string, number>();

  constructor(
    private readonly cfg: InfluxConfig,
    private readonly log: Logger,
  ) {
    this.url = new URL(cfg.url);
    const isHttps = this.url.protocol === 'https:';
    this.agent = isHttps ? new https.Agent({ keepAlive: true, maxSockets: 4 }) : new http.Agent({ keepAlive: true, maxSockets: 4 });
    this.auth = cfg.username ? 'Basic ' + Buffer.from(`${cfg.username}:${cfg.password ?? ''}`).toString('base64') : undefined;
    // device_ts: the device's own time of a sample placed at arrival (implausible clock).
    this.telemetryFields.set('seq', FieldType.INTEGER).set('health', FieldType.STRING).set('faults', FieldType.STRING).set('device_ts', FieldType.INTEGER);
    this.client = new InfluxDB({
      host: this.url.hostname,
      port: Number(this.url.port || (isHttps ? 443 : 80)),
      protocol: isHttps ? 'https' : 'http',
      path: this.url.pathname.replace(/\/$/, ''),
      database: cfg.database,
      username: cfg.username,
      password: cfg.password,
      pool: { maxRetries: 0, requestTimeout: cfg.timeoutMs },
      schema: this.schemas(),
    });
  }

  // Declared so node-influx knows counters and seq are integers (without a schema it would
  // write every number as a float, and the next integer write would be a type conflict).
  private schemas(): ISchemaOptions[] {
    return [
      { measurement: 'telemetry', tags: TELEMETRY_TAGS, fields: Object.fromEntries(this.telemetryFields) },
      {
        measurement: 'event',
        tags: ['code', 'device', 'peripheral', 'site', 'tenant', 'type'],
        fields: { seq: FieldType.INTEGER, severity: FieldType.STRING, message: FieldType.STRING, data: FieldType.STRING, device_ts: FieldType.INTEGER },
      },
      { measurement: 'device_clock', tags: ['device'], fields: { offset_ms: FieldType.FLOAT, seq: FieldType.INTEGER } },
    ];
  }

  private learnFields(records: IngestRecord[]): void {
    let added = false;
    for (const r of records) {
      if (r.channel !== 'telemetry') continue;
      for (const s of r.message.samples) {
        for (const k of Object.keys(s.counters)) {
          const f = fieldName(k);
          if (!this.telemetryFields.has(f)) this.telemetryFields.set(f, FieldType.INTEGER), (added = true);
        }
        for (const k of Object.keys(s.metrics)) {
          const f = fieldName(k);
          if (!this.telemetryFields.has(f)) this.telemetryFields.set(f, FieldType.FLOAT), (added = true);
        }
      }
    }
    if (added)
      this.client.addSchema({ measurement: 'telemetry', tags: TELEMETRY_TAGS, database: this.cfg.database, fields: Object.fromEntries(this.telemetryFields) });
  }

  async init(): Promise<void> {
    const db = this.cfg.database;
    try {
      await this.client.createDatabase(db); // idempotent in 1.x
      const rps = await this.client.showRetentionPolicies(db);
      await this.ensureRp(rps, RAW_RP, this.cfg.retentionDays, true);
      await this.ensureRp(rps, DOWNSAMPLED_RP, this.cfg.downsample.retentionDays, false);
      await this.ensureCq();
      const keys = await this.raw(`SHOW FIELD KEYS FROM "telemetry"`);
      for (const s of keys.results[0]?.series ?? []) for (const r of rows(s)) this.noteFieldType(String(r.fieldKey), String(r.fieldType));
      this.ready = true;
      this.log.info(
        { url: this.cfg.url, database: db, retentionDays: this.cfg.retentionDays, downsample: this.cfg.downsample },
        'InfluxDB ready: database, retention policies and downsampling CQ in place',
      );
    } catch (e) {
      throw classify(e);
    }
  }

  private noteFieldType(key: string, type: string): void {
    const t = type === 'integer' ? FieldType.INTEGER : type === 'float' ? FieldType.FLOAT : type === 'boolean' ? FieldType.BOOLEAN : FieldType.STRING;
    this.telemetryFields.set(key, t);
  }

  private async ensureRp(existing: Array<{ name: string; duration: string; default: boolean }>, name: string, days: number, isDefault: boolean): Promise<void> {
    const duration = `${days}d`;
    const found = existing.find((r) => r.name === name);
    if (!found) {
      await this.client.createRetentionPolicy(name, { database: this.cfg.database, duration, replication: 1, isDefault });
      this.log.info({ rp: name, duration, isDefault }, 'created retention policy');
    } else if (found.duration !== `${days * 24}h0m0s` || (isDefault && !found.default)) {
      await this.client.alterRetentionPolicy(name, { database: this.cfg.database, duration, replication: 1, isDefault });
      this.log.info({ rp: name, duration, isDefault, was: found.duration }, 'altered retention policy');
    }
  }

  /** The downsampling query: mean of every numeric field (metrics) and max (counters only grow, so max = last). */
  downsampleQuery(): string {
    const db = escape.quoted(this.cfg.database);
    return `SELECT mean(*), max(*) INTO ${db}."${DOWNSAMPLED_RP}"."telemetry" FROM ${db}."${RAW_RP}"."telemetry" GROUP BY time(${this.cfg.downsample.every}), *`;
  }

  private async ensureCq(): Promise<void> {
    const res = await this.raw('SHOW CONTINUOUS QUERIES');
    const mine = res.results[0]?.series?.find((s) => s.name === this.cfg.database);
    const existing = mine ? rows(mine).find((r) => r.name === DOWNSAMPLE_CQ) : undefined;
    // SHOW returns a normalised text; ours matches when the interval and target are the same.
    const want = `GROUP BY time(${this.cfg.downsample.every}), *`;
    if (existing && String(existing.query).includes(want) && String(existing.query).includes(`${DOWNSAMPLED_RP}.telemetry`)) return;
    if (existing) await this.client.dropContinuousQuery(DOWNSAMPLE_CQ, this.cfg.database);
    await this.client.createContinuousQuery(DOWNSAMPLE_CQ, this.downsampleQuery(), this.cfg.database);
    this.log.info(
      { cq: DOWNSAMPLE_CQ, every: this.cfg.downsample.every },
      existing ? 'replaced downsampling continuous query' : 'created downsampling continuous query',
    );
  }

  private async raw(q: string): Promise<RawResult> {
    const r = (await this.client.queryRaw(q, { database: this.cfg.database, precision: 'ms' })) as RawResult;
    const err = r.results?.find((x) => x.error)?.error;
    if (err) throw new Error(`InfluxQL error: ${err}`);
    return r;
  }

  async write(records: IngestRecord[]): Promise<void> {
    if (records.length === 0) return;
    if (!this.ready) await this.init();
    this.learnFields(records);
    const body = records.map(recordLines).join('\n');
    const status = await this.post(body);
    if (status.code === 204 || status.code === 200) return;
    if (status.code === 404 && /database not found/.test(status.text)) {
      this.ready = false; // someone dropped it: re-create on the next attempt
      throw new StoreWriteError('server', `InfluxDB: ${status.text.trim()}`, 404);
    }
    const msg = `InfluxDB answered ${status.code}: ${errorText(status.text)}`;
    if (status.code >= 500) throw new StoreWriteError('server', msg, status.code);
    throw new StoreWriteError('rejected', msg, status.code);
  }

  private post(body: string): Promise<{ code: number; text: string }> {
    const u = new URL('write', this.url.href.endsWith('/') ? this.url.href : this.url.href + '/');
    u.searchParams.set('db', this.cfg.database);
    u.searchParams.set('precision', 'ns');
    const mod = u.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(
        u,
        {
          method: 'POST',
          agent: this.agent,
          headers: {
            'content-type': 'text/plain; charset=utf-8',
            'content-length': Buffer.byteLength(body),
            ...(this.auth ? { authorization: this.auth } : {}),
          },
          timeout: this.cfg.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ code: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', (e) => reject(new StoreWriteError('unreachable', `InfluxDB response broken: ${e.message}`)));
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${this.cfg.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', (e: NodeJS.ErrnoException) =>
        reject(new StoreWriteError('unreachable', `InfluxDB unreachable at ${this.cfg.url}: ${e.code ?? ''} ${e.message}`.replace(/\s+/g, ' '))),
      );
      req.end(body);
    });
  }

  async latest(device: string): Promise<LatestSample[]> {
    await this.refreshFieldTypes();
    const r = await this.raw(`SELECT * FROM "telemetry" WHERE "device" = ${escape.stringLit(device)} GROUP BY "peripheral" ORDER BY time DESC LIMIT 1`);
    const out: LatestSample[] = [];
    for (const s of r.results[0]?.series ?? []) {
      for (const row of rows(s)) {
        const sample: LatestSample = {
          device,
          peripheral: s.tags?.peripheral ?? String(row.peripheral),
          kind: String(row.kind),
          ts: Number(row.time),
          seq: Number(row.seq),
          health: String(row.health),
          faults: row.faults ? String(row.faults).split(',') : [],
          metrics: {},
          counters: {},
        };
        for (const [k, v] of Object.entries(row)) {
          if (v === null || k === 'time' || RESERVED_FIELDS.has(k) || TELEMETRY_TAGS.includes(k) || typeof v !== 'number') continue;
          if (this.telemetryFields.get(k) === FieldType.INTEGER) sample.counters[k] = v;
          else sample.metrics[k] = v;
        }
        out.push(sample);
      }
    }
    return out.sort((a, b) => a.peripheral.localeCompare(b.peripheral));
  }

  private async refreshFieldTypes(): Promise<void> {
    const keys = await this.raw(`SHOW FIELD KEYS FROM "telemetry"`);
    for (const s of keys.results[0]?.series ?? []) for (const r of rows(s)) this.noteFieldType(String(r.fieldKey), String(r.fieldType));
  }

  async series(q: SeriesQuery): Promise<SeriesPoint[]> {
    // Point times carry up to 999,999 ns of identity offset past the sample's ms.
    const r = await this.raw(
      `SELECT ${escape.quoted(fieldName(q.field))} AS v FROM "telemetry" WHERE "device" = ${escape.stringLit(q.device)} AND "peripheral" = ${escape.stringLit(q.peripheral)} AND time >= ${q.from}ms AND time < ${q.to + 1}ms`,
    );
    const out: SeriesPoint[] = [];
    for (const s of r.results[0]?.series ?? []) for (const row of rows(s)) if (typeof row.v === 'number') out.push({ ts: Number(row.time), value: row.v });
    return out.sort((a, b) => a.ts - b.ts);
  }

  async seriesBuckets(q: BucketQuery): Promise<BucketedSeries> {
    const bucketMs = bucketWidth(q.from, q.to, q.buckets);
    // The offset aligns InfluxDB's epoch-aligned windows on `from`, as the embedded store does.
    // A point's sub-ms identity offset never crosses a window edge (edges fall on whole ms).
    const r = await this.raw(
      `SELECT mean(${escape.quoted(fieldName(q.field))}) AS v FROM "telemetry" WHERE "device" = ${escape.stringLit(q.device)} AND "peripheral" = ${escape.stringLit(q.peripheral)} AND time >= ${q.from}ms AND time < ${q.to + 1}ms GROUP BY time(${bucketMs}ms, ${q.from % bucketMs}ms) fill(none)`,
    );
    const points: SeriesPoint[] = [];
    for (const s of r.results[0]?.series ?? []) for (const row of rows(s)) if (typeof row.v === 'number') points.push({ ts: Number(row.time), value: row.v });
    return { bucketMs, points: points.sort((a, b) => a.ts - b.ts) };
  }

  async events(device: string, from: number, to: number, limit: number): Promise<StoredEvent[]> {
    const r = await this.raw(
      `SELECT "seq", "type", "peripheral", "code", "severity", "message", "data" FROM "event" WHERE "device" = ${escape.stringLit(device)} AND time >= ${from}ms AND time < ${to + 1}ms ORDER BY time DESC LIMIT ${Math.floor(limit)}`,
    );
    const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null);
    const out: StoredEvent[] = [];
    for (const s of r.results[0]?.series ?? []) {
      for (const row of rows(s)) {
        const data = text(row.data);
        out.push({
          ts: Number(row.time),
          seq: Number(row.seq),
          type: String(row.type),
          peripheral: text(row.peripheral),
          code: text(row.code),
          severity: text(row.severity) ?? 'info',
          message: text(row.message),
          data: data ? (JSON.parse(data) as StoredEvent['data']) : null,
        });
      }
    }
    return out.sort(newestFirst);
  }

  async seqCounts(device: string): Promise<SeqCount[]> {
    const where = `WHERE "device" = ${escape.stringLit(device)}`;
    const r = await this.raw(`SELECT "seq" FROM "telemetry" ${where}; SELECT "seq" FROM "event" ${where}`);
    const counts = new Map<number, number>();
    for (const res of r.results)
      for (const s of res.series ?? []) for (const row of rows(s)) counts.set(Number(row.seq), (counts.get(Number(row.seq)) ?? 0) + 1);
    return [...counts].map(([seq, points]) => ({ seq, points })).sort((a, b) => a.seq - b.seq);
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}

/** influxd answers `{"error":"..."}`; keep the message, not the JSON wrapping. */
function errorText(text: string): string {
  try {
    const e = (JSON.parse(text) as { error?: string }).error;
    if (e) return e.slice(0, 500);
  } catch {
    /* not JSON */
  }
  return text.slice(0, 500);
}
