// Service records: what a technician did to a peripheral — a part replaced inside its unit, a
// preventive replacement, or the whole unit swapped (a new serial, noticed by the collector
// itself). A record re-bases the detectors' wear and error-rate baselines of that part, and the
// records of failed parts feed the fleet's life fit (collector/reliability). Stored behind a
// small async interface: SQLite (state/sqlite/service-records.ts) and PostgreSQL
// (state/postgres/service-records.ts, cluster mode), one behaviour suite over both.
import { z } from 'zod';

export const serviceKind = z.enum(['part-replaced', 'preventive', 'unit-swap']);
export const serviceSource = z.enum(['cli', 'noc', 'ticket', 'inventory', 'api']);

/** What a caller records. `failed`: the part had failed (a failure for the life fit), not a preventive swap. */
export const serviceRecordInput = z
  .object({
    device: z.string().min(1).max(80),
    peripheral: z.string().min(1).max(80),
    /** Part name as the firmware profile's ratedLife names it (`cutter`, `read-head`), or `unit` for a unit swap. */
    part: z
      .string()
      .min(1)
      .max(80)
      .regex(/^[a-z0-9][a-z0-9-]*$/, 'a part name like cutter or read-head'),
    kind: serviceKind.default('part-replaced'),
    /** When the work was done (ms); defaults to now. */
    at: z.number().int().nonnegative().optional(),
    failed: z.boolean().optional(),
    /** Firmware profile of the peripheral, when known (the life fit groups by it). */
    profile: z.string().max(80).optional(),
    /** Serial of the unit after the work (a unit swap: the new one). */
    serial: z.string().max(80).optional(),
    /** The part's usage when it was replaced (its life, in the counter's units), when known. */
    usage: z.number().nonnegative().optional(),
    source: serviceSource.default('api'),
    /** Ticket or incident the work closed. */
    ref: z.string().max(120).optional(),
    note: z.string().max(1000).optional(),
  })
  .strict();
export type ServiceRecordInput = z.input<typeof serviceRecordInput>;
export type ServiceRecord = z.infer<typeof serviceRecordInput> & { id: number; at: number; failed: boolean; recordedAt: number };

/** The query every implementation answers. */
export type ServiceRecordQuery = { device?: string; afterId?: number; limit?: number };

/** A row of `service_records` (same columns in SQLite and PostgreSQL) as a record. */
export function serviceRecordFromRow(r: Record<string, unknown>): ServiceRecord {
  return {
    id: Number(r.id),
    device: r.device as string,
    peripheral: r.peripheral as string,
    part: r.part as string,
    kind: serviceKind.parse(r.kind),
    at: Number(r.at),
    failed: Number(r.failed) === 1,
    source: serviceSource.parse(r.source),
    recordedAt: Number(r.recorded_at),
    ...(r.profile !== null ? { profile: r.profile as string } : {}),
    ...(r.serial !== null ? { serial: r.serial as string } : {}),
    ...(r.usage !== null ? { usage: Number(r.usage) } : {}),
    ...(r.ref !== null ? { ref: r.ref as string } : {}),
    ...(r.note !== null ? { note: r.note as string } : {}),
  };
}

/** What an insert writes, in column order (`SERVICE_RECORD_COLUMNS`), from a validated input. */
export const SERVICE_RECORD_COLUMNS = [
  'device',
  'peripheral',
  'part',
  'kind',
  'at',
  'failed',
  'profile',
  'serial',
  'usage',
  'source',
  'ref',
  'note',
  'recorded_at',
] as const;
export function serviceRecordValues(input: ServiceRecordInput, now: number): { record: Omit<ServiceRecord, 'id'>; values: unknown[] } {
  const r = serviceRecordInput.parse(input);
  const at = r.at ?? now;
  const failed = r.failed ?? r.kind === 'part-replaced';
  const values = [
    r.device,
    r.peripheral,
    r.part,
    r.kind,
    at,
    failed ? 1 : 0,
    r.profile ?? null,
    r.serial ?? null,
    r.usage ?? null,
    r.source,
    r.ref ?? null,
    r.note ?? null,
    now,
  ];
  return { record: { ...r, at, failed, recordedAt: now }, values };
}

export interface ServiceRecordStore {
  add(input: ServiceRecordInput, now?: number): Promise<ServiceRecord>;
  /** Records in id order: of one device, and/or after an id (to follow new ones). */
  list(q?: ServiceRecordQuery): Promise<ServiceRecord[]>;
  /** Fills in what the collector knew when it applied a record: the part's usage (its life) and the peripheral's profile. */
  annotate(id: number, facts: { usage?: number; profile?: string }): Promise<void>;
  close(): Promise<void>;
}

export class PartNotKnownError extends Error {}

/**
 * A ticket resolved or closed as "part replaced": the service record of its device, peripheral and
 * part (the worn part its key names, `device/peripheral/<part>-wear-out`, unless given).
 */
export async function recordPartReplaced(
  store: ServiceRecordStore,
  ticket: { ref: string; key: string | null; device: string | null; peripheral: string | null },
  part: string | undefined,
  by: string,
): Promise<ServiceRecord> {
  const worn = ticket.key?.match(/\/([a-z0-9][a-z0-9-]*)-wear-out$/)?.[1];
  const which = part ?? worn;
  if (!ticket.device || !ticket.peripheral || !which)
    throw new PartNotKnownError(`${ticket.ref}: which part was replaced? (the ticket is not about a worn part: give "part")`);
  return store.add({
    device: ticket.device,
    peripheral: ticket.peripheral,
    part: which,
    kind: 'part-replaced',
    source: 'noc',
    ref: ticket.ref,
    note: `recorded by ${by}`,
  });
}
