// Warranty / AMC status of a serial on a date, and the Warranty Claim a failure opens.
//
// Precedence (first match wins), on the local date `on` (expiry dates are inclusive):
//   1. Under Warranty — the manufacturer warranty still runs: the part is replaced at the
//      maker's cost, which beats the contract even when an AMC runs too.
//   2. Under AMC — the support contract runs.
//   3. Out of AMC — nothing runs and the serial had a contract (the most recent relationship is
//      the contract, which is what a renewal conversation is about) — unless the warranty expired
//      later than the contract, then Out of Warranty.
//   4. Out of Warranty — nothing runs and there was no contract, or no dates are known at all.
import { isoDate, ZoneClock } from '../sla/zoned.js';
import type { SerialRecord, WarrantyAmcStatus, WarrantyClaimDraft } from './schema.js';

/** `at` as a local date string: a YYYY-MM-DD string is taken as is; an instant is read in `timeZone`. */
export function localDate(at: number | Date | string, timeZone = 'UTC'): string {
  if (typeof at === 'string') return at;
  return isoDate(new ZoneClock(timeZone).dateOf(typeof at === 'number' ? at : at.getTime()));
}

export function warrantyStatus(
  record: Pick<SerialRecord, 'warranty_expiry_date' | 'amc_expiry_date'>,
  at: number | Date | string,
  timeZone = 'UTC',
): WarrantyAmcStatus {
  const on = localDate(at, timeZone);
  const w = record.warranty_expiry_date;
  const amc = record.amc_expiry_date;
  if (w !== undefined && on <= w) return 'Under Warranty';
  if (amc !== undefined && on <= amc) return 'Under AMC';
  if (amc !== undefined && (w === undefined || w <= amc)) return 'Out of AMC';
  return 'Out of Warranty';
}

/**
 * The Warranty Claim draft for a failure of `record` on `at`, or null when its status is not one
 * of `claimable` (by default only Under Warranty: a claim asks the maker for a part; work under
 * the AMC is the ticket itself).
 */
export function warrantyClaimFor(
  record: SerialRecord,
  failure: { complaint: string; at: number | Date | string; customer: string; incident_key?: string },
  options: { timeZone?: string; claimable?: readonly WarrantyAmcStatus[] } = {},
): WarrantyClaimDraft | null {
  const complaint_date = localDate(failure.at, options.timeZone);
  const status = warrantyStatus(record, complaint_date);
  if (!(options.claimable ?? ['Under Warranty']).includes(status)) return null;
  return {
    status: 'Open',
    complaint_date,
    customer: failure.customer,
    serial_no: record.serial_no,
    item_code: record.item_code,
    complaint: failure.complaint,
    warranty_amc_status: status,
    ...(record.warranty_expiry_date !== undefined && { warranty_expiry_date: record.warranty_expiry_date }),
    ...(record.amc_expiry_date !== undefined && { amc_expiry_date: record.amc_expiry_date }),
    ...(failure.incident_key !== undefined && { incident_key: failure.incident_key }),
  };
}
