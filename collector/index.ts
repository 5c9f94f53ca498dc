// Public surface of the collector (the CLI and tests import from here).
export {
  startCollector,
  SUBSCRIBED_CHANNELS,
  type CollectorHandle,
  type RemoteCommandInput,
  type CollectorStats,
  type CollectorClusterStats,
  type DeadLetterReason,
} from './collector.js';
export type { CollectorClusterOptions, CollectorPartitions } from '../cluster/collector-partitions.js';
export { collectorConfigSchema, influxConfigSchema, type CollectorConfig, type CollectorConfigInput, type InfluxConfig } from './config.js';
export type { DeadLetter } from './telemetry/collector-db.js';
export type { DeviceState, FleetChange, PeripheralHealth } from './fleet.js';
export { InfluxStore, RAW_RP, DOWNSAMPLED_RP, DOWNSAMPLE_CQ } from './telemetry/influx-store.js';
export { SqliteStore } from './telemetry/sqlite-store.js';
export * from './telemetry/store.js';
