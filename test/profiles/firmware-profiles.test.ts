// Firmware profiles: every shipped file validates and is cross-checked; a bad file is refused
// naming the file and the field; identities match the right profile.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp.js';
import {
  FirmwareProfileError,
  defaultFirmwareProfilesDir,
  loadFirmwareProfiles,
  matchProfile,
  parseFirmwareProfile,
  type FirmwareProfile,
} from '../../firmware-profiles/index.js';
import { firmwareProfileJsonSchema } from '../../firmware-profiles/json-schema.js';

const dir = defaultFirmwareProfilesDir();
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
const profiles = loadFirmwareProfiles(dir);
const byId = (id: string) => profiles.find((p) => p.id === id)!;

test('every profile file validates, one per model, id = file name', () => {
  assert.ok(files.length >= 3);
  assert.is(profiles.length, files.length);
  assert.equal(profiles.map((p) => p.id).sort(), files.map((f) => f.replace(/\.json$/, '')).sort());
  for (const id of ['epson-tm-t88vi', 'epson-tm-t20iii', 'epson-tm-t90']) assert.ok(byId(id), id);
});

test('cross-checks: runbooks in four languages, sources on every figure', () => {
  for (const p of profiles) {
    for (const [key, text] of Object.entries(p.runbook)) {
      for (const lang of ['en', 'ar', 'fa', 'zh'] as const) assert.ok(text[lang].length > 10, `${p.id}: runbook.${key}.${lang}`);
    }
    if (p.driver !== 'host') assert.ok(p.ratedLife.length > 0, `${p.id}: no rated life`);
    for (const r of p.ratedLife) {
      assert.ok('document' in r.source || ('unverified' in r.source && r.source.note.length > 10), `${p.id}: ${r.part} ${r.metric} has no source`);
    }
  }
});

test('ESC/POS model files state only what differs; the template supplies the shared faults and runbooks', () => {
  const templates = join(dir, '..', 'templates');
  const common = JSON.parse(readFileSync(join(templates, 'escpos-common.json'), 'utf8'));
  for (const p of profiles.filter((x) => x.driver === 'escpos-serial')) {
    const raw = JSON.parse(readFileSync(join(dir, `${p.id}.json`), 'utf8'));
    assert.is(raw.$import, '../templates/escpos-common.json', p.id);
    assert.not.ok('faults' in raw, `${p.id} repeats the faults`);
    assert.equal(Object.keys(raw.runbook).sort(), ['$import', 'general'], p.id);
    assert.equal(p.faults, common.faults, p.id);
    for (const code of Object.keys(common.faults)) assert.equal(p.runbook[code], common.runbook[code], `${p.id}: ${code}`);
    assert.equal(p.runbook.general, raw.runbook.general, `${p.id}: its own general text wins`);
    assert.is(p.kind, 'printer');
  }
});

test('rated life: TM-T90 figures are sourced, TM-T88VI and TM-T20III are marked unverified', () => {
  const verified = (p: FirmwareProfile) => p.ratedLife.every((r) => 'document' in r.source);
  const unverified = (p: FirmwareProfile) => p.ratedLife.every((r) => 'unverified' in r.source);
  assert.ok(verified(byId('epson-tm-t90')));
  assert.ok(unverified(byId('epson-tm-t88vi')));
  assert.ok(unverified(byId('epson-tm-t20iii')));
  const t90 = byId('epson-tm-t90').ratedLife;
  const fig = (part: string, unit: string, basis = 'life') => t90.find((r) => r.part === part && r.unit === unit && r.basis === basis)?.value;
  assert.is(fig('cutter', 'cuts'), 2_000_000);
  assert.is(fig('head', 'pulses'), 150_000_000);
  assert.is(fig('head', 'km'), 150);
  assert.is(fig('mechanism', 'lines'), 20_000_000);
  assert.is(fig('mechanism', 'lines', 'mcbf'), 70_000_000);
  assert.is(fig('mechanism', 'hours', 'mtbf'), 360_000);
});

