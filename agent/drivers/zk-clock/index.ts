// ZKTeco-style attendance clock on the LAN (TCP 4370): identity (device name, serial, platform,
// firmware), user / fingerprint / attendance-record counts against capacity. A full record store
// is a real failure — the clock stops logging attendance — so it is a critical fault, raised
// before it happens as `log-memory-near-full`. Also the clock's own time against this host's
// (`clockOffsetSec`: a drifting clock stamps payroll records wrong) — the `clock-drift` fault
// beyond the profile's limit — and the remote fix for it, `sync-clock-time`. Clocks with a comm
// key are reached with CMD_AUTH (`commKey`).
import { z } from 'zod';
import type { PeripheralIdentity, PeripheralReading } from '../driver.js';
import { peripheralId } from '../../../protocol/messages.js';
import { forcedProfile, pollTiming, replyDeadlineMs, replyTimeoutMs } from '../config-fields.js';
import { matchProfile } from '../../../firmware-profiles/loader.js';
import { configuredDriver, healthOfFaults, identityOf, lazyProfiles, profiledDriver, resolveProfile } from '../common.js';
import type { ProfiledDriver, ProfiledDriverContext } from '../common.js';
import type { FirmwareProfile } from '../../../firmware-profiles/schema.js';
import {
  clockDrifting,
  decodeFreeSizes,
  decodeZkTime,
  encodeZkTime,
  localWallMs,
  localZkTime,
  makeCommKey,
  MAX_COMM_KEY,
  zkTimeToWallMs,
  decodeOptionReply,
  decodeVersionReply,
  faultsFromFreeSizes,
  optionRequest,
  usedPct,
  zkCommand,
  type ClockOffsetLimits,
  type ZkFaultCode,
  type ZkFreeSizes,
  type ZkOptionName,
} from './codec.js';
import { ZkLink, type ZkLinkStats } from './link.js';
import { FleetcareError, isFleetcareError, isTimeout } from '../../../protocol/errors.js';

export * from './codec.js';
export type { ZkLinkStats } from './link.js';

export const zkClockConfigSchema = z
  .object({
    id: peripheralId,
    driver: z.literal('zk-clock-tcp'),
    /** Clock address on the LAN. */
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(4370),
    /** Store counts change slowly; once a minute is plenty. */
    ...pollTiming({ intervalMs: 60_000, timeoutMs: 5000 }),
    /** Deadline for one reply (default: a third of the poll deadline, at most 2000 ms). */
    replyTimeoutMs,
    profile: forcedProfile,
    /** Record / user / fingerprint store use (percent) at which a near-full warning is raised. */
    nearFullPct: z.number().min(1).max(100).default(90),
    /**
     * The clock's comm key (menu: Comm. → Comm Key; 0 = none), answered to CMD_ACK_UNAUTH with
     * CMD_AUTH. A secret: never logged, never sent anywhere but to the clock (scrambled).
     */
    commKey: z.number().int().min(0).max(MAX_COMM_KEY).optional(),
  })
  .strict();
export type ZkClockConfig = z.infer<typeof zkClockConfigSchema>;
export type ZkClockConfigInput = z.input<typeof zkClockConfigSchema>;

export type ZkClockDriverContext = ProfiledDriverContext;

/** Result of the `sync-clock-time` command. */
export type ZkClockSyncResult = { offsetBeforeSec: number | null; offsetAfterSec: number | null; setTo: string };

export type ZkClockDriver = ProfiledDriver & {
  stats(): ZkLinkStats;
  /** Sets the clock to this host's local time (CMD_SET_TIME) and reads the offset before and after. */
  syncClockTime(signal: AbortSignal): Promise<ZkClockSyncResult>;
};

const fmtZkTime = (t: { year: number; month: number; day: number; hour: number; minute: number; second: number }) =>
  `${t.year}-${String(t.month).padStart(2, '0')}-${String(t.day).padStart(2, '0')} ${String(t.hour).padStart(2, '0')}:${String(t.minute).padStart(2, '0')}:${String(t.second).padStart(2, '0')}`;

