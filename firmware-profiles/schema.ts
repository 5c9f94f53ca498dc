// The firmware-profile file format: per-model data that drivers and the collector
// read instead of branching on model names. One JSON file per model, `<id>.json`, validated by
// this schema at load time and in tests; docs/firmware-profile.schema.json is generated from it.
import { z } from 'zod';
import { peripheralKind } from '../protocol/messages.js';

const identifier = z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/, 'identifier: letters, digits and _');
const kebab = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9-]*$/, 'kebab-case');

/**
 * Drivers a profile can name. Each later driver (Star, USB class, R30x, MSR, ZK clock) adds its id.
 * `host` is the agent's own host (models/host.json): it applies by kind, with no match rules.
 */
export const profileDriver = z.enum(['escpos-serial', 'star-serial', 'usb-printer', 'zk-clock-tcp', 'r30x-serial', 'msr-serial', 'host']);
export type ProfileDriver = z.infer<typeof profileDriver>;

/** A regular expression given as a string; refused at load if it does not compile. */
const pattern = z
  .string()
  .min(1)
  .refine((s) => {
    try {
      new RegExp(s, 'i');
      return true;
    } catch {
      return false;
    }
  }, 'not a valid regular expression');

const hex16 = z.string().regex(/^[0-9a-fA-F]{4}$/, '4 hex digits, e.g. "04b8"');

export const matchRules = z
  .object({
    /** `GS I 1` model id bytes this profile answers to. */
    gsIModelIds: z.array(z.number().int().min(0).max(255)).optional(),
    /** Case-insensitive patterns tried against the model name the device reports (`GS I 67`, IEEE-1284 MDL, …). */
    modelNames: z.array(pattern).optional(),
    /** Case-insensitive patterns against the maker name (`GS I 66`, IEEE-1284 MFG). Narrows, never matches alone. */
    makers: z.array(pattern).optional(),
    /** USB vendor/product ids. Many models share one pid, so a USB match alone is weak. */
    usb: z.array(z.object({ vid: hex16, pid: hex16 }).strict()).optional(),
    /** Why these rules, where they come from. */
    note: z.string().optional(),
  })
  .strict()
  .refine((m) => (m.gsIModelIds?.length ?? 0) + (m.modelNames?.length ?? 0) + (m.usb?.length ?? 0) > 0, 'at least one of gsIModelIds, modelNames, usb');
export type MatchRules = z.infer<typeof matchRules>;

/** Where a rated-life figure comes from: a document (page if known), or honestly unverified. */
export const figureSource = z.union([
  z.object({ document: z.string().min(3), page: z.union([z.number().int().positive(), z.string().min(1)]).optional(), url: z.url().optional() }).strict(),
  z.object({ unverified: z.literal(true), note: z.string().min(3) }).strict(),
]);
export type FigureSource = z.infer<typeof figureSource>;

/** A wearing part of a peripheral: what rated life, wear ETAs and spare parts are counted against. */
export const wearPart = z.enum(['cutter', 'head', 'mechanism', 'sensor-window', 'read-head']);
export type WearPart = z.infer<typeof wearPart>;

export const ratedLifeEntry = z
  .object({
    part: wearPart,
    /** Cumulative counter the figure is measured against, as the driver names it (`autocutterCuts`). */
    metric: identifier,
    /**
     * `counter` (default): `metric` is a counter the profile's driver reads, so device readings
     * are compared with the figure (wear, predicted failure). `not-read`: the driver reads no
     * such counter (Star mode reads none), so the figure is reference data only and nothing is
     * predicted from it; `metric` then names the counter as drivers that do read it call it.
     * The schema refuses either claim when it is false for the profile's driver.
     */
    measuredBy: z.enum(['counter', 'not-read']).default('counter'),
    /** `life`: expected end of life; `mcbf`/`mtbf`: mean cycles/time between failures. */
    basis: z.enum(['life', 'mcbf', 'mtbf']).default('life'),
    value: z.number().positive(),
    unit: z.enum(['cuts', 'lines', 'pulses', 'km', 'hours', 'scans', 'captures', 'swipes']),
    /** How many `unit` one step of `metric` is, when they differ (lines → km: 3.75e-6). */
    unitsPerCount: z.number().positive().optional(),
    source: figureSource,
  })
  .strict();
export type RatedLifeEntry = z.infer<typeof ratedLifeEntry>;

