// The SQLite warranty registry: serials, status lookups, expiry lists, claims with ERPNext naming,
// persistence across reopen, and CSV/JSON import with row-level errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { formatImportError, parseSerialCsv, parseSerialJson, WarrantyRegistry } from '../../collector/warranty/index.js';
import { tempDir, type TempDir } from '../helpers/tmp.js';
import { CUTTER_CLAIM, PRINTER_RENEWED } from '../state/warranty-suite.js';

const dirs: TempDir[] = [];
const open: WarrantyRegistry[] = [];
function registry(dir?: string): WarrantyRegistry {
  const d = dir ?? (dirs.push(tempDir('fleetcare-warranty-')), dirs[dirs.length - 1].path);
  const r = new WarrantyRegistry(join(d, 'warranty.db'));
  open.push(r);
  return r;
}
test.after(() => {
  for (const r of open) if (r.db.open) r.close();
  for (const d of dirs) d.remove();
});

const csv = [
  'serial_no,item_code,kind,customer,device_id,delivery_date,warranty_expiry_date,amc_expiry_date',
  'PT-0001,POS-T650,device,Acme Retail,,2025-06-01,2026-05-31,2036-05-31',
  'PR-7781,TM-T88VI,peripheral,Acme Retail,PT-0001,2025-06-01,2027-05-31,2036-05-31',
  'PR-7782,TM-T88VI,printer,Acme Retail,PT-0001,2025-06-01,2027-05-31,2036-05-31',
  '"FP-0009","ZK ""SLK20R""",peripheral,"Souq, Ltd",PT-0002,,2026-13-01,',
  'PT-0001,POS-T650,device,Acme Retail,,,,',
  'PT-0003,POS-T650,device',
  '',
  'PT-0004,"POS',
  'T650 multi-line",device,Souq Ltd,,,2027-01-31,2037-01-31',
].join('\r\n');

test('CSV import: good rows kept, bad rows reported by line and field', () => {
  const r = parseSerialCsv(csv);
  assert.equal(
    r.records.map((x) => x.serial_no),
    ['PT-0001', 'PR-7781', 'PT-0004'],
  );
  assert.equal(r.errors.map(formatImportError), [
    'line 4, kind: Invalid option: expected one of "device"|"peripheral"',
    'line 5, warranty_expiry_date: Invalid ISO date',
    'line 6, serial_no: duplicate of line 2',
    'line 7, (row): 3 cells, header has 8',
  ]);
  assert.is(r.records[2].item_code, 'POS\r\nT650 multi-line');
  assert.is(r.records[1].device_id, 'PT-0001');
  assert.is(r.records[0].device_id, undefined);
});

test('CSV header and quoting errors', () => {
  assert.equal(parseSerialCsv('serial_no,item,kind\nA,B,device\n').errors.map(formatImportError), [
    'line 1, item: unknown column (expected serial_no, item_code, kind, customer, device_id, delivery_date, warranty_expiry_date, amc_expiry_date)',
  ]);
  assert.equal(parseSerialCsv('serial_no,item_code,kind\nA,"B,device\n').errors.map(formatImportError), ['line 2, (file): unterminated quoted cell']);
  assert.equal(parseSerialCsv('').errors.map(formatImportError), ['line 1, (file): no header row']);
});

test('JSON import: errors carry the line the element starts on', () => {
  const json = `[
  {"serial_no": "PT-0001", "item_code": "POS-T650", "kind": "device",
   "warranty_expiry_date": "2026-05-31"},
  {"serial_no": "PT-0002", "item_code": "POS-T650", "kind": "device", "amc_expiry_date": "2036/05/31"},
  "PT-0003",
  {"serial_no": "PT-0004", "item_code": "[not, a, bracket]", "kind": "device", "warranty": "2y"},
  {
    "serial_no": "PT-0001", "item_code": "POS-T650", "kind": "device"
  }
]`;
  const r = parseSerialJson(json);
  assert.equal(
    r.records.map((x) => x.serial_no),
    ['PT-0001'],
  );
  assert.equal(r.errors.map(formatImportError), [
    'line 4, amc_expiry_date: Invalid ISO date',
    'line 5, (row): expected an object',
    'line 6, warranty: unknown field',
    'line 7, serial_no: duplicate of line 2',
  ]);
  assert.equal(parseSerialJson('{"serial_no": "A"}').errors.map(formatImportError), ['line 1, (file): expected a JSON array of serial records']);
  assert.is(parseSerialJson('[{').errors[0].field, '(file)');
});