test('docs/firmware-profile.schema.json is generated from the schema and up to date', () => {
  const onDisk = JSON.parse(readFileSync(join(dir, '..', '..', 'docs', 'firmware-profile.schema.json'), 'utf8'));
  assert.equal(onDisk, JSON.parse(JSON.stringify(firmwareProfileJsonSchema())));
});

/** A temp copy of the shipped layout (models/ beside templates/), so imports resolve. */
function tempProfiles() {
  const tmp = tempDir('fleetcare-profiles-');
  const models = join(tmp.path, 'models');
  mkdirSync(models);
  cpSync(join(dir, '..', 'templates'), join(tmp.path, 'templates'), { recursive: true });
  return { ...tmp, models };
}

/** Writes a mutated copy of a good profile into a temp dir and returns the loader's error. */
function refusal(mutate: (p: Record<string, any>) => void, name = 'epson-tm-t90.json', text?: string): FirmwareProfileError {
  const tmp = tempProfiles();
  try {
    const raw = JSON.parse(readFileSync(join(dir, 'epson-tm-t90.json'), 'utf8'));
    mutate(raw);
    writeFileSync(join(tmp.models, name), text ?? JSON.stringify(raw));
    try {
      loadFirmwareProfiles(tmp.models);
    } catch (e) {
      assert.instance(e, FirmwareProfileError);
      const err = e as FirmwareProfileError;
      assert.ok(err.file.endsWith(name), `file ${err.file}`);
      assert.ok(err.message.includes(name) && err.message.includes(err.field), err.message);
      return err;
    }
    throw new Error('profile was accepted');
  } finally {
    tmp.remove();
  }
}

const fourLanguages = (s: string) => ({ en: s, ar: s, fa: s, zh: s });

test('spare parts: every part whose wear is predicted has one, named in four languages, a number or an unverified note', () => {
  for (const p of profiles) {
    for (const r of p.ratedLife) {
      if (r.basis !== 'life' || r.measuredBy === 'not-read') continue;
      const s = p.spareParts[r.part];
      assert.ok(s, `${p.id}: no spare part for ${r.part}`);
      for (const lang of ['en', 'ar', 'fa', 'zh'] as const) assert.ok(s.name[lang].length > 2, `${p.id}: spareParts.${r.part}.name.${lang}`);
      assert.ok(s.partNumber !== null || ('unverified' in s.source && s.source.note.length > 20), `${p.id}: ${r.part} part number unknown without a note`);
    }
  }
  // ESC/POS models take the shared entries from the template (no model repeats them).
  assert.is(byId('epson-tm-t90').spareParts.cutter?.name.en, 'Autocutter unit');
  assert.is(byId('epson-tm-t90').spareParts.cutter?.partNumber, null);
  assert.is(byId('grow-r503').spareParts['sensor-window']?.partNumber, 'R503');
  // A model overriding one entry keeps the template's other fields.
  const tmp = tempProfiles();
  try {
    const raw = JSON.parse(readFileSync(join(dir, 'epson-tm-t90.json'), 'utf8'));
    raw.spareParts = {
      cutter: { $import: '../templates/escpos-common.json#spareParts/cutter', partNumber: 'TEST-123', source: { document: 'a test parts list' } },
    };
    writeFileSync(join(tmp.models, 'epson-tm-t90.json'), JSON.stringify(raw));
    const t90 = loadFirmwareProfiles(tmp.models).find((x) => x.id === 'epson-tm-t90')!;
    assert.equal([t90.spareParts.cutter?.partNumber, t90.spareParts.cutter?.name.zh, t90.spareParts.cutter?.swapMinutes], ['TEST-123', '自动切刀组件', 20]);
    assert.is(t90.spareParts.head, undefined);
  } finally {
    tmp.remove();
  }
});

