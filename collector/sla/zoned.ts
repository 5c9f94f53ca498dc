// Wall-clock ↔ instant conversion in an IANA time zone with nothing but Intl (no tz dependency).
// A ZoneClock owns its formatter, so there is no module-level cache (several instances, one process).

/** A calendar date in some zone: year, month 1–12, day 1–31. */
export type LocalDate = { year: number; month: number; day: number };

/** `YYYY-MM-DD` of a local date. */
export function isoDate(d: LocalDate): string {
  return `${String(d.year).padStart(4, '0')}-${String(d.month).padStart(2, '0')}-${String(d.day).padStart(2, '0')}`;
}

/** The next calendar day (pure date arithmetic, no zone involved). */
export function nextDate(d: LocalDate): LocalDate {
  const t = new Date(Date.UTC(d.year, d.month - 1, d.day + 1));
  return { year: t.getUTCFullYear(), month: t.getUTCMonth() + 1, day: t.getUTCDate() };
}

/** 0 = Sunday … 6 = Saturday, as Date#getDay. */
export function weekdayOf(d: LocalDate): number {
  return new Date(Date.UTC(d.year, d.month - 1, d.day)).getUTCDay();
}

/** True when `tz` names a zone this runtime's ICU knows. */
export function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const DAY_MS = 86_400_000;

export class ZoneClock {
  private readonly fmt: Intl.DateTimeFormat;

  constructor(readonly timeZone: string) {
    this.fmt = ZoneClock.formatOf(timeZone);
  }

  // Creating an Intl.DateTimeFormat costs far more than using one (ICU loads the zone): one per
  // zone for the process (measured by bench/dispatch.ts: most of an escalation pass before).
  private static readonly formats = new Map<string, Intl.DateTimeFormat>();
  private static formatOf(timeZone: string): Intl.DateTimeFormat {
    let f = ZoneClock.formats.get(timeZone);
    if (f) return f;
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
    ZoneClock.formats.set(timeZone, f);
    return f;
  }

  /** Wall-clock fields of an instant in this zone. */
  parts(at: number): LocalDate & { hour: number; minute: number; second: number } {
    const out = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
    let bc = false;
    for (const p of this.fmt.formatToParts(new Date(at))) {
      if (p.type === 'era') bc = p.value.startsWith('B');
      else if (p.type in out) out[p.type as keyof typeof out] = Number(p.value);
    }
    if (bc) out.year = 1 - out.year;
    return out;
  }

  /** The local date of an instant. */
  dateOf(at: number): LocalDate {
    const { year, month, day } = this.parts(at);
    return { year, month, day };
  }

  /** UTC offset in ms at an instant (local − UTC), whole seconds. */
  offsetAt(at: number): number {
    const whole = Math.floor(at / 1000) * 1000;
    const p = this.parts(whole);
    return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - whole;
  }

  /**
   * The instant of a local wall time. Ambiguous times (autumn overlap) take the earlier instant;
   * times that do not exist (spring gap) are read with the offset before the transition, i.e.
   * pushed forward by the gap — the same rule as Temporal's `disambiguation: 'compatible'`.
   * `secondsOfDay` may be 86400 (24:00 = the next day's midnight).
   */
  instantOf(date: LocalDate, secondsOfDay: number): number {
    const wall = Date.UTC(date.year, date.month - 1, date.day) + secondsOfDay * 1000;
    // Zone transitions are months apart, so the offsets a day either side cover both readings.
    const before = this.offsetAt(wall - DAY_MS);
    const after = this.offsetAt(wall + DAY_MS);
    const candidates = [wall - before, wall - after].filter((t) => this.offsetAt(t) === wall - t);
    if (candidates.length) return Math.min(...candidates);
    return wall - before;
  }
}