test('registry: import, lookups, status, expiry list, survives reopen', () => {
  const dir = tempDir('fleetcare-warranty-');
  dirs.push(dir);
  const reg = registry(dir.path);
  const res = reg.import(csv, 'csv');
  assert.is(res.imported, 3);
  assert.is(res.errors.length, 4);
  assert.is(reg.statusOf('PT-0001', '2026-06-01'), 'Under AMC');
  assert.is(reg.statusOf('PR-7781', '2026-06-01'), 'Under Warranty'); // the printer has two years
  assert.is(reg.statusOf('NOPE', '2026-06-01'), undefined);
  assert.equal(
    reg.list({ device_id: 'PT-0001' }).map((r) => r.serial_no),
    ['PR-7781'],
  );
  assert.equal(
    reg.list({ customer: 'Acme Retail', kind: 'device' }).map((r) => r.serial_no),
    ['PT-0001'],
  );
  assert.equal(
    reg.expiring('2026-05-01', '2026-05-31').map((r) => r.serial_no),
    ['PT-0001'],
  );
  // Upsert replaces the record (the contract was renewed, the device id cleared).
  reg.upsert({ ...reg.get('PR-7781')!, amc_expiry_date: '2037-05-31', device_id: undefined });
  reg.close();
  const again = registry(dir.path);
  assert.equal(again.get('PR-7781'), PRINTER_RENEWED);
  assert.is(again.list().length, 3);
  assert.ok(again.remove('PT-0004'));
  assert.not.ok(again.remove('PT-0004'));
});

test('registry: atomic import takes nothing when a row is bad', () => {
  const reg = registry();
  const res = reg.import(csv, 'csv', { atomic: true });
  assert.is(res.imported, 0);
  assert.is(reg.list().length, 0);
  assert.is(reg.import('[{"serial_no":"A1","item_code":"X","kind":"device"}]', 'json', { atomic: true }).imported, 1);
});

test('claims: SER-WRN-YYYY-NNNNN per year, one per incident, status changes persist', () => {
  const reg = registry();
  const base = CUTTER_CLAIM;
  const a = reg.createClaim({ ...base, complaint_date: '2026-04-02', incident_key: 'pt-0001/printer/cutter' });
  const b = reg.createClaim({ ...base, complaint_date: '2026-04-09' });
  const c = reg.createClaim({ ...base, complaint_date: '2027-01-05' });
  assert.equal([a.name, b.name, c.name], ['SER-WRN-2026-00001', 'SER-WRN-2026-00002', 'SER-WRN-2027-00001']);
  // The same incident again (a retry after a crash) returns the claim already made.
  assert.is(reg.createClaim({ ...base, complaint_date: '2026-04-03', incident_key: 'pt-0001/printer/cutter' }).name, 'SER-WRN-2026-00001');
  assert.is(reg.claimsFor('PR-7781').length, 3);
  const closed = reg.updateClaim(a.name, {
    status: 'Closed',
    resolution_date: '2026-04-05',
    resolved_by: 'tech-12',
    resolution_details: 'Cutter unit replaced under warranty',
  });
  assert.is(closed?.status, 'Closed');
  assert.is(reg.getClaim(a.name)?.resolution_details, 'Cutter unit replaced under warranty');
  assert.is(reg.updateClaim('SER-WRN-2026-99999', { status: 'Cancelled' }), undefined);
  assert.throws(() => reg.updateClaim(a.name, { status: 'Done' as never }));
});

test.run();
