// addWorkingTime against worked examples computed by hand (each written out next to its case).
// Zones: Asia/Riyadh UTC+3 and Asia/Tehran UTC+3:30 (neither has DST), Asia/Shanghai UTC+8,
// Europe/Berlin CET/CEST (2026: spring forward Sun 29 Mar 02:00→03:00, fall back Sun 25 Oct 03:00→02:00).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { addWorkingTime, workingCalendarSchema, workingSecondsBetween, type Weekday, type WorkingCalendarInput } from '../../collector/sla/index.js';

const H = 3600;
const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();
const cal = (c: WorkingCalendarInput) => workingCalendarSchema.parse(c);
const days = (list: Weekday[], start_time: string, end_time: string) => list.map((workday) => ({ workday, start_time, end_time }));
const every: Weekday[] = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

// Saudi Arabia: Sunday–Thursday, weekend Friday–Saturday; two windows with a lunch break.
const riyadh = cal({
  time_zone: 'Asia/Riyadh',
  support_and_resolution: [
    ...days(['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday'], '08:00', '12:00'),
    ...days(['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday'], '13:00', '17:00'),
  ],
  holidays: ['2026-02-22'], // Founding Day (a Sunday in 2026)
});
// Iran: Saturday–Wednesday full days, Thursday morning only, Friday off. Example holiday list:
// 29 Esfand + Nowruz 1–4 Farvardin 1405 = 20–24 March 2026.
const tehran = cal({
  time_zone: 'Asia/Tehran',
  support_and_resolution: [...days(['Saturday', 'Sunday', 'Monday', 'Tuesday', 'Wednesday'], '08:00', '16:00'), ...days(['Thursday'], '08:00', '12:00')],
  holidays: ['2026-03-20', '2026-03-21', '2026-03-22', '2026-03-23', '2026-03-24'],
});
// China: Monday–Friday 09–18; an example Labour Day break 1–5 May with Saturday 9 May worked instead.
const shanghai = cal({
  time_zone: 'Asia/Shanghai',
  support_and_resolution: days(['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday'], '09:00', '18:00'),
  holidays: ['2026-05-01', '2026-05-02', '2026-05-03', '2026-05-04', '2026-05-05'],
  extra_working_days: [{ date: '2026-05-09', start_time: '09:00', end_time: '18:00' }],
});

test('Riyadh: Thursday afternoon skips the Friday–Saturday weekend', () => {
  // Thu 2026-03-05 15:00 +03 (12:00Z), 4 h: Thu 15–17 = 2 h; Fri, Sat off; Sun 08:00 + 2 h = 10:00 +03 = 07:00Z.
  assert.is(iso(addWorkingTime(at('2026-03-05T12:00:00Z'), 4 * H, riyadh)), '2026-03-08T07:00:00.000Z');
  // 16 h: Thu 2 h (14 left); Sun 08–12, 13–17 = 8 h (6 left); Mon 08–12 = 4 h (2 left); 13:00 + 2 h = 15:00 +03 = 12:00Z.
  assert.is(iso(addWorkingTime(at('2026-03-05T12:00:00Z'), 16 * H, riyadh)), '2026-03-09T12:00:00.000Z');
  // and the same span measured back: 16 working hours.
  assert.is(workingSecondsBetween(at('2026-03-05T12:00:00Z'), at('2026-03-09T12:00:00Z'), riyadh), 16 * H);
});

test('Riyadh: holiday after the weekend, lunch break, start outside hours, exact window end', () => {
  // Thu 2026-02-19 16:00 +03, 4 h: Thu 16–17 = 1 h; Fri, Sat weekend; Sun 22 Feb holiday; Mon 23 08:00 + 3 h = 11:00 +03 = 08:00Z.
  assert.is(iso(addWorkingTime(at('2026-02-19T13:00:00Z'), 4 * H, riyadh)), '2026-02-23T08:00:00.000Z');
  // Fri 2026-03-06 10:00 +03 (weekend), 1 h: first working instant Sun 08:00, + 1 h = 09:00 +03 = 06:00Z.
  assert.is(iso(addWorkingTime(at('2026-03-06T07:00:00Z'), 1 * H, riyadh)), '2026-03-08T06:00:00.000Z');
  // Thu 12:30 +03 (lunch), 30 min: the 13:00 window, + 30 min = 13:30 +03 = 10:30Z.
  assert.is(iso(addWorkingTime(at('2026-03-05T09:30:00Z'), 30 * 60, riyadh)), '2026-03-05T10:30:00.000Z');
  // Zero seconds at Thu 17:30 +03 = the next working instant, Sun 08:00 +03 = 05:00Z.
  assert.is(iso(addWorkingTime(at('2026-03-05T14:30:00Z'), 0, riyadh)), '2026-03-08T05:00:00.000Z');
  // Thu 08:00 +03, 8 h: ends exactly at Thu 17:00 +03 = 14:00Z, not at the next working morning.
  assert.is(iso(addWorkingTime(at('2026-03-05T05:00:00Z'), 8 * H, riyadh)), '2026-03-05T14:00:00.000Z');
});

