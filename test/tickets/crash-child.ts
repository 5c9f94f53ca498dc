// Child process for crash.test.ts: makes incident changes with their ticket commands in one
// transaction, and dies by SIGKILL at the point the parent asks for.
//   node crash-child.js <dbPath> <frappeUrl> <mode>
//   mode: die-in-transaction | die-after-commit | send (the parent kills us mid-send)
import { pino } from 'pino';
import { ErpnextSink, TicketOutbox, TicketSender } from '../../collector/tickets/index.js';
import { openCallerDb, createCmd, incidentChange } from './support.js';
import { dirname, basename } from 'node:path';

const [dbPath, url, mode] = process.argv.slice(2);
const db = openCallerDb(dirname(dbPath), basename(dbPath));
const log = pino({ level: 'silent' });
const sink = new ErpnextSink({ url, apiKey: 'k3y', apiSecret: 's3cr3t-frappe', timeoutMs: 60_000 }, log);
const outbox = new TicketOutbox(db, { sinks: [sink.name] });
const enqueue = (c: Parameters<TicketOutbox['enqueue']>[0]) => outbox.enqueue(c);
/** The incident got worse: its ticket gets an update with the comment. */
const worse = (key: string, eventId: string, comment: string) => incidentChange(db, enqueue, key, 'worse', { kind: 'update', key, at: 2, eventId, comment });

if (mode === 'die-in-transaction') {
  incidentChange(db, enqueue, 'posK/printer/cutter-wear', 'open', createCmd('posK/printer/cutter-wear'));
  db.transaction(() => {
    db.prepare(`INSERT INTO incidents (key, state, at) VALUES ('posL/printer/jam', 'open', 1)`).run();
    outbox.enqueue(createCmd('posL/printer/jam'));
    process.kill(process.pid, 'SIGKILL'); // dies before COMMIT
  })();
} else if (mode === 'die-after-commit') {
  incidentChange(db, enqueue, 'posM/printer/cutter-wear', 'open', createCmd('posM/printer/cutter-wear'));
  worse('posM/printer/cutter-wear', 'm2', 'life used 97 %');
  incidentChange(db, enqueue, 'posN/-/offline', 'open', createCmd('posN/-/offline', { device: 'posN', peripheral: null, issueType: 'Connectivity' }));
  process.kill(process.pid, 'SIGKILL'); // committed, nothing sent yet
} else {
  incidentChange(db, enqueue, 'posP/printer/cutter-wear', 'open', createCmd('posP/printer/cutter-wear'));
  worse('posP/printer/cutter-wear', 'p2', 'life used 98 %');
  const sender = new TicketSender(outbox, sink, { log, backoff: { baseMs: 20, maxMs: 100 }, pollMs: 50 });
  sender.start();
  console.log('sending');
}
