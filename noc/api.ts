// The NOC's HTTP contract: users and roles, request bodies and the shapes of the answers. The
// server validates every request against these schemas and the web page (noc/ui) imports the
// inferred types, so the two cannot drift apart. The route list is in docs/noc-api.md.
import { z } from 'zod';
import { operatorActionSchema, ticketAssignmentSchema } from '../collector/tickets/model.js';
import { commandName, metricName, peripheralId } from '../protocol/messages.js';

export const nocRoles = ['viewer', 'operator', 'admin'] as const;
export const nocRole = z.enum(nocRoles);
export type NocRole = z.infer<typeof nocRole>;
/** viewer < operator < admin: a route open to `operator` is open to `admin`. */
export const roleRank: Record<NocRole, number> = { viewer: 0, operator: 1, admin: 2 };

export const userName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_.@-]+$/, 'letters, digits and _ . @ - only');
export const password = z.string().min(10, 'at least 10 characters').max(200);

export const nocUser = z.object({ name: userName, role: nocRole });
export type NocUser = z.infer<typeof nocUser>;

export const uiLanguage = z.enum(['en', 'ar', 'fa', 'zh']);
export type UiLanguage = z.infer<typeof uiLanguage>;

// ---- auth -------------------------------------------------------------------------------------

export const loginRequest = z.object({ username: userName, password: z.string().min(1).max(200) });
export type LoginRequest = z.infer<typeof loginRequest>;

/** Answer of POST /api/login and GET /api/me. Send `csrfToken` as `X-CSRF-Token` on every POST made with the session cookie. */
export const sessionInfo = z.object({ user: nocUser, csrfToken: z.string() });
export type SessionInfo = z.infer<typeof sessionInfo>;

export const createUserRequest = z.object({ name: userName, role: nocRole, password });
export const apiTokenRequest = z.object({ name: z.string().min(1).max(64) });

// ---- errors -----------------------------------------------------------------------------------

/** Every 4xx/5xx answer. `message` names the field and the reason: `query.from: expected a number`. */
export const apiError = z.object({ error: z.string(), message: z.string() });
export type ApiError = z.infer<typeof apiError>;

// ---- live updates (GET /api/live, server-sent events; the SSE `event:` is `type`) -------------

export const liveEvent = z.discriminatedUnion('type', [
  /** A device went online or offline. */
  z.object({ type: z.literal('device'), device: z.string(), online: z.boolean(), reason: z.string(), at: z.number() }),
  /** A peripheral's health or active faults changed. */
  z.object({ type: z.literal('health'), device: z.string(), peripheral: z.string(), health: z.string(), faults: z.array(z.string()), at: z.number() }),
  /** A ticket was created or changed (status, SLA, comment). */
  z.object({
    type: z.literal('ticket'),
    ref: z.string(),
    key: z.string(),
    device: z.string(),
    status: z.string(),
    priority: z.string(),
    change: z.enum(['created', 'updated']),
    at: z.number(),
  }),
  /** A remote command finished (or expired). */
  z.object({ type: z.literal('command'), id: z.string(), device: z.string(), status: z.string(), at: z.number() }),
]);
export type LiveEvent = z.infer<typeof liveEvent>;

// ---- data routes (fleet, devices, telemetry, tickets, reports, commands) -----------------------
// Query schemas take the raw query-string values (strings) and coerce them; answers are plain
// JSON. Times are epoch ms everywhere in answers.

/** Query-string helpers: every value arrives as a string. */
/** Query-string value schemas: every query value arrives as a string. */
export const qs = {
  int: (min: number, max: number) => z.coerce.number().int().min(min).max(max),
  num: (min: number, max: number) => z.coerce.number().min(min).max(max),
  /** Epoch ms or an ISO 8601 date-time with an offset. */
  time: z.union(
    [
      z
        .string()
        .regex(/^\d{1,15}$/)
        .transform(Number),
      z.iso.datetime({ offset: true }).transform((s) => Date.parse(s)),
    ],
    {
      error: 'epoch milliseconds or an ISO 8601 date-time with an offset (2025-01-31T08:00:00Z)',
    },
  ),
  bool: z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1'),
  text: z.string().min(1).max(100),
};