export const thresholds = z
  .object({
    /** Fraction of rated life at which wear becomes a warning / a predicted-failure ticket. */
    wearWarningFraction: z.number().gt(0).lt(1).default(0.8),
    wearCriticalFraction: z.number().gt(0).max(1).default(0.95),
    /** Reply latency above which the link is considered degraded. */
    replyLatencyWarningMs: z.number().positive().optional(),
    /** Communication errors per hour above which the link is considered degraded. */
    commErrorsPerHourWarning: z.number().nonnegative().optional(),
    /** Share of a store (fingerprint templates, log records) in use that raises a near-full warning. */
    storeNearFullFraction: z.number().gt(0).max(1).optional(),
    /** Error rate of an operation (image failures, failed card reads) that raises a warning… */
    errorRateWarning: z.number().gt(0).max(1).optional(),
    /** …once at least this many operations are in the rate's window. */
    errorRateMinSamples: z.number().int().positive().optional(),
    /** |clock's own time − agent host's time| in seconds above which the `clock-drift` fault is raised… */
    clockOffsetWarningSec: z.number().positive().optional(),
    /** …and within which it clears: well under the warning, so a clock hovering at the limit does not flap. */
    clockOffsetClearSec: z.number().nonnegative().optional(),
    /** Why those two numbers (payroll rounding, punch windows), or honestly a default. */
    clockOffsetSource: figureSource.optional(),
  })
  .strict()
  .refine((t) => t.wearWarningFraction < t.wearCriticalFraction, {
    message: 'wearWarningFraction must be below wearCriticalFraction',
    path: ['wearWarningFraction'],
  })
  .refine((t) => (t.clockOffsetWarningSec === undefined) === (t.clockOffsetClearSec === undefined), {
    message: 'clockOffsetWarningSec and clockOffsetClearSec go together',
    path: ['clockOffsetClearSec'],
  })
  .refine((t) => t.clockOffsetWarningSec === undefined || t.clockOffsetClearSec! < t.clockOffsetWarningSec, {
    message: 'clockOffsetClearSec must be below clockOffsetWarningSec',
    path: ['clockOffsetClearSec'],
  });

/** ERPNext / Helpdesk Issue Priority vocabulary. */
export const issuePriority = z.enum(['Low', 'Medium', 'High', 'Urgent']);

/**
 * The one definition of a fault: the health it gives the peripheral at the edge, which is also
 * the severity of the `fault-raised` event the agent publishes (the event and the sample never
 * disagree), the incident priority and the ticket issue type. Its runbook text is `runbook[code]`.
 */
export const faultMapping = z
  .object({
    /** Health this fault gives the peripheral at the edge, and the severity of its raised event. */
    health: z.enum(['warning', 'critical']),
    priority: issuePriority,
    /** Ticket issue type, e.g. `printer-consumable`, `printer-hardware`. */
    issueType: kebab,
  })
  .strict();

export const localizedText = z.object({ en: z.string().min(1), ar: z.string().min(1), fa: z.string().min(1), zh: z.string().min(1) }).strict();
export type LocalizedText = z.infer<typeof localizedText>;

/**
 * The spare part a technician brings to replace a worn part: what a ticket names and the parts
 * forecast counts. `partNumber` is the manufacturer's order number, or null where none is
 * documented (never a guess): the source's note then says so and where to look.
 */
export const sparePart = z
  .object({
    partNumber: z.string().min(1).max(64).nullable(),
    name: localizedText,
    /** Typical time to swap the part on site, minutes (a planning figure; null when unknown). */
    swapMinutes: z
      .number()
      .int()
      .positive()
      .max(24 * 60)
      .nullable(),
    /** Where the part number and swap time come from. */
    source: figureSource,
  })
  .strict()
  .refine((s) => s.partNumber !== null || 'unverified' in s.source, {
    message: 'a null partNumber needs an unverified source whose note says why it is unknown',
    path: ['source'],
  });
export type SparePart = z.infer<typeof sparePart>;

export const advisory = z
  .object({
    id: kebab,
    /** Firmware strings the advisory applies to (case-insensitive patterns). */
    firmware: z.array(pattern).min(1),
    severity: z.enum(['info', 'warning', 'critical']),
    text: localizedText,
    source: figureSource.optional(),
  })
  .strict();

export const capabilities = z
  .object({
    /** Cumulative maintenance counters the model reports, by driver counter name. */
    maintenanceCounters: z.array(identifier).default([]),
    /** Automatic Status Back (`GS a`). */
    asb: z.boolean().default(false),
    /** May the agent send `DLE ENQ` to recover from a recoverable error. */
    dleEnqRecovery: z.boolean().default(false),
    /** Which printer-information-B fields (`GS I 65..69`) the model answers. */
    printerInfo: z.array(z.enum(['firmware', 'maker', 'modelName', 'serial', 'fonts'])).default(['firmware', 'maker', 'modelName', 'serial']),
    /** Optional commands of the driver this model answers (r30x: handShake, checkSensor, readProdInfo; msr: tamper, battery). */
    commands: z.array(identifier).optional(),
    /**
     * How cumulative counters are read: Epson `GS g 2` (`1D 67 32 00 nL nH`) or Bixolon
     * `BS SO S # RS m n` (`08 0E 53 23 1E 01 n`). Both answer `5F … 00`.
     */
    counterReader: z.enum(['epson-gs-g2', 'bixolon-bs-so']).default('epson-gs-g2'),
    /** Answers ESC/POS real-time status (`DLE EOT n`) over its USB bulk endpoints. */
    escposOverUsb: z.boolean().default(false),
    /** Where the capability list comes from. */
    source: figureSource.optional(),
  })
  .strict();

