// The prediction scenario matrix: independent families of part physics, each a named scenario,
// for scoring the detectors beyond the one model they were first tuned on (sim/wear.ts defaults).
// A scenario is a simulated fleet — every device with a card reader (read head) and a fingerprint
// module (sensor window) — whose parts have hidden actual lives and error rates, with the
// disturbances real fleets have: life spread, short or no precursors, infant mortality, one-day
// error bursts, seasonal peaks and closures, low use, unit and part swaps, preventive
// replacements, clock jumps and reporting gaps. `FleetReplay` steps the fleet hour by hour and
// hands out what a collector would receive (samples with device time and arrival time, inventory
// serial changes) and what a technician would record (service records); the ground truth (when
// each part instance failed, when its precursor began) stays with the replay for scoring.
// Deterministic: the same scenario and seed give the same fleet.
import { GroundTruthRecorder, WearPart, deriveSeed, seededRandom } from './wear.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Range drawn uniformly (or log-uniformly for precursor days). */
type Range = readonly [number, number];

export type ScenarioPhysics = {
  /** Weibull shape and scale (× rated) of actual lives, drawn per part instance. */
  lifeShape: Range;
  lifeScale: Range;
  /** Precursor length in days of the device's typical use (log-uniform); null: the sim/wear.ts default (rise from 60 % of life). */
  precursorDays: Range | null;
  /** Share of failures with no precursor at all. */
  suddenShare: number;
  /** Share of new part instances that die young (1–15 % of rated life). */
  infantShare: number;
  /** Usage multiple of the device's trade (low-use devices: 0.1–0.3). */
  useScale: Range;
  /** Per device-day: a 1–2-day error burst at ×5–15 the base rate (healthy parts). */
  burstPerDay: number;
  /** A seasonal peak per device: ×2–3 usage for 14–30 days; closures 1–14 days at this rate per device-day. */
  season: boolean;
  closurePerDay: number;
  /** How a failed part is replaced: the part inside the unit (counter keeps counting) or the whole unit (new serial, counters from 0). */
  replacement: 'part' | 'unit';
  /** Share of part instances replaced preventively at 80–95 % of rated life (not a failure). */
  preventiveShare: number;
  /** Per device-day: the device clock jumps (dead RTC cell / wrong year) for a day. */
  clockJumpPerDay: number;
  /** Per device-day: the device goes offline for 1–5 days and flushes its backlog when back. */
  gapPerDay: number;
};

const base: ScenarioPhysics = {
  lifeShape: [4, 4],
  lifeScale: [1, 1],
  precursorDays: [14, 45],
  suddenShare: 0,
  infantShare: 0,
  useScale: [1, 1],
  burstPerDay: 0,
  season: false,
  closurePerDay: 0,
  replacement: 'part',
  preventiveShare: 0,
  clockJumpPerDay: 0,
  gapPerDay: 0,
};

/** The families. `today` is sim/wear.ts with its defaults (the model the detectors were first tuned on). */
export const scenarios: Record<string, ScenarioPhysics> = {
  today: { ...base, precursorDays: null },
  'life-spread': { ...base, lifeShape: [1.2, 5], lifeScale: [0.5, 1.7] },
  'short-precursor': { ...base, lifeShape: [2, 5], lifeScale: [0.6, 1.4], precursorDays: [2, 21] },
  'long-precursor': { ...base, precursorDays: [60, 180] },
  'sudden-death': { ...base, lifeShape: [1.5, 4], lifeScale: [0.6, 1.4], precursorDays: [7, 45], suddenShare: 0.4 },
  'infant-mortality': { ...base, lifeScale: [0.8, 1.3], precursorDays: [3, 30], infantShare: 0.15 },
  bursts: { ...base, burstPerDay: 1 / 45 },
  'seasonal-closures': { ...base, season: true, closurePerDay: 1 / 120 },
  'low-use': { ...base, useScale: [0.1, 0.3], infantShare: 0.1, precursorDays: [7, 60] },
  'unit-swaps': { ...base, lifeShape: [2, 4], replacement: 'unit' },
  'part-swaps-preventive': { ...base, lifeShape: [2, 4], preventiveShare: 0.25 },
  'clock-jumps-gaps': { ...base, clockJumpPerDay: 1 / 90, gapPerDay: 1 / 60 },
};

/** The family kept out of tuning (decided before tuning; docs/benchmarks-predict.md). */
export const HELD_OUT_SCENARIO = 'infant-mortality';

