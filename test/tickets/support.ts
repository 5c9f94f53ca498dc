// Shared bits for the ticket tests: a caller DB with its own incidents table, sample commands,
// and per-test sender rigs (caller DB + outbox + sender over one sink), against a fake system.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Test } from 'uvu';
import { type TicketCommandInput, type TicketFieldsInput, TicketOutbox, TicketSender, type TicketSink } from '../../collector/tickets/index.js';
import { captureLog } from '../helpers/log.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';
import type { FakeHttpServer } from './fakes.js';

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
    db.prepare('INSERT INTO incidents (key, state, at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET state = excluded.state, at = excluded.at').run(
      key,
      state,
      Date.now(),
    );
    enqueue(cmd);
  })();
}

/**
 * Hooks `test` so that, after each test, every rig the test made is closed (sender, then DB) along
 * with what was handed to `defer`, last first; the temp dirs go after the file.
 * `rig(makeSink)` makes a caller DB in a temp dir, an outbox and a fast-retrying sender over the sink.
 */
export function outboxRigs(test: Test, dirPrefix: string) {
  const dirs: TempDir[] = [];
  let cleanups: Array<() => Promise<void> | void> = [];
  test.after.each(async () => {
    for (const c of cleanups.reverse()) await c();
    cleanups = [];
  });
  test.after(() => {
    for (const d of dirs) d.remove();
  });
  /** `defer(c)`: one more thing to close after the test, before what was made earlier. */
  const defer = (c: () => Promise<void> | void) => void cleanups.push(c);
  const rig = <S extends TicketSink>(makeSink: (log: Logger) => S) => {
    const d = tempDir(dirPrefix);
    dirs.push(d);
    const db = openCallerDb(d.path);
    const cap = captureLog();
    const sink = makeSink(cap.log);
    const outbox = new TicketOutbox(db, { sinks: [sink.name] });
    const sender = new TicketSender(outbox, sink, { log: cap.log, backoff: { baseMs: 20, maxMs: 200 }, pollMs: 50 });
    defer(async () => {
      await sender.close();
      db.close();
    });
    return { db, outbox, sender, cap, sink, defer, enqueue: (c: TicketCommandInput) => outbox.enqueue(c) };
  };
  return { rig, defer };
}

/**
 * `outboxRigs` against one fake system: each test gets a fresh started fake (`startFake`), stopped
 * after the test's rigs are closed.
 */
export function senderRigs(test: Test, startFake: () => Promise<FakeHttpServer>, dirPrefix: string) {
  let fake: FakeHttpServer | undefined;
  test.before.each(async () => {
    fake = await startFake();
  });
  const { rig } = outboxRigs(test, dirPrefix);
  test.after.each(async () => {
    await fake?.stop();
  });
  return rig;
}
