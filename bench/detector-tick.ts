// bench/detector-tick: the incident service's per-tick cost at fleet scale, without the broker
// and the collector around it. N devices (a printer with counters, a card reader, the host), each
// reporting every `--period` seconds, spread evenly over the ticks; every 1 s tick runs the
// pipeline step the service runs (detectors → incident store → detector state saved):
//   full     the earlier step: DetectorEngine.evaluate (whole fleet) + one JSON document of the
//            whole engine (what was saved every 30 s)
//   changed  detectAndApply: evaluateChanged (devices observed since the last tick, plus those
//            with a hold running, a live incident or a staleness turn) + per-device rows of the
//            devices observed since the last save (every tick)
//   fenced   the cluster step (collector/incidents/cluster-pipeline.ts) on a real PostgreSQL
//            (started here, fsync off): the same evaluation, then apply + detector state in one
//            transaction fenced by the partition leases of one node owning all 64 partitions
//            (`apply` = the transaction without its save: fence, incident apply, commit)
// Prints per-tick milliseconds (p50/p99/max) for evaluate, apply and save, and the bytes saved.
//
//   npx tsc -p . && node dist/bench/detector-tick.js [--devices 10000] [--period 10] [--ticks 60] [--mode full,changed,fenced]
//
// --warmup N: reports per device before timing (detector windows and baselines filled); --mode:
// full, changed (SQLite, embedded) and fenced (PostgreSQL, cluster mode).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchFlags } from './help.js';
import { defaultFirmwareProfilesDir, loadFirmwareProfiles } from '../firmware-profiles/index.js';
import { DetectorEngine, quantile } from '../collector/detectors/index.js';
import { IncidentStore, detectAndApply } from '../collector/incidents/index.js';
import { detectAndApplyFenced } from '../collector/incidents/cluster-pipeline.js';
import { PartitionLeases } from '../cluster/leases.js';
import { DEFAULT_PARTITIONS } from '../cluster/partitions.js';
import { createPgPool } from '../state/postgres/db.js';
import { PgIncidentState } from '../state/postgres/incidents.js';
import { migratePostgres } from '../state/postgres/migrations.js';
import { TestPostgres } from '../test/helpers/postgres.js';
import { pino } from 'pino';

const flags = benchFlags(import.meta.url, { devices: 10000, period: 10, ticks: 60, warmup: 40, mode: 'full,changed' });
const { devices: DEVICES, period: PERIOD, ticks: TICKS, warmup: WARMUP } = flags;
const T0 = Date.UTC(2026, 0, 5, 9);
const profiles = loadFirmwareProfiles(defaultFirmwareProfilesDir());

type Dev = { id: string; site: string; cuts: number; lines: number; swipes: number; failed: number };

function report(e: DetectorEngine, d: Dev, at: number, i: number): void {
  d.cuts += 3;
  d.lines += 120;
  d.swipes += 5;
  if (i % 40 === 0) d.failed += 1;
  // A few printers have paper out now and then (reactive findings, holds running).
  const faults = d.id.endsWith('7') && i % 50 < 5 ? ['paper-end'] : [];
  e.observeSample({
    device: d.id,
    site: d.site,
    peripheral: 'printer',
    kind: 'printer',
    profile: 'epson-tm-t88vi',
    at,
    health: 'ok',
    counters: { autocutterCuts: d.cuts, linesFed: d.lines },
    faults,
  });
  e.observeSample({
    device: d.id,
    site: d.site,
    peripheral: 'msr',
    kind: 'card-reader',
    profile: 'generic-serial-msr',
    at,
    health: 'ok',
    counters: { swipes: d.swipes, failedReadCount: d.failed },
  });
  e.observeSample({ device: d.id, site: d.site, peripheral: 'host', kind: 'host', at, health: 'ok', metrics: { diskFreePct: 60 } });
}

type Step = (engine: DetectorEngine, now: number) => Promise<{ evaluateMs: number; applyMs: number; saveMs: number; savedBytes: number }>;

