// Serial magnetic-stripe reader (codec.ts says which parts are standard and which are a
// fleetcare convention). Open: identity (`I`). Poll: UnifiedPOS statistics (`S`) — read
// cumulatively, never reset — with tamper and battery where the reader reports them; the failed
// read rate over the last N swipes from counter deltas; and the agent's own check of every swipe
// it sees on the line (sentinels, LRC), counted separately. Card data is classified in memory and
// dropped (or forwarded unchanged to the POS software's relay port); it is never stored or logged.
import { SerialPort } from 'serialport';
import type { PeripheralIdentity, PeripheralReading } from '../driver.js';
import { matchProfile } from '../../../firmware-profiles/loader.js';
import { replyDeadlineMs } from '../config-fields.js';
import { closeQuietly, configuredDriver, healthOfFaults, identityOf, lazyProfiles, profiledDriver, resolveProfile } from '../common.js';
import type { ProfiledDriver, ProfiledDriverContext } from '../common.js';
import type { FirmwareProfile } from '../../../firmware-profiles/schema.js';
import { SerialRequestLink, unansweredAs, type SerialLinkStats } from '../serial-link.js';
import {
  classifySwipe,
  countSwipe,
  decodeIdentity,
  decodeStatistics,
  emptyStatistics,
  msrStatisticNames,
  requests,
  splitMsrStream,
  type MsrFrame,
  type MsrStatistics,
} from './codec.js';

export * from './codec.js';
export * from './config.js';
import { msrSerialConfigSchema, type MsrSerialConfigInput } from './config.js';

export const msrFaultCodes = ['tamper', 'battery-low', 'read-errors-high', 'read-head-worn', 'comm-error'] as const;
export type MsrFaultCode = (typeof msrFaultCodes)[number];

const DEFAULTS = { errorRateWarning: 0.15, errorRateMinSamples: 20 };

/** What the agent itself saw on the line (independent of the reader's own statistics). */
export type ObservedSwipes = MsrStatistics;

export type MsrDriverContext = ProfiledDriverContext;

export type MsrSerialDriver = ProfiledDriver & {
  stats(): { link: SerialLinkStats; observed: ObservedSwipes; forwardedSwipes: number };
};

/** UnifiedPOS name → counter name (`GoodReadCount` → `goodReadCount`, `ParityLRC…` → `parityLrc…`). */
const counterName = (n: string) => (n[0].toLowerCase() + n.slice(1)).replace('LRC', 'Lrc');

