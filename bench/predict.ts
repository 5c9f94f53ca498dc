// bench/predict: how early and how precisely the detectors predict wear-out failures. A fleet of
// devices, each with a card reader (read head, rated in swipes) and a fingerprint module (sensor
// window, rated in captures), runs for simulated months faster than real time. Each part is a
// WearPart of sim/wear.ts: a hidden actual life drawn around the rated one, an error rate that
// rises near it, and a ground-truth record when it fails. The detectors see only what the
// collector would see — hourly cumulative counters (uses, errors) in time order — and the
// incident store decides tickets; nothing looks ahead. A failed part is replaced 3 days later
// (a service record: engine.partReplaced). Scored against the ground truth:
//   recall     share of failures with a ticket for that part created ≥ 7 days before the failure
//   lead time  failure − first ticket of that part instance (p10/p50/p90, failures with a ticket)
//   false      tickets whose part did not fail within --horizon days, per 1,000 device-days
// and the same for a baseline that tickets at a static 90 % of rated life.
//
//   npx tsc -p . && node dist/bench/predict.js [--devices 300] [--days 240] [--seed 1] [--horizon 60]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseBenchArgs } from './help.js';
import { defaultFirmwareProfilesDir, loadFirmwareProfiles } from '../firmware-profiles/index.js';
import { DetectorEngine, quantile } from '../collector/detectors/index.js';
import { IncidentStore } from '../collector/incidents/index.js';
import { GroundTruthRecorder, WearPart, deriveSeed, seededRandom } from '../sim/wear.js';

const { values } = parseBenchArgs(import.meta.url, {
  options: {
    devices: { type: 'string', default: '300' },
    days: { type: 'string', default: '240' },
    seed: { type: 'string', default: '1' },
    horizon: { type: 'string', default: '60' },
    /** Days the detectors watch before scoring starts (a real collector has history; a fresh one has none). */
    warmup: { type: 'string', default: '21' },
    'eval-hours': { type: 'string', default: '6' },
    /** Degradation minRatio values to compare (one full simulation each; same fleet, same seed). */
    'min-ratio': { type: 'string', default: '3' },
    /** Degradation leadTime values (days): a rise tickets when its trend reaches the profile's errorRateWarning within this. */
    'lead-days': { type: 'string', default: '21' },
    /** wear.deferToErrorRate values to compare (on: a part with a healthy error rate waits past its rating). */
    defer: { type: 'string', default: 'on' },
  },
});
const DEVICES = Number(values.devices);
const DAYS = Number(values.days);
const SEED = Number(values.seed);
const HORIZON = Number(values.horizon) * 86_400_000;
const WARMUP = Number(values.warmup) * 86_400_000;
const EVAL_EVERY_H = Number(values['eval-hours']);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const AHEAD = 7 * DAY;
const T0 = Date.UTC(2026, 0, 5);

/** The peripherals simulated, named by their profile; counters as the drivers name them. */
const kinds = [
  { peripheral: 'msr', kind: 'card-reader', profile: 'generic-serial-msr', part: 'read-head', uses: 'swipes', errors: 'failedReadCount', base: 0.01, end: 0.25 },
  { peripheral: 'fp', kind: 'fingerprint', profile: 'grow-r503', part: 'sensor-window', uses: 'captures', errors: 'imageFailures', base: 0.03, end: 0.3 },
] as const;

const profiles = loadFirmwareProfiles(defaultFirmwareProfilesDir());
const rated = (profileId: string, part: string) => profiles.find((p) => p.id === profileId)!.ratedLife.find((r) => r.part === part)!.value;

/** Poisson draw (Knuth for small means, normal approximation for large). */
function poisson(mean: number, rnd: () => number): number {
  if (mean <= 0) return 0;
  if (mean > 30) {
    const u = Math.max(1e-12, rnd());
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd());
    return Math.max(0, Math.round(mean + Math.sqrt(mean) * z));
  }
  const l = Math.exp(-mean);
  let k = 0;
  let p = 1;
  do {
    k++;
    p *= rnd();
  } while (p > l);
  return k - 1;
}

type Slot = {
  device: string;
  k: (typeof kinds)[number];
  rated: number;
  perDay: number;
  part: WearPart;
  /** Instance number of the part in this slot (a replacement starts the next one). */
  instance: number;
  instanceFrom: number;
  uses: number;
  errors: number;
  replaceAt: number | null;
  baselineTicketed: boolean;
};

type Ticket = { device: string; peripheral: string; instance: number; at: number; detector?: string };

let now = T0;

const slotKey = (device: string, peripheral: string) => `${device}/${peripheral}`;