/** The peripherals of every simulated device, named by their firmware profile; counters as the drivers name them. */
export const scenarioKinds = [
  {
    peripheral: 'msr',
    kind: 'card-reader' as const,
    profile: 'generic-serial-msr',
    part: 'read-head',
    uses: 'swipes',
    errors: 'failedReadCount',
    base: 0.01,
    end: 0.25,
    rated: 1_000_000,
  },
  {
    peripheral: 'fp',
    kind: 'fingerprint' as const,
    profile: 'grow-r503',
    part: 'sensor-window',
    uses: 'captures',
    errors: 'imageFailures',
    base: 0.03,
    end: 0.3,
    rated: 1_000_000,
  },
];
type Kind = (typeof scenarioKinds)[number];

/** A sample as the collector receives it: the device's clock (`ts`) and the arrival time. */
export type ReplaySample = {
  device: string;
  peripheral: string;
  kind: Kind['kind'];
  profile: string;
  part: string;
  ts: number;
  arrivedAt: number;
  counters: Record<string, number>;
};
/** A technician's record or an inventory change: a part replaced in its unit, or the unit swapped (new serial). */
export type ReplayService = {
  device: string;
  peripheral: string;
  part: string;
  profile: string;
  at: number;
  kind: 'part-replaced' | 'unit-swap' | 'preventive';
  serial: string;
  failed: boolean;
  usage: number;
};

type Slot = {
  device: string;
  k: Kind;
  perDay: number;
  part: WearPart;
  instance: number;
  serialNo: number;
  uses: number;
  errors: number;
  replaceAt: number | null;
  onsetAt: number | null;
  baselineTicketed: boolean;
  preventiveAt: number | null;
};

type DeviceSched = {
  id: string;
  peak: { from: number; to: number; x: number } | null;
  closedUntil: number;
  burstUntil: number;
  burstX: number;
  jumpUntil: number;
  jumpBy: number;
  offlineUntil: number;
  outbox: ReplaySample[];
};

/** Poisson draw (Knuth for small means, normal approximation for large). */
export function poisson(mean: number, rnd: () => number): number {
  if (mean <= 0) return 0;
  if (mean > 30) {
    const u = Math.max(1e-12, rnd());
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd());
    return Math.max(0, Math.round(mean + Math.sqrt(mean) * z));
  }
  const l = Math.exp(-mean);
  let k = 0;
  let p = 1;
  do {
    k++;
    p *= rnd();
  } while (p > l);
  return k - 1;
}

const uniform = (r: Range, rnd: () => number) => r[0] + (r[1] - r[0]) * rnd();
const logUniform = (r: Range, rnd: () => number) => Math.exp(Math.log(r[0]) + (Math.log(r[1]) - Math.log(r[0])) * rnd());

/** Ground truth of one part instance that failed, with when its precursor began (null: sudden). */
export type ReplayFailure = { device: string; peripheral: string; instance: number; failedAt: number; onsetAt: number | null };

export class FleetReplay {
  readonly truth = new GroundTruthRecorder();
  readonly failures: ReplayFailure[] = [];
  /** Tickets of the static baseline: one per part instance when usage reaches 90 % of rated life. */
  readonly baselineTickets: Array<{ device: string; peripheral: string; instance: number; at: number }> = [];
  private readonly slots: Slot[] = [];
  private readonly devs: DeviceSched[] = [];
  private readonly rnd: () => number;
  private now: number;
  private readonly dayNoise = new Map<string, number>();

  constructor(
    readonly name: string,
    readonly physics: ScenarioPhysics,
    readonly o: { devices: number; seed: number; t0: number; sampleHours: number },
  ) {
    this.rnd = seededRandom(deriveSeed(o.seed, name));
    this.now = o.t0;
    for (let d = 0; d < o.devices; d++) {
      const id = `dev-${String(d).padStart(4, '0')}`;
      const peakFrom = o.t0 + Math.floor(this.rnd() * 200) * DAY;
      this.devs.push({
        id,
        peak: physics.season ? { from: peakFrom, to: peakFrom + Math.round(uniform([14, 30], this.rnd)) * DAY, x: uniform([2, 3], this.rnd) } : null,
        closedUntil: 0,
        burstUntil: 0,
        burstX: 1,
        jumpUntil: 0,
        jumpBy: 0,
        offlineUntil: 0,
        outbox: [],
      });
      const useScale = uniform(physics.useScale, this.rnd);
      for (const k of scenarioKinds) {
        // A fleet of mixed ages and trades: 1–2.5 years to rated life, up to 90 % already used.
        const perDay = (k.rated / (365 + this.rnd() * 550)) * useScale;
        const used = this.rnd() * 0.9 * k.rated;
        const slot: Slot = {
          device: id,
          k,
          perDay,
          instance: 0,
          serialNo: 0,
          uses: Math.round(used),
          errors: Math.round(used * k.base),
          replaceAt: null,
          onsetAt: null,
          baselineTicketed: used >= 0.9 * k.rated,
          preventiveAt: null,
          part: null as unknown as WearPart,
        };
        slot.part = this.newPart(slot, used);
        if (slot.baselineTicketed) this.baselineTickets.push({ device: id, peripheral: k.peripheral, instance: 0, at: o.t0 });
        this.slots.push(slot);
      }
    }
  }

