// Customer notice through the ticket outbox: a real SMTP server (smtp-server, in-process on a free
// loopback port) receives the e-mails, an SMS gateway fake that follows its documented contract
// (429, 500, 401, idempotency) receives the texts. Checked: the tenant's language and direction,
// one message per notice despite retries, a refusal is a visible failure, bad templates are refused.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTicketing, type TicketingHandle } from '../../collector/tickets/index.js';
import { notifyConfigSchema, type NotifyConfigInput } from '../../collector/notify/index.js';
import { waitFor } from '../helpers/net.js';
import { tempDir, type TempDir } from '../helpers/tmp.js';
import { smtpServer } from '../helpers/smtp.js';
import { FakeSmsGateway } from '../tickets/fakes.js';
import { createCmd, openCallerDb } from '../tickets/support.js';
import { captureLog } from '../helpers/log.js';

const dirs: TempDir[] = [];
let cleanups: (() => Promise<void> | void)[] = [];
test.after.each(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});
test.after(() => {
  for (const d of dirs) d.remove();
});

function ticketing(notify: NotifyConfigInput): { handle: TicketingHandle; log: ReturnType<typeof captureLog> } {
  const d = tempDir('fleetcare-notify-');
  dirs.push(d);
  const db = openCallerDb(d.path);
  const log = captureLog();
  const handle = startTicketing(db, { notify, backoff: { baseMs: 20, maxMs: 200 } }, { log: log.log });
  cleanups.push(async () => {
    await handle.close();
    db.close();
  });
  return { handle, log };
}

const tehran = { language: 'fa' as const, email: ['store-7@example.ir'], sms: ['+989121234567'] };

test('a new ticket e-mails and texts the store in its language (fa, right to left), once, through 429 and 500', async () => {
  const smtp = await smtpServer();
  cleanups.push(smtp.close);
  const sms = await new FakeSmsGateway().start();
  cleanups.push(() => sms.stop());
  sms.fault((r) => r.method === 'POST', { kind: 'respond', status: 429, headers: { 'Retry-After': '0' }, body: { error: 'slow down' } });
  sms.fault((r) => r.method === 'POST', { kind: 'respond', status: 500, body: { error: 'gateway down' } });
  const { handle } = ticketing({
    smtp: { host: '127.0.0.1', port: smtp.port, from: 'NOC <noc@support.example>', timeoutMs: 5000 },
    sms: { url: `${sms.url}/v1/send`, token: sms.token, timeoutMs: 2000 },
    tenants: { Tehran: tehran },
  });
  const r = handle.outbox.enqueue(createCmd('pos-7/printer0/paper-out', { customer: 'Tehran', site: 'tehran-vanak', subject: 'Paper out (pos-7)' }));
  assert.ok(r.applied);
  await waitFor('the e-mail', () => smtp.received.length === 1, 10_000);
  await waitFor('the SMS', () => sms.sent.length === 1, 10_000);
  const { mail, rcpt } = smtp.received[0];
  assert.equal(rcpt, ['store-7@example.ir']);
  assert.match(mail.subject ?? '', /^تیکت خدمات pos-7\/printer0\/paper-out: Paper out \(pos-7\)$/);
  assert.match(String(mail.text), 'tehran-vanak');
  assert.match(String(mail.html), /<html lang="fa" dir="rtl">/);
  assert.is(mail.messageId, '<pos-7%2Fprinter0%2Fpaper-out%3Aopened@support.example>');
  assert.is(mail.headers.get('content-language'), 'fa');
  // The gateway was asked three times (429, 500, then accepted) and sent one text.
  assert.is(sms.count('POST', '/v1/send'), 3);
  assert.is(sms.sent[0].to, '+989121234567');
  assert.is(sms.sent[0].language, 'fa');
  assert.is(sms.sent[0].key, 'pos-7/printer0/paper-out:opened:+989121234567');
  await waitFor('outbox drained', () => handle.outbox.pending() === 0, 5000);
});

