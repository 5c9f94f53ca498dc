// Working time on a calendar, walked day by day as ERPNext/Frappe Helpdesk do: skip holidays and
// non-working days, on the first day start at max(start, window start), consume the seconds
// inside each window. Windows are wall-clock times in the calendar's zone turned into instants
// per date, so a window that spans a DST change holds an hour less (spring) or more (autumn):
// working time is real elapsed time.
import { secondsOfDay, weekdays, type WorkingCalendar } from './schema.js';
import { isoDate, nextDate, weekdayOf, ZoneClock, type LocalDate } from './zoned.js';

/** A half-open interval of instants [from, to) in epoch ms; `to` may be Infinity. */
export type Interval = { from: number; to: number };

/** Walking further than this without finding working time means the calendar has none left. */
const MAX_DAYS = 366 * 30;

type Window = { start: number; end: number }; // seconds of day

function windowsByDay(calendar: WorkingCalendar): { weekly: Window[][]; dated: Map<string, Window[]>; holidays: Set<string> } {
  const weekly: Window[][] = weekdays.map(() => []);
  for (const w of calendar.support_and_resolution) {
    weekly[weekdays.indexOf(w.workday)].push({ start: secondsOfDay(w.start_time), end: secondsOfDay(w.end_time) });
  }
  const dated = new Map<string, Window[]>();
  for (const w of calendar.extra_working_days) {
    const list = dated.get(w.date) ?? [];
    list.push({ start: secondsOfDay(w.start_time), end: secondsOfDay(w.end_time) });
    dated.set(w.date, list);
  }
  for (const list of [...weekly, ...dated.values()]) list.sort((a, b) => a.start - b.start);
  return { weekly, dated, holidays: new Set(calendar.holidays) };
}

/**
 * The calendar's working intervals from `start` on, in order, clipped so none begins before
 * `start`. Infinite for a calendar with working time; stops after MAX_DAYS without any.
 */
export function* workingIntervals(start: number, calendar: WorkingCalendar): Generator<Interval> {
  if (calendar.twenty_four_seven) {
    yield { from: start, to: Infinity };
    return;
  }
  const zone = new ZoneClock(calendar.time_zone);
  const { weekly, dated, holidays } = windowsByDay(calendar);
  let date: LocalDate = zone.dateOf(start);
  for (let idle = 0; idle < MAX_DAYS; date = nextDate(date)) {
    const key = isoDate(date);
    // A dated working day wins over a holiday on the same date (an explicit override).
    const windows = dated.get(key) ?? (holidays.has(key) ? [] : weekly[weekdayOf(date)]);
    let found = false;
    for (const w of windows) {
      const from = Math.max(start, zone.instantOf(date, w.start));
      const to = zone.instantOf(date, w.end);
      if (from < to) {
        found = true;
        yield { from, to };
      }
    }
    idle = found ? 0 : idle + 1;
  }
}

/** `intervals` minus `excluded` (sorted or not), keeping order. */
function* subtract(intervals: Iterable<Interval>, excluded: readonly Interval[]): Generator<Interval> {
  const ex = [...excluded].filter((e) => e.from < e.to).sort((a, b) => a.from - b.from);
  for (const iv of intervals) {
    let from = iv.from;
    for (const e of ex) {
      if (e.to <= from) continue;
      if (e.from >= iv.to) break;
      if (e.from > from) yield { from, to: e.from };
      from = Math.max(from, e.to);
      if (from >= iv.to) break;
    }
    if (from < iv.to) yield { from, to: iv.to };
    if (from === Infinity) return;
  }
}

/**
 * The instant at which `seconds` of working time have elapsed after `start`, not counting the
 * `excluded` intervals (holds). null when that never happens (an open-ended hold, or a calendar
 * without working time). Zero seconds = the first working instant at or after `start`.
 */
export function addWorkingTimeExcluding(start: number, seconds: number, calendar: WorkingCalendar, excluded: readonly Interval[]): number | null {
  let remaining = seconds * 1000;
  for (const iv of subtract(workingIntervals(start, calendar), excluded)) {
    if (remaining <= iv.to - iv.from) return iv.from + remaining;
    remaining -= iv.to - iv.from;
  }
  return null;
}

/** The instant `seconds` of working time after `start` (epoch ms or Date), in epoch ms. */
export function addWorkingTime(start: number | Date, seconds: number, calendar: WorkingCalendar): number {
  const from = typeof start === 'number' ? start : start.getTime();
  const at = addWorkingTimeExcluding(from, seconds, calendar, []);
  if (at === null) throw new RangeError(`calendar ${calendar.time_zone} has no working time within ${MAX_DAYS} days of ${new Date(from).toISOString()}`);
  return at;
}

/** Working seconds in [from, to) minus the excluded intervals. */
export function workingSecondsBetween(from: number, to: number, calendar: WorkingCalendar, excluded: readonly Interval[] = []): number {
  let ms = 0;
  if (to <= from) return 0;
  for (const iv of subtract(workingIntervals(from, calendar), excluded)) {
    if (iv.from >= to) break;
    ms += Math.min(iv.to, to) - iv.from;
  }
  return ms / 1000;
}
