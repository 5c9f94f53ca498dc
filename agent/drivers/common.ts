// Scaffolding every profile-driven peripheral driver shares: where its firmware profiles come
// from, which profile a peripheral uses, the identity it reports and the health its faults add
// up to. The device-specific parts (what to ask, how to match) stay in each driver.
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Health } from '../../protocol/index.js';
import { shippedFirmwareProfiles } from '../../firmware-profiles/loader.js';
import { faultLevels } from '../../firmware-profiles/catalogue.js';
import type { FirmwareProfile } from '../../firmware-profiles/schema.js';
import type { DriverContext, PeripheralDriver, PeripheralIdentity } from './driver.js';

export type ProfiledDriverContext = DriverContext & {
  /** Firmware profiles to match; loaded from firmware-profiles/models when not given. */
  profiles?: readonly FirmwareProfile[];
};

/**
 * The given profiles, else the shipped ones, loaded on first use. A load failure is logged and
 * leaves the driver without profiles: a peripheral without a profile is still monitored.
 */
export function lazyProfiles(given: readonly FirmwareProfile[] | undefined, log: Logger): () => readonly FirmwareProfile[] {
  let profiles: readonly FirmwareProfile[] | null = given ?? null;
  return () => {
    if (profiles) return profiles;
    try {
      profiles = shippedFirmwareProfiles();
    } catch (err) {
      log.error({ err: (err as Error).message }, 'firmware profiles not loaded; running without them');
      profiles = [];
    }
    return profiles;
  };
}

/** A driver that matches firmware profiles: what it matched and identified, live. */
export type ProfiledDriver = PeripheralDriver & {
  readonly profile: FirmwareProfile | null;
  readonly identity: PeripheralIdentity | null;
};

/**
 * Assembles a profiled driver: `id` and `kind`, `profile` and `identity` read live from the
 * driver's own state, and the driver's other `parts` (their getters stay getters, so a driver's
 * own live figures stay live too).
 */
export function profiledDriver<D extends ProfiledDriver>(
  head: { id: string; kind: D['kind']; profile: () => FirmwareProfile | null; identity: () => PeripheralIdentity | null },
  parts: Omit<D, 'id' | 'kind' | 'profile' | 'identity'>,
): D {
  const driver = Object.defineProperties(
    { id: head.id, kind: head.kind },
    {
      profile: { get: head.profile, enumerable: true },
      identity: { get: head.identity, enumerable: true },
      ...Object.getOwnPropertyDescriptors(parts),
    },
  );
  // defineProperties cannot say what it added; the parameter types above are the check.
  return driver as unknown as D;
}

/** The configured profile (an unknown id is a config error), else what `match` finds. */
export function resolveProfile(
  all: readonly FirmwareProfile[],
  configured: string | undefined,
  match: (all: readonly FirmwareProfile[]) => FirmwareProfile | null,
): FirmwareProfile | null {
  if (!configured) return match(all);
  const forced = all.find((p) => p.id === configured);
  if (!forced) throw new Error(`configured profile "${configured}" not found among ${all.length} firmware profiles`);
  return forced;
}

/** What the device itself reported (empty strings count as not reported). */
export type ReportedIdentity = { vendor?: string; model?: string; serial?: string; firmware?: string };

/** The identity to publish: what the device reported, vendor and model filled in from the profile. */
export function identityOf(port: string, reported: ReportedIdentity, profile: FirmwareProfile | null): PeripheralIdentity {
  const id: PeripheralIdentity = { port };
  const vendor = reported.vendor || profile?.vendor;
  const model = reported.model || profile?.model;
  if (vendor) id.vendor = vendor;
  if (model) id.model = model;
  if (reported.serial) id.serial = reported.serial;
  if (reported.firmware) id.firmware = reported.firmware;
  if (profile) id.profile = profile.id;
  return id;
}

/**
 * The worst health among active faults: the profile's level for a fault, else the catalogue's
 * (every profile agrees on a code's level, so it holds for a peripheral no profile matched),
 * else `unknown` (a code no profile defines).
 */
export function healthOfFaults(
  faults: readonly string[],
  profile: FirmwareProfile | null,
  all: readonly FirmwareProfile[],
  unknown: Exclude<Health, 'ok'> = 'warning',
): Health {
  const levels = faultLevels(all);
  let h: Health = 'ok';
  for (const f of faults) {
    const level = profile?.faults[f]?.health ?? levels.get(f) ?? unknown;
    if (level === 'critical') return 'critical';
    h = 'warning';
  }
  return h;
}

/** The driver's config, parsed (defaults filled in), and its logger, which names the peripheral and the driver. */
export function configuredDriver<S extends z.ZodType<{ id: string; driver: string }>>(
  schema: S,
  input: z.input<S>,
  ctx: DriverContext,
): { config: z.output<S>; log: Logger } {
  const config = schema.parse(input);
  return { config, log: ctx.log.child({ peripheral: config.id, driver: config.driver }) };
}

/** Runs `release` for a driver's close(), which must never reject: a failure is only logged. */
export async function closeQuietly(log: Logger, what: string, release: () => Promise<void>): Promise<void> {
  try {
    await release();
  } catch (err) {
    log.warn({ err: (err as Error).message }, `closing ${what} failed`);
  }
}
