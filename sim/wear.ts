// Wear models for simulated peripherals, and the ground-truth record of when each simulated part
// actually failed (so that the next issue's failure prediction can be scored against it).
//
// A part (a fingerprint window, an MSR head, a cutter, a print head, a clock's keypad…) has a rated
// life in usage units (captures, swipes, cuts, lines). Its *actual* life is drawn once, from a
// Weibull distribution around the rated life, from a seeded RNG: the same seed gives the same
// fleet and the same failures. The per-use error probability is flat while the part is young and
// rises as usage approaches the actual life (bathtub curve without the infant-mortality part);
// when usage reaches the actual life the part fails, which is recorded once as ground truth.
// Nothing here knows about any device: drivers' simulators decide what an "error" means.
import { appendFileSync, writeFileSync } from 'node:fs';

/** mulberry32: a small, fast, seedable PRNG — the same seed gives the same sequence. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A stable 32-bit seed from a parent seed and a label (one independent stream per part). */
export function deriveSeed(seed: number, label: string): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** When one simulated part actually failed: the ground truth prediction is measured against. */
export type GroundTruthRecord = {
  device?: string;
  peripheral: string;
  part: string;
  /** Simulation clock (ms) at the failure. */
  failedAt: number;
  /** Usage counter of the part (in its own units) at the failure. */
  atUsage: number;
};

/** Collects ground-truth records in memory and, when given a file, appends each as one JSON line. */
export class GroundTruthRecorder {
  private readonly list: GroundTruthRecord[] = [];

  /** `file`: JSONL file each record is appended to as it happens (survives a crash of the sim). */
  constructor(private readonly file?: string) {}

  record(r: GroundTruthRecord): void {
    const clean: GroundTruthRecord = {
      ...(r.device !== undefined ? { device: r.device } : {}),
      peripheral: r.peripheral,
      part: r.part,
      failedAt: r.failedAt,
      atUsage: r.atUsage,
    };
    this.list.push(clean);
    if (this.file) appendFileSync(this.file, JSON.stringify(clean) + '\n');
  }

  records(): GroundTruthRecord[] {
    return this.list.map((r) => ({ ...r }));
  }

  /** The records of one part of one peripheral (the same `device`, `peripheral` and `part`). */
  recordsOf(of: { device?: string; peripheral: string; part: string }): GroundTruthRecord[] {
    return this.records().filter((r) => r.part === of.part && r.peripheral === of.peripheral && r.device === of.device);
  }

  toJsonl(): string {
    return this.list.map((r) => JSON.stringify(r) + '\n').join('');
  }

  /** Writes every record so far to `path` (replacing it). */
  writeJsonl(path: string): void {
    writeFileSync(path, this.toJsonl());
  }
}

export type WearPartOptions = {
  device?: string;
  peripheral: string;
  /** Part name as the firmware profile's ratedLife names it (`sensor-window`, `read-head`, `cutter`). */
  part: string;
  /** Rated life in usage units (captures, swipes, cuts…). */
  ratedLife: number;
  /** Usage already done when the simulation starts (an aged part). Default 0. */
  usage?: number;
  /** Error probability per use of a young part. */
  baseErrorRate: number;
  /** Error probability per use just before the part fails. */
  endErrorRate: number;
  /** Error probability per use once failed (default 1: a dead part fails every time). */
  failedErrorRate?: number;
  /** Fraction of the actual life from which the error rate starts rising (default 0.6). */
  onsetFraction?: number;
  /** Curvature of the rise between onset and end of life (default 2: slow, then fast). */
  riseExponent?: number;
  /**
   * Weibull shape of the actual life around the rated life (default 4: most parts end within
   * ±30 % of rated). Infinity makes the actual life exactly the rated life.
   */
  lifeShape?: number;
  /** Weibull scale of the actual life as a multiple of the rated life (default 1). */
  lifeScale?: number;
  /** The actual life itself (infant mortality, a scripted life), instead of a draw. */
  life?: number;
  /**
   * Uses before the failure during which the error rate rises (replaces `onsetFraction`): a
   * precursor of days or months whatever the life; 0 is a sudden death without warning.
   */
  precursorUses?: number;
  random: () => number;
  /** Simulation clock in ms (default Date.now). */
  clock?: () => number;
  recorder?: GroundTruthRecorder;
};

/** One wearing part: usage counter, a hidden actual life, an error rate that rises near it. */
export class WearPart {
  readonly part: string;
  readonly ratedLife: number;
  /** The usage at which this part fails (hidden from drivers; known to the simulation). */
  readonly actualLife: number;
  private used: number;
  private failure: GroundTruthRecord | null = null;
  private readonly clock: () => number;

