// Shared bits for the ticket tests: a caller DB with its own incidents table, sample commands.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import type { TicketCommandInput, TicketFieldsInput } from '../../collector/tickets/index.js';

export function openCallerDb(dir: string, name = 'collector.db'): Database.Database {
  const db = new Database(join(dir, name));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  // Stands in for the incidents helper's own table: changed in the same transaction as the ticket.
  db.exec('CREATE TABLE IF NOT EXISTS incidents (key TEXT PRIMARY KEY, state TEXT NOT NULL, at INTEGER NOT NULL)');
  return db;
}

export function ticketFields(over: Partial<TicketFieldsInput> = {}): TicketFieldsInput {
  return {
    subject: 'Cutter blade near end of life (posA / printer)',
    description: 'Cuts 1,820,000 of 2,000,000 rated (91 %). ETA 12 days. Runbook: replace cutter unit CU-80.',
    language: 'en',
    priority: 'Low',
    issueType: 'Predicted Failure',
    customer: 'ACME Retail',
    site: 'store-12',
    device: 'posA',
    peripheral: 'printer',
    serial: 'TM88-000123',
    warrantyStatus: 'Under Warranty',
    sla: { serviceLevelAgreement: 'Gold', responseBy: 1_767_000_000_000, resolutionBy: 1_767_500_000_000, agreementStatus: 'First Response Due' },
    ...over,
  };
}

export function createCmd(key: string, over: Partial<TicketFieldsInput> = {}, at = Date.now()): TicketCommandInput {
  const [device, peripheral] = key.split('/');
  return { kind: 'create', key, at, eventId: `ev-${key}-open`, ticket: ticketFields({ device, peripheral, ...over }) };
}

/** The caller's transaction: its incident change and the ticket command together. */
export function incidentChange(db: Database.Database, enqueue: (c: TicketCommandInput) => unknown, key: string, state: string, cmd: TicketCommandInput): void {
  db.transaction(() => {
    db.prepare('INSERT INTO incidents (key, state, at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET state = excluded.state, at = excluded.at').run(key, state, Date.now());
    enqueue(cmd);
  })();
}