  get clock(): number {
    return this.now;
  }

  /** The serial of a slot's current unit (changes with a unit swap). */
  serialOf(device: string, peripheral: string): string {
    const s = this.slots.find((x) => x.device === device && x.k.peripheral === peripheral)!;
    return `${device}-${peripheral}-${s.serialNo}`;
  }

  /** Instance of the part alive in a slot now (a ticket belongs to it). */
  instanceOf(device: string, peripheral: string): number {
    return this.slots.find((x) => x.device === device && x.k.peripheral === peripheral)?.instance ?? 0;
  }

  /** Device ids and their peripherals (inventory). */
  inventory(): Array<{ device: string; peripherals: Array<{ id: string; kind: Kind['kind']; profile: string; serial: string }> }> {
    return this.devs.map((d) => ({
      device: d.id,
      peripherals: scenarioKinds.map((k) => ({ id: k.peripheral, kind: k.kind, profile: k.profile, serial: this.serialOf(d.id, k.peripheral) })),
    }));
  }

  private newPart(s: Slot, used: number): WearPart {
    const p = this.physics;
    const rnd = seededRandom(deriveSeed(this.o.seed, `${this.name}/${s.device}/${s.k.peripheral}/${s.instance}`));
    const infant = s.instance > 0 && rnd() < p.infantShare;
    const sudden = rnd() < p.suddenShare;
    const infantLife = infant ? uniform([0.01, 0.15], rnd) * s.k.rated : undefined;
    let precursorUses = p.precursorDays === null ? undefined : sudden ? 0 : logUniform(p.precursorDays, rnd) * s.perDay;
    if (precursorUses !== undefined && infantLife !== undefined) precursorUses = Math.min(precursorUses, 0.5 * infantLife);
    const part = new WearPart({
      device: s.device,
      peripheral: s.k.peripheral,
      part: s.k.part,
      ratedLife: s.k.rated,
      usage: used,
      baseErrorRate: s.k.base,
      endErrorRate: s.k.end,
      lifeShape: uniform(p.lifeShape, rnd),
      lifeScale: uniform(p.lifeScale, rnd),
      random: rnd,
      clock: () => this.now,
      recorder: this.truth,
      ...(infantLife !== undefined ? { life: used + infantLife } : {}),
      ...(precursorUses !== undefined ? { precursorUses } : {}),
    });
    s.onsetAt = null;
    s.preventiveAt = rnd() < p.preventiveShare ? uniform([0.8, 0.95], rnd) * s.k.rated : null;
    return part;
  }

