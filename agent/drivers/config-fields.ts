// Config fields every peripheral driver's schema shares, so that one rule (minimum, meaning)
// holds for all of them. zod only: agent/config.ts validates configs without loading drivers.
import { z } from 'zod';

/**
 * The poll interval and the whole-poll deadline the poller gives through the AbortSignal (the
 * poller's business, kept in the peripheral's block so one block describes the peripheral).
 */
export const pollTiming = (defaults: { intervalMs: number; timeoutMs: number }) => ({
  intervalMs: z.number().int().min(100).default(defaults.intervalMs),
  timeoutMs: z.number().int().min(50).default(defaults.timeoutMs),
});

/** A serial line: the device path (e.g. `/dev/ttyS0`, `/dev/ttyUSB0`) and the peripheral's baud rates. */
export const serialLine = <const B extends readonly [number, ...number[]]>(baudRates: B, defaultBaudRate: B[number]) => ({
  path: z.string().min(1),
  baudRate: z.literal(baudRates).default(defaultBaudRate),
});

/** Deadline for one reply; without it the driver takes a share of the poll deadline. */
export const replyTimeoutMs = z.number().int().min(20).optional();

/** Force a firmware profile id instead of matching the identity. */
export const forcedProfile = z.string().min(1).optional();

/** The configured reply deadline, else a `parts`-th of the poll deadline, from 20 ms to `atMostMs`. */
export function replyDeadlineMs(config: { replyTimeoutMs?: number; timeoutMs: number }, parts: number, atMostMs: number): number {
  return config.replyTimeoutMs ?? Math.min(atMostMs, Math.max(20, Math.floor(config.timeoutMs / parts)));
}
