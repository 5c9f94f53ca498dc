// Config of the R30x fingerprint-module driver: kept apart from the driver so that the agent's
// config schema does not load serial code.
import { z } from 'zod';
import { peripheralId } from '../../../protocol/messages.js';
import { forcedProfile, pollTiming, replyTimeoutMs, serialLine } from '../config-fields.js';

import { DEFAULT_ADDRESS } from './codec.js';

/** 9600 × N, N = 1..12 (the module's baud settings, ReadSysPara word 7). */
export const fingerprintBaudRates = [9600, 19200, 28800, 38400, 48000, 57600, 67200, 76800, 86400, 96000, 105600, 115200] as const;

export const fingerprintSerialConfigSchema = z
  .object({
    id: peripheralId,
    driver: z.literal('r30x-serial'),
    /** R503 default is 57600 (N = 6). */
    ...serialLine(fingerprintBaudRates, 57600),
    /** Module address (default FFFFFFFF). */
    address: z.number().int().min(0).max(0xffffffff).default(DEFAULT_ADDRESS),
    /** Module password for VfyPwd (default 0). Never logged. */
    password: z.number().int().min(0).max(0xffffffff).default(0),
    ...pollTiming({ intervalMs: 10_000, timeoutMs: 3000 }),
    /** Deadline for one reply (default: a third of the poll deadline, at most 1000 ms). */
    replyTimeoutMs,
    profile: forcedProfile,
    /**
     * Pass-through port for the POS software (see relay.ts). With it, capture outcomes of real
     * use are tallied; without it only status is read.
     */
    relay: z
      .object({
        path: z.string().min(1),
        baudRate: z.literal(fingerprintBaudRates).optional(),
        /** How long the module gets to answer a relayed command. */
        replyTimeoutMs: z.number().int().min(50).default(3000),
      })
      .strict()
      .optional(),
    /** Recent captures / matches the rates are computed over. */
    rateWindow: z.number().int().min(10).max(10_000).default(100),
  })
  .strict();
export type FingerprintSerialConfig = z.infer<typeof fingerprintSerialConfigSchema>;
export type FingerprintSerialConfigInput = z.input<typeof fingerprintSerialConfigSchema>;