test('a profile with a wrong field is refused naming the file and the field', () => {
  assert.is(refusal((p) => (p.ratedLife[0].value = 'lots')).field, 'ratedLife.0.value');
  assert.is(refusal((p) => (p.kind = 'toaster')).field, 'kind');
  assert.is(refusal((p) => (p.driver = 'escpos-parallel')).field, 'driver');
  assert.is(refusal((p) => (p.capabilities.maintenanceCounter = [])).field, 'capabilities');
  assert.is(refusal((p) => (p.capabilities.maintenanceCounters = ['cutCount'])).field, 'capabilities.maintenanceCounters.0');
  assert.is(refusal((p) => (p.ratedLife[1].source = {})).field, 'ratedLife.1.source');
  assert.is(refusal((p) => (p.ratedLife[1].source = { unverified: false, note: 'trust me' })).field, 'ratedLife.1.source');
  assert.is(refusal((p) => (p.ratedLife[2].metric = 'cutterCuts')).field, 'ratedLife.2.metric');
  assert.is(refusal((p) => (p.match.modelNames = ['TM-(T90'])).field, 'match.modelNames.0');
  assert.is(refusal((p) => (p.match = { note: 'nothing' })).field, 'match');
  assert.is(refusal((p) => (p.runbook['paper-end'] = { en: 'Load paper.', ar: 'x', fa: 'x' })).field, 'runbook.paper-end.zh');
  assert.is(refusal((p) => delete p.runbook.$import).field, 'runbook.offline');
  assert.is(
    refusal(
      (p) =>
        (p.faults = {
          $import: '../templates/escpos-common.json#faults',
          'paper-end': { health: 'critical', priority: 'Critical', issueType: 'printer-consumable' },
        }),
    ).field,
    'faults.paper-end.priority',
  );
  assert.is(refusal((p) => (p.thresholds = { wearWarningFraction: 0.99, wearCriticalFraction: 0.95 })).field, 'thresholds.wearWarningFraction');
  assert.is(
    refusal((p) => (p.spareParts = { cutter: { partNumber: null, name: fourLanguages('Cutter'), swapMinutes: 20, source: { document: 'a parts list' } } }))
      .field,
    'spareParts.cutter.source',
  );
  assert.is(
    refusal((p) => (p.spareParts = { toaster: { partNumber: 'X1', name: fourLanguages('Cutter'), swapMinutes: 20, source: { document: 'a parts list' } } }))
      .field,
    'spareParts',
  );
  assert.is(refusal(() => undefined, 'epson-tm-t90x.json').field, 'id');
  assert.match(refusal(() => undefined, 'epson-tm-t90.json', '{ "id": ').message, /invalid JSON/);
});

test('$import: a local key overrides the template; a bad import is refused naming the file and the field', () => {
  const tmp = tempProfiles();
  try {
    const raw = JSON.parse(readFileSync(join(dir, 'epson-tm-t90.json'), 'utf8'));
    raw.runbook['cover-open'] = fourLanguages('Close the TM-T90 cover until it clicks.');
    raw.faults = { $import: '../templates/escpos-common.json#faults', 'feed-button': { health: 'warning', priority: 'Medium', issueType: 'printer-operator' } };
    writeFileSync(join(tmp.models, 'epson-tm-t90.json'), JSON.stringify(raw));
    const [p] = loadFirmwareProfiles(tmp.models);
    assert.is(p.runbook['cover-open'].en, 'Close the TM-T90 cover until it clicks.');
    assert.is(p.runbook['paper-end'].en, byId('epson-tm-t90').runbook['paper-end'].en, 'the rest still imported');
    assert.equal(p.faults['feed-button'], { health: 'warning', priority: 'Medium', issueType: 'printer-operator' });
    assert.equal(p.faults['paper-end'], byId('epson-tm-t90').faults['paper-end']);
  } finally {
    tmp.remove();
  }
  const e1 = refusal((p) => (p.runbook.$import = '../templates/escpos-comon.json#runbook'));
  assert.is(e1.field, 'runbook.$import');
  assert.match(e1.message, /cannot read "..\/templates\/escpos-comon.json#runbook": ENOENT/);
  assert.match(refusal((p) => (p.runbook.$import = '../templates/escpos-common.json#runbooks')).message, /no "runbooks" at that pointer/);
  assert.match(refusal((p) => (p.runbook.$import = '#runbook')).message, /imports itself/);
  assert.is(refusal((p) => (p.$import = 42)).field, '$import');
  // What a template supplies is validated like the file's own keys, under the importing file's
  // name, and the message says where the value came from.
  const e2 = refusal((p) => (p.faults = { $import: '../templates/escpos-common.json#runbook' }));
  assert.match(e2.field, /^faults\./);
  assert.match(e2.message, /imported from .*templates\/escpos-common\.json, runbook\./);
  const tmp2 = tempProfiles();
  try {
    const tpl = join(tmp2.path, 'templates', 'escpos-common.json');
    const common = JSON.parse(readFileSync(tpl, 'utf8'));
    common.faults['paper-end'].priority = 'Soonish';
    writeFileSync(tpl, JSON.stringify(common));
    cpSync(join(dir, 'epson-tm-t90.json'), join(tmp2.models, 'epson-tm-t90.json'));
    loadFirmwareProfiles(tmp2.models);
    assert.unreachable('accepted');
  } catch (e) {
    assert.instance(e, FirmwareProfileError);
    const err = e as FirmwareProfileError;
    assert.is(err.field, 'faults.paper-end.priority');
    assert.match(
      err.message,
      /epson-tm-t90\.json: faults\.paper-end\.priority: .*\(imported from .*templates\/escpos-common\.json, faults\.paper-end\.priority\)/,
    );
  } finally {
    tmp2.remove();
  }
});