/** GET /api/live. `lastEventId`: resume the ticket events after this cursor (as the Last-Event-ID header does) — for a new page or a client that cannot set headers. */
export const liveQuery = z
  .object({
    lastEventId: z
      .string()
      .regex(/^\d{1,15}$/, 'a ticket cursor (the id of a ticket event)')
      .transform(Number)
      .optional(),
  })
  .strict();

function commaList<T extends string>(s: string, allowed: readonly T[], ctx: z.RefinementCtx): T[] {
  const parts = s
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  const bad = parts.filter((p) => !(allowed as readonly string[]).includes(p));
  if (bad.length || !parts.length) {
    ctx.addIssue({ code: 'custom', message: `unknown value ${bad.join(', ') || '(empty)'}; one or more of ${allowed.join(', ')}` });
    return z.NEVER;
  }
  return parts as T[];
}

/** `from` must not be after `to` (both optional: routes fill defaults). */
function orderedRange<T extends { from?: number; to?: number }>(v: T, ctx: z.RefinementCtx): void {
  if (v.from !== undefined && v.to !== undefined && v.from > v.to) ctx.addIssue({ code: 'custom', path: ['to'], message: 'must not be before from' });
}

/** Health of a peripheral as the agent reports it (protocol `health`). */
export const peripheralHealth = z.enum(['ok', 'warning', 'critical', 'absent', 'unknown']);
/** A device's status: `offline`, else the worst health of its peripherals. */
export const deviceStatuses = ['ok', 'unknown', 'warning', 'absent', 'critical', 'offline'] as const;
export const deviceStatus = z.enum(deviceStatuses);
export type DeviceStatus = z.infer<typeof deviceStatus>;

export const ticketPriorities = ['Urgent', 'High', 'Medium', 'Low'] as const;
export const ticketStatusNames = ['Open', 'Replied', 'On Hold', 'Resolved', 'Closed'] as const;

/** One row of the device list. */
export const deviceSummary = z.object({
  device: z.string(),
  online: z.boolean(),
  /** Why online/offline: `birth`, `lwt`, `stale`, a stop reason… */
  reason: z.string(),
  /** When `online` last changed. */
  since: z.number(),
  lastSeen: z.number().nullable(),
  site: z.string().nullable(),
  tenant: z.string().nullable(),
  model: z.string().nullable(),
  serial: z.string().nullable(),
  agentVersion: z.string().nullable(),
  status: deviceStatus,
  /** Worst health over the peripherals (regardless of online). */
  health: peripheralHealth,
  /** Active faults as `peripheral:code`. */
  faults: z.array(z.string()),
  peripheralCount: z.number().int(),
  /** Highest life used (fraction, 1 = rated life reached) over the parts read so far; null when none. */
  wearMax: z.number().nullable(),
  openTickets: z.number().int(),
});
export type DeviceSummary = z.infer<typeof deviceSummary>;

export const deviceSorts = ['device', 'status', 'wear', 'lastSeen', 'site'] as const;
/** GET /api/devices. `health`: one status or a comma list (`critical,offline`). `wearAbove`: fraction 0..10. */
export const devicesQuery = z
  .object({
    q: qs.text.optional(),
    tenant: qs.text.optional(),
    site: qs.text.optional(),
    model: qs.text.optional(),
    health: z
      .string()
      .max(200)
      .transform((s, ctx) => commaList(s, deviceStatuses, ctx))
      .optional(),
    online: qs.bool.optional(),
    wearAbove: qs.num(0, 10).optional(),
    /** `status`: worst first; `wear`: most worn first; `lastSeen`: most recent first. */
    sort: z.enum(deviceSorts).default('device'),
    limit: qs.int(1, 1000).default(100),
    offset: qs.int(0, 10_000_000).default(0),
  })
  .strict();
export type DevicesQuery = z.input<typeof devicesQuery>;
export const devicesAnswer = z.object({ total: z.number().int(), offset: z.number().int(), limit: z.number().int(), items: z.array(deviceSummary) });
export type DevicesAnswer = z.infer<typeof devicesAnswer>;

