// What real use of a fingerprint module says about its health, tallied from the confirmation
// codes of the POS software's own commands as they pass through the agent's relay (see relay.ts
// for why the agent sits in that path). Pure: feed it (instruction, code, time), read counters
// and rates over a sliding window of recent outcomes.
import { IMAGE_QUALITY_CODES, instruction } from './codec.js';

export type CaptureCounters = {
  /** GenImg / GetImageEx answered with a finger on the sensor (00, 03, 07). */
  captures: number;
  /** GenImg / GetImageEx answered 02: nobody pressed (not a health signal; polling apps send many). */
  noFinger: number;
  /** Captures or feature extractions failed on image quality (03, 06, 07, 15). */
  imageFailures: number;
  /** Img2Tz / GenChar attempts. */
  featureExtractions: number;
  /** Search / HiSpeedSearch / Match answered. */
  matchAttempts: number;
  matchFound: number;
  /** Search answered 09 / Match answered 08. */
  matchRejected: number;
  /** A rejection followed by a success within the retry window: the same person tried again (false-reject proxy). */
  rejectThenAccept: number;
  /** Any other non-zero confirmation code seen in relayed traffic (receive errors, flash errors…). */
  otherErrors: number;
};

export type CaptureRates = {
  /** Image-quality failures per capture attempt with a finger, over the window. */
  imageFailRate: number;
  /** Rejections followed by a quick accepted retry, per accepted match, over the window. */
  falseRejectProxyRate: number;
  /** Rejections per match attempt over the window. */
  matchRejectRate: number;
  /** Outcomes the rates are computed from (captures, matches). */
  windowCaptures: number;
  windowMatches: number;
};

const CAPTURE = new Set<number>([instruction.genImg, instruction.getImageEx]);
const FEATURE = new Set<number>([instruction.img2Tz]);
const MATCH = new Set<number>([instruction.search, instruction.hiSpeedSearch, instruction.match]);

export type CaptureTallyOptions = {
  /** How many recent captures / matches the rates look at (default 100). */
  window?: number;
  /** A rejection counts as a false reject when an accept follows within this many ms (default 10 s). */
  retryWindowMs?: number;
};

export class CaptureTally {
  readonly counters: CaptureCounters = {
    captures: 0,
    noFinger: 0,
    imageFailures: 0,
    featureExtractions: 0,
    matchAttempts: 0,
    matchFound: 0,
    matchRejected: 0,
    rejectThenAccept: 0,
    otherErrors: 0,
  };
  /** 1 = image failure, 0 = good image, per capture-with-finger or feature extraction. */
  private readonly imageWindow: number[] = [];
  /** 'a' accepted, 'r' rejected, 'f' accepted right after a rejection. */
  private readonly matchWindow: Array<'a' | 'r' | 'f'> = [];
  private lastRejectAt = -Infinity;
  private readonly size: number;
  private readonly retryMs: number;

  constructor(opts: CaptureTallyOptions = {}) {
    this.size = opts.window ?? 100;
    this.retryMs = opts.retryWindowMs ?? 10_000;
  }

  /** One relayed ack: which instruction it answered, its confirmation code, when (ms). */
  observe(instr: number, code: number, at: number): void {
    const c = this.counters;
    if (CAPTURE.has(instr)) {
      if (code === 0x02) c.noFinger++;
      else if (code === 0x00 || IMAGE_QUALITY_CODES.has(code)) {
        c.captures++;
        const bad = code !== 0x00;
        if (bad) c.imageFailures++;
        this.push(this.imageWindow, bad ? 1 : 0);
      } else c.otherErrors++;
    } else if (FEATURE.has(instr)) {
      c.featureExtractions++;
      if (IMAGE_QUALITY_CODES.has(code)) {
        c.imageFailures++;
        this.push(this.imageWindow, 1);
      } else if (code !== 0x00) c.otherErrors++;
    } else if (MATCH.has(instr)) {
      if (code === 0x00) {
        c.matchAttempts++;
        c.matchFound++;
        const retried = at - this.lastRejectAt <= this.retryMs;
        if (retried) c.rejectThenAccept++;
        this.lastRejectAt = -Infinity;
        this.push(this.matchWindow, retried ? 'f' : 'a');
      } else if (code === 0x08 || code === 0x09) {
        c.matchAttempts++;
        c.matchRejected++;
        this.lastRejectAt = at;
        this.push(this.matchWindow, 'r');
      } else c.otherErrors++;
    } else if (code !== 0x00) c.otherErrors++;
  }

  rates(): CaptureRates {
    const imgN = this.imageWindow.length;
    const imgBad = this.imageWindow.reduce((a, b) => a + b, 0);
    const m = this.matchWindow;
    const accepted = m.filter((x) => x !== 'r').length;
    const retried = m.filter((x) => x === 'f').length;
    const rejected = m.length - accepted;
    return {
      imageFailRate: imgN ? imgBad / imgN : 0,
      falseRejectProxyRate: accepted ? retried / accepted : 0,
      matchRejectRate: m.length ? rejected / m.length : 0,
      windowCaptures: imgN,
      windowMatches: m.length,
    };
  }

  private push<T>(w: T[], v: T): void {
    w.push(v);
    if (w.length > this.size) w.shift();
  }
}
