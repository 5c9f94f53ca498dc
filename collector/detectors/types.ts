// What every detector emits and how the detectors are configured. A finding is one observation
// of one condition at one instant: `firing` (the condition holds) or `recovered` (its separate
// recovery condition holds). A key the detectors say nothing about keeps its state — that gap
// between the firing and the recovery thresholds is the hysteresis. The incident store
// (collector/incidents) turns findings into incidents; detectors know nothing about tickets.
import { z } from 'zod';
import { issuePriority } from '../../firmware-profiles/schema.js';
import { measurementTimeConfig } from './measurement-time.js';

export type IssuePriority = z.infer<typeof issuePriority>;

export const priorityRank: Record<IssuePriority, number> = { Low: 0, Medium: 1, High: 2, Urgent: 3 };

export type FindingKind =
  | 'predicted-failure' // wear-out: the part will reach its rated life soon
  | 'degradation' // an error rate rose against its baseline
  | 'recurring-fault' // the same fault again and again
  | 'fault' // a reactive fault (unrecoverable error, paper out, disk nearly full…)
  | 'peripheral-absent'
  | 'device-offline'
  | 'clock-drift'
  | 'site-offline';

export type DetectorName = 'wear-out' | 'degradation' | 'recurring-fault' | 'reactive' | 'site';

/** Where the runbook text lives: a firmware profile's `runbook[code]` (or a built-in code without profile). */
export type RunbookRef = { profile?: string; code: string };

export type Finding = {
  /** Dedup key `device/peripheral/failure-mode` (a site finding: `site:<site>/site/offline`). */
  key: string;
  device: string;
  peripheral: string;
  failureMode: string;
  site?: string;
  scope: 'device' | 'site';
  status: 'firing' | 'recovered';
  detector: DetectorName;
  kind: FindingKind;
  priority: IssuePriority;
  issueType: string;
  /** What was seen, as numbers and short strings (life used, rate, ETA days, error rates…). */
  figures: Record<string, number | string>;
  /** Predicted end of life (ms), for wear-out. */
  eta?: number;
  runbook: RunbookRef;
  /** How long the condition must fire before an incident opens (ms); the store's default if absent. */
  holdMs?: number;
  /** When the firing condition was first observed (collector clock, ms): the hold counts from here,
   * not from the evaluation that first saw it (which comes up to one tick later). */
  since?: number;
  /** How long the recovery condition must hold before the incident resolves (ms). */
  recoverMs?: number;
  /** A site outage explains this finding (offline, absent, comm errors), so a site incident inhibits it. */
  inhibitableBySite: boolean;
};

/** Errors and operations counted from cumulative counters (or a fault's rising edges) of one peripheral. */
export const errorRateSpec = z
  .object({
    /** Failure-mode name, e.g. `read-errors`. */
    name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
    /** Counter of failed operations… */
    errors: z.string().optional(),
    /** …or rising edges of this fault code (failed cuts from `autocutter-error`). */
    errorsFromFault: z.string().optional(),
    /** Counter of operations, or `polls`: one per sample. */
    operations: z.string(),
    /** The worn part this rate speaks for (links it to the wear-out of the same part). */
    part: z.string().optional(),
    /** Profile fault code whose priority/issueType/runbook the finding takes, when the profile maps it. */
    fault: z.string().optional(),
    /** Whether a site outage explains it (comm errors: yes). */
    inhibitableBySite: z.boolean().default(false),
    /** Error-rate warning level when the profile gives none (printer cutters: failed cuts per cut),
     * so the part is judged by its health signal, not by its rating alone. */
    warning: z.number().gt(0).max(1).optional(),
  })
  .strict()
  .refine((s) => !!s.errors !== !!s.errorsFromFault, 'exactly one of errors, errorsFromFault');
export type ErrorRateSpec = z.infer<typeof errorRateSpec>;

const mapping = z.object({ priority: issuePriority, issueType: z.string().min(1) }).strict();

const day = 86_400_000;
const minute = 60_000;

