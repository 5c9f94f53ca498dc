// R30x / R50x fingerprint module over a serial line (UART TTL via USB-serial, or a PTY in tests).
// Open: HandShake (where the profile lists it), VfyPwd, ReadSysPara, ReadProdInfo (where listed).
// Poll: TempleteNum against capacity, ReadSysPara, CheckSensor (where listed), link health, and —
// when the POS software reaches the module through the agent's relay (relay.ts) — capture rates
// from the confirmation codes of real use. What a model supports comes from its firmware profile.
import type { PeripheralIdentity, PeripheralReading } from '../driver.js';
import { matchProfile } from '../../../firmware-profiles/loader.js';
import { replyDeadlineMs } from '../config-fields.js';
import { closeQuietly, configuredDriver, healthOfFaults, identityOf, lazyProfiles, profiledDriver, resolveProfile } from '../common.js';
import type { ProfiledDriver, ProfiledDriverContext } from '../common.js';
import type { FirmwareProfile } from '../../../firmware-profiles/schema.js';
import { isTimeout } from '../../../protocol/errors.js';
import { SerialRequestLink, unansweredAs, type SerialLinkStats } from '../serial-link.js';
import {
  commands,
  confirmationName,
  decodeAck,
  decodeProductInfo,
  decodeSystemParameters,
  decodeTemplateCount,
  pid,
  splitFingerprintStream,
  type Ack,
  type FingerprintFrame,
  type ProductInfo,
  type SystemParameters,
} from './codec.js';
import { CaptureTally, type CaptureCounters } from './usage.js';
import { fingerprintSerialConfigSchema, type FingerprintSerialConfigInput } from './config.js';
import { FingerprintRelay, type RelayStats } from './relay.js';

export * from './codec.js';
export * from './config.js';
export { CaptureTally } from './usage.js';
export { FingerprintRelay } from './relay.js';

export const fingerprintFaultCodes = [
  'sensor-fail',
  'template-store-full',
  'template-store-near-full',
  'comm-error',
  'wrong-password',
  'image-quality-degraded',
  'false-reject-high',
] as const;
export type FingerprintFaultCode = (typeof fingerprintFaultCodes)[number];

/** Used when the profile gives no thresholds of its own. */
const DEFAULTS = { storeNearFullFraction: 0.9, errorRateWarning: 0.2, errorRateMinSamples: 20 };

export type FingerprintDriverContext = ProfiledDriverContext;

export type FingerprintSerialDriver = ProfiledDriver & {
  readonly systemParameters: SystemParameters | null;
  stats(): { link: SerialLinkStats; relay: RelayStats | null; usage: CaptureCounters };
};

