// What every TicketSink must do, run over each implementation against a fake of its remote system
// that follows the documented API, errors included (test/tickets/fakes.ts): ticket-sinks.test.ts
// calls it for ERPNext, Zammad and the webhook. The ticket sender relies on these: a create
// lands once and can be found again by its ref, updates reach the ticket, and every failure is
// classified retry (not applied, send again) / unknown (maybe applied: search before resending) /
// fatal (refused for good, with the server's own words).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SinkError, type SinkFailureKind, type SinkOperation, type TicketSink, ticketFieldsSchema } from '../../collector/tickets/index.js';
import type { FakeHttpServer } from '../tickets/fakes.js';
import { ticketFields } from '../tickets/support.js';

type CreateOp = Extract<SinkOperation, { kind: 'create' }>;
type UpdateOp = Extract<SinkOperation, { kind: 'update' }>;

export type TicketSinkHarness = {
  sink: TicketSink;
  fake: FakeHttpServer;
  /** Tickets the remote system holds for this ref (for the webhook: creates it accepted). */
  ticketsFor(ref: string): number;
  /** Comment texts the remote system shows on the ticket. */
  comments(externalId: string, ref: string): string[];
  /** The remote system's own status value of the ticket. */
  status(externalId: string, ref: string): string | undefined;
  /** What the remote system calls a closed ticket. */
  closedStatus: string;
  /** Makes the system refuse writes as it documents (no permission, unknown value) and the words the error must keep. */
  refusal: { refuse(): void; words: RegExp };
  cleanup(): Promise<void>;
};

/** `timeoutMs`: the sink's request timeout (short: one test waits for it). */
export type TicketSinkFactory = (opts: { timeoutMs: number }) => Promise<TicketSinkHarness>;

let refs = 0;

function createOp(): CreateOp {
  const ref = `posC/printer/cover-open#${++refs}`;
  return {
    kind: 'create',
    ref,
    key: ref.split('#')[0],
    version: 1,
    ticket: ticketFieldsSchema.parse(ticketFields({ device: 'posC', peripheral: 'printer' })),
    eventIds: [`ev-${refs}`],
  };
}

function updateOp(create: CreateOp, over: Partial<UpdateOp> = {}): UpdateOp {
  return {
    kind: 'update',
    ref: create.ref,
    key: create.key,
    version: create.version + 1,
    comment: null,
    patch: {},
    status: null,
    resolution: null,
    eventIds: [],
    ...over,
  };
}

async function failure(p: Promise<unknown>): Promise<SinkError> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  assert.instance(e, SinkError, `expected a SinkError, got ${String(e)}`);
  return e as SinkError;
}

function assertKind(e: SinkError, kind: SinkFailureKind, what: string): void {
  assert.is(e.kind, kind, `${what}: ${e.message}`);
  assert.is(e.code, `sink-${kind}`, what);
}

const everything = () => true;

export function ticketSinkSuite(name: string, factory: TicketSinkFactory): void {
  const test = suite(`ticket sink contract (${name})`);

  const withSink =
    (fn: (h: TicketSinkHarness) => Promise<void>, timeoutMs = 5_000) =>
    async () => {
      const h = await factory({ timeoutMs });
      try {
        await fn(h);
      } finally {
        await h.cleanup();
      }
    };

  test(
    'create lands one ticket, found again by its ref where the system can be searched',
    withSink(async (h) => {
      const op = createOp();
      const t = await h.sink.create(op);
      assert.type(t.externalId, 'string');
      assert.ok(t.externalId.length > 0);
      assert.is(h.ticketsFor(op.ref), 1);
      const found = await h.sink.find(op.ref);
      // undefined: the sink cannot search (webhook) and relies on the idempotency key instead.
      if (found !== undefined) assert.is(found?.externalId, t.externalId);
      const none = await h.sink.find(`${op.ref}-never-created`);
      assert.ok(none === null || (none === undefined && found === undefined), 'an unknown ref is not found');
    }),
  );

  test(
    'an update reaches the ticket: comment and status, then closed with the resolution',
    withSink(async (h) => {
      const op = createOp();
      const { externalId } = await h.sink.create(op);
      await h.sink.update(externalId, updateOp(op, { comment: 'cover opened 3 times in an hour', patch: { priority: 'High' } }));
      assert.ok(
        h.comments(externalId, op.ref).some((c) => c.includes('cover opened 3 times in an hour')),
        'the comment is on the ticket',
      );
      await h.sink.update(externalId, updateOp(op, { version: 3, status: 'Closed', resolution: 'hinge replaced' }));
      assert.is(h.status(externalId, op.ref), h.closedStatus);
      assert.is(h.ticketsFor(op.ref), 1, 'updates create nothing');
    }),
  );

  test(
    'a create whose answer was lost (unknown outcome) is recovered without a second ticket',
    withSink(async (h) => {
      const op = createOp();
      h.fake.fault(everything, { kind: 'drop-after' });
      assertKind(await failure(h.sink.create(op)), 'unknown', 'connection lost after the request');
      assert.is(h.ticketsFor(op.ref), 1, 'the lost request was applied');
      // What the sender does next: search first; a sink that cannot search resends with the same idempotency key.
      const found = await h.sink.find(op.ref);
      const t = found === undefined ? await h.sink.create(op) : found;
      assert.ok(t, 'the applied create is found');
      assert.is(h.ticketsFor(op.ref), 1, 'still one ticket');
    }),
  );

  test(
    'a request that is never answered fails as unknown after the timeout',
    withSink(async (h) => {
      const op = createOp();
      h.fake.fault(everything, { kind: 'hang-after' });
      const started = Date.now();
      assertKind(await failure(h.sink.create(op)), 'unknown', 'timeout');
      assert.ok(Date.now() - started >= 1900, 'waited for the timeout');
      assert.is(h.ticketsFor(op.ref), 1, 'applied though never answered: why unknown, not retry');
      // The timeout is long enough for the fake to receive and apply the request on a loaded
      // machine (300 ms once timed out before the request arrived: a flake, not the sink).
    }, 2000),
  );

  test(
    '429 with Retry-After is retry (with the delay); 5xx is unknown (a proxy may answer after the change)',
    withSink(async (h) => {
      const op = createOp();
      h.fake.fault(everything, { kind: 'respond', status: 429, body: {}, headers: { 'Retry-After': '7' } });
      const busy = await failure(h.sink.create(op));
      assertKind(busy, 'retry', '429');
      assert.is(busy.retryAfterMs, 7000);
      assert.is(busy.status, 429);
      h.fake.fault(everything, { kind: 'respond', status: 503, body: {} });
      const down = await failure(h.sink.create(op));
      assertKind(down, 'unknown', '503');
      assert.is(down.status, 503);
      assert.is(h.ticketsFor(op.ref), 0, 'neither was applied');
    }),
  );

  test(
    "a documented refusal is fatal and keeps the server's words; a refused connection is retry",
    withSink(async (h) => {
      const op = createOp();
      h.refusal.refuse();
      const refused = await failure(h.sink.create(op));
      assertKind(refused, 'fatal', 'refusal');
      assert.match(refused.message, h.refusal.words);
      await h.fake.stop();
      assertKind(await failure(h.sink.create(op)), 'retry', 'connection refused');
      assert.is(h.ticketsFor(op.ref), 0);
    }),
  );

  test.run();
}