test('Tehran: +03:30, Thursday half day, Friday off, Nowruz', () => {
  // Wed 2026-03-18 15:00 +03:30 (11:30Z), 2 h: Wed 15–16 = 1 h; Thu 08:00 + 1 h = 09:00 +03:30 = 05:30Z.
  assert.is(iso(addWorkingTime(at('2026-03-18T11:30:00Z'), 2 * H, tehran)), '2026-03-19T05:30:00.000Z');
  // 8 h: Wed 1 h; Thu 08–12 = 4 h (3 left); Fri 20 off; Sat 21 – Tue 24 Nowruz; Wed 25 08:00 + 3 h = 11:00 +03:30 = 07:30Z.
  assert.is(iso(addWorkingTime(at('2026-03-18T11:30:00Z'), 8 * H, tehran)), '2026-03-25T07:30:00.000Z');
  // Thu 2026-03-12 13:00 +03:30 (after the half day), 1 h: Fri off; Sat 14 08:00 + 1 h = 09:00 +03:30 = 05:30Z.
  assert.is(iso(addWorkingTime(at('2026-03-12T09:30:00Z'), 1 * H, tehran)), '2026-03-14T05:30:00.000Z');
});

test('Shanghai: Labour Day holidays and a make-up Saturday', () => {
  // Thu 2026-04-30 17:00 +08 (09:00Z), 9 h: Thu 17–18 = 1 h; 1–5 May off; Wed 6 May 09:00 + 8 h = 17:00 +08 = 09:00Z.
  assert.is(iso(addWorkingTime(at('2026-04-30T09:00:00Z'), 9 * H, shanghai)), '2026-05-06T09:00:00.000Z');
  // Fri 2026-05-08 16:00 +08 (08:00Z), 4 h: Fri 16–18 = 2 h; Sat 9 May is worked: 09:00 + 2 h = 11:00 +08 = 03:00Z.
  assert.is(iso(addWorkingTime(at('2026-05-08T08:00:00Z'), 4 * H, shanghai)), '2026-05-09T03:00:00.000Z');
});

test('one instant, three contracts: Thu 2026-03-05 12:00Z plus 8 working hours', () => {
  const start = at('2026-03-05T12:00:00Z');
  // Riyadh 15:00 Thu: Thu 2 h; Sun 08–12 = 4 h; 13:00 + 2 h = Sun 15:00 +03 = 12:00Z.
  assert.is(iso(addWorkingTime(start, 8 * H, riyadh)), '2026-03-08T12:00:00.000Z');
  // Shanghai 20:00 Thu (closed): Fri 09:00 + 8 h = 17:00 +08 = 09:00Z.
  assert.is(iso(addWorkingTime(start, 8 * H, shanghai)), '2026-03-06T09:00:00.000Z');
  // Tehran 15:30 Thu (half day over): Fri off; Sat 08:00 + 8 h = 16:00 +03:30 = 12:30Z.
  assert.is(iso(addWorkingTime(start, 8 * H, tehran)), '2026-03-07T12:30:00.000Z');
});