test('a fault code has one health everywhere: a profile that disagrees is refused naming the field', () => {
  const tmp = tempProfiles();
  try {
    cpSync(join(dir, 'epson-tm-t88vi.json'), join(tmp.models, 'epson-tm-t88vi.json'));
    const raw = JSON.parse(readFileSync(join(dir, 'epson-tm-t90.json'), 'utf8'));
    raw.faults = { $import: '../templates/escpos-common.json#faults', 'cover-open': { health: 'warning', priority: 'Medium', issueType: 'printer-operator' } };
    writeFileSync(join(tmp.models, 'epson-tm-t90.json'), JSON.stringify(raw));
    try {
      loadFirmwareProfiles(tmp.models);
      assert.unreachable('accepted');
    } catch (e) {
      assert.instance(e, FirmwareProfileError);
      const err = e as FirmwareProfileError;
      assert.ok(err.file.endsWith('epson-tm-t90.json'), err.file);
      assert.is(err.field, 'faults.cover-open.health');
      assert.match(err.message, /"warning" but .*epson-tm-t88vi.json says "critical"/);
    }
  } finally {
    tmp.remove();
  }
});

test('rated life a driver cannot measure validates only when marked measuredBy "not-read"', () => {
  const star = readFileSync(join(dir, 'star-tsp143.json'), 'utf8');
  const starFile = 'star-tsp143.json';
  assert.ok(
    byId('star-tsp143').ratedLife.every((r) => r.measuredBy === 'not-read'),
    'Star mode reads no counter',
  );
  assert.ok(
    byId('epson-tm-t90').ratedLife.every((r) => r.measuredBy === 'counter'),
    'the default',
  );
  const unmarked = JSON.parse(star);
  delete unmarked.ratedLife[0].measuredBy;
  const e1 = refusal(() => undefined, starFile, JSON.stringify(unmarked));
  assert.is(e1.field, 'ratedLife.0.metric');
  assert.match(e1.message, /reads no counter "linesFed".*not-read/);
  // The opposite claim is refused too: the ESC/POS driver does read autocutterCuts.
  assert.is(
    refusal((p) => (p.ratedLife.find((r: any) => r.metric === 'autocutterCuts').measuredBy = 'not-read')).field.replace(/\d+/, 'N'),
    'ratedLife.N.measuredBy',
  );
});

