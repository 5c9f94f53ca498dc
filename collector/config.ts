// Collector configuration (zod is the single source of truth; defaults make a minimal config
// `{ dataDir, mqtt: { url } }` valid). No `influx` section = the embedded SQLite telemetry store.
import { z } from 'zod';
import { MAX_PAYLOAD_BYTES } from '../protocol/index.js';
import { incidentsConfigSchema } from './incidents/config.js';

const positiveInt = z.number().int().positive();

export const influxConfigSchema = z.object({
  /** InfluxDB 1.x HTTP API, e.g. `http://127.0.0.1:8086`. */
  url: z.url(),
  database: z.string().min(1).max(64).default('fleetcare'),
  /** Retention of raw points (the database's default retention policy `raw`). */
  retentionDays: positiveInt.default(90),
  downsample: z
    .object({
      /** GROUP BY time() interval of the downsampling continuous query. */
      every: z
        .string()
        .regex(/^[1-9][0-9]*(m|h|d|w)$/, 'duration like 30m, 1h, 1d')
        .default('1h'),
      /** Retention of downsampled points (retention policy `downsampled`). */
      retentionDays: positiveInt.default(730),
    })
    .prefault({}),
  username: z.string().optional(),
  password: z.string().optional(),
  /** A write that takes longer is treated as "InfluxDB unreachable" and spooled. */
  timeoutMs: positiveInt.default(10_000),
});
export type InfluxConfig = z.infer<typeof influxConfigSchema>;

export const collectorConfigSchema = z.object({
  /** Holds collector.db (dedup, spool, dead letters, fleet state) and, without InfluxDB, telemetry.db. */
  dataDir: z.string().min(1),
  mqtt: z
    .object({
      url: z.string().min(1).default('mqtt://127.0.0.1:1883'),
      /** Every broker node of a cluster: the collector starts on `url` and, when its node is lost,
       *  reconnects to the next of these in turn (as agents do with `broker.urls`). */
      urls: z
        .array(
          z.string().refine((u) => URL.canParse(u) && /^mqtts?:$/.test(new URL(u).protocol) && new URL(u).port !== '', {
            message: 'must be an mqtt:// or mqtts:// URL with a port',
          }),
        )
        .min(1)
        .optional(),
      /** Service account name (role `collector`). */
      username: z.string().optional(),
      /** Service account token. Never logged. */
      password: z.string().optional(),
      clientId: z.string().min(1).max(64).default('fleetcare-collector'),
      reconnectPeriodMs: positiveInt.default(1000),
    })
    .prefault({}),
  influx: influxConfigSchema.optional(),
  batch: z
    .object({
      /** Flush when the pending batch holds this many points (samples + events + clock points). */
      maxPoints: positiveInt.default(5000),
      /** …or when its first message has waited this long. */
      maxDelayMs: positiveInt.default(200),
    })
    .prefault({}),
  /** A device with no message for this long is marked offline with reason `stale`. */
  staleAfterMs: positiveInt.default(90_000),
  /** Payloads above this are dead-lettered as `too-large`. */
  maxPayloadBytes: positiveInt.default(MAX_PAYLOAD_BYTES),
  spool: z
    .object({
      /** Spool cap; when full the collector stops acking so agents keep the data in their outboxes. */
      maxBytes: positiveInt.default(1024 * 1024 * 1024),
      /** The drainer retries the store after this, doubling up to retryMaxMs. */
      retryInitialMs: positiveInt.default(500),
      retryMaxMs: positiveInt.default(30_000),
    })
    .prefault({}),
  deadLetters: z
    .object({
      maxRows: positiveInt.default(10_000),
      /** Bytes of the raw payload kept per dead letter. */
      excerptBytes: positiveInt.default(1024),
    })
    .prefault({}),
  /** Dedup rows older than this are pruned; a later re-delivery is re-written idempotently. */
  dedupRetentionDays: positiveInt.default(30),
  /** Detectors → incidents → tickets (collector/incidents/service.ts); absent = defaults, enabled. */
  incidents: incidentsConfigSchema.optional(),
});
export type CollectorConfig = z.infer<typeof collectorConfigSchema>;
export type CollectorConfigInput = z.input<typeof collectorConfigSchema>;