export function createFingerprintSerialDriver(configInput: FingerprintSerialConfigInput, ctx: FingerprintDriverContext): FingerprintSerialDriver {
  const { config, log } = configuredDriver(fingerprintSerialConfigSchema, configInput, ctx);
  const tally = new CaptureTally({ window: config.rateWindow });
  let relay: FingerprintRelay | null = null;
  const link: SerialRequestLink<FingerprintFrame> = new SerialRequestLink<FingerprintFrame>({
    path: config.path,
    baudRate: config.baudRate,
    log,
    split: splitFingerprintStream,
    onUnsolicited: (f) => relay?.fromModule(f),
  });
  const replyTimeoutMs = replyDeadlineMs(config, 3, 1000);
  let profile: FirmwareProfile | null = null;
  let identity: PeripheralIdentity | null = null;
  let sys: SystemParameters | null = null;
  let passwordRefused = false;
  /** commErrors at the end of the previous poll: a poll that added any raises comm-error. */
  let commErrorsSeen = 0;

  const getProfiles = lazyProfiles(ctx.profiles, log);
  const supports = (cmd: string) => !!profile?.capabilities.commands?.includes(cmd);

  /** Sends a command and returns its ack; a reply that is not an ack from our address is a comm error. */
  async function ask(cmd: Uint8Array, what: string, signal: AbortSignal, latencies: number[], optional = false): Promise<Ack> {
    const isOurAck = (f: FingerprintFrame) => f.type === 'packet' && f.packet.pid === pid.ack && f.packet.address === config.address;
    const r = await link.request(cmd, isOurAck, what, replyTimeoutMs, signal, { optional });
    latencies.push(r.latencyMs);
    const d = decodeAck((r.frame as Extract<FingerprintFrame, { type: 'packet' }>).packet);
    if (!d.ok) {
      link.stats.commErrors++;
      throw new Error(`${what}: ${d.error}`);
    }
    // 01: the module did not receive our packet intact — a line problem, counted as such.
    if (d.value.code === 0x01) link.stats.commErrors++;
    return d.value;
  }

  async function readSystemParameters(signal: AbortSignal, latencies: number[]): Promise<SystemParameters | null> {
    const a = await ask(commands.readSysPara(config.address), 'ReadSysPara', signal, latencies);
    if (a.code !== 0x00) {
      log.warn({ code: confirmationName(a.code) }, 'ReadSysPara refused');
      return null;
    }
    const d = decodeSystemParameters(a.data);
    if (!d.ok) {
      link.stats.commErrors++;
      log.warn({ error: d.error }, 'bad ReadSysPara reply');
      return null;
    }
    return d.value;
  }

  function profileFor(info: ProductInfo | null): FirmwareProfile | null {
    return resolveProfile(getProfiles(), config.profile, (all) => matchProfile({ driver: config.driver, modelName: info?.moduleModel }, all)?.profile ?? null);
  }

  async function identify(signal: AbortSignal, latencies: number[]): Promise<PeripheralIdentity> {
    // ReadProdInfo is not in every firmware (R503 has it, older R30x do not): ask, tolerate silence.
    let info: ProductInfo | null = null;
    const forced = config.profile ? profileFor(null) : null;
    if (!forced || forced.capabilities.commands?.includes('readProdInfo')) {
      try {
        const a = await ask(commands.readProdInfo(config.address), 'ReadProdInfo', signal, latencies, true);
        if (a.code === 0x00) {
          const d = decodeProductInfo(a.data);
          if (d.ok) info = d.value;
          else log.warn({ error: d.error }, 'bad ReadProdInfo reply');
        }
      } catch (err) {
        if (!isTimeout(err)) throw err;
      }
    }
    profile = forced ?? profileFor(info);
    const id = identityOf(
      `serial:${config.path}`,
      {
        model: info?.moduleModel,
        serial: info?.serial ? [info.batch, info.serial].filter(Boolean).join('-') : undefined,
        firmware: info ? `hw ${info.hardwareVersion}${info.sensorModel ? ` sensor ${info.sensorModel}` : ''}` : undefined,
      },
      profile,
    );
    identity = id;
    log.info({ ...id, capacity: sys?.capacity }, profile ? 'fingerprint module identified' : 'fingerprint module has no matching firmware profile');
    return id;
  }

  function thresholds() {
    const t = profile?.thresholds as Partial<typeof DEFAULTS> | undefined;
    return {
      storeNearFullFraction: t?.storeNearFullFraction ?? DEFAULTS.storeNearFullFraction,
      errorRateWarning: t?.errorRateWarning ?? DEFAULTS.errorRateWarning,
      errorRateMinSamples: t?.errorRateMinSamples ?? DEFAULTS.errorRateMinSamples,
    };
  }

  const healthOf = (faults: string[]) => healthOfFaults(faults, profile, getProfiles());

  async function read(signal: AbortSignal): Promise<PeripheralReading & { sensorOk: boolean | null; templates: number | null }> {
    if (!link.isOpen) throw new Error(`${config.path} is not open`);
    const latencies: number[] = [];
    const faults: string[] = [];
    const metrics: Record<string, number> = {};
    if (passwordRefused) {
      const a = await ask(commands.vfyPwd(config.password, config.address), 'VfyPwd', signal, latencies);
      passwordRefused = a.code === 0x13;
    }
    if (passwordRefused) faults.push('wrong-password');

    const t = await ask(commands.templateNum(config.address), 'TempleteNum', signal, latencies);
    let templates: number | null = null;
    if (t.code === 0x00) {
      const d = decodeTemplateCount(t.data);
      if (d.ok) templates = d.value;
      else link.stats.commErrors++;
    }
    const fresh = await readSystemParameters(signal, latencies);
    if (fresh) sys = fresh;

    let sensorOk: boolean | null = null;
    if (supports('checkSensor')) {
      const c = await ask(commands.checkSensor(config.address), 'CheckSensor', signal, latencies);
      sensorOk = c.code === 0x00;
      if (c.code === 0x29) faults.push('sensor-fail');
    }

    const th = thresholds();
    if (templates !== null && sys && sys.capacity > 0) {
      const used = templates / sys.capacity;
      metrics.templates = templates;
      metrics.capacity = sys.capacity;
      metrics.templatesUsedPct = Math.round(used * 10_000) / 100;
      if (templates >= sys.capacity) faults.push('template-store-full');
      else if (used >= th.storeNearFullFraction) faults.push('template-store-near-full');
    }
    if (sys) metrics.securityLevel = sys.securityLevel;

    const rates = tally.rates();
    if (relay) {
      metrics.imageFailRate = round4(rates.imageFailRate);
      metrics.falseRejectProxyRate = round4(rates.falseRejectProxyRate);
      metrics.matchRejectRate = round4(rates.matchRejectRate);
      metrics.windowCaptures = rates.windowCaptures;
      metrics.windowMatches = rates.windowMatches;
      if (rates.windowCaptures >= th.errorRateMinSamples && rates.imageFailRate >= th.errorRateWarning) faults.push('image-quality-degraded');
      if (rates.windowMatches >= th.errorRateMinSamples && rates.falseRejectProxyRate >= th.errorRateWarning) faults.push('false-reject-high');
    }

    const s = link.stats;
    if (s.commErrors > commErrorsSeen) faults.push('comm-error');
    commErrorsSeen = s.commErrors;
    metrics.replyLatencyMs = latencies.length ? latencies.reduce((a, b) => a + b, 0) / latencies.length : 0;
    const counters: Record<string, number> = { commErrors: s.commErrors, timeouts: s.timeouts, garbageBytes: s.garbageBytes };
    if (relay) Object.assign(counters, tally.counters, { relayedCommands: relay.stats.forwarded, relayUnanswered: relay.stats.unanswered });
    return { health: healthOf(faults), metrics, counters, faults, sensorOk, templates };
  }

  const driver = profiledDriver<FingerprintSerialDriver>(
    { id: config.id, kind: 'fingerprint', profile: () => profile, identity: () => identity },
    {
      get systemParameters() {
        return sys;
      },
      stats: () => ({ link: { ...link.stats }, relay: relay ? { ...relay.stats } : null, usage: { ...tally.counters } }),

      async open(signal) {
        await link.open(signal);
        const latencies: number[] = [];
        try {
          // HandShake where supported; VfyPwd is the universal "are you there" of the family.
          if (
            !config.profile ||
            getProfiles()
              .find((p) => p.id === config.profile)
              ?.capabilities.commands?.includes('handShake')
          ) {
            await ask(commands.handShake(config.address), 'HandShake', signal, latencies, true).catch((err) => {
              if (!isTimeout(err)) throw err;
            });
          }
          const pw = await ask(commands.vfyPwd(config.password, config.address), 'VfyPwd', signal, latencies).catch(
            unansweredAs(`fingerprint module on ${config.path} does not answer VfyPwd`),
          );
          passwordRefused = pw.code === 0x13;
          if (passwordRefused) log.warn('module refused the configured password');
          else sys = await readSystemParameters(signal, latencies);
          const id = await identify(signal, latencies);
          commErrorsSeen = link.stats.commErrors;
          if (config.relay && !relay) {
            relay = new FingerprintRelay({
              path: config.relay.path,
              baudRate: config.relay.baudRate ?? config.baudRate,
              link,
              log,
              replyTimeoutMs: config.relay.replyTimeoutMs,
              onOutcome: (instr, code) => tally.observe(instr, code, Date.now()),
            });
          }
          await relay?.open();
          return id;
        } catch (err) {
          await relay?.close();
          await link.close();
          throw err;
        }
      },

      async poll(signal) {
        const { sensorOk: _s, templates: _t, ...reading } = await read(signal);
        return reading;
      },

      async selfTest(signal) {
        const r = await read(signal);
        return {
          identity,
          systemParameters: sys,
          sensorOk: r.sensorOk,
          templates: r.templates,
          faults: r.faults,
          health: r.health,
          metrics: r.metrics,
          counters: r.counters,
          relay: relay ? { ...relay.stats } : null,
        };
      },

      close: () =>
        closeQuietly(log, 'fingerprint module port', async () => {
          await relay?.close();
          await link.close();
        }),
    },
  );
  return driver;
}

const round4 = (x: number) => Math.round(x * 10_000) / 10_000;