test('resolving tells the store in its own language; tenants without a notice config hear nothing', async () => {
  const smtp = await smtpServer();
  cleanups.push(smtp.close);
  const { handle } = ticketing({
    smtp: { host: '127.0.0.1', port: smtp.port, from: 'noc@support.example' },
    tenants: { Riyadh: { email: ['pos@store.sa'] } },
  });
  handle.outbox.enqueue(createCmd('pos-9/printer0/cutter-jam', { customer: 'Riyadh', language: 'ar', site: 'riyadh-olaya' }));
  handle.outbox.enqueue(createCmd('pos-1/printer0/paper-out', { customer: 'Nobody Retail' }));
  await waitFor('opened', () => smtp.received.length === 1, 10_000);
  handle.outbox.enqueue({ kind: 'set-status', key: 'pos-9/printer0/cutter-jam', at: Date.now(), status: 'Resolved', comment: 'blade replaced' });
  await waitFor('resolved', () => smtp.received.length === 2, 10_000);
  await waitFor('outbox drained', () => handle.outbox.pending() === 0, 5000);
  const resolved = smtp.received[1].mail;
  assert.match(resolved.subject ?? '', /^تم الحل: pos-9\/printer0\/cutter-jam/);
  assert.match(String(resolved.html), /dir="rtl"/);
  assert.is(smtp.received.filter((m) => m.rcpt.includes('pos@store.sa')).length, 2);
  assert.is(smtp.received.length, 2, 'nothing for the tenant without a notice config');
});

test("a refused recipient (550) is a visible failure with the server's words; a 451 is retried until it passes", async () => {
  let busy = 2;
  const smtp = await smtpServer((rcpt) => {
    if (rcpt === 'gone@example.cn') return { code: 550, message: 'mailbox unavailable' };
    if (rcpt === 'busy@example.cn' && busy-- > 0) return { code: 451, message: 'try again later' };
    return null;
  });
  cleanups.push(smtp.close);
  const { handle } = ticketing({
    smtp: { host: '127.0.0.1', port: smtp.port, from: 'noc@support.example' },
    tenants: { Shenzhen: { language: 'zh', email: ['gone@example.cn'] }, Guangzhou: { email: ['busy@example.cn'] } },
  });
  handle.outbox.enqueue(createCmd('pos-3/printer0/paper-out', { customer: 'Shenzhen' }));
  handle.outbox.enqueue(createCmd('pos-4/printer0/paper-out', { customer: 'Guangzhou', language: 'zh' }));
  await waitFor('the 550 marked failed', () => handle.outbox.failures('email').length === 1, 10_000);
  const f = handle.outbox.failures('email')[0];
  assert.is(f.ref, 'pos-3/printer0/paper-out');
  assert.match(String(f.error), /550/);
  assert.match(String(f.error), /mailbox unavailable/);
  await waitFor('the 451 retried and delivered', () => smtp.received.length === 1, 10_000);
  assert.match(smtp.received[0].mail.subject ?? '', /^服务工单 pos-4/);
  assert.ok(handle.stats().email.retries >= 2, 'retried after each 451');
});

test('an SMTP server that is not there is retried, and the notice goes out when it comes up', async () => {
  const smtp = await smtpServer();
  const port = smtp.port;
  await smtp.close();
  const { handle, log } = ticketing({
    smtp: { host: '127.0.0.1', port, from: 'noc@support.example', timeoutMs: 2000 },
    tenants: { Riyadh: { email: ['pos@store.sa'] } },
  });
  handle.outbox.enqueue(createCmd('pos-5/printer0/paper-out', { customer: 'Riyadh' }));
  await waitFor('a retry', () => handle.stats().email.retries >= 1, 10_000);
  assert.is(handle.outbox.pending('email'), 1, 'kept in the outbox');
  assert.is(handle.outbox.failures().length, 0);
  assert.match(log.text(), /ECONNREFUSED/);
});

test('bad notice config is refused with the field and the reason', () => {
  const bad = (input: unknown) => {
    const r = notifyConfigSchema.safeParse(input);
    assert.not.ok(r.success);
    return r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n');
  };
  assert.match(
    bad({ templates: { fa: { opened: { subject: 'تیکت {ref}', body: 'دستگاه {devise}' } } } }),
    /templates\.fa\.opened\.body: unknown placeholder \{devise\}/,
  );
  assert.match(bad({ tenants: { Tehran: { email: ['store@example.ir'] } } }), /tenants\.Tehran\.email: e-mail recipients need notify\.smtp/);
  assert.match(bad({ sms: { url: 'http://127.0.0.1:1/x' }, tenants: { Tehran: { sms: ['09121234567'] } } }), /tenants\.Tehran\.sms\.0: an E\.164 number/);
  assert.match(bad({ smtp: { host: 'x', from: 'a@b' }, tenants: {}, extra: 1 }), /Unrecognized key/);
});

test.run();