  /**
   * Advances the fleet by one hour. Returns the samples that arrive in this hour (a device back
   * from a gap flushes its backlog) and the service records made.
   */
  step(h: number): { samples: ReplaySample[]; service: ReplayService[] } {
    const p = this.physics;
    this.now = this.o.t0 + h * HOUR;
    const now = this.now;
    const dayIndex = Math.floor(h / 24);
    const hourOfDay = h % 24;
    const weekday = new Date(now).getUTCDay();
    const open = hourOfDay >= 8 && hourOfDay < 20;
    const sampleNow = h % this.o.sampleHours === 0;
    const samples: ReplaySample[] = [];
    const service: ReplayService[] = [];
    if (hourOfDay === 0) {
      for (const d of this.devs) {
        if (p.closurePerDay && now >= d.closedUntil && this.rnd() < p.closurePerDay) d.closedUntil = now + Math.round(uniform([1, 14], this.rnd)) * DAY;
        if (p.burstPerDay && now >= d.burstUntil && this.rnd() < p.burstPerDay) {
          d.burstUntil = now + Math.round(uniform([1, 2], this.rnd)) * DAY;
          d.burstX = uniform([5, 15], this.rnd);
        }
        if (p.clockJumpPerDay && now >= d.jumpUntil && this.rnd() < p.clockJumpPerDay) {
          d.jumpUntil = now + DAY;
          // A dead RTC cell boots in 2000, or the year is wrong by one.
          d.jumpBy = this.rnd() < 0.5 ? Date.UTC(2000, 0, 1) - now : 365 * DAY;
        }
        if (p.gapPerDay && now >= d.offlineUntil && this.rnd() < p.gapPerDay) d.offlineUntil = now + Math.round(uniform([1, 5], this.rnd)) * DAY;
      }
    }
    for (let i = 0; i < this.slots.length; i++) {
      const s = this.slots[i];
      const d = this.devs[Math.floor(i / scenarioKinds.length)];
      if (s.replaceAt !== null && now >= s.replaceAt) service.push(this.replace(s, true));
      else if (s.preventiveAt !== null && !s.part.failed && s.part.usage >= s.preventiveAt) service.push(this.replace(s, false));
      if (open && now >= d.closedUntil) {
        const nk = `${s.device}/${s.k.peripheral}/${dayIndex}`;
        let noise = this.dayNoise.get(nk);
        if (noise === undefined) {
          if (this.dayNoise.size > 10_000) this.dayNoise.clear();
          noise = (0.6 + 0.8 * this.rnd()) * (weekday === 0 || weekday === 6 ? 0.5 : 1) * (d.peak && now >= d.peak.from && now < d.peak.to ? d.peak.x : 1);
          this.dayNoise.set(nk, noise);
        }
        const n = poisson((s.perDay / 12) * noise, this.rnd);
        let rate = s.part.errorRate();
        if (now < d.burstUntil && !s.part.failed) rate = Math.min(0.5, rate * d.burstX);
        const e = Math.min(n, poisson(n * rate, this.rnd));
        s.part.advance(n);
        s.uses += n;
        s.errors += e;
        if (s.onsetAt === null && s.part.usage > s.part.onsetUsage && s.part.onsetUsage < s.part.actualLife) s.onsetAt = now;
        if (s.part.failed && s.replaceAt === null) {
          s.replaceAt = now + 3 * DAY;
          this.failures.push({
            device: s.device,
            peripheral: s.k.peripheral,
            instance: s.instance,
            failedAt: s.part.failedRecord!.failedAt,
            onsetAt: s.onsetAt,
          });
        }
        if (!s.baselineTicketed && s.part.usage >= 0.9 * s.k.rated) {
          s.baselineTicketed = true;
          this.baselineTickets.push({ device: s.device, peripheral: s.k.peripheral, instance: s.instance, at: now });
        }
      }
      if (!sampleNow) continue;
      const sample: ReplaySample = {
        device: s.device,
        peripheral: s.k.peripheral,
        kind: s.k.kind,
        profile: s.k.profile,
        part: s.k.part,
        ts: now < d.jumpUntil ? now + d.jumpBy : now,
        arrivedAt: now,
        counters: { [s.k.uses]: s.uses, [s.k.errors]: s.errors },
      };
      if (now < d.offlineUntil) d.outbox.push(sample);
      else {
        // Back online: the backlog first, in order, all arriving now.
        if (d.outbox.length && i % scenarioKinds.length === 0) {
          for (const b of d.outbox) samples.push({ ...b, arrivedAt: now });
          d.outbox = [];
        }
        samples.push(sample);
      }
    }
    return { samples, service };
  }

  private replace(s: Slot, failed: boolean): ReplayService {
    const usage = Math.round(s.part.usage);
    s.instance += 1;
    s.replaceAt = null;
    s.baselineTicketed = false;
    const unit = this.physics.replacement === 'unit';
    if (unit) {
      s.serialNo += 1;
      s.uses = 0;
      s.errors = 0;
    }
    s.part = this.newPart(s, 0);
    return {
      device: s.device,
      peripheral: s.k.peripheral,
      part: s.k.part,
      profile: s.k.profile,
      at: this.now,
      kind: unit ? 'unit-swap' : failed ? 'part-replaced' : 'preventive',
      serial: `${s.device}-${s.k.peripheral}-${s.serialNo}`,
      failed,
      usage,
    };
  }
}
