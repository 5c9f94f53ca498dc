// Escalation reaches the team lead through collector/notify: a real SMTP server receives one
// e-mail per escalated stage, in the ticket's language, with a deterministic Message-ID (a retry
// is harmless), and the escalation is in the ticket's history.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pino } from 'pino';
import { serviceLevelAgreementSchema } from '../../collector/sla/index.js';
import { startTicketing } from '../../collector/tickets/index.js';
import type { SlaContext } from '../../collector/tickets/actions.js';
import type { NotifyConfigInput } from '../../collector/notify/index.js';
import { dispatchConfigSchema } from '../../dispatch/model.js';
import { Dispatcher } from '../../dispatch/service.js';
import { SqliteDispatchState } from '../../state/sqlite/dispatch.js';
import { SqliteTicketState } from '../../state/sqlite/tickets.js';
import { waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { GOLD_24X7 } from '../helpers/sla.js';
import { smtpServer } from '../helpers/smtp.js';
import { createCmd, openCallerDb } from '../tickets/support.js';
import { captureLog } from '../helpers/log.js';

/**
 * Ticketing on a caller database in a new temp dir, its notices sent to a real SMTP server
 * (`notify` gets its port), and a dispatcher over its ticket and dispatch stores.
 */
async function mailRig(dirPrefix: string, notify: (smtpPort: number) => NotifyConfigInput, slaContext: SlaContext) {
  const smtp = await smtpServer();
  const dir = tempDir(dirPrefix);
  const db = openCallerDb(dir.path);
  const log = captureLog();
  const handle = startTicketing(db, { notify: notify(smtp.port), backoff: { baseMs: 20, maxMs: 200 } }, { log: log.log });
  const tickets = new SqliteTicketState(handle.outbox);
  const state = new SqliteDispatchState(db);
  const dispatcher = new Dispatcher({
    tickets,
    state,
    config: dispatchConfigSchema.parse({}),
    slaContext,
    unitOf: () => ({ kind: 'printer', profile: null }),
    profiles: new Map(),
    log: pino({ level: 'silent' }),
  });
  return {
    smtp,
    handle,
    tickets,
    state,
    dispatcher,
    async close() {
      await handle.close();
      db.close();
      await smtp.close();
      dir.remove();
    },
  };
}

test('a ticket left alone escalates: the team lead gets an e-mail in the ticket language (ar, right to left), once per stage', async () => {
  const { smtp, handle, tickets, state, dispatcher, close } = await mailRig(
    'fleetcare-escalation-',
    (port) => ({ smtp: { host: '127.0.0.1', port, from: 'NOC <noc@support.example>', timeoutMs: 5000 } }),
    { slas: {}, defaultSla: serviceLevelAgreementSchema.parse(GOLD_24X7) },
  );
  try {
    await state.putTeam({ id: 'riyadh', name: 'Riyadh', sites: [], tenants: [], skills: [], calendar: null });
    await state.putTechnician({ id: 'lina', name: 'Lina', team: 'riyadh', email: null, lead: false, nocUser: null });
    await state.putTechnician({ id: 'huda', name: 'Huda', team: 'riyadh', email: 'huda@support.example', lead: true, nocUser: null });
    const opened = Date.now() - 7 * 3600_000; // High: response 1 h, resolution 8 h — both past 75 %
    const key = 'pos-9/printer0/cutter-jam';
    handle.outbox.enqueue(createCmd(key, { customer: 'Riyadh', language: 'ar', site: 'riyadh-olaya', priority: 'High' }, opened));
    const r = await dispatcher.pass(Date.now());
    assert.equal({ assigned: r.assigned, escalated: r.escalated }, { assigned: 1, escalated: 2 });
    await waitFor('the lead is told of both stages', () => smtp.received.length === 2, 10_000);
    const mails = smtp.received.map((m) => m.mail).sort((a, b) => String(a.messageId).localeCompare(String(b.messageId)));
    assert.equal(
      smtp.received.map((m) => m.rcpt),
      [['huda@support.example'], ['huda@support.example']],
    );
    assert.is(mails[0].messageId, '<pos-9%2Fprinter0%2Fcutter-jam%3Aescalated-resolution@support.example>');
    assert.is(mails[1].messageId, '<pos-9%2Fprinter0%2Fcutter-jam%3Aescalated-response@support.example>');
    assert.match(mails[1].subject ?? '', /^تصعيد: pos-9\/printer0\/cutter-jam/);
    assert.match(String(mails[1].html), /<html lang="ar" dir="rtl">/);
    assert.match(String(mails[1].text), /من وقت الاستجابة دون رد أول/);
    // Recorded in the ticket history; a later pass sends nothing more.
    const t = (await tickets.byKey(key))!;
    assert.equal(t.escalations.map((e) => e.stage).sort(), ['resolution', 'response']);
    assert.match(
      (await tickets.comments(t.ref)).map((c) => c.body).join('\n'),
      /Escalated \(response\): \d+ % of the response time used without a first response; team lead told \(huda@support.example\)/,
    );
    assert.is((await dispatcher.pass(Date.now())).escalated, 0);
    await waitFor('outbox drained', () => handle.outbox.pending() === 0, 5000);
    assert.is(smtp.received.length, 2);
  } finally {
    await close();
  }
});

test('the store is told which technician comes, in its language; a reassignment tells it again; "nobody matched" tells it nothing', async () => {
  const { smtp, handle, tickets, state, dispatcher, close } = await mailRig(
    'fleetcare-assigned-',
    (port) => ({
      smtp: { host: '127.0.0.1', port, from: 'noc@support.example', timeoutMs: 5000 },
      tenants: { huamei: { language: 'zh', email: ['store-7@huamei.example'] } },
    }),
    { slas: {} },
  );
  try {
    await state.putTeam({ id: 'shenzhen', name: 'Shenzhen', sites: ['futian-7'], tenants: [], skills: [], calendar: null });
    await state.putTechnician({ id: 'wei', name: 'Wang Wei', team: 'shenzhen', email: null, lead: false, nocUser: null });
    await state.putTechnician({ id: 'li-na', name: 'Li Na', team: 'shenzhen', email: null, lead: false, nocUser: null });
    handle.outbox.enqueue(createCmd('pos-2/printer0/cutter-wear-out', { customer: 'huamei', site: 'futian-7', subject: 'Cutter near end of life' }));
    handle.outbox.enqueue(createCmd('pos-9/printer0/paper-end', { customer: 'huamei', site: 'nowhere-1', subject: 'Paper out' }));
    await waitFor('opened notices', () => smtp.received.length === 2, 10_000);
    assert.equal(await dispatcher.pass(Date.now()), { assigned: 1, unassigned: 1, escalated: 0 });
    const ref = 'pos-2/printer0/cutter-wear-out';
    const first = (await tickets.get(ref))!.assignment!;
    await waitFor('assigned notice', () => smtp.received.length === 3, 10_000);
    const mail = smtp.received[2].mail;
    assert.is(mail.subject, `已指派技术员：${ref}`);
    assert.match(String(mail.text), `我们的技术员 ${first.technicianName} 正在处理`);
    assert.is(mail.messageId, `<${encodeURIComponent(`${ref}:assigned:${first.technician}`)}@support.example>`);
    const other = first.technician === 'wei' ? 'li-na' : 'wei';
    await dispatcher.assign(ref, other, 'noc-op', Date.now());
    await waitFor('the reassignment told', () => smtp.received.length === 4, 10_000);
    assert.match(String(smtp.received[3].mail.text), other === 'wei' ? 'Wang Wei' : 'Li Na');
    await waitFor('outbox drained', () => handle.outbox.pending() === 0, 5000);
    assert.is(smtp.received.length, 4, 'no notice for the unassigned ticket');
  } finally {
    await close();
  }
});

test.run();
