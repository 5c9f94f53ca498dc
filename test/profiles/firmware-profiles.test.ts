// Firmware profiles: every shipped file validates and is cross-checked; a bad file is refused
// naming the file and the field; identities match the right profile.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/net.js';
import {
  FirmwareProfileError,
  defaultFirmwareProfilesDir,
  loadFirmwareProfiles,
  matchProfile,
  parseFirmwareProfile,
  type FirmwareProfile,
} from '../../firmware-profiles/index.js';
import { firmwareProfileJsonSchema } from '../../firmware-profiles/json-schema.js';
import { escposFaultCodes } from '../../agent/drivers/escpos/parse.js';

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

test('cross-checks: faults are codes the driver emits, runbooks in four languages, sources on every figure', () => {
  const known = new Set<string>(escposFaultCodes);
  for (const p of profiles) {
    if (p.driver === 'escpos-serial') {
      for (const code of Object.keys(p.faults)) assert.ok(known.has(code), `${p.id}: unknown fault ${code}`);
      for (const code of escposFaultCodes) assert.ok(p.faults[code], `${p.id}: no mapping for ${code}`);
    }
    for (const [key, text] of Object.entries(p.runbook)) {
      for (const lang of ['en', 'ar', 'fa', 'zh'] as const) assert.ok(text[lang].length > 10, `${p.id}: runbook.${key}.${lang}`);
    }
    assert.ok(p.ratedLife.length > 0, `${p.id}: no rated life`);
    for (const r of p.ratedLife) {
      assert.ok('document' in r.source || ('unverified' in r.source && r.source.note.length > 10), `${p.id}: ${r.part} ${r.metric} has no source`);
    }
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

/** Writes a mutated copy of a good profile into a temp dir and returns the loader's error. */
function refusal(mutate: (p: Record<string, any>) => void, name = 'epson-tm-t90.json', text?: string): FirmwareProfileError {
  const tmp = tempDir('fleetcare-profiles-');
  try {
    const raw = JSON.parse(readFileSync(join(dir, 'epson-tm-t90.json'), 'utf8'));
    mutate(raw);
    writeFileSync(join(tmp.path, name), text ?? JSON.stringify(raw));
    try {
      loadFirmwareProfiles(tmp.path);
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
  assert.is(refusal((p) => delete p.runbook['paper-end'].zh).field, 'runbook.paper-end.zh');
  assert.is(refusal((p) => delete p.runbook['cover-open']).field, 'runbook.cover-open');
  assert.is(refusal((p) => (p.faults['paper-end'].priority = 'Critical')).field, 'faults.paper-end.priority');
  assert.is(refusal((p) => (p.thresholds.wearWarningFraction = 0.99)).field, 'thresholds.wearWarningFraction');
  assert.is(refusal(() => undefined, 'epson-tm-t90x.json').field, 'id');
  assert.match(refusal(() => undefined, 'epson-tm-t90.json', '{ "id": ').message, /invalid JSON/);
});

test('rated life a driver cannot measure validates only when marked measuredBy "not-read"', () => {
  const star = readFileSync(join(dir, 'star-tsp143.json'), 'utf8');
  const starFile = 'star-tsp143.json';
  assert.ok(byId('star-tsp143').ratedLife.every((r) => r.measuredBy === 'not-read'), 'Star mode reads no counter');
  assert.ok(byId('epson-tm-t90').ratedLife.every((r) => r.measuredBy === 'counter'), 'the default');
  const unmarked = JSON.parse(star);
  delete unmarked.ratedLife[0].measuredBy;
  const e1 = refusal(() => undefined, starFile, JSON.stringify(unmarked));
  assert.is(e1.field, 'ratedLife.0.metric');
  assert.match(e1.message, /reads no counter "linesFed".*not-read/);
  // The opposite claim is refused too: the ESC/POS driver does read autocutterCuts.
  assert.is(refusal((p) => (p.ratedLife.find((r: any) => r.metric === 'autocutterCuts').measuredBy = 'not-read')).field.replace(/\d+/, 'N'), 'ratedLife.N.measuredBy');
});

test('duplicate ids across files are refused', () => {
  const tmp = tempDir('fleetcare-profiles-');
  try {
    const text = readFileSync(join(dir, 'epson-tm-t90.json'), 'utf8');
    writeFileSync(join(tmp.path, 'epson-tm-t90.json'), text);
    mkdirSync(join(tmp.path, 'more'));
    writeFileSync(join(tmp.path, 'more', 'epson-tm-t90.json'), text);
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
