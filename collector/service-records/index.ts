// Service records: what a technician did to a peripheral — a part replaced inside its unit, a
// preventive replacement, or the whole unit swapped (a new serial, noticed by the collector
// itself). A record re-bases the detectors' wear and error-rate baselines of that part, and the
// records of failed parts feed the fleet's life fit (collector/reliability). Stored behind a
// small async interface (SQLite here; another database can implement the same).
import Database from 'better-sqlite3';
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

export interface ServiceRecordStore {
  add(input: ServiceRecordInput, now?: number): Promise<ServiceRecord>;
  /** Records in id order: of one device, and/or after an id (to follow new ones). */
  list(q?: { device?: string; afterId?: number; limit?: number }): Promise<ServiceRecord[]>;
  /** Fills in what the collector knew when it applied a record: the part's usage (its life) and the peripheral's profile. */
  annotate(id: number, facts: { usage?: number; profile?: string }): Promise<void>;
  close(): Promise<void>;
}

export class SqliteServiceRecordStore implements ServiceRecordStore {
  readonly db: Database.Database;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`CREATE TABLE IF NOT EXISTS service_records (
      id INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL, peripheral TEXT NOT NULL, part TEXT NOT NULL, kind TEXT NOT NULL,
      at INTEGER NOT NULL, failed INTEGER NOT NULL, profile TEXT, serial TEXT, usage REAL, source TEXT NOT NULL, ref TEXT, note TEXT, recorded_at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS service_records_device ON service_records (device, at);`);
  }

  async add(input: ServiceRecordInput, now = Date.now()): Promise<ServiceRecord> {
    const r = serviceRecordInput.parse(input);
    const at = r.at ?? now;
    const failed = r.failed ?? r.kind === 'part-replaced';
    const info = this.db
      .prepare(
        'INSERT INTO service_records (device, peripheral, part, kind, at, failed, profile, serial, usage, source, ref, note, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
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
      );
    return { ...r, id: Number(info.lastInsertRowid), at, failed, recordedAt: now };
  }

  async list(q: { device?: string; afterId?: number; limit?: number } = {}): Promise<ServiceRecord[]> {
    const rows = this.db
      .prepare(`SELECT * FROM service_records WHERE id > ? ${q.device !== undefined ? 'AND device = ?' : ''} ORDER BY id LIMIT ?`)
      .all(...[q.afterId ?? 0, ...(q.device !== undefined ? [q.device] : []), q.limit ?? 1_000_000]) as Array<Record<string, unknown>>;
    return rows.map((r) => ({
      id: r.id as number,
      device: r.device as string,
      peripheral: r.peripheral as string,
      part: r.part as string,
      kind: serviceKind.parse(r.kind),
      at: r.at as number,
      failed: r.failed === 1,
      source: serviceSource.parse(r.source),
      recordedAt: r.recorded_at as number,
      ...(r.profile !== null ? { profile: r.profile as string } : {}),
      ...(r.serial !== null ? { serial: r.serial as string } : {}),
      ...(r.usage !== null ? { usage: r.usage as number } : {}),
      ...(r.ref !== null ? { ref: r.ref as string } : {}),
      ...(r.note !== null ? { note: r.note as string } : {}),
    }));
  }

  async annotate(id: number, facts: { usage?: number; profile?: string }): Promise<void> {
    this.db
      .prepare('UPDATE service_records SET usage = COALESCE(usage, ?), profile = COALESCE(profile, ?) WHERE id = ?')
      .run(facts.usage ?? null, facts.profile ?? null, id);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
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
