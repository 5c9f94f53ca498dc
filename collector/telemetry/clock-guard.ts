// Is a device's timestamp believable? A dead RTC cell resets the clock to 1970 (or the firmware's
// epoch), a bad NTP answer throws it years ahead. InfluxDB refuses such points ("beyond retention
// policy", out-of-range times), and stored at their own time they would sit where no chart looks.
// Such samples are placed at arrival time instead, the device's own time kept beside them, and the
// clock fault itself is ticketed by the clock-drift detector (it reads the raw offset).
//
// One pure function decides; the ingest record carries its verdict (`IngestRecord.clock`), so
// storage and detectors agree on which samples were placed at arrival.
import type { IngestRecord } from './store.js';

export type ClockGuardOptions = {
  /** Earlier than this is a reset clock, never a real measurement (ms). */
  floorMs: number;
  /** Further ahead of the collector than this is a clock in the future (ms). */
  maxAheadMs: number;
  /**
   * Further behind than this is not believable either (older than the raw retention, so the store
   * would refuse it; an outbox backlog is far younger). 0: no limit.
   */
  maxBehindMs: number;
};

export const defaultClockGuard: ClockGuardOptions = {
  floorMs: Date.UTC(2020, 0, 1),
  maxAheadMs: 60 * 60_000,
  maxBehindMs: 0,
};

export type ClockVerdict = 'plausible' | 'before-floor' | 'future' | 'too-old';

/** The verdict on one device timestamp that reached the collector at `arrivedAt`. */
export function judgeDeviceTime(deviceTs: number, arrivedAt: number, o: ClockGuardOptions = defaultClockGuard): ClockVerdict {
  if (deviceTs < o.floorMs) return 'before-floor';
  if (deviceTs > arrivedAt + o.maxAheadMs) return 'future';
  if (o.maxBehindMs > 0 && deviceTs < arrivedAt - o.maxBehindMs) return 'too-old';
  return 'plausible';
}

/** What the collector did with an implausible device time. */
export type ClockPlacement = {
  /** Why the envelope's (or a sample's) time was not believed. */
  verdict: Exclude<ClockVerdict, 'plausible'>;
  /** The message's own `ts`, as the device sent it. */
  deviceTs: number;
  /** Telemetry: each sample's own `ts`, in sample order. */
  sampleDeviceTs?: number[];
};

/**
 * The record with implausible times replaced by arrival time (`clock` says so and keeps the
 * device's times); the same record when every time is plausible. Samples keep their spacing
 * relative to the message when that spacing is itself sane (taken within `maxAheadMs` before it).
 */
export function placeByArrival(r: IngestRecord, o: ClockGuardOptions = defaultClockGuard): IngestRecord {
  const m = r.message;
  const envelope = judgeDeviceTime(m.ts, r.arrivedAt, o);
  if (r.channel === 'event') {
    if (envelope === 'plausible') return r;
    return { ...r, message: { ...r.message, ts: r.arrivedAt }, clock: { verdict: envelope, deviceTs: m.ts } };
  }
  const samples = r.message.samples;
  let verdict: ClockVerdict = envelope;
  if (verdict === 'plausible') {
    for (const s of samples) {
      const v = judgeDeviceTime(s.ts, r.arrivedAt, o);
      if (v !== 'plausible') {
        verdict = v;
        break;
      }
    }
  }
  if (verdict === 'plausible') return r;
  const placed = samples.map((s) => {
    if (envelope === 'plausible' && judgeDeviceTime(s.ts, r.arrivedAt, o) === 'plausible') return s;
    const before = m.ts - s.ts;
    const ts = before >= 0 && before <= o.maxAheadMs ? r.arrivedAt - before : r.arrivedAt;
    return { ...s, ts };
  });
  return {
    ...r,
    message: { ...r.message, ts: envelope === 'plausible' ? m.ts : r.arrivedAt, samples: placed },
    clock: { verdict, deviceTs: m.ts, sampleDeviceTs: samples.map((s) => s.ts) },
  };
}

/** The device's own time of a record's message (before any placement). */
export function deviceTimeOf(r: IngestRecord): number {
  return r.clock?.deviceTs ?? r.message.ts;
}