export function createMsrSerialDriver(configInput: MsrSerialConfigInput, ctx: MsrDriverContext): MsrSerialDriver {
  const { config, log } = configuredDriver(msrSerialConfigSchema, configInput, ctx);
  const observed: ObservedSwipes = emptyStatistics();
  let relayPort: SerialPort | null = null;
  let forwardedSwipes = 0;

  const onSwipe = (f: MsrFrame) => {
    if (f.type !== 'frame' || f.payload[0] !== 'T') return;
    countSwipe(observed, classifySwipe(f.payload.slice(1)));
    if (relayPort?.isOpen) {
      relayPort.write(Buffer.from(f.bytes));
      forwardedSwipes++;
    }
  };
  const link = new SerialRequestLink<MsrFrame>({ path: config.path, baudRate: config.baudRate, log, split: splitMsrStream, onUnsolicited: onSwipe });
  const replyTimeoutMs = replyDeadlineMs(config, 2, 1000);
  let profile: FirmwareProfile | null = null;
  let identity: PeripheralIdentity | null = null;
  let commErrorsSeen = 0;
  /** (swipes, failed) at earlier polls, oldest first: the rate spans at least `rateWindow` swipes. */
  let history: Array<{ swipes: number; failed: number }> = [];

  const getProfiles = lazyProfiles(ctx.profiles, log);

  async function ask(prefix: 'I' | 'S', cmd: Uint8Array, what: string, signal: AbortSignal, latencies: number[]): Promise<string> {
    const accept = (f: MsrFrame) => f.type === 'nak' || (f.type === 'frame' && f.payload[0] === prefix);
    const r = await link.request(cmd, accept, what, replyTimeoutMs, signal);
    latencies.push(r.latencyMs);
    if (r.frame.type === 'nak') {
      link.stats.commErrors++;
      throw new Error(`${what}: the reader answered NAK (it received a damaged frame)`);
    }
    return (r.frame as Extract<MsrFrame, { type: 'frame' }>).payload.slice(1);
  }

  async function identify(signal: AbortSignal, latencies: number[]): Promise<PeripheralIdentity> {
    const text = await ask('I', requests.identity(), 'identity', signal, latencies);
    const d = decodeIdentity(text);
    if (!d.ok) {
      link.stats.commErrors++;
      throw new Error(`identity reply: ${d.error}`);
    }
    profile = resolveProfile(
      getProfiles(),
      config.profile,
      (all) => matchProfile({ driver: config.driver, modelName: d.value.model, maker: d.value.manufacturer }, all)?.profile ?? null,
    );
    const id = identityOf(
      `serial:${config.path}`,
      { vendor: d.value.manufacturer, model: d.value.model, serial: d.value.serial, firmware: d.value.firmware },
      profile,
    );
    identity = id;
    log.info(id, profile ? 'card reader identified' : 'card reader has no matching firmware profile');
    return id;
  }

  const healthOf = (faults: string[]) => healthOfFaults(faults, profile, getProfiles());

  async function read(signal: AbortSignal): Promise<PeripheralReading & { statistics: MsrStatistics }> {
    if (!link.isOpen) throw new Error(`${config.path} is not open`);
    const latencies: number[] = [];
    const text = await ask('S', requests.statistics(), 'statistics', signal, latencies);
    const d = decodeStatistics(text);
    if (!d.ok) {
      link.stats.commErrors++;
      throw new Error(`statistics reply: ${d.error}`);
    }
    const s = d.value;
    const faults: string[] = [];
    const metrics: Record<string, number> = {};
    const counters: Record<string, number> = {};
    for (const n of msrStatisticNames) counters[counterName(n)] = s[n];
    const swipes = s.GoodReadCount + s.FailedReadCount;
    counters.swipes = swipes;

    if (s.tamper !== undefined) {
      metrics.tamper = s.tamper ? 1 : 0;
      if (s.tamper) faults.push('tamper');
    }
    if (s.batteryPct !== undefined) {
      metrics.batteryPct = s.batteryPct;
      if (s.batteryPct < config.batteryLowPct) faults.push('battery-low');
    }

    // Failed-read rate over the most recent ≥ rateWindow swipes (counters only grow; a smaller
    // value means the reader was replaced or reset, so the history restarts).
    if (history.length && swipes < history[history.length - 1].swipes) history = [];
    history.push({ swipes, failed: s.FailedReadCount });
    while (history.length > 2 && swipes - history[1].swipes >= config.rateWindow) history.shift();
    const base = history[0];
    const span = swipes - base.swipes;
    const th = profile?.thresholds;
    const minSamples = th?.errorRateMinSamples ?? DEFAULTS.errorRateMinSamples;
    if (span > 0) {
      const rate = (s.FailedReadCount - base.failed) / span;
      metrics.failedReadRate = Math.round(rate * 10_000) / 10_000;
      metrics.rateWindowSwipes = span;
      if (span >= minSamples && rate >= (th?.errorRateWarning ?? DEFAULTS.errorRateWarning)) faults.push('read-errors-high');
    }
    const head = profile?.ratedLife.find((r) => r.part === 'read-head' && r.metric === 'swipes' && r.basis === 'life');
    if (head && th) {
      const used = swipes / (head.value / (head.unitsPerCount ?? 1));
      metrics.readHeadLifeUsedPct = Math.round(used * 10_000) / 100;
      if (used >= th.wearWarningFraction) faults.push('read-head-worn');
    }

    const ls = link.stats;
    if (ls.commErrors > commErrorsSeen) faults.push('comm-error');
    commErrorsSeen = ls.commErrors;
    metrics.replyLatencyMs = latencies.length ? latencies.reduce((a, b) => a + b, 0) / latencies.length : 0;
    counters.commErrors = ls.commErrors;
    counters.timeouts = ls.timeouts;
    counters.garbageBytes = ls.garbageBytes;
    for (const n of msrStatisticNames) {
      if (n === 'HoursPoweredCount' || n === 'CommunicationErrorCount') continue;
      counters[`observed${n}`] = observed[n];
    }
    return { health: healthOf(faults), metrics, counters, faults, statistics: s };
  }

  const driver = profiledDriver<MsrSerialDriver>(
    { id: config.id, kind: 'card-reader', profile: () => profile, identity: () => identity },
    {
      stats: () => ({ link: { ...link.stats }, observed: { ...observed }, forwardedSwipes }),

      open: (signal) =>
        link.openWith(signal, async () => {
          const id = await identify(signal, []).catch(unansweredAs(`card reader on ${config.path} does not answer`));
          commErrorsSeen = link.stats.commErrors;
          history = [];
          if (config.relay && !relayPort?.isOpen) {
            const port = new SerialPort({ path: config.relay.path, baudRate: config.relay.baudRate ?? config.baudRate, autoOpen: false });
            port.on('error', (err) => log.warn({ err: err.message, path: config.relay!.path }, 'relay port error'));
            await new Promise<void>((res, rej) => port.open((e) => (e ? rej(new Error(`cannot open relay port ${config.relay!.path}: ${e.message}`)) : res())));
            relayPort = port;
          }
          return id;
        }),

      async poll(signal) {
        const { statistics: _s, ...reading } = await read(signal);
        return reading;
      },

      async selfTest(signal) {
        const r = await read(signal);
        return {
          identity,
          statistics: r.statistics,
          observed: { ...observed },
          faults: r.faults,
          health: r.health,
          metrics: r.metrics,
          link: { ...link.stats },
        };
      },

      close: () =>
        closeQuietly(log, 'card reader port', async () => {
          const port = relayPort;
          relayPort = null;
          if (port?.isOpen) await new Promise<void>((r) => port.close(() => r()));
          await link.close();
        }),
    },
  );
  return driver;
}