test('Berlin: a window crossing DST counts real elapsed time', () => {
  const night = cal({ time_zone: 'Europe/Berlin', support_and_resolution: days(every, '00:00', '06:00') });
  // Sat 2026-03-28 05:00 CET (04:00Z), 4 h: Sat 05–06 = 1 h; Sun 29 00:00 CET = Sat 23:00Z, + 3 h = 02:00Z
  // = 04:00 CEST (a wall-clock walk would say 03:00).
  assert.is(iso(addWorkingTime(at('2026-03-28T04:00:00Z'), 4 * H, night)), '2026-03-29T02:00:00.000Z');
  // Sun 29 Mar's 00–06 window is 5 real hours: 5 h from its start ends exactly at 06:00 CEST = 04:00Z.
  assert.is(iso(addWorkingTime(at('2026-03-28T23:00:00Z'), 5 * H, night)), '2026-03-29T04:00:00.000Z');
  // Sun 2026-10-25 00:00 CEST (Sat 22:00Z), 6.5 h: that window is 7 real hours (until 06:00 CET = 05:00Z),
  // so 22:00Z + 6.5 h = 04:30Z = 05:30 CET, the same day.
  assert.is(iso(addWorkingTime(at('2026-10-24T22:00:00Z'), 6.5 * H, night)), '2026-10-25T04:30:00.000Z');
  // A window starting inside the spring gap: 02:30 does not exist on 29 Mar and reads as 03:30 CEST (01:30Z);
  // 02:30–04:00 that day = 30 min. From Sun 00:00 CET, 45 min: 30 min on Sun; Mon 30 02:30 CEST = 00:30Z + 15 min.
  const early = cal({ time_zone: 'Europe/Berlin', support_and_resolution: days(every, '02:30', '04:00') });
  assert.is(iso(addWorkingTime(at('2026-03-28T23:00:00Z'), 45 * 60, early)), '2026-03-30T00:45:00.000Z');
});

test('24/7: plain elapsed time, holidays and DST included', () => {
  const always = cal({ time_zone: 'Europe/Berlin', twenty_four_seven: true, holidays: ['2026-03-29'] });
  // 01:00 CET (00:00Z) + 2 h = 02:00Z (04:00 CEST), on a date in the holiday list.
  assert.is(iso(addWorkingTime(at('2026-03-29T00:00:00Z'), 2 * H, always)), '2026-03-29T02:00:00.000Z');
  const ksa247 = cal({ time_zone: 'Asia/Riyadh', twenty_four_seven: true });
  // Friday in Riyadh counts: 07:00Z + 4 h = 11:00Z.
  assert.is(iso(addWorkingTime(new Date('2026-03-06T07:00:00Z'), 4 * H, ksa247)), '2026-03-06T11:00:00.000Z');
});

test('calendar validation names the field', () => {
  const bad = workingCalendarSchema.safeParse({
    time_zone: 'Asia/Atlantis',
    support_and_resolution: [
      { workday: 'Monday', start_time: '09:00', end_time: '13:00' },
      { workday: 'Monday', start_time: '12:00', end_time: '18:00' },
      { workday: 'Tuesday', start_time: '18:00', end_time: '09:00' },
    ],
    holidays: ['2026-02-30'],
  });
  assert.not.ok(bad.success);
  const paths = bad.error!.issues.map((i) => i.path.join('.'));
  assert.ok(paths.includes('time_zone'), paths.join(' '));
  assert.ok(paths.includes('support_and_resolution.2.end_time'), paths.join(' '));
  assert.ok(paths.includes('holidays.0'), paths.join(' '));
  const overlap = workingCalendarSchema.safeParse({
    time_zone: 'UTC',
    support_and_resolution: [
      { workday: 'Monday', start_time: '09:00', end_time: '13:00' },
      { workday: 'Monday', start_time: '12:00', end_time: '18:00' },
    ],
  });
  assert.equal(
    overlap.error?.issues.map((i) => i.path.join('.')),
    ['support_and_resolution.1'],
  );
  const empty = workingCalendarSchema.safeParse({ time_zone: 'UTC' });
  assert.equal(
    empty.error?.issues.map((i) => i.path.join('.')),
    ['support_and_resolution'],
  );
});

test('a Monday-only calendar carries the rest over a whole week', () => {
  // Mon 2026-03-02 16:00Z, 2 h: Mon 16–17 = 1 h; Mon 9 Mar 09:00 + 1 h = 10:00Z.
  const c = cal({ time_zone: 'UTC', support_and_resolution: days(['Monday'], '09:00', '17:00') });
  assert.is(iso(addWorkingTime(at('2026-03-02T16:00:00Z'), 2 * H, c)), '2026-03-09T10:00:00.000Z');
});

test.run();
