// A flood of repeated errors must not become a flood of log lines: the first occurrence of a key
// is logged at once, later ones at most once per window, with how many were suppressed meanwhile.
// Shared by every long-running process (collector, broker, agent), hence its own folder.
export class LogLimiter {
  private readonly last = new Map<string, { at: number; suppressed: number; total: number }>();

  constructor(private readonly windowMs = 60_000) {}

  /** Calls `emit(suppressed)` if this key may be logged now. */
  maybe(key: string, now: number, emit: (suppressed: number) => void): void {
    const e = this.last.get(key);
    if (e && now - e.at < this.windowMs) {
      e.suppressed++;
      e.total++;
      return;
    }
    const suppressed = e?.suppressed ?? 0;
    this.last.set(key, { at: now, suppressed: 0, total: (e?.total ?? 0) + 1 });
    emit(suppressed);
  }

  /**
   * The trouble behind `key` is over: forgets it and returns how many times it happened in all
   * (0 when it was not active), so the caller can log one "works again" line with the count.
   */
  end(key: string): number {
    const total = this.last.get(key)?.total ?? 0;
    this.last.delete(key);
    return total;
  }

  reset(key: string): void {
    this.last.delete(key);
  }

  /** Forgets every key (the trouble is over, e.g. connected again). */
  clear(): void {
    this.last.clear();
  }
}
