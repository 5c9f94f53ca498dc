// The demo fleet's customers: one per country, each with the Service Level Agreement of its
// contract on the working calendar of its country (time zone, working week, 2026 public holidays
// and, for China, the make-up working days), and the language its tickets are written in.
// ERPNext field names (collector/sla/schema.ts); parsed by the same schema the server uses.
import type { ServiceLevelAgreementInput } from '../collector/sla/index.js';
import type { TicketLanguage } from '../collector/tickets/index.js';
import type { IncidentsConfigInput } from '../collector/incidents/config.js';
import type { TeamInput, TechnicianInput } from '../dispatch/model.js';

const H = 3600;
type Weekday = 'Sunday' | 'Monday' | 'Tuesday' | 'Wednesday' | 'Thursday' | 'Friday' | 'Saturday';
const days = (list: Weekday[], start_time: string, end_time: string) => list.map((workday) => ({ workday, start_time, end_time }));

/** Response and resolution times (seconds of working time) of the demo contracts. */
const priorities = [
  { priority: 'Urgent', response_time: 1 * H, resolution_time: 4 * H },
  { priority: 'High', response_time: 2 * H, resolution_time: 8 * H },
  { priority: 'Medium', response_time: 4 * H, resolution_time: 24 * H },
  { priority: 'Low', response_time: 8 * H, resolution_time: 72 * H },
];

export type DemoTenant = { tenant: string; country: string; language: TicketLanguage; sla: ServiceLevelAgreementInput };

export const DEMO_TENANTS: DemoTenant[] = [
  {
    tenant: 'souq-alkhair',
    country: 'Saudi Arabia',
    language: 'ar',
    sla: {
      service_level: 'POS Gold KSA',
      customer: 'souq-alkhair',
      default_priority: 'Medium',
      priorities,
      // Sunday–Thursday, split shift; Founding Day, Eid al-Fitr, Eid al-Adha, National Day 2026.
      calendar: {
        time_zone: 'Asia/Riyadh',
        support_and_resolution: [
          ...days(['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday'], '08:00', '12:00'),
          ...days(['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday'], '13:00', '17:00'),
        ],
        holidays: ['2026-02-22', '2026-03-19', '2026-03-20', '2026-03-21', '2026-03-22', '2026-05-26', '2026-05-27', '2026-05-28', '2026-05-29', '2026-09-23'],
      },
    },
  },
  {
    tenant: 'shahrvand-retail',
    country: 'Iran',
    language: 'fa',
    sla: {
      service_level: 'POS Standard Iran',
      customer: 'shahrvand-retail',
      default_priority: 'Medium',
      priorities,
      // Saturday–Wednesday full days, Thursday morning; Nowruz and other 2026 holidays.
      calendar: {
        time_zone: 'Asia/Tehran',
        support_and_resolution: [...days(['Saturday', 'Sunday', 'Monday', 'Tuesday', 'Wednesday'], '08:00', '17:00'), ...days(['Thursday'], '08:00', '13:00')],
        holidays: ['2026-02-11', '2026-03-20', '2026-03-21', '2026-03-22', '2026-03-23', '2026-03-24', '2026-04-01', '2026-04-02', '2026-06-04'],
      },
    },
  },
  {
    tenant: 'huamei-mart',
    country: 'China',
    language: 'zh',
    sla: {
      service_level: 'POS Premium PRC',
      customer: 'huamei-mart',
      default_priority: 'Medium',
      priorities,
      // Monday–Friday; Spring Festival, Qingming, Labour Day, Dragon Boat, Mid-Autumn and National
      // Day 2026, with the weekend days worked in exchange (extra_working_days).
      calendar: {
        time_zone: 'Asia/Shanghai',
        support_and_resolution: days(['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday'], '09:00', '18:00'),
        holidays: [
          '2026-01-01',
          '2026-02-16',
          '2026-02-17',
          '2026-02-18',
          '2026-02-19',
          '2026-02-20',
          '2026-02-23',
          '2026-04-06',
          '2026-05-01',
          '2026-05-04',
          '2026-05-05',
          '2026-06-19',
          '2026-09-25',
          '2026-10-01',
          '2026-10-02',
          '2026-10-05',
          '2026-10-06',
          '2026-10-07',
        ],
        extra_working_days: [
          { date: '2026-02-14', start_time: '09:00', end_time: '18:00' },
          { date: '2026-02-28', start_time: '09:00', end_time: '18:00' },
          { date: '2026-05-09', start_time: '09:00', end_time: '18:00' },
          { date: '2026-09-27', start_time: '09:00', end_time: '18:00' },
          { date: '2026-10-10', start_time: '09:00', end_time: '18:00' },
        ],
      },
    },
  },
];

/**
 * The demo's field teams: one per customer (its region is the tenant), printers and clocks, on
 * call (no calendar) so that a ticket opened at any hour of the demo is assigned at once. Each
 * team has a lead who is told of escalations.
 */
export const DEMO_TEAMS: Array<{ team: TeamInput; technicians: TechnicianInput[] }> = [
  {
    team: { id: 'ksa-field', name: 'KSA field service', tenants: ['souq-alkhair'], skills: ['printer', 'card-reader', 'fingerprint', 'clock', 'host'] },
    technicians: [
      { id: 'faisal', name: 'Faisal Al-Harbi', team: 'ksa-field', email: 'faisal@support.example' },
      { id: 'noura', name: 'Noura Al-Qahtani', team: 'ksa-field', email: 'noura@support.example', lead: true },
    ],
  },
  {
    team: { id: 'iran-field', name: 'Iran field service', tenants: ['shahrvand-retail'] },
    technicians: [{ id: 'reza', name: 'Reza Karimi', team: 'iran-field', email: 'reza@support.example', lead: true }],
  },
  {
    team: { id: 'prc-field', name: 'PRC field service', tenants: ['huamei-mart'], skills: ['printer', 'card-reader', 'fingerprint', 'clock', 'host'] },
    technicians: [
      { id: 'wei', name: 'Wang Wei', team: 'prc-field', email: 'wei@support.example' },
      { id: 'li-na', name: 'Li Na', team: 'prc-field', email: 'lina@support.example', lead: true },
    ],
  },
];

/** The `collector.incidents` part of the demo server's config: SLAs and languages per tenant. */
export function demoIncidentsConfig(): IncidentsConfigInput {
  return {
    slas: Object.fromEntries(DEMO_TENANTS.map((t) => [t.tenant, t.sla])),
    languages: Object.fromEntries(DEMO_TENANTS.map((t) => [t.tenant, t.language])),
    // Holds and recovery far shorter than production (paper out 15 min, cutter error 2 min,
    // recovery 2–5 min) so that a newcomer sees a fault become a ticket and clear again within
    // the demo's first two minutes.
    lifecycle: { holdMs: 15_000, recoverMs: 20_000 },
    // New tickets are assigned within seconds (DEMO_TEAMS).
    dispatch: { passMs: 2000 },
    detectors: {
      reactive: {
        holdMs: { 'unrecoverable-error': 0, 'autocutter-error': 10_000, 'paper-end': 15_000, 'cover-open': 60_000, 'log-memory-full': 0 },
        recoverMs: 20_000,
      },
    },
  };
}
