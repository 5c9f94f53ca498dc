// The behaviour of a WarrantyStateStore, run against every implementation
// (warranty-sqlite.test.ts, warranty-postgres.test.ts).
import * as assert from 'uvu/assert';
import { storeSuite, type SuiteHooks } from './suite-support.js';
import type { WarrantyStateStore } from '../../state/warranty.js';

export type WarrantyFactory = () => Promise<{ store: WarrantyStateStore; cleanup(): Promise<void> }>;

const csv = `serial_no,item_code,kind,customer,device_id,delivery_date,warranty_expiry_date,amc_expiry_date
PT-0001,POS-T650,device,Acme Retail,,2025-06-01,2026-05-31,2036-05-31
PR-7781,TM-T88VI,peripheral,Acme Retail,PT-0001,2025-06-01,2027-05-31,
PT-0002,POS-T650,device,Other,,2024-01-01,2025-01-01,
BAD-1,,device,,,,,
`;

/** The sample printer PR-7781 once an upsert has renewed its AMC to 2037 and cleared its device id (registry.test.ts too). */
export const PRINTER_RENEWED = {
  serial_no: 'PR-7781',
  item_code: 'TM-T88VI',
  kind: 'peripheral',
  customer: 'Acme Retail',
  delivery_date: '2025-06-01',
  warranty_expiry_date: '2027-05-31',
  amc_expiry_date: '2037-05-31',
};

/** A claim's fields but its date and incident: a failed cutter under warranty (registry.test.ts too). */
export const CUTTER_CLAIM = {
  status: 'Open' as const,
  customer: 'Acme Retail',
  serial_no: 'PR-7781',
  item_code: 'TM-T88VI',
  complaint: 'Cutter failed',
  warranty_amc_status: 'Under Warranty' as const,
  warranty_expiry_date: '2027-05-31',
};

export function warrantySuite(name: string, factory: WarrantyFactory, hooks: SuiteHooks = {}): void {
  const { test, withStore } = storeSuite(`warranty store (${name})`, factory, hooks);

  test(
    'import (bad rows reported, atomic takes nothing), lookups, filters, status, expiring, upsert, remove',
    withStore(async (s) => {
      const atomic = await s.import(csv, 'csv', { atomic: true });
      assert.equal([atomic.imported, (await s.list()).length], [0, 0]);
      const r = await s.import(csv, 'csv');
      assert.is(r.imported, 3);
      assert.ok(r.errors.length >= 1 && r.errors.every((e) => e.line === 5));
      assert.equal(await s.get('PR-7781'), {
        serial_no: 'PR-7781',
        item_code: 'TM-T88VI',
        kind: 'peripheral',
        customer: 'Acme Retail',
        device_id: 'PT-0001',
        delivery_date: '2025-06-01',
        warranty_expiry_date: '2027-05-31',
      });
      assert.is(await s.get('NOPE'), undefined);
      assert.is(await s.statusOf('PT-0001', '2026-06-01'), 'Under AMC');
      assert.is(await s.statusOf('PR-7781', '2026-06-01'), 'Under Warranty');
      assert.is(await s.statusOf('NOPE', '2026-06-01'), undefined);
      assert.equal(
        (await s.list({ device_id: 'PT-0001' })).map((x) => x.serial_no),
        ['PR-7781'],
      );
      assert.equal(
        (await s.list({ customer: 'Acme Retail', kind: 'device' })).map((x) => x.serial_no),
        ['PT-0001'],
      );
      assert.equal(
        (await s.expiring('2026-05-01', '2026-05-31')).map((x) => x.serial_no),
        ['PT-0001'],
      );
      await s.upsert({ ...(await s.get('PR-7781'))!, amc_expiry_date: '2037-05-31', device_id: undefined });
      assert.equal(await s.get('PR-7781'), PRINTER_RENEWED);
      await s.upsertMany([
        { serial_no: 'A1', item_code: 'X', kind: 'device' },
        { serial_no: 'A2', item_code: 'X', kind: 'peripheral' },
      ]);
      assert.equal(
        (await s.list()).map((x) => x.serial_no),
        ['A1', 'A2', 'PR-7781', 'PT-0001', 'PT-0002'],
      );
      assert.is(await s.remove('A1'), true);
      assert.is(await s.remove('A1'), false);
    }),
  );

  test(
    'claims: numbered per year, one per incident, updated and listed per serial',
    withStore(async (s) => {
      const base = CUTTER_CLAIM;
      const a = await s.createClaim({ ...base, complaint_date: '2026-04-02', incident_key: 'pt-0001/printer/cutter' });
      const b = await s.createClaim({ ...base, complaint_date: '2026-04-09' });
      const c = await s.createClaim({ ...base, complaint_date: '2027-01-05' });
      assert.equal([a.name, b.name, c.name], ['SER-WRN-2026-00001', 'SER-WRN-2026-00002', 'SER-WRN-2027-00001']);
      assert.is((await s.createClaim({ ...base, complaint_date: '2026-04-03', incident_key: 'pt-0001/printer/cutter' })).name, 'SER-WRN-2026-00001');
      const closed = await s.updateClaim(a.name, {
        status: 'Closed',
        resolution_date: '2026-04-05',
        resolved_by: 'tech-7',
        resolution_details: 'cutter replaced',
      });
      assert.equal([closed?.status, closed?.resolved_by], ['Closed', 'tech-7']);
      assert.equal(await s.getClaim(a.name), closed);
      assert.is(await s.updateClaim('SER-WRN-2026-99999', { status: 'Closed' }), undefined);
      assert.is(await s.getClaim('SER-WRN-2026-99999'), undefined);
      assert.equal(
        (await s.claimsFor('PR-7781')).map((x) => x.name),
        ['SER-WRN-2026-00001', 'SER-WRN-2026-00002', 'SER-WRN-2027-00001'],
      );
      assert.equal(await s.claimsFor('NOPE'), []);
    }),
  );

  test.run();
}