export function createZkClockDriver(configInput: ZkClockConfigInput, ctx: ZkClockDriverContext): ZkClockDriver {
  const { config, log } = configuredDriver(zkClockConfigSchema, configInput, ctx);
  const link = new ZkLink(config.host, config.port, log);
  const replyTimeoutMs = replyDeadlineMs(config, 3, 2000);
  let profile: FirmwareProfile | null = null;
  let identity: PeripheralIdentity | null = null;
  let lastFreeSizes: ZkFreeSizes | null = null;
  /**
   * Host-derived cumulative count of attendance records added (each a successful verify, so a
   * proxy for sensor use). The clock's own count drops to 0 when an administrator clears the
   * log; counted from 0 again then. Starts at 0 with the agent (a counter reset for the collector).
   */
  let punches = 0;
  /** `clock-drift` is active (kept between polls: it clears only well under its threshold). */
  let drifting = false;

  const getProfiles = lazyProfiles(ctx.profiles, log);

  async function command(cmd: number, data: Uint8Array, what: string, signal: AbortSignal, latencies: number[]) {
    const r = await link.request(cmd, data, what, replyTimeoutMs, signal);
    latencies.push(r.latencyMs);
    return r.packet;
  }

  /**
   * One session start at a time: a remote command (sync-clock-time) and a poll that both find the
   * session closed share one connect instead of the second tearing down the first.
   */
  let opening: Promise<void> | null = null;
  function startSession(signal: AbortSignal, latencies: number[]): Promise<void> {
    opening ??= openSession(signal, latencies).finally(() => (opening = null));
    return opening;
  }

  /** TCP connect + CMD_CONNECT (+ CMD_AUTH with the comm key); the reply's session id is used from then on. */
  async function openSession(signal: AbortSignal, latencies: number[]): Promise<void> {
    await link.connect(signal, replyTimeoutMs);
    const reply = await command(zkCommand.CMD_CONNECT, new Uint8Array(0), 'CMD_CONNECT', signal, latencies);
    link.sessionId = reply.sessionId;
    if (reply.command === zkCommand.CMD_ACK_UNAUTH) {
      // pyzk `connect`: the UNAUTH reply already carries the session id the key is mixed with.
      if (config.commKey === undefined) {
        link.destroy();
        throw new FleetcareError(
          'auth-required',
          `clock ${link.where} requires a comm key (CMD_CONNECT answered CMD_ACK_UNAUTH): set "commKey" in this peripheral's config`,
          { where: link.where },
        );
      }
      const auth = await command(zkCommand.CMD_AUTH, makeCommKey(config.commKey, reply.sessionId), 'CMD_AUTH', signal, latencies);
      if (auth.command !== zkCommand.CMD_ACK_OK) {
        link.destroy();
        throw new FleetcareError(
          'comm-key-rejected',
          `clock ${link.where} refused the configured comm key (CMD_AUTH answered ${auth.command === zkCommand.CMD_ACK_UNAUTH ? 'CMD_ACK_UNAUTH' : auth.command}): "commKey" does not match the clock's Comm Key setting`,
          { where: link.where },
        );
      }
      return;
    }
    if (reply.command !== zkCommand.CMD_ACK_OK) {
      link.destroy();
      throw new Error(`clock ${link.where} refused CMD_CONNECT (reply ${reply.command})`);
    }
  }

  /**
   * The clock's time minus this host's local time, in seconds (positive: the clock is ahead).
   * The clock answers whole seconds, so half a second is added to the truncated reading and
   * compared with the host time half-way through the round trip: within ±0.5 s + half the
   * reply latency. Null when the firmware refuses CMD_GET_TIME.
   */
  async function readClockOffset(signal: AbortSignal, latencies: number[]): Promise<number | null> {
    const sentAt = Date.now();
    const reply = await command(zkCommand.CMD_GET_TIME, new Uint8Array(0), 'CMD_GET_TIME', signal, latencies);
    const hostMid = (sentAt + Date.now()) / 2;
    if (reply.command !== zkCommand.CMD_ACK_OK) return null;
    const d = decodeZkTime(reply.data);
    if (!d.ok) {
      link.stats.commErrors++;
      log.warn({ error: d.error }, 'bad CMD_GET_TIME reply');
      return null;
    }
    return Math.round((zkTimeToWallMs(d.value) + 500 - localWallMs(hostMid)) / 100) / 10;
  }

  /**
   * Runs the first request of a poll or command in a session. Clocks drop idle TCP sessions (and
   * reboot): a closed one is started afresh, and one that ended unseen gets one new session and
   * one retry before the clock counts as absent.
   */
  async function inSession<T>(signal: AbortSignal, latencies: number[], first: () => Promise<T>): Promise<T> {
    if (!link.isOpen) await startSession(signal, latencies);
    try {
      return await first();
    } catch (err) {
      if (!isFleetcareError(err, 'connection-closed')) throw err;
      await startSession(signal, latencies);
      return first();
    }
  }

  async function readOption(name: ZkOptionName, signal: AbortSignal, latencies: number[]): Promise<string | undefined> {
    const reply = await command(zkCommand.CMD_OPTIONS_RRQ, optionRequest(name), `CMD_OPTIONS_RRQ ${name}`, signal, latencies);
    if (reply.command !== zkCommand.CMD_ACK_OK) return undefined; // option not supported by this firmware
    const d = decodeOptionReply(reply.data, name);
    if (!d.ok) {
      link.stats.commErrors++;
      log.warn({ option: name, error: d.error }, 'bad option reply');
      return undefined;
    }
    return d.value || undefined;
  }

  async function readFreeSizes(signal: AbortSignal, latencies: number[]): Promise<ZkFreeSizes> {
    const reply = await command(zkCommand.CMD_GET_FREE_SIZES, new Uint8Array(0), 'CMD_GET_FREE_SIZES', signal, latencies);
    if (reply.command !== zkCommand.CMD_ACK_OK) throw new Error(`CMD_GET_FREE_SIZES refused (reply ${reply.command})`);
    const d = decodeFreeSizes(reply.data);
    if (!d.ok) {
      link.stats.commErrors++;
      throw new Error(`CMD_GET_FREE_SIZES: ${d.error}`);
    }
    return d.value;
  }

  function profileFor(deviceName: string | undefined, platform: string | undefined): FirmwareProfile | null {
    return resolveProfile(
      getProfiles(),
      config.profile,
      (all) =>
        matchProfile({ driver: config.driver, modelName: deviceName }, all)?.profile ??
        matchProfile({ driver: config.driver, modelName: platform }, all)?.profile ??
        null,
    );
  }

  async function identify(signal: AbortSignal, latencies: number[]): Promise<PeripheralIdentity> {
    const versionReply = await command(zkCommand.CMD_GET_VERSION, new Uint8Array(0), 'CMD_GET_VERSION', signal, latencies);
    const version = versionReply.command === zkCommand.CMD_ACK_OK ? decodeVersionReply(versionReply.data) : null;
    const serial = await readOption('serialNumber', signal, latencies);
    const platform = await readOption('platform', signal, latencies);
    const deviceName = await readOption('deviceName', signal, latencies);
    const fpVersion = await readOption('fingerprintVersion', signal, latencies);
    profile = profileFor(deviceName, platform);
    const id = identityOf(`tcp:${link.where}`, { model: deviceName, serial, firmware: version?.ok ? version.value : undefined }, profile);
    identity = id;
    log.info({ ...id, platform, fpVersion }, profile ? 'clock identified' : 'clock has no matching firmware profile');
    return id;
  }

  const healthOf = (faults: string[]) => healthOfFaults(faults, profile, getProfiles());

  function countPunches(s: ZkFreeSizes): void {
    if (lastFreeSizes) punches += s.records >= lastFreeSizes.records ? s.records - lastFreeSizes.records : s.records;
    lastFreeSizes = s;
  }

  /** The profile's limits; without a profile (or limits in it) the offset is reported, never judged. */
  function clockOffsetLimits(): ClockOffsetLimits | null {
    const t = profile?.thresholds;
    return t?.clockOffsetWarningSec !== undefined && t.clockOffsetClearSec !== undefined
      ? { warningSec: t.clockOffsetWarningSec, clearSec: t.clockOffsetClearSec }
      : null;
  }

  function reading(s: ZkFreeSizes, latencies: number[], clockOffsetSec: number | null): PeripheralReading {
    const faults: ZkFaultCode[] = faultsFromFreeSizes(s, config.nearFullPct);
    const limits = clockOffsetLimits();
    drifting = limits ? clockDrifting(clockOffsetSec, drifting, limits) : false;
    if (drifting) faults.push('clock-drift');
    return {
      health: healthOf(faults),
      metrics: {
        users: s.users,
        userCapacity: s.userCapacity,
        fingers: s.fingers,
        fingerCapacity: s.fingerCapacity,
        records: s.records,
        recordCapacity: s.recordCapacity,
        recordsAvailable: s.recordsAvailable,
        cards: s.cards,
        recordsUsedPct: usedPct(s.records, s.recordCapacity),
        usersUsedPct: usedPct(s.users, s.userCapacity),
        fingersUsedPct: usedPct(s.fingers, s.fingerCapacity),
        replyLatencyMs: latencies.length ? latencies.reduce((a, b) => a + b, 0) / latencies.length : 0,
        ...(clockOffsetSec === null ? {} : { clockOffsetSec }),
      },
      // Link error counts are counters like every driver's (one type per field name in InfluxDB).
      counters: { punches, commErrors: link.stats.commErrors, garbageBytes: link.stats.garbageBytes },
      faults,
    };
  }

  const driver: ZkClockDriver = profiledDriver<ZkClockDriver>(
    { id: config.id, kind: 'clock', profile: () => profile, identity: () => identity },
    {
      stats: () => ({ ...link.stats }),

      async open(signal) {
        const latencies: number[] = [];
        try {
          await startSession(signal, latencies);
          return await identify(signal, latencies);
        } catch (err) {
          link.destroy();
          throw isTimeout(err)
            ? new FleetcareError('timeout', `clock ${link.where} does not answer: ${err.message}`, { where: link.where }, { cause: err })
            : err;
        }
      },

      async poll(signal): Promise<PeripheralReading> {
        const latencies: number[] = [];
        try {
          const sizes = await inSession(signal, latencies, () => readFreeSizes(signal, latencies));
          countPunches(sizes);
          const offset = await readClockOffset(signal, latencies);
          return reading(sizes, latencies, offset);
        } catch (err) {
          // A session that timed out mid-reply is out of step; the next poll starts afresh.
          if (isTimeout(err)) link.destroy();
          throw err;
        }
      },

      async selfTest(signal) {
        const latencies: number[] = [];
        if (!link.isOpen) await startSession(signal, latencies);
        const id = await identify(signal, latencies);
        const sizes = await readFreeSizes(signal, latencies);
        const offset = await readClockOffset(signal, latencies);
        const r = reading(sizes, latencies, offset);
        return { identity: id, freeSizes: sizes, clockOffsetSec: offset, faults: r.faults, health: r.health, metrics: r.metrics, link: { ...link.stats } };
      },

      async syncClockTime(signal) {
        const latencies: number[] = [];
        const offsetBeforeSec = await inSession(signal, latencies, () => readClockOffset(signal, latencies));
        // The clock keeps whole seconds: the nearest one is within ±0.5 s of now.
        const target = localZkTime(Math.round(Date.now() / 1000) * 1000);
        const reply = await command(zkCommand.CMD_SET_TIME, encodeZkTime(target), 'CMD_SET_TIME', signal, latencies);
        if (reply.command !== zkCommand.CMD_ACK_OK) throw new Error(`clock ${link.where} refused CMD_SET_TIME (reply ${reply.command})`);
        const offsetAfterSec = await readClockOffset(signal, latencies);
        log.info({ offsetBeforeSec, offsetAfterSec }, 'clock time set to host time');
        return { offsetBeforeSec, offsetAfterSec, setTo: fmtZkTime(target) };
      },

      commands: {
        'sync-clock-time': (signal) => driver.syncClockTime(signal),
      },

      async close() {
        if (link.isOpen) {
          try {
            // Polite goodbye so the clock frees its session slot; never wait long for it.
            await link.request(zkCommand.CMD_EXIT, new Uint8Array(0), 'CMD_EXIT', Math.min(300, replyTimeoutMs), AbortSignal.timeout(1000));
          } catch {
            // the clock may already be gone
          }
        }
        link.destroy();
      },
    },
  );
  return driver;
}
