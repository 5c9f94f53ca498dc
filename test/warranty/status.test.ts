// warrantyStatus precedence (Under Warranty > Under AMC > Out of AMC / Out of Warranty), inclusive
// expiry dates, the local date in the customer's zone, and the Warranty Claim draft.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { serialRecordSchema, warrantyClaimDraftSchema, warrantyClaimFor, warrantyStatus } from '../../collector/warranty/index.js';

// A POS terminal delivered 2025-06-01 with one year of warranty and an 11-year support contract.
const terminal = serialRecordSchema.parse({
  serial_no: 'PT-0001',
  item_code: 'POS-T650',
  kind: 'device',
  customer: 'Acme Retail',
  delivery_date: '2025-06-01',
  warranty_expiry_date: '2026-05-31',
  amc_expiry_date: '2036-05-31',
});

test('precedence across the life of a device', () => {
  assert.is(warrantyStatus(terminal, '2026-03-01'), 'Under Warranty');
  assert.is(warrantyStatus(terminal, '2026-05-31'), 'Under Warranty'); // the expiry day is covered
  assert.is(warrantyStatus(terminal, '2026-06-01'), 'Under AMC');
  assert.is(warrantyStatus(terminal, '2036-05-31'), 'Under AMC');
  assert.is(warrantyStatus(terminal, '2036-06-01'), 'Out of AMC');
});

test('without a contract, without dates, contract ended before the warranty', () => {
  assert.is(warrantyStatus({ warranty_expiry_date: '2026-05-31' }, '2026-05-01'), 'Under Warranty');
  assert.is(warrantyStatus({ warranty_expiry_date: '2026-05-31' }, '2027-06-01'), 'Out of Warranty');
  assert.is(warrantyStatus({}, '2026-01-01'), 'Out of Warranty');
  assert.is(warrantyStatus({ amc_expiry_date: '2030-01-01' }, '2029-12-31'), 'Under AMC');
  assert.is(warrantyStatus({ amc_expiry_date: '2030-01-01' }, '2030-01-02'), 'Out of AMC');
  // The warranty ran past the contract: the latest relationship is the warranty.
  assert.is(warrantyStatus({ warranty_expiry_date: '2026-05-31', amc_expiry_date: '2025-12-31' }, '2026-07-01'), 'Out of Warranty');
  // Warranty and contract both running: the warranty wins (the maker pays the part).
  assert.is(warrantyStatus({ warranty_expiry_date: '2026-05-31', amc_expiry_date: '2036-05-31' }, '2026-01-01'), 'Under Warranty');
});

test('an instant is read as a date in the customer’s zone', () => {
  const t = Date.parse('2026-05-31T22:30:00Z'); // 1 June 01:30 in Riyadh (+03), still 31 May in UTC
  assert.is(warrantyStatus(terminal, t), 'Under Warranty');
  assert.is(warrantyStatus(terminal, t, 'Asia/Riyadh'), 'Under AMC');
  assert.is(warrantyStatus(terminal, new Date(t), 'Asia/Shanghai'), 'Under AMC');
});

test('a failure under warranty drafts a Warranty Claim; under AMC only when asked', () => {
  const draft = warrantyClaimFor(terminal, {
    complaint: 'Cutter jammed 14 times in 3 days',
    at: Date.parse('2026-04-02T09:00:00Z'),
    customer: 'Acme Retail',
    incident_key: 'pt-0001/printer/cutter',
  });
  assert.equal(draft, {
    status: 'Open',
    complaint_date: '2026-04-02',
    customer: 'Acme Retail',
    serial_no: 'PT-0001',
    item_code: 'POS-T650',
    complaint: 'Cutter jammed 14 times in 3 days',
    warranty_amc_status: 'Under Warranty',
    warranty_expiry_date: '2026-05-31',
    amc_expiry_date: '2036-05-31',
    incident_key: 'pt-0001/printer/cutter',
  });
  assert.ok(warrantyClaimDraftSchema.safeParse(draft).success);
  assert.is(warrantyClaimFor(terminal, { complaint: 'x', at: '2027-01-01', customer: 'Acme Retail' }), null);
  const amc = warrantyClaimFor(terminal, { complaint: 'x', at: '2027-01-01', customer: 'Acme Retail' }, { claimable: ['Under Warranty', 'Under AMC'] });
  assert.is(amc?.warranty_amc_status, 'Under AMC');
});

test('serial record validation names the field', () => {
  const r = serialRecordSchema.safeParse({ serial_no: '', item_code: 'X', kind: 'printer', warranty_expiry_date: '2026-02-30' });
  assert.equal(r.error?.issues.map((i) => i.path.join('.')).sort(), ['kind', 'serial_no', 'warranty_expiry_date']);
  const d = serialRecordSchema.safeParse({ serial_no: 'A', item_code: 'X', kind: 'device', delivery_date: '2026-01-01', warranty_expiry_date: '2025-01-01' });
  assert.equal(
    d.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
    ['warranty_expiry_date: before delivery_date'],
  );
});

test.run();