/** GET /api/fleet. */
export const fleetSummary = z.object({
  at: z.number(),
  devices: z.object({ total: z.number().int(), online: z.number().int() }),
  /** Devices per status; an offline device counts only as `offline`. */
  byStatus: z.record(deviceStatus, z.number().int()),
  /** Open tickets (not Resolved/Closed) per priority. */
  ticketsByPriority: z.record(z.enum(ticketPriorities), z.number().int()),
  openTickets: z.number().int(),
  /** Sites, the ones with problems first (most critical/offline, then warnings, then open tickets). */
  sites: z.array(
    z.object({
      site: z.string(),
      tenant: z.string().nullable(),
      devices: z.number().int(),
      byStatus: z.record(deviceStatus, z.number().int()),
      openTickets: z.number().int(),
      /** 0 when nothing is wrong; higher is worse. */
      problemScore: z.number(),
    }),
  ),
  /** Devices needing attention (offline, critical, absent, warning, worn, open tickets), worst first; at most 50. */
  attention: z.array(deviceSummary.extend({ why: z.array(z.string()) })),
});
export type FleetSummary = z.infer<typeof fleetSummary>;

/** Wear of one part of a peripheral: counter against the profile's rated life. */
export const partWear = z.object({
  part: z.string(),
  /** The cumulative counter the figure is measured against. */
  metric: z.string(),
  /** `life`: end of life; `mcbf`/`mtbf`: mean cycles/time between failures (no ETA is given for those). */
  basis: z.enum(['life', 'mcbf', 'mtbf']),
  /** Counter value (latest reading). */
  counter: z.number(),
  /** Rated life in counter steps (value / unitsPerCount). */
  ratedCounts: z.number(),
  ratedValue: z.number(),
  unit: z.string(),
  /** counter / ratedCounts (1 = rated life reached; may exceed 1). */
  lifeUsed: z.number(),
  warningFraction: z.number(),
  criticalFraction: z.number(),
  /** The figure comes from a document, or is marked unverified in the profile. */
  sourceVerified: z.boolean(),
  /** Estimated end of rated life, epoch ms; null when unknown. */
  eta: z.number().nullable(),
  /** `incident`: the open predicted-failure incident's ETA; `usage-rate`: from the counter's rate over the last 30 days. */
  etaSource: z.enum(['incident', 'usage-rate']).nullable(),
  /** Counter steps per day used for the usage-rate ETA. */
  ratePerDay: z.number().nullable(),
});
export type PartWear = z.infer<typeof partWear>;

export const peripheralDetail = z.object({
  id: z.string(),
  kind: z.string(),
  vendor: z.string().nullable(),
  model: z.string().nullable(),
  serial: z.string().nullable(),
  firmware: z.string().nullable(),
  profile: z.string().nullable(),
  port: z.string().nullable(),
  health: peripheralHealth,
  faults: z.array(z.string()),
  /** Latest stored sample (metrics and counters), null before the first. */
  latest: z.object({ ts: z.number(), metrics: z.record(z.string(), z.number()), counters: z.record(z.string(), z.number()) }).nullable(),
  wear: z.array(partWear),
});
export type PeripheralDetail = z.infer<typeof peripheralDetail>;

/** A ticket as listed (the description only in the detail). `sla` carries responseBy/resolutionBy/agreementStatus. */
export const ticketSummary = z.object({
  ref: z.string(),
  key: z.string(),
  occurrence: z.number().int(),
  status: z.enum(ticketStatusNames),
  priority: z.enum(ticketPriorities),
  issueType: z.string(),
  subject: z.string(),
  language: z.string(),
  customer: z.string(),
  site: z.string().nullable(),
  device: z.string(),
  peripheral: z.string().nullable(),
  serial: z.string().nullable(),
  warrantyStatus: z.string().nullable(),
  sla: z.object({
    serviceLevelAgreement: z.string().nullable(),
    responseBy: z.number().nullable(),
    resolutionBy: z.number().nullable(),
    agreementStatus: z.string().nullable(),
  }),
  openedAt: z.number(),
  updatedAt: z.number(),
  closedAt: z.number().nullable(),
  /** First status that answered the customer (Replied, Resolved or Closed); null if none yet. */
  firstRespondedAt: z.number().nullable(),
  version: z.number().int(),
  /** Who goes (dispatch/); null until dispatched, `technician: null` = no rule matched. */
  assignment: ticketAssignmentSchema.nullable(),
  /** Stages that escalated before breach. */
  escalated: z.array(z.enum(['response', 'resolution'])),
});
export type TicketSummary = z.infer<typeof ticketSummary>;