export const detectorConfig = z
  .object({
    wear: z
      .object({
        /** A planned replacement is raised when the ETA to end of rated life falls inside this. */
        leadTimeMs: z
          .number()
          .positive()
          .default(21 * day),
        /** Trailing window the usage rate is estimated over: long enough that a seasonal peak
         * (Ramadan, Spring Festival: ×2–3 for weeks) is a minority of its intervals. */
        rateWindowMs: z
          .number()
          .positive()
          .default(91 * day),
        /** Usage points are kept at this granularity (memory stays bounded). */
        bucketMs: z.number().positive().default(day),
        /** The rate is the median of interval rates over intervals at least this long (weekly rhythm). */
        minPairSpanMs: z
          .number()
          .positive()
          .default(7 * day),
        /** A counter that advanced fewer counts than this over the rate window is coarse (whole km):
         * its rate is taken from its first to its last step inside `coarseWindowMs`. */
        coarseCounts: z.number().positive().default(50),
        coarseWindowMs: z
          .number()
          .positive()
          .default(182 * day),
        /** Minimum history before an ETA is trusted. */
        minHistoryMs: z
          .number()
          .positive()
          .default(2 * day),
        /** A counter that goes down means a new part (`replacement`) or a reset counter on the same part (`continue`). */
        counterDrop: z.enum(['replacement', 'continue']).default('replacement'),
        /**
         * A part whose own error rate is monitored against a profile errorRateWarning (established
         * baseline, not firing) is judged by
         * that health signal rather than by its rating: its rated-life ticket waits until the
         * rate's trend heads for the warning level, or until life used passes `backstopFraction`
         * of rated life. Parts without an error-rate signal ticket on the rating as before.
         */
        deferToErrorRate: z.boolean().default(true),
        backstopFraction: z.number().positive().default(1.5),
        /** Lives learnt from the fleet (collector/reliability): once a model/part has this many
         * failures, its fitted Weibull replaces the rated figure, and a part whose risk of failing
         * within the lead time reaches `planRisk` gets a planned replacement, even with a healthy error rate. */
        fleetLife: z
          .object({ minFailures: z.number().int().min(2).default(10), planRisk: z.number().gt(0).max(1).default(0.5) })
          .strict()
          .prefault({}),
        priority: issuePriority.default('Low'),
        issueType: z.string().default('predicted-failure'),
      })
      .strict()
      .prefault({}),
    degradation: z
      .object({
        rates: z.array(errorRateSpec).default([
          { name: 'read-errors', errors: 'failedReadCount', operations: 'swipes', part: 'read-head', fault: 'read-errors-high', inhibitableBySite: false },
          {
            name: 'image-failures',
            errors: 'imageFailures',
            operations: 'captures',
            part: 'sensor-window',
            fault: 'image-quality-degraded',
            inhibitableBySite: false,
          },
          {
            name: 'failed-cuts',
            errorsFromFault: 'autocutter-error',
            operations: 'autocutterCuts',
            part: 'cutter',
            fault: 'autocutter-error',
            inhibitableBySite: false,
            warning: 0.01,
          },
          { name: 'comm-errors', errors: 'commErrors', operations: 'polls', fault: 'comm-error', inhibitableBySite: true },
        ]),
        /** Operations per batch: one EWMA/CUSUM step (the profile's errorRateMinSamples wins when larger). */
        batchOperations: z.number().int().positive().default(200),
        /** Batches that make the device's own baseline. */
        baselineBatches: z.number().int().positive().default(20),
        ewmaLambda: z.number().gt(0).max(1).default(0.1),
        /** The smoothed rate's time constant is at most this (a quiet device's batches are far apart in time). */
        ewmaMaxAgeMs: z
          .number()
          .positive()
          .default(2 * day),
        /** Sequential test (binomial CUSUM, collector/detectors/sequential.ts): the rise it looks for, as a multiple of the baseline. */
        ratio: z.number().gt(1).default(2),
        /** Expected false alarms of the sequential test per 1,000 device-days of a healthy part (sets its threshold). */
        falseAlarmsPer1000DeviceDays: z.number().positive().default(0.2),
        /** Uses per day assumed until the device's own usage rate is measured (over a day or more). */
        typicalUsesPerDay: z.number().positive().default(1500),
        /** The evidence must stay over its threshold for this many uses: a one-day burst (bad cards) fades before. */
        holdOperations: z.number().int().nonnegative().default(1500),
        /** A rise over the threshold within this many uses of its start is a step (a burst, until it outlasts one)… */
        abruptOperations: z.number().int().nonnegative().default(400),
        /** …or at this many times its baseline or more (a precursor is seen while its rise is still small). */
        stepRise: z.number().min(1).default(4),
        /** …and counts only once it outlasts a burst: a burst is over within this time of its start (1–2 days)… */
        burstMs: z
          .number()
          .nonnegative()
          .default(2 * day),
        /** …so the uses measured after that (at least this many) must still be at the minimum rise. */
        burstConfirmOperations: z.number().int().positive().default(500),
        /** Evidence is capped at this multiple of the threshold, so that a burst's evidence fades within a bounded number of uses. */
        evidenceCap: z.number().min(1).default(1.5),
        /** The smoothed rate must also be this many times its baseline (a small step that then holds flat is noticed, not ticketed). */
        minRise: z.number().min(1).default(2.5),
        /** …or the rate over the last this many uses is (the smoothed rate lags on a quiet device). */
        recentOperations: z.number().int().positive().default(1000),
        /** A device baseline this many times above its model's population median is not trusted as its own normal. */
        minRatio: z.number().min(1).default(3),
        /** With a warning level, a rise fires only when its own trend reaches that level within this. */
        leadTimeMs: z
          .number()
          .nonnegative()
          .default(15 * day),
        /** The error rate a part fails at, as a multiple of the warning level (a warning is set below the unusable rate).
         * Both rules wait for the rise's trend to reach it soon: a slow rise past the warning level waits… */
        failureLevel: z.number().min(1).default(1.5),
        /** …and fire when the trend reaches the failure level within this (and the warning level within `leadTimeMs`). */
        failureLeadTimeMs: z
          .number()
          .nonnegative()
          .default(28 * day),
        /** The warning level alone fires once it has held for this many uses (a 1–2-day burst does not). */
        warningHoldOperations: z.number().int().nonnegative().default(6000),
        /** Curvature of a worn part's rise: its excess error rate grows like time since the rise began to this power
         * (the trend is extrapolated on the excess's root; 1 extrapolates the rate in a straight line). */
        riseExponent: z.number().min(1).default(2),
        /** Trailing window and granularity of the smoothed-rate trend (a short rise is fitted on its own points since it
         * began; 4 weeks steady the curve of a months-long one, which 2 weeks of noise bent towards a failure months early). */
        trendWindowMs: z
          .number()
          .positive()
          .default(28 * day),
        trendBucketMs: z
          .number()
          .positive()
          .default(6 * 3_600_000),
        /** Minimum span of the trend before it is extrapolated. */
        trendMinHistoryMs: z
          .number()
          .positive()
          .default(3 * day),
        /** Floor of the baseline rate used for the standard error. */
        minBaseline: z.number().positive().default(0.002),
        /** How long the recovery condition must hold before a degradation incident resolves. */
        recoverMs: z
          .number()
          .nonnegative()
          .default(3 * day),
        /** Use the model's population median when the device has no baseline yet, or when its own
         * baseline is already minRatio × above it (monitoring began on a worn part). */
        usePopulation: z.boolean().default(true),
        priority: issuePriority.default('Medium'),
        issueType: z.string().default('predicted-failure'),
      })
      .strict()
      .prefault({}),
    recurring: z
      .object({
        count: z.number().int().min(2).default(3),
        windowMs: z
          .number()
          .positive()
          .default(7 * day),
        /** Faults that recur by design (operator actions, consumables) are not "a fix that did not work". */
        ignore: z.array(z.string()).default(['paper-end', 'paper-near-end', 'cover-open', 'feed-button']),
      })
      .strict()
      .prefault({}),
    reactive: z
      .object({
        /** Profile faults at or above this priority become incidents while active. */
        minPriority: issuePriority.default('Medium'),
        defaultHoldMs: z
          .number()
          .nonnegative()
          .default(5 * minute),
        /** Per fault code: how long it must persist (paper out beyond a hold time, a persistent cutter error). */
        holdMs: z
          .record(z.string(), z.number().nonnegative())
          .default({ 'unrecoverable-error': 0, 'autocutter-error': 2 * minute, 'paper-end': 15 * minute, 'cover-open': 10 * minute, 'log-memory-full': 0 }),
        recoverMs: z
          .number()
          .nonnegative()
          .default(2 * minute),
        absent: mapping.default({ priority: 'High', issueType: 'peripheral-connectivity' }),
        absentHoldMs: z
          .number()
          .nonnegative()
          .default(5 * minute),
        offline: mapping.default({ priority: 'High', issueType: 'device-connectivity' }),
        offlineHoldMs: z
          .number()
          .nonnegative()
          .default(5 * minute),
        /** Silence after which a device counts as offline even without its will (broker lost it). */
        staleAfterMs: z
          .number()
          .positive()
          .default(10 * minute),
        /** |device clock − collector clock| beyond which the RTC is suspect (dead cell: boots in 2000). */
        clockDriftMs: z.number().positive().default(120_000),
        clockDrift: mapping.default({ priority: 'Medium', issueType: 'device-clock' }),
        clockDriftHoldMs: z
          .number()
          .nonnegative()
          .default(15 * minute),
      })
      .strict()
      .prefault({}),
    /** Which device times are trusted as measurement times (measurement-time.ts). */
    measurementTime: measurementTimeConfig,
    site: z
      .object({
        /** Share of a site's devices offline at once that makes one site incident. */
        offlineFraction: z.number().gt(0).max(1).default(0.6),
        minDevices: z.number().int().positive().default(2),
        mapping: mapping.default({ priority: 'Urgent', issueType: 'site-outage' }),
        holdMs: z
          .number()
          .nonnegative()
          .default(5 * minute),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({});
export type DetectorConfig = z.infer<typeof detectorConfig>;
export type DetectorConfigInput = z.input<typeof detectorConfig>;

export const findingKey = (device: string, peripheral: string, failureMode: string) => `${device}/${peripheral}/${failureMode}`;

/** Failure mode of a worn part: the wear-out and the part's error-rate degradation share it (one incident per worn part). */
export const partFailureMode = (part: string) => `${part}-wear-out`;