/** Counters each driver can read; a profile may only name these for its driver. */
export const driverCounters: Record<ProfileDriver, readonly string[]> = {
  'escpos-serial': ['linesFed', 'headEnergizing', 'autocutterCuts', 'operatingHours', 'paperFedKm'],
  // Star's own mode has no counter command; USB class requests carry none (the driver reads
  // status only). Their rated-life entries are `measuredBy: 'not-read'`.
  'star-serial': [],
  'usb-printer': [],
  // Host-derived: attendance records seen added between polls (each one a successful fingerprint verify).
  'zk-clock-tcp': ['punches'],
  // Relayed-use tallies (agent-side: the module keeps no counters) and link counters.
  'r30x-serial': [
    'captures',
    'noFinger',
    'imageFailures',
    'featureExtractions',
    'matchAttempts',
    'matchFound',
    'matchRejected',
    'rejectThenAccept',
    'otherErrors',
    'commErrors',
    'timeouts',
  ],
  // UnifiedPOS MSR statistics as the reader reports them, plus swipes = good + failed reads.
  'msr-serial': ['swipes', 'goodReadCount', 'failedReadCount', 'unreadableCardCount', 'hoursPoweredCount', 'communicationErrorCount', 'commErrors', 'timeouts'],
  host: [],
};

export const firmwareProfile = z
  .object({
    $schema: z.string().optional(),
    id: kebab,
    vendor: z.string().min(1).max(80),
    model: z.string().min(1).max(80),
    kind: peripheralKind,
    driver: profileDriver,
    /** How a peripheral's identity selects this profile; none for the host profile. */
    match: matchRules.optional(),
    capabilities: capabilities.default({
      maintenanceCounters: [],
      asb: false,
      dleEnqRecovery: false,
      printerInfo: ['firmware', 'maker', 'modelName', 'serial'],
      counterReader: 'epson-gs-g2',
      escposOverUsb: false,
    }),
    ratedLife: z.array(ratedLifeEntry).default([]),
    thresholds: thresholds.default({ wearWarningFraction: 0.8, wearCriticalFraction: 0.95 }),
    /** Fault code → incident mapping. */
    faults: z.record(kebab, faultMapping).default({}),
    advisories: z.array(advisory).default([]),
    /** Spare part per wearing part (the part a wear ticket tells the technician to bring). */
    spareParts: z.partialRecord(wearPart, sparePart).default({}),
    /** Runbook text per fault code (and `general`), in every NOC language. */
    runbook: z.record(kebab, localizedText),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (!p.match && p.driver !== 'host')
      ctx.addIssue({ code: 'custom', path: ['match'], message: 'match rules are required (only the host profile has none)' });
    const known = driverCounters[p.driver];
    p.capabilities.maintenanceCounters.forEach((c, i) => {
      if (!known.includes(c))
        ctx.addIssue({
          code: 'custom',
          path: ['capabilities', 'maintenanceCounters', i],
          message: `driver ${p.driver} has no counter "${c}" (known: ${known.join(', ')})`,
        });
    });
    p.ratedLife.forEach((r, i) => {
      const read = known.includes(r.metric);
      if (r.measuredBy === 'counter' && !read)
        ctx.addIssue({
          code: 'custom',
          path: ['ratedLife', i, 'metric'],
          message: `driver ${p.driver} reads no counter "${r.metric}" (known: ${known.join(', ') || 'none'}); mark the entry measuredBy: "not-read" if the figure is reference only`,
        });
      if (r.measuredBy === 'not-read' && read)
        ctx.addIssue({
          code: 'custom',
          path: ['ratedLife', i, 'measuredBy'],
          message: `driver ${p.driver} does read "${r.metric}": drop measuredBy "not-read"`,
        });
    });
    for (const code of Object.keys(p.faults)) {
      if (!p.runbook[code]) ctx.addIssue({ code: 'custom', path: ['runbook', code], message: `fault "${code}" is mapped but has no runbook text` });
    }
    // The driver raises clock-drift from these limits; a mapping without them would never fire.
    if (p.faults['clock-drift'] && p.thresholds.clockOffsetWarningSec === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['thresholds', 'clockOffsetWarningSec'],
        message: 'fault "clock-drift" is mapped but no clockOffsetWarningSec/clockOffsetClearSec say when it is raised and cleared',
      });
    if (!p.runbook.general) ctx.addIssue({ code: 'custom', path: ['runbook', 'general'], message: 'a general runbook entry is required' });
  });
export type FirmwareProfile = z.infer<typeof firmwareProfile>;
