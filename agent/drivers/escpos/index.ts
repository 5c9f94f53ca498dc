// ESC/POS printer over a serial line (RS-232, USB-serial, or a PTY in tests): real-time status
// with DLE EOT 1..4, identity with GS I, Epson cumulative maintenance counters with GS g 2.
// What a model supports comes from its firmware profile, never from model-name branches.
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
  assertNoCounterReset,
  decodeAsb,
  splitEscposStream,
  type AsbStatus,
  type EscposFrame,
  decodeCounterReply,
  decodeIdByte,
  decodeInfoBlock,
  decodeTypeId,
  dleEot,
  escposRealtimeStatus,
  faultsFromStatus,
  gsI,
  maintenanceCounterNames,
  counterCommand,
  type FullStatus,
  type GsIRequest,
  type PrinterTypeId,
  type RealtimeStatusRequest,
} from './codec.js';

export * from './codec.js';

/** The replies a request waits for; a bare id byte is a reply only while one is awaited. */
export type EscposReplyKind = 'realtime-status' | 'id-byte' | 'block';
export type EscposLinkStats = SerialLinkStats & { asbFrames: number; xoffReceived: number };

export const escposBaudRates = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] as const;

export const escposSerialConfigSchema = z
  .object({
    id: peripheralId,
    driver: z.literal('escpos-serial'),
    ...serialLine(escposBaudRates, 9600),
    ...pollTiming({ intervalMs: 5000, timeoutMs: 2000 }),
    /**
     * Deadline for one reply (a real printer answers DLE EOT within milliseconds). Default:
     * half the poll deadline, at most 1000 ms, so one lost reply still leaves time to report it.
     */
    replyTimeoutMs,
    profile: forcedProfile,
    /** Read the profile's cumulative maintenance counters (GS g 2) on each poll. */
    readCounters: z.boolean().default(true),
  })
  .strict();
export type EscposSerialConfig = z.infer<typeof escposSerialConfigSchema>;
export type EscposSerialConfigInput = z.input<typeof escposSerialConfigSchema>;

export type EscposDriverContext = ProfiledDriverContext;

/** How often to retry reading the identity of a printer that did not answer GS I. */
const IDENTIFY_RETRY_MS = 60_000;

export type EscposSerialDriver = ProfiledDriver & {
  stats(): EscposLinkStats;
};

type RawIdentity = {
  modelId?: number;
  typeId?: PrinterTypeId;
  romVersion?: number;
  firmware?: string;
  maker?: string;
  modelName?: string;
  serial?: string;
};

const infoRequests = { firmware: 65, maker: 66, modelName: 67, serial: 68 } as const;

