// When a sample was measured, as far as the collector can trust the device's clock. Rates, trends
// and ETAs need the measurement time (a backlog flushed after an outage covers days, not the
// instant it arrived); a device time that cannot be right — before the floor (a dead RTC cell
// boots in 1970 or 2000), later than its arrival beyond the clock offset measured on the device's
// live messages, or older than any backlog the agent can hold — is placed at arrival and flagged,
// never silently trusted.
//
// Two guards in a row, on purpose: ingest (collector/telemetry/clock-guard.ts) first places only the
// impossible times (a reset or far-future clock) at arrival, so that storage keeps every sample;
// the records the detectors get are those placed records, and this stricter check then also
// distrusts what is merely implausible for rates and trends (ahead of the device's measured offset,
// older than any outbox backlog). Both share the floor.
import { z } from 'zod';
import { defaultClockGuard } from '../telemetry/clock-guard.js';

export const measurementTimeConfig = z
  .object({
    /** Device times before this (ms) are a clock that was never set. */
    floorMs: z.number().nonnegative().default(defaultClockGuard.floorMs),
    /** How far after its arrival a sample may claim to have been measured (latency, jitter), beyond a device clock measured to run ahead. */
    aheadToleranceMs: z
      .number()
      .nonnegative()
      .default(5 * 60_000),
    /** The oldest backlog trusted (the agent's outbox holds days of an outage, not years). */
    maxBacklogMs: z
      .number()
      .positive()
      .default(60 * 86_400_000),
  })
  .strict()
  .prefault({});
export type MeasurementTimeConfig = z.infer<typeof measurementTimeConfig>;

export type MeasurementTime =
  | { at: number; trusted: true }
  | { at: number; trusted: false; reason: 'before-floor' | 'ahead-of-arrival' | 'older-than-backlog' };

/**
 * `deviceTs`: the device's timestamp of the sample; `arrivedAt`: the collector clock at arrival;
 * `clockOffsetMs`: arrival − device time measured on the device's live messages (negative when
 * the device clock runs ahead), if known.
 */
export function measurementTime(deviceTs: number, arrivedAt: number, clockOffsetMs: number | undefined, cfg: MeasurementTimeConfig): MeasurementTime {
  if (deviceTs < cfg.floorMs) return { at: arrivedAt, trusted: false, reason: 'before-floor' };
  const ahead = cfg.aheadToleranceMs + Math.max(0, -(clockOffsetMs ?? 0));
  if (deviceTs > arrivedAt + ahead) return { at: arrivedAt, trusted: false, reason: 'ahead-of-arrival' };
  if (arrivedAt - deviceTs > cfg.maxBacklogMs) return { at: arrivedAt, trusted: false, reason: 'older-than-backlog' };
  // A clock measured to run ahead: its samples are moved back by that offset (never past arrival).
  return { at: Math.min(arrivedAt, deviceTs + Math.min(0, clockOffsetMs ?? 0)), trusted: true };
}