/** The cluster step on PostgreSQL: a server, the leases of one node owning every partition, the fenced step. */
async function fencedStep(): Promise<{ step: Step; close(): Promise<void> }> {
  const pg = await TestPostgres.create();
  const url = await pg.createDatabase('detector_tick');
  await migratePostgres(url);
  const pool = createPgPool(url);
  const leases = new PartitionLeases(pool, { node: 'bench', partitions: DEFAULT_PARTITIONS, leaseMs: 600_000 }, {}, pino({ level: 'silent' }));
  await leases.start();
  const store = new PgIncidentState(pool, { partitions: DEFAULT_PARTITIONS });
  const fence = { node: 'bench', epochs: new Map(leases.owned().map((p) => [p, leases.epochOf(p)!])) };
  return {
    step: async (engine, now) => {
      const { stats } = await detectAndApplyFenced(engine, store, pool, now, fence, async () => undefined);
      return { evaluateMs: stats.evaluateMs, applyMs: stats.writeMs - stats.saveMs, saveMs: stats.saveMs, savedBytes: stats.savedBytes };
    },
    close: async () => {
      await leases.stop({ release: false });
      await pool.end();
      await pg.destroy();
    },
  };
}

async function run(mode: 'full' | 'changed' | 'fenced') {
  const dir = mkdtempSync(join(tmpdir(), 'fleetcare-detector-tick-'));
  const store = new IncidentStore(join(dir, 'incidents.db'));
  const engine = new DetectorEngine(profiles);
  const devs: Dev[] = Array.from({ length: DEVICES }, (_, i) => ({
    id: `dev-${String(i).padStart(5, '0')}`,
    site: `site-${Math.floor(i / 20)}`,
    cuts: 100_000 + i * 37,
    lines: 1e6,
    swipes: 10_000 + i,
    failed: 100,
  }));
  for (const d of devs) engine.observeDevice({ device: d.id, site: d.site, online: true, lastSeen: T0 });
  // Warm-up: WARMUP reports per device, one every PERIOD seconds, then one evaluation + save.
  let now = T0;
  for (let k = 0; k < WARMUP; k++) {
    now = T0 + k * PERIOD * 1000;
    for (const d of devs) report(engine, d, now, k);
  }
  const fenced = mode === 'fenced' ? await fencedStep() : null;
  if (mode === 'full') store.apply(engine.evaluate(now), now);
  else if (fenced) await fenced.step(engine, now);
  else detectAndApply(engine, store, now);
  const evalMs: number[] = [];
  const applyMs: number[] = [];
  const saveMs: number[] = [];
  const savedBytes: number[] = [];
  const perTick = Math.ceil(DEVICES / PERIOD);
  let report0 = WARMUP;
  for (let t = 1; t <= TICKS; t++) {
    now += 1000;
    const slice = ((t - 1) % PERIOD) * perTick;
    for (let i = slice; i < Math.min(DEVICES, slice + perTick); i++) report(engine, devs[i], now, report0);
    if (t % PERIOD === 0) report0++;
    if (mode === 'full') {
      let a = performance.now();
      const findings = engine.evaluate(now);
      evalMs.push(performance.now() - a);
      a = performance.now();
      store.apply(findings, now);
      applyMs.push(performance.now() - a);
      // The earlier service saved the whole engine every 30 ticks; measured on those ticks.
      if (t % 30 === 0) {
        a = performance.now();
        const snap = engine.snapshot();
        store.saveDetectorState('detector-engine', snap, now);
        saveMs.push(performance.now() - a);
        savedBytes.push(JSON.stringify(snap).length);
      }
    } else if (fenced) {
      const stats = await fenced.step(engine, now);
      evalMs.push(stats.evaluateMs);
      applyMs.push(stats.applyMs);
      saveMs.push(stats.saveMs);
      savedBytes.push(stats.savedBytes);
    } else {
      const { stats } = detectAndApply(engine, store, now);
      evalMs.push(stats.evaluateMs);
      applyMs.push(stats.applyMs);
      saveMs.push(stats.saveMs);
      savedBytes.push(stats.savedBytes);
    }
  }
  store.close();
  await fenced?.close();
  rmSync(dir, { recursive: true, force: true });
  const q = (xs: number[]) => {
    const v = xs.filter((x) => Number.isFinite(x));
    return v.length ? { p50: round(quantile(v, 0.5)), p99: round(quantile(v, 0.99)), max: round(Math.max(...v)) } : null;
  };
  return {
    mode,
    devices: DEVICES,
    reportsPerTick: perTick,
    evaluateMs: q(evalMs),
    applyMs: q(applyMs),
    saveMs: q(saveMs),
    savedKBPerSave: q(savedBytes.map((b) => b / 1024)),
  };
}
const round = (x: number) => Math.round(x * 10) / 10;

for (const m of flags.mode.split(',')) console.log(JSON.stringify(await run(m as 'full' | 'changed' | 'fenced')));
