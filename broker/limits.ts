// Per-client publish rate limit and failed-login throttle. Both are plain classes with an
// injectable clock, owned by one broker instance (no module state).
import type { ThrottleRule } from './config.js';

export type Clock = () => number;

/** Per-client rate state; one small flat object per connection (memory matters at 10k clients). */
export type RateState = { tokens: number; last: number; windowStart: number; drops: number };

export type RateVerdict = 'ok' | 'drop' | 'disconnect';

/**
 * Publish rate limit, one instance per broker: a token bucket per client (`perSecond`, `burst`)
 * plus a count of drops in a fixed window; a client reaching `disconnectAfterDrops` drops
 * within `windowMs` keeps flooding and is to be disconnected.
 */
export class PublishRateLimit {
  constructor(
    private readonly rule: { perSecond: number; burst: number; disconnectAfterDrops: number; windowMs: number },
    private readonly now: Clock = Date.now,
  ) {}

  newState(): RateState {
    return { tokens: this.rule.burst, last: this.now(), windowStart: 0, drops: 0 };
  }

  check(s: RateState): RateVerdict {
    const t = this.now();
    s.tokens = Math.min(this.rule.burst, s.tokens + ((t - s.last) / 1000) * this.rule.perSecond);
    s.last = t;
    if (s.tokens >= 1) {
      s.tokens -= 1;
      return 'ok';
    }
    if (t - s.windowStart > this.rule.windowMs) {
      s.windowStart = t;
      s.drops = 0;
    }
    s.drops++;
    return s.drops >= this.rule.disconnectAfterDrops ? 'disconnect' : 'drop';
  }
}

type Entry = { failures: number; lockedUntil: number; last: number };

/**
 * Exponential lockout per key. After `freeAttempts` failures each further failure locks the key
 * for base·2^k ms (capped); during a lockout logins are refused without checking the password,
 * so guessing is bounded whatever the attacker's speed. Attempts refused while locked do not
 * extend the lockout (a client retrying in a loop still gets back in once the lock expires).
 */
export class LoginThrottle {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly rule: ThrottleRule,
    private readonly maxEntries: number,
    private readonly now: Clock = Date.now,
  ) {}

  /** Milliseconds until `key` may try again; 0 when it may try now. */
  lockedFor(key: string): number {
    const e = this.current(key);
    return e ? Math.max(0, e.lockedUntil - this.now()) : 0;
  }

  fail(key: string): void {
    const t = this.now();
    const e = this.current(key) ?? { failures: 0, lockedUntil: 0, last: t };
    e.failures++;
    e.last = t;
    const over = e.failures - this.rule.freeAttempts;
    if (over > 0) e.lockedUntil = t + Math.min(this.rule.maxDelayMs, this.rule.baseDelayMs * 2 ** Math.min(over - 1, 30));
    // Re-insert so Map order stays least-recently-failed first, for eviction.
    this.entries.delete(key);
    this.entries.set(key, e);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  succeed(key: string): void {
    this.entries.delete(key);
  }

  /** Drops keys that have been quiet long enough to be forgotten. */
  sweep(): void {
    const t = this.now();
    for (const [k, e] of this.entries) {
      if (t - e.last > this.rule.forgetAfterMs && t >= e.lockedUntil) this.entries.delete(k);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  private current(key: string): Entry | undefined {
    const e = this.entries.get(key);
    if (e && this.now() - e.last > this.rule.forgetAfterMs && this.now() >= e.lockedUntil) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }
}

/** An oversized publish refused by the broker, kept for inspection (its head only). */
export type OversizedLetter = {
  at: number;
  client: string | null;
  remote?: string;
  /** Absent when the packet was refused before its topic was read. */
  topic?: string;
  bytes: number;
  limit: number;
  /** The first bytes of the payload (UTF-8, lossy), when the broker had it. */
  head?: string;
};

/**
 * Oversized publishes: counted, and the newest `max` kept as dead letters (topic, size and the
 * head of the payload), so a device whose messages grew past the limit can be diagnosed instead
 * of just disconnecting over and over. Bounded: a flood of huge packets costs `max` small entries.
 */
export class OversizedLetters {
  private readonly ring: OversizedLetter[] = [];
  total = 0;

  constructor(
    private readonly max = 100,
    private readonly headBytes = 512,
    private readonly now: Clock = Date.now,
  ) {}

  add(l: Omit<OversizedLetter, 'at' | 'head'>, payload?: Buffer): OversizedLetter {
    this.total++;
    const letter: OversizedLetter = { at: this.now(), ...l, ...(payload ? { head: payload.subarray(0, this.headBytes).toString('utf8') } : {}) };
    this.ring.push(letter);
    if (this.ring.length > this.max) this.ring.shift();
    return letter;
  }

  /** Newest first. */
  list(limit = this.max): OversizedLetter[] {
    return this.ring.slice(-limit).reverse();
  }
}