/** GET /api/devices/:id. */
export const deviceDetail = z.object({
  device: deviceSummary.extend({ os: z.string().nullable(), clockOffsetMs: z.number().nullable() }),
  peripherals: z.array(peripheralDetail),
  /** Open tickets first, then the most recent others; at most 50. */
  tickets: z.array(ticketSummary),
});
export type DeviceDetail = z.infer<typeof deviceDetail>;

// The wire contract's names: what a device may send is what the NOC may ask for.
const fieldName = metricName;
const peripheralName = peripheralId;

/** GET /api/devices/:id/series. Defaults: to = now, from = to − 24 h, points = 300. */
export const seriesQuery = z
  .object({ peripheral: peripheralName, field: fieldName, from: qs.time.optional(), to: qs.time.optional(), points: qs.int(1, 5000).default(300) })
  .strict()
  .superRefine(orderedRange);
export type SeriesQueryInput = z.input<typeof seriesQuery>;
/** Each point is the mean of the bucket `[ts, ts + bucketMs)`; empty buckets are left out. */
export const seriesAnswer = z.object({
  device: z.string(),
  peripheral: z.string(),
  field: z.string(),
  from: z.number(),
  to: z.number(),
  bucketMs: z.number(),
  points: z.array(z.object({ ts: z.number(), value: z.number() })),
});
export type SeriesAnswer = z.infer<typeof seriesAnswer>;

/** GET /api/devices/:id/events. Defaults: to = now, from = to − 7 days, limit = 100. */
export const eventsQuery = z
  .object({ from: qs.time.optional(), to: qs.time.optional(), limit: qs.int(1, 1000).default(100) })
  .strict()
  .superRefine(orderedRange);
export const deviceEvent = z.object({
  ts: z.number(),
  seq: z.number(),
  type: z.string(),
  peripheral: z.string().nullable(),
  code: z.string().nullable(),
  severity: z.string(),
  message: z.string().nullable(),
  data: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])).nullable(),
});
export type DeviceEvent = z.infer<typeof deviceEvent>;
export const eventsAnswer = z.object({ device: z.string(), from: z.number(), to: z.number(), items: z.array(deviceEvent) });
export type EventsAnswer = z.infer<typeof eventsAnswer>;

// ---- remote commands ---------------------------------------------------------------------------

/** POST /api/devices/:id/commands. `self-test` and `recover` need a peripheral. */
export const commandRequestBody = z
  .object({
    name: commandName,
    peripheral: peripheralName.optional(),
    args: z.record(z.string(), z.union([z.string().max(200), z.number(), z.boolean()])).optional(),
  })
  .strict();
export type CommandRequestBody = z.infer<typeof commandRequestBody>;

export const commandStatus = z.enum(['pending', 'ok', 'failed', 'expired']);
export type CommandStatus = z.infer<typeof commandStatus>;
export const remoteCommand = z.object({
  id: z.string(),
  device: z.string(),
  name: commandName,
  peripheral: z.string().nullable(),
  args: z.record(z.string(), z.unknown()),
  /** Who sent it. */
  user: z.string(),
  status: commandStatus,
  sentAt: z.number(),
  /** The agent drops it after this. */
  expiresAt: z.number(),
  answeredAt: z.number().nullable(),
  result: z.unknown().nullable(),
  error: z.string().nullable(),
});
export type RemoteCommand = z.infer<typeof remoteCommand>;
/** 202 answer of POST /api/devices/:id/commands: the command as recorded (pending), and whether the device is online now (it is sent anyway: the broker keeps it for the agent's persistent session until it expires). */
export const commandAccepted = remoteCommand.extend({ deviceOnline: z.boolean() });
export type CommandAccepted = z.infer<typeof commandAccepted>;
export const commandsQuery = z.object({ limit: qs.int(1, 200).default(20) }).strict();
export const commandsAnswer = z.object({ items: z.array(remoteCommand) });

// ---- tickets -----------------------------------------------------------------------------------

/** GET /api/tickets. `status`/`priority`: one value or a comma list. Newest first. */
export const ticketsQuery = z
  .object({
    open: qs.bool.optional(),
    status: z
      .string()
      .max(100)
      .transform((s, ctx) => commaList(s, ticketStatusNames, ctx))
      .optional(),
    priority: z
      .string()
      .max(100)
      .transform((s, ctx) => commaList(s, ticketPriorities, ctx))
      .optional(),
    type: qs.text.optional(),
    customer: qs.text.optional(),
    site: qs.text.optional(),
    device: qs.text.optional(),
    limit: qs.int(1, 1000).default(100),
    offset: qs.int(0, 10_000_000).default(0),
  })
  .strict();
