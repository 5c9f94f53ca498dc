// Maintenance windows: per site, weekly recurring (local days and time in the site's time
// zone, so a 22:00 window stays at 22:00 across DST) or one-off (absolute instants). During a
// window incidents are still recorded (data kept); only tickets are muted.
import { z } from 'zod';
import { ZoneClock } from '../sla/zoned.js';

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM');
const weekday = z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);

export const maintenanceWindow = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('weekly'),
      site: z.string().min(1),
      /** IANA time zone of the site, e.g. `Asia/Dubai`. */
      timeZone: z.string().refine((tz) => {
        try {
          new Intl.DateTimeFormat('en-US', { timeZone: tz });
          return true;
        } catch {
          return false;
        }
      }, 'unknown time zone'),
      days: z.array(weekday).min(1),
      start: hhmm,
      durationMinutes: z
        .number()
        .int()
        .positive()
        .max(7 * 24 * 60),
      note: z.string().optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal('once'),
      site: z.string().min(1),
      from: z.number().int(),
      to: z.number().int(),
      note: z.string().optional(),
    })
    .strict()
    .refine((w) => w.to > w.from, { message: 'to must be after from', path: ['to'] }),
]);
export type MaintenanceWindow = z.infer<typeof maintenanceWindow>;

const DAY = 86_400_000;
const weekdays = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

/** The instant of local wall time y-m-d h:min in `timeZone` (for a skipped DST hour, the later one). */
export function zonedTime(y: number, m: number, d: number, h: number, min: number, timeZone: string): number {
  const naive = Date.UTC(y, m - 1, d, h, min);
  const clock = new ZoneClock(timeZone);
  let t = naive - clock.offsetAt(naive);
  t = naive - clock.offsetAt(t);
  return t;
}

/** Whether `t` falls inside the window. */
export function windowActive(w: MaintenanceWindow, t: number): boolean {
  if (w.kind === 'once') return t >= w.from && t < w.to;
  const [h, min] = w.start.split(':').map(Number);
  const duration = w.durationMinutes * 60_000;
  const local = new ZoneClock(w.timeZone).parts(t);
  // Candidate starts: today and the days before, as far back as a window can reach.
  const back = Math.ceil(duration / DAY) + 1;
  for (let i = 0; i <= back; i++) {
    const day = new Date(Date.UTC(local.year, local.month - 1, local.day) - i * DAY);
    if (!w.days.includes(weekdays[day.getUTCDay()])) continue;
    const start = zonedTime(day.getUTCFullYear(), day.getUTCMonth() + 1, day.getUTCDate(), h, min, w.timeZone);
    if (t >= start && t < start + duration) return true;
  }
  return false;
}
