// Warranty formats (ERPNext vocabulary). Warranty data belongs to the serial number: a device or a
// peripheral carries its manufacturer warranty (typically 1–2 years) and the support contract
// (AMC, typically 10–12 years). Dates are YYYY-MM-DD; an expiry date is the last covered day.
import { z } from 'zod';

export const warrantyAmcStatusSchema = z.enum(['Under Warranty', 'Out of Warranty', 'Under AMC', 'Out of AMC']);
export type WarrantyAmcStatus = z.infer<typeof warrantyAmcStatusSchema>;

export const dateSchema = z.iso.date();

export const serialRecordSchema = z
  .object({
    serial_no: z.string().trim().min(1).max(140),
    item_code: z.string().trim().min(1).max(140),
    kind: z.enum(['device', 'peripheral']),
    customer: z.string().trim().min(1).optional(),
    /** For a peripheral, the device it is attached to (if known). */
    device_id: z.string().trim().min(1).optional(),
    delivery_date: dateSchema.optional(),
    warranty_expiry_date: dateSchema.optional(),
    amc_expiry_date: dateSchema.optional(),
  })
  .superRefine((r, ctx) => {
    if (r.delivery_date && r.warranty_expiry_date && r.warranty_expiry_date < r.delivery_date) {
      ctx.addIssue({ code: 'custom', path: ['warranty_expiry_date'], message: 'before delivery_date' });
    }
    if (r.delivery_date && r.amc_expiry_date && r.amc_expiry_date < r.delivery_date) {
      ctx.addIssue({ code: 'custom', path: ['amc_expiry_date'], message: 'before delivery_date' });
    }
  });
export type SerialRecord = z.infer<typeof serialRecordSchema>;
export type SerialRecordInput = z.input<typeof serialRecordSchema>;

export const warrantyClaimStatusSchema = z.enum(['Open', 'Closed', 'Work In Progress', 'Cancelled']);
export type WarrantyClaimStatus = z.infer<typeof warrantyClaimStatusSchema>;

/** ERPNext Warranty Claim (`SER-WRN-.YYYY.-`). `incident_key` ties it to the incident that raised it. */
export const warrantyClaimSchema = z.object({
  name: z.string().regex(/^SER-WRN-\d{4}-\d{5,}$/),
  status: warrantyClaimStatusSchema,
  complaint_date: dateSchema,
  customer: z.string().min(1),
  serial_no: z.string().min(1),
  item_code: z.string().min(1),
  complaint: z.string().min(1),
  warranty_amc_status: warrantyAmcStatusSchema,
  warranty_expiry_date: dateSchema.optional(),
  amc_expiry_date: dateSchema.optional(),
  resolution_date: dateSchema.optional(),
  resolved_by: z.string().min(1).optional(),
  resolution_details: z.string().optional(),
  incident_key: z.string().min(1).max(255).optional(),
});
export type WarrantyClaim = z.infer<typeof warrantyClaimSchema>;

/** A claim before the registry names it. */
export const warrantyClaimDraftSchema = warrantyClaimSchema.omit({ name: true });
export type WarrantyClaimDraft = z.infer<typeof warrantyClaimDraftSchema>;
