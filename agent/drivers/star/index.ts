// Star receipt printer in Star's own mode over a serial line: status from the Automatic Status
// Back frame (`ESC ACK SOH` asks for one), identity from the version reply. A separate driver
// from ESC/POS (different bytes, different bits); profiles say which models use it.
import { z } from 'zod';
import type { PeripheralIdentity, PeripheralReading } from '../driver.js';
import { peripheralId } from '../../../protocol/messages.js';
import { forcedProfile, pollTiming, replyDeadlineMs, replyTimeoutMs, serialLine } from '../config-fields.js';
import { matchProfile } from '../../../firmware-profiles/loader.js';
import { closeQuietly, configuredDriver, healthOfFaults, identityOf, lazyProfiles, profiledDriver, resolveProfile } from '../common.js';
import type { ProfiledDriver, ProfiledDriverContext } from '../common.js';
import type { FirmwareProfile } from '../../../firmware-profiles/schema.js';
import { isTimeout } from '../../../protocol/errors.js';
import { SerialRequestLink, unansweredAs, type SerialLinkStats } from '../serial-link.js';
import {
  STAR_STATUS_REQUEST,
  STAR_VERSION_REQUEST,
  decodeStarAsb,
  decodeStarVersion,
  faultsFromStarStatus,
  splitStarStream,
  type StarFrame,
  type StarStatus,
} from './codec.js';

export * from './codec.js';

export const starSerialConfigSchema = z
  .object({
    id: peripheralId,
    driver: z.literal('star-serial'),
    ...serialLine([4800, 9600, 19200, 38400, 57600, 115200], 9600),
    ...pollTiming({ intervalMs: 5000, timeoutMs: 2000 }),
    replyTimeoutMs,
    profile: forcedProfile,
    /**
     * After a status reply, frames arriving within this window win: with ASB on, the printer also
     * sends a frame on every change, so the reply taken may be an older frame still in flight.
     */
    statusSettleMs: z.number().int().min(0).max(1000).default(40),
  })
  .strict();
export type StarSerialConfig = z.infer<typeof starSerialConfigSchema>;
export type StarSerialConfigInput = z.input<typeof starSerialConfigSchema>;

export type StarSerialDriver = ProfiledDriver & {
  readonly lastStatus: StarStatus | null;
  stats(): SerialLinkStats;
};

export function createStarSerialDriver(configInput: StarSerialConfigInput, ctx: ProfiledDriverContext): StarSerialDriver {
  const { config, log } = configuredDriver(starSerialConfigSchema, configInput, ctx);
  const replyTimeoutMs = replyDeadlineMs(config, 2, 1000);
  let lastStatus: StarStatus | null = null;
  let lastUnsolicitedAt = 0;
  // The version reply is bare text, taken as a frame only while it is awaited.
  const link = new SerialRequestLink<StarFrame, 'text'>({
    path: config.path,
    baudRate: config.baudRate,
    log,
    split: (buf, expecting) => splitStarStream(buf, { expectText: expecting === 'text' }),
    // Star printers send an ASB frame by themselves on every status change.
    onUnsolicited: (f) => {
      if (f.type !== 'asb') return;
      const d = decodeStarAsb(f.bytes);
      if (d.ok) {
        lastStatus = d.value;
        lastUnsolicitedAt = performance.now();
      }
    },
  });
  let profile: FirmwareProfile | null = null;
  let identity: PeripheralIdentity | null = null;

  const getProfiles = lazyProfiles(ctx.profiles, log);

  async function readStatus(signal: AbortSignal): Promise<{ status: StarStatus; latencyMs: number }> {
    const r = await link.request(STAR_STATUS_REQUEST, (f) => f.type === 'asb', 'ESC ACK SOH', replyTimeoutMs, signal);
    const d = decodeStarAsb((r.frame as { bytes: Uint8Array }).bytes);
    if (!d.ok) {
      link.stats.commErrors++;
      throw new Error(`Star ASB: ${d.error}`);
    }
    lastStatus = d.value;
    const replyAt = performance.now();
    if (config.statusSettleMs > 0) {
      await new Promise<void>((res) => {
        const done = () => {
          clearTimeout(t);
          signal.removeEventListener('abort', done);
          res();
        };
        const t = setTimeout(done, config.statusSettleMs);
        signal.addEventListener('abort', done, { once: true });
      });
    }
    return { status: lastUnsolicitedAt > replyAt && lastStatus ? lastStatus : d.value, latencyMs: r.latencyMs };
  }

  async function identify(signal: AbortSignal): Promise<PeripheralIdentity> {
    let model: string | undefined;
    let firmware: string | undefined;
    try {
      const r = await link.request(STAR_VERSION_REQUEST, (f) => f.type === 'text', 'ESC # *', replyTimeoutMs, signal, { optional: true, expecting: 'text' });
      const v = decodeStarVersion((r.frame as { text: string }).text);
      if (v.ok) {
        model = v.value.model;
        firmware = v.value.version;
      } else log.warn({ error: v.error }, 'bad version reply');
    } catch (err) {
      if (!isTimeout(err)) throw err;
      log.debug('version request not answered');
    }
    profile = resolveProfile(getProfiles(), config.profile, (all) => matchProfile({ driver: config.driver, modelName: model }, all)?.profile ?? null);
    const id = identityOf(`serial:${config.path}`, { model, firmware }, profile);
    identity = id;
    log.info(id, profile ? 'Star printer identified' : 'Star printer has no matching firmware profile');
    return id;
  }

  const healthOf = (faults: string[]) => healthOfFaults(faults, profile, getProfiles());

  return profiledDriver<StarSerialDriver>(
    { id: config.id, kind: 'printer', profile: () => profile, identity: () => identity },
    {
      get lastStatus() {
        return lastStatus;
      },
      stats: () => ({ ...link.stats }),

      open: (signal) =>
        link.openWith(signal, async () => {
          await readStatus(signal).catch(unansweredAs(`Star printer on ${config.path} does not answer ESC ACK SOH`));
          return identify(signal);
        }),

      async poll(signal): Promise<PeripheralReading> {
        if (!link.isOpen) throw new Error(`${config.path} is not open`);
        const { status, latencyMs } = await readStatus(signal);
        const faults = faultsFromStarStatus(status);
        return {
          health: healthOf(faults),
          metrics: { replyLatencyMs: latencyMs },
          counters: { commErrors: link.stats.commErrors, garbageBytes: link.stats.garbageBytes },
          faults,
        };
      },

      async selfTest(signal) {
        if (!link.isOpen) throw new Error(`${config.path} is not open`);
        const { status } = await readStatus(signal);
        const id = await identify(signal);
        const faults = faultsFromStarStatus(status);
        return { identity: id, status, faults, health: healthOf(faults), link: { ...link.stats } };
      },

      close: () => closeQuietly(log, 'serial port', () => link.close()),
    },
  );
}
