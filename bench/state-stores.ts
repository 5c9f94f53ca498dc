// State stores on SQLite vs PostgreSQL: what the shared-state writes of a busy fleet cost.
// - dedup: per ingest batch, one `seen` lookup and one `markReceived` of the batch's records
//   (the collector's per-message state that must outlive a node in cluster mode);
// - tickets: `enqueue` of a create + 3 updates per ticket with one external sink (outbox rows,
//   change feed, advisory lock on PostgreSQL).
// Prints records/s and per-batch p50/p99. PostgreSQL runs locally (test/helpers/postgres.ts, fsync
// on with --durable). Usage: node dist/bench/state-stores.js [--batches 400] [--batch 200] [--tickets 300] [--durable]
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { DedupStore, ReceivedRef } from '../state/dedup.js';
import { migratePostgres } from '../state/postgres/migrations.js';
import { PgDedup } from '../state/postgres/dedup.js';
import { PgTicketState } from '../state/postgres/tickets.js';
import { SqliteDedup } from '../state/sqlite/dedup.js';
import { migrateSqlite } from '../state/sqlite/migrations.js';
import { SqliteTicketState } from '../state/sqlite/tickets.js';
import type { TicketStateStore } from '../state/tickets.js';
import { parseBenchArgs } from './help.js';
import { tempDir } from '../test/helpers/tmp.js';
import { TestPostgres } from '../test/helpers/postgres.js';
import { createCmd } from '../test/tickets/support.js';

const { values } = parseBenchArgs(import.meta.url, {
  options: {
    batches: { type: 'string', default: '400' },
    batch: { type: 'string', default: '200' },
    tickets: { type: 'string', default: '300' },
    durable: { type: 'boolean', default: false },
  },
});
const BATCHES = Number(values.batches);
const BATCH = Number(values.batch);
const TICKETS = Number(values.tickets);

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const ms = (n: number) => n.toFixed(2);

async function dedupRun(store: DedupStore): Promise<string> {
  const lat: number[] = [];
  const start = performance.now();
  for (let b = 0; b < BATCHES; b++) {
    // BATCH devices, each sending its next seq (a 10k-device fleet's mix): mostly new records.
    const recs: ReceivedRef[] = Array.from({ length: BATCH }, (_, i) => ({ device: `pos-${(b * BATCH + i) % 10_000}`, seq: b }));
    const t = performance.now();
    const seen = await store.seen(recs);
    await store.markReceived(
      recs.filter((_, i) => !seen[i]),
      Date.now(),
    );
    lat.push(performance.now() - t);
  }
  const s = (performance.now() - start) / 1000;
  return `${Math.round((BATCHES * BATCH) / s)} records/s; batch of ${BATCH} p50 ${ms(pct(lat, 50))} ms, p99 ${ms(pct(lat, 99))} ms`;
}

async function ticketRun(store: TicketStateStore): Promise<string> {
  const lat: number[] = [];
  const start = performance.now();
  for (let i = 0; i < TICKETS; i++) {
    const key = `pos-${i}/printer/paper-out`;
    for (const cmd of [
      createCmd(key, {}, 1000 + i),
      { kind: 'update' as const, key, at: 2000 + i, comment: 'x' },
      { kind: 'set-status' as const, key, at: 3000 + i, status: 'Replied' as const },
      { kind: 'close' as const, key, at: 4000 + i },
    ]) {
      const t = performance.now();
      await store.enqueue(cmd);
      lat.push(performance.now() - t);
    }
  }
  const s = (performance.now() - start) / 1000;
  return `${Math.round((TICKETS * 4) / s)} ticket commands/s; p50 ${ms(pct(lat, 50))} ms, p99 ${ms(pct(lat, 99))} ms`;
}

const dir = tempDir('fleetcare-bench-state-');
const pg = await TestPostgres.create({ durable: values.durable });
try {
  const sqliteDedup = new SqliteDedup({ path: join(dir.path, 'collector.db') });
  console.log(`dedup  sqlite    : ${await dedupRun(sqliteDedup)}`);
  await sqliteDedup.close();
  const url = await pg.createDatabase('bench');
  await migratePostgres(url);
  const pgDedup = new PgDedup(url);
  console.log(`dedup  postgres  : ${await dedupRun(pgDedup)}${values.durable ? ' (fsync on)' : ' (fsync off)'}`);
  await pgDedup.close();

  const db = new Database(join(dir.path, 'incidents.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  await migrateSqlite(db, 'incidents');
  const sqliteTickets = new SqliteTicketState({ db, sinks: ['erpnext'] });
  console.log(`tickets sqlite   : ${await ticketRun(sqliteTickets)}`);
  db.close();
  const pgTickets = new PgTicketState(url, { sinks: ['erpnext'] });
  console.log(`tickets postgres : ${await ticketRun(pgTickets)}`);
  await pgTickets.close();
} finally {
  await pg.destroy();
  dir.remove();
}
