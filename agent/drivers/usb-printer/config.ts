// Config of a USB printer-class peripheral. Kept apart from the driver so that agent/config.ts
// can validate it without loading the native `usb` module.
import { z } from 'zod';
import { peripheralId } from '../../../protocol/messages.js';
import { forcedProfile, pollTiming } from '../config-fields.js';

const hex16 = z.string().regex(/^[0-9a-fA-F]{4}$/, '4 hex digits, e.g. "04b8"');

export const usbPrinterConfigSchema = z
  .object({
    id: peripheralId,
    driver: z.literal('usb-printer'),
    vid: hex16,
    pid: hex16,
    /** USB serial number, to tell apart two printers with the same vid:pid. */
    serial: z.string().min(1).optional(),
    /** Printer-class interface number (default: the first interface of class 7). */
    interface: z.number().int().min(0).max(255).optional(),
    ...pollTiming({ intervalMs: 5000, timeoutMs: 2000 }),
    profile: forcedProfile,
    /** Read ESC/POS real-time status over the bulk endpoints when the profile says the model answers it. */
    escposStatus: z.boolean().default(true),
  })
  .strict();
export type UsbPrinterConfig = z.infer<typeof usbPrinterConfigSchema>;
export type UsbPrinterConfigInput = z.input<typeof usbPrinterConfigSchema>;