test('clock-drift: an attendance clock profile says when it is raised and cleared, and why', () => {
  const k40 = profiles.find((p) => p.id === 'zkteco-k40')!;
  assert.equal(k40.faults['clock-drift'], { health: 'warning', priority: 'Medium', issueType: 'clock-time' });
  assert.ok(k40.thresholds.clockOffsetClearSec! < k40.thresholds.clockOffsetWarningSec! / 4, 'clears well under the threshold');
  assert.match(k40.thresholds.clockOffsetSource && 'note' in k40.thresholds.clockOffsetSource ? k40.thresholds.clockOffsetSource.note : '', /payroll/);
  for (const lang of ['en', 'ar', 'fa', 'zh'] as const) assert.ok(k40.runbook['clock-drift'][lang].length > 20, lang);
  assert.match(k40.runbook['clock-drift'].en, /Sync clock time.*RTC/s);
  // Parsed beside the shipped file, so its imports resolve; only the mutated part differs.
  const path = join(dir, 'zkteco-k40.json');
  const field = (mutate: (p: Record<string, any>) => void) => {
    const raw = JSON.parse(readFileSync(path, 'utf8'));
    mutate(raw);
    try {
      parseFirmwareProfile(JSON.stringify(raw), 'zkteco-k40.json', path);
    } catch (e) {
      return (e as FirmwareProfileError).field;
    }
    throw new Error('profile was accepted');
  };
  assert.is(
    field((p) => delete p.thresholds.$import),
    'thresholds.clockOffsetWarningSec',
  );
  assert.is(
    field((p) => (p.thresholds.clockOffsetClearSec = 60)),
    'thresholds.clockOffsetClearSec',
  );
  assert.is(
    field((p) => (p.thresholds = { clockOffsetWarningSec: 60 })),
    'thresholds.clockOffsetClearSec',
  );
});

test('duplicate ids across files are refused', () => {
  const tmp = tempDir('fleetcare-profiles-');
  try {
    // A profile that imports nothing, so the copies need no templates beside them.
    const text = readFileSync(join(dir, 'host.json'), 'utf8');
    writeFileSync(join(tmp.path, 'host.json'), text);
    mkdirSync(join(tmp.path, 'more'));
    writeFileSync(join(tmp.path, 'more', 'host.json'), text);
    assert.throws(() => loadFirmwareProfiles(tmp.path), /also used by/);
    assert.throws(() => parseFirmwareProfile('[]', 'x.json'), /x\.json: \(root\)/);
  } finally {
    tmp.remove();
  }
});

test('matchProfile picks the model by name, excludes other makers, and weighs USB ids low', () => {
  const m = (input: Parameters<typeof matchProfile>[0]) => matchProfile(input, profiles)?.profile.id ?? null;
  assert.is(m({ modelName: 'TM-T88VI', maker: 'EPSON' }), 'epson-tm-t88vi');
  assert.is(m({ modelName: 'TM-T20III' }), 'epson-tm-t20iii');
  assert.is(m({ modelName: 'TM-T90' }), 'epson-tm-t90');
  assert.is(m({ modelName: 'TM-T88V' }), null);
  assert.is(m({ modelName: 'TM-T88VII' }), null);
  assert.is(m({ modelName: 'TM-T90II' }), null);
  assert.is(m({ modelName: 'TM-T88VI', maker: 'Citizen' }), null);
  assert.is(m({ modelName: 'TM-T88VI', driver: 'star-serial' }), null);
  // USB 04b8:0202 is shared by all of them: it matches something, but a name match beats it.
  assert.ok(m({ usb: { vid: 0x04b8, pid: 0x0202 } }));
  assert.is(m({ usb: { vid: 0x04b8, pid: 0x0202 }, modelName: 'TM-T90' }), 'epson-tm-t90');
  const withId = profiles.map((p) => (p.id === 'epson-tm-t20iii' ? { ...p, match: { ...p.match, gsIModelIds: [0x21] } } : p));
  assert.is(matchProfile({ gsIModelId: 0x21 }, withId)?.profile.id, 'epson-tm-t20iii');
  assert.is(matchProfile({ gsIModelId: 0x22 }, withId), null);
});

test.run();
