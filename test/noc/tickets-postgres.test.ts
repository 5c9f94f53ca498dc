// The NOC's ticket view over the PostgreSQL ticket store, as on a stateless NOC node: a change
// committed by another node (another store instance, its own pool) reaches this node's live
// events through LISTEN/NOTIFY, in order, once each — without waiting for the poll.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pino } from 'pino';
import { migratePostgres } from '../../state/postgres/migrations.js';
import { PgTicketState } from '../../state/postgres/tickets.js';
import { TicketsView } from '../../noc/tickets.js';
import type { LiveEvent } from '../../noc/api.js';
import { waitFor } from '../helpers/net.js';
import { TestPostgres } from '../helpers/postgres.js';
import { createCmd } from '../tickets/support.js';

let pg: TestPostgres;
test.before(async () => {
  pg = await TestPostgres.create();
});
test.after(async () => {
  await pg?.destroy();
});

test('a ticket change made on another node is a live event here, and the view answers from the shared store', async () => {
  const url = await pg.createDatabase('noc');
  await migratePostgres(url);
  const writer = new PgTicketState(url);
  const reader = new PgTicketState(url);
  await writer.enqueue(createCmd('posA/-/before', {}, 1000));
  const events: LiveEvent[] = [];
  // A poll period far beyond the test: only the notification can deliver in time.
  const view = new TicketsView(reader, { log: pino({ level: 'silent' }), publish: (e) => events.push(e), pollMs: 3_600_000 });
  await view.start();
  try {
    // Subscribed before start() resolved; the LISTEN connection is up once a notification gets through.
    await writer.enqueue(createCmd('posA/printer/paper-out', { priority: 'High' }, 2000));
    await writer.enqueue({ kind: 'set-status', key: 'posA/printer/paper-out', at: 3000, status: 'Replied' }, { recordStatus: 'Replied' });
    await waitFor('two live ticket events', () => events.length >= 2, 10_000);
    assert.equal(
      events.map((e) => e.type === 'ticket' && [e.ref, e.change, e.status, e.at]),
      [
        ['posA/printer/paper-out', 'created', 'Open', 2000],
        ['posA/printer/paper-out', 'updated', 'Replied', 3000],
      ],
      'the ticket opened before the view started is not news',
    );
    const page = await view.list({ open: true, device: 'posA' }, 0, 10);
    assert.equal(
      page.items.map((t) => [t.ref, t.firstRespondedAt]),
      [
        ['posA/printer/paper-out', 3000],
        ['posA/-/before', null],
      ],
    );
    assert.equal(await view.statusHistory('posA/printer/paper-out', 2000), [
      { status: 'Open', at: 2000 },
      { status: 'Replied', at: 3000 },
    ]);
    assert.equal((await view.openCounts()).byPriority.High, 1);
  } finally {
    await view.close();
    await reader.close();
    await writer.close();
  }
});

test.run();