  constructor(private readonly o: WearPartOptions) {
    if (!(o.ratedLife > 0)) throw new RangeError(`ratedLife must be > 0, got ${o.ratedLife}`);
    if (!(o.baseErrorRate >= 0 && o.baseErrorRate <= 1 && o.endErrorRate >= 0 && o.endErrorRate <= 1)) throw new RangeError('error rates must be in [0, 1]');
    this.part = o.part;
    this.ratedLife = o.ratedLife;
    this.clock = o.clock ?? Date.now;
    this.used = Math.max(0, o.usage ?? 0);
    this.actualLife =
      o.life !== undefined ? Math.max(o.life, this.used + 1) : drawLife(o.ratedLife * (o.lifeScale ?? 1), o.lifeShape ?? 4, this.used, o.random);
  }

  /** Usage at which the error rate starts rising (= actual life for a sudden death). */
  get onsetUsage(): number {
    if (this.o.precursorUses !== undefined) return Math.max(0, this.actualLife - this.o.precursorUses);
    return this.actualLife * (this.o.onsetFraction ?? 0.6);
  }

  get usage(): number {
    return this.used;
  }

  /** Share of the rated life used (what a driver reading counters can know). */
  get ratedFraction(): number {
    return this.used / this.ratedLife;
  }

  get failed(): boolean {
    return this.failure !== null;
  }

  /** The ground-truth record of the failure, once the part has failed. */
  get failedRecord(): GroundTruthRecord | null {
    return this.failure ? { ...this.failure } : null;
  }

  /** Error probability of the next use. */
  errorRate(): number {
    if (this.failure) return this.o.failedErrorRate ?? 1;
    const onset = this.onsetUsage;
    if (this.used <= onset || onset >= this.actualLife) return this.o.baseErrorRate;
    const x = Math.min(1, (this.used - onset) / (this.actualLife - onset));
    return this.o.baseErrorRate + (this.o.endErrorRate - this.o.baseErrorRate) * x ** (this.o.riseExponent ?? 2);
  }

  /** Advances usage by `n` without drawing outcomes; fails the part when usage reaches its life. */
  advance(n = 1): void {
    if (!(n >= 0)) return;
    this.used += n;
    if (!this.failure && this.used >= this.actualLife) {
      this.failure = {
        ...(this.o.device !== undefined ? { device: this.o.device } : {}),
        peripheral: this.o.peripheral,
        part: this.o.part,
        failedAt: this.clock(),
        atUsage: Math.round(this.actualLife),
      };
      this.o.recorder?.record(this.failure);
    }
  }

  /** One use: returns true when this use errored (drawn at the current error rate), then advances. */
  use(): boolean {
    const errored = this.o.random() < this.errorRate();
    this.advance(1);
    return errored;
  }

  /** Forces the failure now (a scripted fault that is also a real failure). */
  failNow(): void {
    if (!this.failure) this.advance(Math.max(0, this.actualLife - this.used));
  }
}

/**
 * Actual life drawn from Weibull(shape, scale = rated life), conditioned on having survived
 * `survived` uses already (an aged part still in service): inverse CDF of the truncated law.
 */
function drawLife(rated: number, shape: number, survived: number, random: () => number): number {
  if (!Number.isFinite(shape)) return Math.max(rated, survived + 1);
  const u = Math.max(1e-12, 1 - random());
  const life = rated * ((survived / rated) ** shape - Math.log(u)) ** (1 / shape);
  return Math.max(life, survived + 1);
}

/** A wearing part a test or scenario asks a simulator to model (the simulator gives the rated life). */
export type ScriptedWear = {
  seed: number;
  usage?: number;
  baseErrorRate?: number;
  endErrorRate?: number;
  recorder?: GroundTruthRecorder;
  device?: string;
  peripheral?: string;
};

/**
 * The simulator's part as `w` scripts it, or null without `w` (the part never wears out).
 * `part` gives the part's name, its peripheral kind, its default error rates and the label its
 * random stream is derived with from `w.seed`.
 */
export function scriptedWearPart(
  w: ScriptedWear | undefined,
  ratedLife: number | undefined,
  part: { peripheral: string; part: string; baseErrorRate: number; endErrorRate: number; stream: string },
): WearPart | null {
  if (!w || ratedLife === undefined) return null;
  return new WearPart({
    device: w.device,
    peripheral: w.peripheral ?? part.peripheral,
    part: part.part,
    ratedLife,
    usage: w.usage,
    baseErrorRate: w.baseErrorRate ?? part.baseErrorRate,
    endErrorRate: w.endErrorRate ?? part.endErrorRate,
    random: seededRandom(deriveSeed(w.seed, part.stream)),
    recorder: w.recorder,
  });
}
