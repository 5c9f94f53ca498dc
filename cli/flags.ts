// Reading the CLI's parsed flags (node:util parseArgs values) into checked values.
import { UsageError } from './errors.js';

export type Flags = Record<string, string | boolean | undefined>;

/** `--NAME N`: a whole number from min to max, `def` when absent; anything else is a usage error naming the flag. */
export function wholeNumberFlag(flags: Flags, name: string, def: number, min: number, max: number): number {
  const v = flags[name];
  if (v === undefined) return def;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name}: expected a whole number ${min}-${max}, got "${String(v)}"`);
  return n;
}
