// A flood of bad input must not become a flood of log lines: the first occurrence of a key is
// logged at once, later ones at most once per window, with how many were suppressed meanwhile.
export class LogLimiter {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly windowMs = 60_000) {}

  /** Calls `emit(suppressed)` if this key may be logged now. */
  maybe(key: string, now: number, emit: (suppressed: number) => void): void {
    const e = this.last.get(key);
    if (e && now - e.at < this.windowMs) {
      e.suppressed++;
      return;
    }
    const suppressed = e?.suppressed ?? 0;
    this.last.set(key, { at: now, suppressed: 0 });
    emit(suppressed);
  }

  reset(key: string): void {
    this.last.delete(key);
  }
}
