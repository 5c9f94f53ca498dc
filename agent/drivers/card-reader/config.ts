// Config of the serial MSR driver: kept apart from the driver so that the agent's config schema
// does not load serial code.
import { z } from 'zod';
import { peripheralId } from '../../../protocol/messages.js';
import { forcedProfile, pollTiming, replyTimeoutMs, serialLine } from '../config-fields.js';

export const msrBaudRates = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] as const;

export const msrSerialConfigSchema = z
  .object({
    id: peripheralId,
    driver: z.literal('msr-serial'),
    ...serialLine(msrBaudRates, 9600),
    ...pollTiming({ intervalMs: 10_000, timeoutMs: 2000 }),
    /** Deadline for one reply (default: half the poll deadline, at most 1000 ms). */
    replyTimeoutMs,
    profile: forcedProfile,
    /** Battery below this percentage raises `battery-low`. */
    batteryLowPct: z.number().min(0).max(100).default(20),
    /** The failed-read rate is computed over (at least) this many recent swipes. */
    rateWindow: z.number().int().min(10).max(100_000).default(100),
    /** Serial port of the POS software: swipe frames are forwarded to it unchanged. */
    relay: z
      .object({ path: z.string().min(1), baudRate: z.literal(msrBaudRates).optional() })
      .strict()
      .optional(),
  })
  .strict();
export type MsrSerialConfig = z.infer<typeof msrSerialConfigSchema>;
export type MsrSerialConfigInput = z.input<typeof msrSerialConfigSchema>;
