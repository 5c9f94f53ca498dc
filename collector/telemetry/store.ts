// The telemetry store seen by the ingest pipeline and (later) the NOC: InfluxDB 1.x
// (influx-store.ts) or the embedded SQLite store (sqlite-store.ts). Both give the same answers
// to the same queries, so nothing above this interface knows which one runs.
import type { EventMessage, TelemetryMessage } from '../../protocol/index.js';
import { FleetcareError } from '../../protocol/errors.js';
import type { ClockPlacement } from './clock-guard.js';

/** Tags the collector adds from the device's inventory, when known. */
export type DeviceTags = { site?: string; tenant?: string };

/** One accepted device message, ready to be written (and, if the store is down, spooled as JSON). */
export type IngestRecord = {
  device: string;
  seq: number;
  /** Collector clock at arrival, ms; `arrivedAt - message.ts` is the device clock offset. */
  arrivedAt: number;
  tags: DeviceTags;
  /**
   * Set when the device's time was implausible (dead RTC cell, clock far ahead) and the message
   * was placed at arrival time: the verdict and the device's own times (collector/telemetry/clock-guard.ts).
   */
  clock?: ClockPlacement;
} & ({ channel: 'telemetry'; message: TelemetryMessage } | { channel: 'event'; message: EventMessage });

/** Points a record becomes: one per sample or event, plus one device_clock point. */
export function pointsOf(r: IngestRecord): number {
  return (r.channel === 'telemetry' ? r.message.samples.length : 1) + 1;
}

/**
 * Why a write failed. `unreachable` (connection refused/reset, timeout) and `server` (5xx) are
 * worth retrying: the batch is spooled. `rejected` (4xx: type conflict, unparsable, beyond
 * retention) will fail again: the offending messages are dead-lettered.
 */
export type StoreFailure = 'unreachable' | 'server' | 'rejected';

export class StoreWriteError extends FleetcareError<`store-${StoreFailure}`> {
  override name = 'StoreWriteError';
  constructor(
    readonly failure: StoreFailure,
    message: string,
    readonly status?: number,
  ) {
    super(`store-${failure}`, message, status === undefined ? {} : { status });
  }
}

export type LatestSample = {
  device: string;
  peripheral: string;
  kind: string;
  ts: number;
  seq: number;
  health: string;
  faults: string[];
  metrics: Record<string, number>;
  counters: Record<string, number>;
};

export type SeriesQuery = {
  device: string;
  peripheral: string;
  /** A metric or counter name. */
  field: string;
  /** Inclusive range, ms. */
  from: number;
  to: number;
};

export type SeriesPoint = { ts: number; value: number };

/** A series downsampled to at most `buckets` buckets of equal width, the first starting at `from`. */
export type BucketQuery = SeriesQuery & { buckets: number };

/** Each point is the mean of its bucket `[ts, ts + bucketMs)`; empty buckets are left out. */
export type BucketedSeries = { bucketMs: number; points: SeriesPoint[] };

/** Width of the buckets that cover the inclusive range `from..to` with at most `buckets` of them. */
export function bucketWidth(from: number, to: number, buckets: number): number {
  return Math.max(1, Math.ceil((to - from + 1) / Math.max(1, Math.floor(buckets))));
}

/** One stored device event. */
export type StoredEvent = {
  ts: number;
  seq: number;
  type: string;
  peripheral: string | null;
  code: string | null;
  severity: string;
  message: string | null;
  data: Record<string, number | string | boolean> | null;
};

/** Newest first; ties (same ms) by seq, highest first. */
export function newestFirst(a: StoredEvent, b: StoredEvent): number {
  return b.ts - a.ts || b.seq - a.seq;
}

/** Points stored per seq (samples of a telemetry message, 1 for an event). */
export type SeqCount = { seq: number; points: number };

export interface TelemetryStore {
  readonly kind: 'influx' | 'sqlite';
  /** Creates what the store needs (database, retention policies, CQ / tables). Idempotent. */
  init(): Promise<void>;
  /** Writes all records or throws StoreWriteError. Re-writing a record is idempotent. */
  write(records: IngestRecord[]): Promise<void>;
  /** The latest sample of each peripheral of a device. */
  latest(device: string): Promise<LatestSample[]>;
  /** One metric or counter of one peripheral over a time range, oldest first. */
  series(q: SeriesQuery): Promise<SeriesPoint[]>;
  /** One field downsampled: the mean per bucket over `from..to` (see BucketQuery). */
  seriesBuckets(q: BucketQuery): Promise<BucketedSeries>;
  /** Events of a device with `from <= ts <= to`, newest first, at most `limit`. */
  events(device: string, from: number, to: number, limit: number): Promise<StoredEvent[]>;
  /** Points stored per seq for a device (telemetry + events), ascending seq. */
  seqCounts(device: string): Promise<SeqCount[]>;
  close(): Promise<void>;
}

/** Fields of the telemetry measurement that are not metrics or counters. */
export const RESERVED_FIELDS = new Set(['seq', 'health', 'faults', 'device_ts']);

/** A metric or counter named like a reserved field gets this suffix, so it never overwrites it. */
export function fieldName(name: string): string {
  return RESERVED_FIELDS.has(name) ? `${name}_value` : name;
}
