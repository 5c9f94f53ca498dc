// The driver step end to end: detectors fed in time order, findings applied with a hook that
// writes an outbox row in the same transaction, the process "restarts" (new engine and store on
// the same database) and continues: one incident and one outbox row per real problem.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { tempDir } from '../helpers/tmp.js';
import { defaultFirmwareProfilesDir, loadFirmwareProfiles } from '../../firmware-profiles/index.js';
import { DetectorEngine } from '../../collector/detectors/index.js';
import { IncidentStore, detectAndApply, restoreEngine, type IncidentChange } from '../../collector/incidents/index.js';

const profiles = loadFirmwareProfiles(defaultFirmwareProfilesDir());
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 0, 5);
/** The cutter judged by its rating (no failed-cuts signal here to defer it). */
const cfg = { wear: { deferToErrorRate: false } };

const hooksOf = (tx: Database.Database) => ({
  onChange: (c: IncidentChange) => {
    tx.exec('CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, key TEXT, action TEXT)');
    if (c.ticket !== 'none') tx.prepare('INSERT INTO outbox (key, action) VALUES (?, ?)').run(c.incident.key, c.ticket);
  },
});

test('wear-out through a restart: detector windows and incidents survive, nothing is doubled', () => {
  const dir = tempDir('fleetcare-pipeline-');
  const path = join(dir.path, 'incidents.db');
  let store = new IncidentStore(path);
  let engine = new DetectorEngine(profiles, cfg);
  assert.not.ok(restoreEngine(engine, store));
  let cuts = 1_880_000;
  const feed = (from: number, days: number) => {
    for (let h = 0; h < days * 24; h++) {
      const at = from + h * HOUR;
      cuts += 250;
      engine.observeSample({
        device: 'pos-1',
        site: 's1',
        peripheral: 'printer',
        kind: 'printer',
        profile: 'epson-tm-t88vi',
        at,
        counters: { autocutterCuts: cuts },
      });
      if (h % 6 === 0) detectAndApply(engine, store, at, hooksOf(store.db));
    }
  };
  feed(T0, 3); // 6,000 cuts/day, 120 k left = 20 days: inside the lead time
  const first = store.get('pos-1/printer/cutter-wear-out');
  assert.is(first?.state, 'open');
  assert.ok(first!.eta! > T0 + 18 * DAY && first!.eta! < T0 + 25 * DAY, 'eta');
  store.close();

  // Restart: new objects, same database.
  store = new IncidentStore(path);
  engine = new DetectorEngine(profiles, cfg);
  assert.ok(restoreEngine(engine, store));
  feed(T0 + 3 * DAY, 2);
  const rows = store.db.prepare('SELECT key, action FROM outbox').all();
  assert.equal(rows, [{ key: 'pos-1/printer/cutter-wear-out', action: 'create' }]);
  assert.is(store.list().length, 1);
  const again = store.get('pos-1/printer/cutter-wear-out')!;
  assert.is(again.id, first!.id);
  assert.ok(typeof again.figures.ratePerDay === 'number' && Math.abs((again.figures.ratePerDay as number) - 6000) < 300, 'rate kept across the restart');
  store.close();
  dir.remove();
});

test.run();
