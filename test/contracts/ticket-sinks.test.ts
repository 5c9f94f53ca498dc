// The TicketSink contract over every sink, each against the fake of its remote system.
import { ErpnextSink, WebhookSink, ZammadSink } from '../../collector/tickets/index.js';
import { FakeFrappe, FakeWebhookReceiver, FakeZammad } from '../tickets/fakes.js';
import { silentLog } from '../helpers/log.js';
import { ticketSinkSuite } from './ticket-sink-suite.js';

ticketSinkSuite('erpnext', async ({ timeoutMs }) => {
  const fake = await new FakeFrappe().start();
  const sink = new ErpnextSink({ url: fake.url, apiKey: fake.apiKey, apiSecret: fake.apiSecret, timeoutMs }, silentLog());
  const issuesFor = (ref: string) => [...fake.issues.values()].filter((i) => i[fake.keyField] === ref);
  return {
    sink,
    fake,
    ticketsFor: (ref) => issuesFor(ref).length,
    comments: (externalId) => fake.comments.filter((c) => c.reference_name === externalId).map((c) => c.content),
    status: (externalId) => fake.issues.get(externalId)?.status,
    closedStatus: 'Closed',
    refusal: {
      refuse: () => {
        fake.forbidWrites = true;
      },
      words: /HTTP 403.*No permission for Issue/,
    },
    cleanup: () => fake.stop(),
  };
});

ticketSinkSuite('zammad', async ({ timeoutMs }) => {
  const fake = await new FakeZammad().start();
  const sink = new ZammadSink(
    { url: fake.url, token: fake.token, group: 'Support', customers: { 'ACME Retail': 'ops@acme.example' }, defaultCustomer: 'it@globex.example', timeoutMs },
    silentLog(),
  );
  return {
    sink,
    fake,
    ticketsFor: (ref) => [...fake.tickets.values()].filter((t) => t.title.startsWith(`[${ref}] `)).length,
    comments: (externalId) => fake.articles.filter((a) => a.ticket_id === Number(externalId)).map((a) => a.body),
    status: (externalId) => fake.tickets.get(Number(externalId))?.state,
    closedStatus: 'closed',
    refusal: {
      // The customer is no longer known to Zammad: 422 with error_human.
      refuse: () => fake.customers.clear(),
      words: /HTTP 422.*No lookup value found for 'customer'/,
    },
    cleanup: () => fake.stop(),
  };
});

ticketSinkSuite('webhook', async ({ timeoutMs }) => {
  const fake = await new FakeWebhookReceiver().start();
  const sink = new WebhookSink({ url: `${fake.url}/hooks/fleetcare`, secret: 'contract-secret-0123456789', timeoutMs }, silentLog());
  const delivered = (ref: string, type: string) => fake.accepted.filter((r) => r.body?.ref === ref && r.body?.type === type);
  return {
    sink,
    fake,
    ticketsFor: (ref) => delivered(ref, 'ticket.create').length,
    comments: (_id, ref) => delivered(ref, 'ticket.update').map((r) => String(r.body.comment ?? '')),
    status: (_id, ref) =>
      delivered(ref, 'ticket.update')
        .filter((r) => r.body.status)
        .pop()?.body.status,
    closedStatus: 'Closed',
    refusal: {
      // A receiver refusing the payload for good (4xx): its text is kept.
      refuse: () => fake.fault(() => true, { kind: 'respond', status: 400, body: { error: 'unknown ticket type' } }, 100),
      words: /HTTP 400.*unknown ticket type/,
    },
    cleanup: () => fake.stop(),
  };
});