export function createEscposSerialDriver(configInput: EscposSerialConfigInput, ctx: EscposDriverContext): EscposSerialDriver {
  const { config, log } = configuredDriver(escposSerialConfigSchema, configInput, ctx);
  const received = { asbFrames: 0, xoffReceived: 0 };
  let lastAsb: AsbStatus | null = null;
  const link = new SerialRequestLink<EscposFrame, EscposReplyKind>({
    path: config.path,
    baudRate: config.baudRate,
    log,
    split: (buf, expecting) => splitEscposStream(buf, { expectIdByte: expecting === 'id-byte' }),
    onUnsolicited: (f) => {
      switch (f.type) {
        case 'xon':
          return;
        case 'xoff':
          received.xoffReceived++;
          return;
        case 'asb': {
          // Automatic Status Back, sent by the printer on its own when enabled.
          const d = decodeAsb(f.bytes);
          if (d.ok) {
            received.asbFrames++;
            lastAsb = d.value;
          }
          return;
        }
        default:
          // A reply nobody asked for: a late answer to a timed-out request, or noise that
          // happens to look like one. Counting it as garbage keeps the next reply in sync.
          link.stats.garbageBytes += f.type === 'block' ? f.bytes.length : 1;
      }
    },
  });
  const linkStats = (): EscposLinkStats => ({ ...link.stats, ...received });
  const replyTimeoutMs = replyDeadlineMs(config, 2, 1000);
  let profile: FirmwareProfile | null = null;
  let identity: PeripheralIdentity | null = null;
  let identified = false;
  let lastIdentifyAt = 0;
  /** GS I information-B ids this printer's firmware does not answer. */
  const unansweredInfo = new Set<number>();

  const getProfiles = lazyProfiles(ctx.profiles, log);

  const ask = (cmd: Uint8Array, expect: EscposReplyKind, what: string, signal: AbortSignal, optional = false) => {
    assertNoCounterReset(cmd);
    return link.request(cmd, (f) => f.type === expect, what, replyTimeoutMs, signal, { optional, expecting: expect });
  };

  async function readFullStatus(signal: AbortSignal, latencies: number[]): Promise<FullStatus> {
    const out: Partial<Record<RealtimeStatusRequest, unknown>> = {};
    for (const n of [1, 2, 3, 4] as const) {
      const r = await ask(dleEot(n), 'realtime-status', `DLE EOT ${n}`, signal);
      latencies.push(r.latencyMs);
      const d = escposRealtimeStatus(n, (r.frame as { byte: number }).byte);
      if (!d.ok) {
        link.stats.commErrors++;
        throw new Error(`DLE EOT ${n}: ${d.error}`);
      }
      out[n] = d.value;
    }
    return { printer: out[1], offlineCause: out[2], errorCause: out[3], paper: out[4] } as FullStatus;
  }

  /** GS I query that may legitimately go unanswered (unsupported id): null on timeout. */
  async function optionalGsI(n: GsIRequest, signal: AbortSignal): Promise<Uint8Array | number | null> {
    if (unansweredInfo.has(n)) return null;
    const byte = n < 65;
    try {
      const r = await ask(gsI(n), byte ? 'id-byte' : 'block', `GS I ${n}`, signal, true);
      return r.frame.type === 'block' ? r.frame.bytes : (r.frame as { byte: number }).byte;
    } catch (err) {
      if (isTimeout(err)) {
        log.debug({ n }, 'GS I not answered');
        // An information-B id left unanswered by a printer that answered GS I 1 is unsupported
        // by its firmware (Bixolon has no GS I 68): never ask it again on this port.
        if (n >= 65) unansweredInfo.add(n);
        return null;
      }
      throw err;
    }
  }

  async function readIdentity(raw: RawIdentity, signal: AbortSignal): Promise<void> {
    // GS I goes through the receive buffer: an offline printer may not answer it at all, so the
    // first silence ends the attempt (retried later) instead of waiting out every query.
    const model = await optionalGsI(1, signal);
    if (model === null) return;
    const text = (v: Uint8Array | number | null) => {
      if (!(v instanceof Uint8Array)) return undefined;
      const d = decodeInfoBlock(v);
      return d.ok && d.value.trim() ? d.value.trim() : undefined;
    };
    const id = decodeIdByte(model as number);
    if (id.ok) raw.modelId = id.value;
    const type = await optionalGsI(2, signal);
    if (typeof type === 'number') {
      const d = decodeTypeId(type);
      if (d.ok) raw.typeId = d.value;
    }
    const rom = await optionalGsI(3, signal);
    if (typeof rom === 'number') raw.romVersion = rom;
    raw.modelName = text(await optionalGsI(infoRequests.modelName, signal));
    raw.maker = text(await optionalGsI(infoRequests.maker, signal));
    const wanted = profileFor(raw)?.capabilities.printerInfo ?? ['firmware', 'serial'];
    if (wanted.includes('firmware')) raw.firmware = text(await optionalGsI(infoRequests.firmware, signal));
    if (wanted.includes('serial')) raw.serial = text(await optionalGsI(infoRequests.serial, signal));
  }

  function profileFor(raw: RawIdentity): FirmwareProfile | null {
    return resolveProfile(
      getProfiles(),
      config.profile,
      (all) => matchProfile({ driver: config.driver, gsIModelId: raw.modelId, modelName: raw.modelName, maker: raw.maker }, all)?.profile ?? null,
    );
  }

  async function identify(signal: AbortSignal): Promise<PeripheralIdentity> {
    lastIdentifyAt = Date.now();
    const raw: RawIdentity = {};
    let complete = true;
    try {
      await readIdentity(raw, signal);
    } catch (err) {
      // The printer answered DLE EOT, so it is there: keep what was read before the deadline
      // and finish identifying it on a later poll rather than declaring it absent.
      if (!signal.aborted) throw err;
      complete = false;
      log.warn({ read: Object.keys(raw) }, 'identity incomplete at the deadline; will retry');
    }
    identified = complete && raw.modelId !== undefined;
    profile = profileFor(raw);
    const firmware = raw.firmware ?? (raw.romVersion !== undefined ? `rom-0x${raw.romVersion.toString(16).padStart(2, '0')}` : undefined);
    const id = identityOf(`serial:${config.path}`, { vendor: raw.maker, model: raw.modelName, serial: raw.serial, firmware }, profile);
    identity = id;
    log.info({ ...id, modelId: raw.modelId, identified }, profile ? 'printer identified' : 'printer has no matching firmware profile');
    return id;
  }

  async function readCounters(names: readonly string[], signal: AbortSignal, latencies: number[]): Promise<Record<string, number>> {
    const counters: Record<string, number> = {};
    for (const name of names) {
      // The profile picks the command set (Epson GS g 2, Bixolon BS SO …); same 5F … 00 reply.
      const cmd = counterCommand(profile?.capabilities.counterReader ?? 'epson-gs-g2', name);
      if (!cmd) continue;
      try {
        const r = await ask(cmd.bytes, 'block', cmd.what, signal);
        latencies.push(r.latencyMs);
        const d = decodeCounterReply((r.frame as { bytes: Uint8Array }).bytes);
        if (d.ok) counters[name] = d.value;
        else {
          link.stats.commErrors++;
          log.warn({ counter: name, error: d.error }, 'bad counter reply');
        }
      } catch (err) {
        // Status already read: report it without the counters rather than losing the poll, and
        // do not spend the rest of the poll's budget on a printer that just stopped answering.
        if (!isTimeout(err)) throw err;
        log.warn({ counter: name, err: err.message }, 'counter not read; skipping the remaining counters this poll');
        break;
      }
    }
    return counters;
  }

  const healthOf = (faults: string[]) => healthOfFaults(faults, profile, getProfiles());

  const metricsOf = (latencies: number[]) => ({
    replyLatencyMs: latencies.length ? latencies.reduce((a, b) => a + b, 0) / latencies.length : 0,
  });
  // Link error counts are counters (integers that only grow), as every other driver reports them:
  // one field name must keep one type in InfluxDB, and the comm-errors detector reads counters.
  const withLinkCounters = (counters: Record<string, number>) => ({ ...counters, commErrors: link.stats.commErrors, garbageBytes: link.stats.garbageBytes });

  const driver = profiledDriver<EscposSerialDriver>(
    { id: config.id, kind: 'printer', profile: () => profile, identity: () => identity },
    {
      stats: linkStats,

      open: (signal) =>
        link.openWith(signal, async () => {
          await ask(dleEot(1), 'realtime-status', 'DLE EOT 1', signal).catch(unansweredAs(`printer on ${config.path} does not answer DLE EOT 1`));
          return identify(signal);
        }),

      async poll(signal): Promise<PeripheralReading> {
        if (!link.isOpen) throw new Error(`${config.path} is not open`);
        const latencies: number[] = [];
        const status = await readFullStatus(signal, latencies);
        const faults = faultsFromStatus(status);
        if (!identified && Date.now() - lastIdentifyAt >= IDENTIFY_RETRY_MS) await identify(signal);
        const names = config.readCounters ? (profile?.capabilities.maintenanceCounters ?? []) : [];
        const counters = await readCounters(names, signal, latencies);
        return { health: healthOf(faults), metrics: metricsOf(latencies), counters: withLinkCounters(counters), faults };
      },

      async selfTest(signal) {
        if (!link.isOpen) throw new Error(`${config.path} is not open`);
        const latencies: number[] = [];
        const status = await readFullStatus(signal, latencies);
        const id = await identify(signal);
        // Without a profile, try every counter the driver knows: a diagnosis wants to see what answers.
        const counters = await readCounters(profile?.capabilities.maintenanceCounters ?? maintenanceCounterNames, signal, latencies);
        const faults = faultsFromStatus(status);
        return {
          identity: id,
          status,
          faults,
          health: healthOf(faults),
          counters: withLinkCounters(counters),
          metrics: metricsOf(latencies),
          link: linkStats(),
          lastAsb,
        };
      },

      close: () => closeQuietly(log, 'serial port', () => link.close()),
    },
  );
  return driver;
}