export const ticketsAnswer = z.object({ total: z.number().int(), offset: z.number().int(), limit: z.number().int(), items: z.array(ticketSummary) });
export type TicketsAnswer = z.infer<typeof ticketsAnswer>;

/** GET /api/tickets/:ref. */
export const ticketDetail = ticketSummary.extend({
  description: z.string(),
  resolution: z.string().nullable(),
  comments: z.array(z.object({ id: z.number(), at: z.number(), body: z.string(), eventId: z.string().nullable() })),
  /** The ticket in external systems (ERPNext, Zammad, webhooks). */
  links: z.array(z.object({ system: z.string(), externalId: z.string(), state: z.string(), updatedAt: z.number() })),
  /** Status changes, oldest first: the opening, then each status an operator or the incident service set. */
  statusHistory: z.array(z.object({ status: z.string(), at: z.number() })),
  /** The incident behind the ticket, while it is live. */
  incident: z
    .object({
      state: z.string(),
      detector: z.string(),
      kind: z.string(),
      eta: z.number().nullable(),
      figures: z.record(z.string(), z.union([z.number(), z.string()])),
      firstSeen: z.number(),
      openedAt: z.number().nullable(),
    })
    .nullable(),
});
export type TicketDetail = z.infer<typeof ticketDetail>;

// ---- reports -----------------------------------------------------------------------------------

export const reportNames = ['problems', 'sla', 'hours', 'mtbf', 'top-devices'] as const;
export const reportName = z.enum(reportNames);
export type ReportName = z.infer<typeof reportName>;
/**
 * GET /api/reports/:name. Defaults: to = now, from = to − 30 days. Tickets count by their opening
 * time. `tenant` limits to one customer. `tz` (IANA zone, default UTC) is the clock of the
 * `hours` report. `limit` caps `top-devices` (default 20).
 */
export const reportQuery = z
  .object({
    from: qs.time.optional(),
    to: qs.time.optional(),
    tenant: qs.text.optional(),
    format: z.enum(['json', 'csv']).default('json'),
    tz: z
      .string()
      .max(64)
      .refine((tz) => {
        try {
          new Intl.DateTimeFormat('en', { timeZone: tz });
          return true;
        } catch {
          return false;
        }
      }, 'an IANA time zone such as Asia/Riyadh')
      .default('UTC'),
    limit: qs.int(1, 1000).default(20),
  })
  .strict()
  .superRefine(orderedRange);

const countRow = z.object({ key: z.string(), count: z.number().int() });
export const problemsReport = z.object({
  from: z.number(),
  to: z.number(),
  total: z.number().int(),
  /** Ticket issue type (Hardware Failure, Consumable, …). */
  byIssueType: z.array(countRow),
  /** Failure mode (the last part of the dedup key: paper-end, cutter-wear-out, offline…). */
  byProblem: z.array(countRow),
  /** Peripheral model (vendor model), or the device model for device-wide problems. */
  byModel: z.array(countRow),
  byCustomer: z.array(countRow),
});
export const slaReport = z.object({
  from: z.number(),
  to: z.number(),
  customers: z.array(
    z.object({
      customer: z.string(),
      tickets: z.number().int(),
      /** Met / missed / still open and not yet late. */
      response: z.object({ fulfilled: z.number().int(), failed: z.number().int(), pending: z.number().int() }),
      resolution: z.object({ fulfilled: z.number().int(), failed: z.number().int(), pending: z.number().int() }),
      /** Median time from opening to the first response, ms; null without responses. */
      medianFirstResponseMs: z.number().nullable(),
      /** Fulfilled share of decided (fulfilled + failed) deadlines, response and resolution together; null when none decided. */
      compliance: z.number().nullable(),
    }),
  ),
});
export const hoursReport = z.object({
  from: z.number(),
  to: z.number(),
  tz: z.string(),
  /** counts[weekday][hour]: tickets opened; weekday 0 = Monday … 6 = Sunday (ISO). */
  counts: z.array(z.array(z.number().int())),
  total: z.number().int(),
});
export const mtbfReport = z.object({
  from: z.number(),
  to: z.number(),
  /** Failures = Hardware Failure tickets. Unit-days = days each unit of the model was known to the NOC inside from..to. */
  models: z.array(
    z.object({
      model: z.string(),
      kind: z.string(),
      units: z.number().int(),
      failures: z.number().int(),
      unitDays: z.number(),
      mtbfDays: z.number().nullable(),
    }),
  ),
});
export const topDevicesReport = z.object({
  from: z.number(),
  to: z.number(),
  devices: z.array(
    z.object({
      device: z.string(),
      site: z.string().nullable(),
      tenant: z.string().nullable(),
      model: z.string().nullable(),
      tickets: z.number().int(),
      hardwareFailures: z.number().int(),
      openTickets: z.number().int(),
      lastOpenedAt: z.number(),
      /** Failure modes seen, most frequent first. */
      problems: z.array(z.string()),
    }),
  ),
});
export type ProblemsReport = z.infer<typeof problemsReport>;
export type SlaReport = z.infer<typeof slaReport>;
export type HoursReport = z.infer<typeof hoursReport>;
export type MtbfReport = z.infer<typeof mtbfReport>;
export type TopDevicesReport = z.infer<typeof topDevicesReport>;
export type ReportAnswer = { problems: ProblemsReport; sla: SlaReport; hours: HoursReport; mtbf: MtbfReport; 'top-devices': TopDevicesReport };