function simulate(degradation: { minRatio: number; leadTimeMs: number }, deferToErrorRate: boolean) {
  now = T0;
  const truth = new GroundTruthRecorder();
  const newPart = (device: string, k: (typeof kinds)[number], r: number, used: number, instance: number): WearPart =>
    new WearPart({ device, peripheral: k.peripheral, part: k.part, ratedLife: r, usage: used, baseErrorRate: k.base, endErrorRate: k.end,
      random: seededRandom(deriveSeed(SEED, `${device}/${k.peripheral}/${instance}`)), clock: () => now, recorder: truth });
  const rnd = seededRandom(SEED);
  const slots: Slot[] = [];
  for (let d = 0; d < DEVICES; d++) {
    const device = `dev-${String(d).padStart(4, '0')}`;
    for (const k of kinds) {
      const r = rated(k.profile, k.part);
      // A fleet of mixed ages and trades: 1–2.5 years to rated life, up to 90 % already used.
      const perDay = r / (365 + rnd() * 550);
      const used = rnd() * 0.9 * r;
      slots.push({ device, k, rated: r, perDay, instance: 0, instanceFrom: T0, uses: Math.round(used), errors: Math.round(used * k.base), replaceAt: null, baselineTicketed: used >= 0.9 * r,
        part: newPart(device, k, r, used, 0) });
    }
  }



  const dir = mkdtempSync(join(tmpdir(), 'fleetcare-predict-'));
  const store = new IncidentStore(join(dir, 'incidents.db'));
  const engine = new DetectorEngine(profiles, { degradation, wear: { deferToErrorRate } });
  const tickets: Ticket[] = [];
  const baselineTickets: Ticket[] = [];
  const instanceOf = new Map<string, number>();
  for (const s of slots) instanceOf.set(slotKey(s.device, s.k.peripheral), 0);
  for (const s of slots) if (s.baselineTicketed) baselineTickets.push({ device: s.device, peripheral: s.k.peripheral, instance: 0, at: T0 });

  const dayNoise = new Map<string, number>();
  const started = Date.now();
  for (let h = 0; h < DAYS * 24; h++) {
    now = T0 + h * HOUR;
    const dayIndex = Math.floor(h / 24);
    const hourOfDay = h % 24;
    const weekday = new Date(now).getUTCDay();
    const open = hourOfDay >= 8 && hourOfDay < 20;
    for (const s of slots) {
      if (s.replaceAt !== null && now >= s.replaceAt) {
        // Service visit: a new part; the counters keep counting (the reader's, not the head's).
        s.instance += 1;
        s.instanceFrom = now;
        s.part = newPart(s.device, s.k, s.rated, 0, s.instance);
        s.replaceAt = null;
        s.baselineTicketed = false;
        instanceOf.set(slotKey(s.device, s.k.peripheral), s.instance);
        engine.partReplaced(s.device, s.k.peripheral, s.k.part, now);
      }
      if (open) {
        const nk = `${s.device}/${s.k.peripheral}/${dayIndex}`;
        let noise = dayNoise.get(nk);
        if (noise === undefined) {
          dayNoise.clear();
          noise = (0.6 + 0.8 * rnd()) * (weekday === 0 || weekday === 6 ? 0.5 : 1);
          dayNoise.set(nk, noise);
        }
        const n = poisson((s.perDay / 12) * noise, rnd);
        const p = s.part.errorRate();
        const e = Math.min(n, poisson(n * p, rnd));
        s.part.advance(n);
        s.uses += n;
        s.errors += e;
        if (s.part.failed && s.replaceAt === null) s.replaceAt = now + 3 * DAY;
        if (!s.baselineTicketed && s.part.usage >= 0.9 * s.rated) {
          s.baselineTicketed = true;
          baselineTickets.push({ device: s.device, peripheral: s.k.peripheral, instance: s.instance, at: now });
        }
      }
      engine.observeSample({ device: s.device, peripheral: s.k.peripheral, kind: s.k.kind, profile: s.k.profile, at: now, counters: { [s.k.uses]: s.uses, [s.k.errors]: s.errors } });
    }
    if (h % EVAL_EVERY_H === 0) {
      const findings = engine.evaluate(now).filter((f) => f.detector === 'wear-out' || f.detector === 'degradation');
      store.apply(findings, now, {
        onChange: (c) => {
          if (c.ticket !== "create") return;
          const inst = instanceOf.get(slotKey(c.incident.device, c.incident.peripheral)) ?? 0;
          tickets.push({ device: c.incident.device, peripheral: c.incident.peripheral, instance: inst, at: now, detector: c.incident.detector });
        },
      });
    }
  }
  const simMs = Date.now() - started;
  const byDetector: Record<string, number> = {};
  for (const i of store.list()) if (i.ticketed) byDetector[i.detector] = (byDetector[i.detector] ?? 0) + 1;
  store.close();
  rmSync(dir, { recursive: true, force: true });
  return { truth, slots, tickets, baselineTickets, simMs, byDetector };
}


// ------------------------------------------------------------------------------------------
// scoring

type Failure = ReturnType<GroundTruthRecorder['records']>[number];
// Failures belong to the instance alive when they happened: count instances per slot in time.
function instanceAt(device: string, peripheral: string, at: number, list: Ticket[]): Ticket[] {
  return list.filter((t) => t.device === device && t.peripheral === peripheral && t.at <= at);
}

function score(name: string, list: Ticket[], allFailures: Failure[]) {
  const failures = allFailures.filter((f) => f.failedAt >= T0 + WARMUP);
  const leads: number[] = [];
  let hit = 0;
  const usedTickets = new Set<Ticket>();
  // Ground truth in order per slot; the instance of a failure = number of earlier failures of the slot.
  const failuresBySlot = new Map<string, number[]>();
  for (const f of allFailures) {
    const k = slotKey(f.device!, f.peripheral);
    const l = failuresBySlot.get(k) ?? [];
    l.push(f.failedAt);
    failuresBySlot.set(k, l);
  }
  for (const [k, times] of failuresBySlot) {
    const [device, peripheral] = k.split('/');
    times.sort((a, b) => a - b);
    times.forEach((failedAt, inst) => {
      if (failedAt < T0 + WARMUP) return;
      const candidates = instanceAt(device, peripheral, failedAt, list).filter((t) => t.instance === inst);
      candidates.forEach((t) => usedTickets.add(t));
      if (!candidates.length) return;
      const lead = failedAt - Math.min(...candidates.map((t) => t.at));
      leads.push(lead / DAY);
      if (lead >= AHEAD) hit++;
    });
  }
  // False: a ticket for a part instance that did not fail within the horizon after the ticket.
  // Tickets in the last `horizon` of the run cannot be judged and are left out, as are their device-days.
  const judgedUntil = T0 + DAYS * DAY - HORIZON;
  let falseTickets = 0;
  let judged = 0;
  const falseWhy: Record<string, number> = {};
  for (const t of list) {
    if (t.at > judgedUntil || t.at < T0 + WARMUP) continue;
    judged++;
    const times = (failuresBySlot.get(slotKey(t.device, t.peripheral)) ?? []).sort((a, b) => a - b);
    const failedAt = times[t.instance];
    if (failedAt === undefined || failedAt > t.at + HORIZON) {
      falseTickets++;
      const why = `${t.detector ?? 'baseline'}:${failedAt === undefined ? 'no failure in run' : `failed ${Math.floor((failedAt - t.at) / DAY / 30) * 30}+ d later`}`;
      falseWhy[why] = (falseWhy[why] ?? 0) + 1;
    }
  }
  const deviceDays = DEVICES * Math.max(1, (judgedUntil - T0 - WARMUP) / DAY);
  const recall = failures.length ? hit / failures.length : NaN;
  const precision = judged ? (judged - falseTickets) / judged : NaN;
  const f1 = 2 * precision * recall / (precision + recall);
  return {
    name,
    failures: failures.length,
    ticketed7d: hit,
    recall: round(recall, 3),
    leadP10: round(quantile(leads, 0.1), 1),
    leadP50: round(quantile(leads, 0.5), 1),
    leadP90: round(quantile(leads, 0.9), 1),
    tickets: list.length,
    judged,
    falseTickets,
    falsePer1000DeviceDays: round((falseTickets / deviceDays) * 1000, 3),
    precision: round(precision, 3),
    f1: round(f1, 3),
    falseWhy,
  };
}
const round = (x: number, d: number) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : x);

const rows: ReturnType<typeof score>[] = [];
const ratios = String(values['min-ratio']).split(',').map(Number);
const leads = String(values['lead-days']).split(',').map(Number);
const defers = String(values.defer).split(',').map((x) => x === 'on');
let baselineRow: ReturnType<typeof score> | null = null;
const meta: Record<string, unknown> = { warmupDays: WARMUP / DAY, devices: DEVICES, peripheralsPerDevice: kinds.length, days: DAYS, seed: SEED, horizonDays: HORIZON / DAY, evalEveryHours: EVAL_EVERY_H };
for (const ratio of ratios) {
  for (const lead of leads) for (const defer of defers) {
    const name = `minRatio ${ratio}, lead ${lead} d, defer ${defer ? 'on' : 'off'}`;
    const r = simulate({ minRatio: ratio, leadTimeMs: lead * DAY }, defer);
    const failures = r.truth.records();
    rows.push(score(`detectors, ${name}`, r.tickets, failures));
    baselineRow ??= score('baseline: static 90 % of rated life', r.baselineTickets, failures);
    meta[`ticketsByDetector(${name})`] = r.byDetector;
    meta[`simulatedInMs(${name})`] = r.simMs;
  }
}
rows.push(baselineRow!);
console.log(JSON.stringify(meta));
console.table(rows.map(({ falseWhy: _, ...r }) => r));
for (const r of rows) console.log(r.name, 'false tickets:', JSON.stringify(r.falseWhy));