// ---- parts forecast (GET /api/reports/parts-forecast) --------------------------------------------

export { partsForecastReport, partsForecastRow, forecastHorizons, type PartsForecastReport, type PartsForecastRow } from '../collector/parts/forecast.js';
/**
 * GET /api/reports/parts-forecast: spare parts needed per tenant and site within `horizon` days
 * (30, 60 or 90; default 30), from wear ETAs and open wear tickets (collector/parts/forecast.ts).
 * `tenant` limits to one customer; `lang` is the language of the part names in the CSV.
 */
export const partsForecastQuery = z
  .object({
    horizon: z
      .enum(['30', '60', '90'])
      .default('30')
      .transform((h) => Number(h) as 30 | 60 | 90),
    tenant: qs.text.optional(),
    format: z.enum(['json', 'csv']).default('json'),
    lang: z.enum(['en', 'ar', 'fa', 'zh']).default('en'),
  })
  .strict();

// ---- ticket actions (POST /api/tickets/:ref/actions) -------------------------------------------

export const ticketActionRequest = z.object({
  action: operatorActionSchema,
  text: z.string().max(20_000).optional(),
  /** With resolve/close: the part was replaced — a service record re-bases its wear (`part`: the ticket's worn part unless given). */
  partReplaced: z.boolean().optional(),
  part: z
    .string()
    .max(80)
    .regex(/^[a-z0-9][a-z0-9-]*$/)
    .optional(),
});
export type TicketActionRequest = z.infer<typeof ticketActionRequest>;
export type TicketAction = TicketActionRequest['action'];

/** GET /api/devices/:id/service: the device's service history (parts replaced, units swapped), oldest first. */
export const serviceRecordView = z.object({
  id: z.number().int(),
  device: z.string(),
  peripheral: z.string(),
  part: z.string(),
  kind: z.enum(['part-replaced', 'preventive', 'unit-swap']),
  at: z.number(),
  failed: z.boolean(),
  usage: z.number().optional(),
  serial: z.string().optional(),
  source: z.string(),
  ref: z.string().optional(),
  note: z.string().optional(),
});
export type ServiceRecordView = z.infer<typeof serviceRecordView>;
export const serviceHistoryAnswer = z.object({ items: z.array(serviceRecordView) });
export type ServiceHistoryAnswer = z.infer<typeof serviceHistoryAnswer>;

/** GET /api/reliability: the fleet's fitted part lives per model (Weibull), and whether the wear-out detector uses them. */
export const reliabilityAnswer = z.object({
  minFailures: z.number().int(),
  models: z.array(
    z.object({
      profile: z.string(),
      part: z.string(),
      shape: z.number(),
      scale: z.number(),
      failures: z.number().int(),
      censored: z.number().int(),
      medianLife: z.number(),
      inUse: z.boolean(),
    }),
  ),
});
export type ReliabilityAnswer = z.infer<typeof reliabilityAnswer>;
