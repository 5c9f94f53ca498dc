// Ticketing: the built-in store + outbox in the caller's SQLite DB, and one sender loop per
// configured external sink.
//
//   const tickets = startTicketing(db, config, { log });
//   db.transaction(() => {
//     incidents.open(...);                       // the caller's own change
//     tickets.outbox.enqueue({ kind: 'create', key, at, ticket });
//   })();
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { z } from 'zod';
import { ErpnextSink, erpnextSinkConfigSchema } from './erpnext.js';
import { TicketOutbox } from './outbox.js';
import { TicketSender, type TicketSenderStats } from './sender.js';
import type { TicketSink } from './sink.js';
import { WebhookSink, webhookSinkConfigSchema } from './webhook.js';
import { ZammadSink, zammadSinkConfigSchema } from './zammad.js';
import { noticeSinks, notifyConfigSchema } from '../notify/index.js';
import type { TicketStateStore } from '../../state/tickets.js';
import type { Ticket } from './model.js';

export * from './model.js';
export * from './sink.js';
export * from './store.js';
export * from './outbox.js';
export * from './sender.js';
export * from './erpnext.js';
export * from './zammad.js';
export * from './webhook.js';

export const ticketingConfigSchema = z.object({
  erpnext: erpnextSinkConfigSchema.optional(),
  zammad: zammadSinkConfigSchema.optional(),
  webhooks: z.array(webhookSinkConfigSchema).default([]),
  /** Customer notice by e-mail and SMS (collector/notify), sent through the same outbox. */
  notify: notifyConfigSchema.optional(),
  backoff: z
    .object({ baseMs: z.number().int().positive().default(1000), maxMs: z.number().int().positive().default(300_000) })
    .default({ baseMs: 1000, maxMs: 300_000 }),
});
export type TicketingConfig = z.infer<typeof ticketingConfigSchema>;
export type TicketingConfigInput = z.input<typeof ticketingConfigSchema>;

export type TicketingHandle = {
  outbox: TicketOutbox;
  senders: TicketSender[];
  stats(): Record<string, TicketSenderStats & { pending: number; failedRows: number }>;
  close(): Promise<void>;
};

/** The sinks named in `config` (notices look tickets up through `lookup`), plus `extraSinks`. */
export function ticketSinks(
  cfg: TicketingConfig,
  log: Logger,
  lookup: (ref: string) => Promise<Ticket | null> | Ticket | null,
  extraSinks: TicketSink[] = [],
): TicketSink[] {
  const sinks: TicketSink[] = [];
  if (cfg.erpnext) sinks.push(new ErpnextSink(cfg.erpnext, log));
  if (cfg.zammad) sinks.push(new ZammadSink(cfg.zammad, log));
  for (const w of cfg.webhooks) sinks.push(new WebhookSink(w, log));
  if (cfg.notify) sinks.push(...noticeSinks(cfg.notify, lookup, log));
  sinks.push(...extraSinks);
  const names = sinks.map((s) => s.name);
  if (new Set(names).size !== names.length) throw new Error(`ticket sink names must be unique: ${names.join(', ')}`);
  return sinks;
}

/** The longest a request to one of the configured sinks may take (their timeouts): one in flight has ended by then. */
export function longestSinkTimeoutMs(cfg: TicketingConfig): number {
  const n = cfg.notify;
  return Math.max(
    0,
    cfg.erpnext?.timeoutMs ?? 0,
    cfg.zammad?.timeoutMs ?? 0,
    ...cfg.webhooks.map((w) => w.timeoutMs),
    n?.smtp?.timeoutMs ?? 0,
    n?.sms?.timeoutMs ?? 0,
  );
}

/** Builds the sinks named in `config` (extra sinks, e.g. custom ones, can be passed in). */
export function startTicketing(db: Database.Database, config: TicketingConfigInput, deps: { log: Logger; extraSinks?: TicketSink[] }): TicketingHandle {
  const cfg = ticketingConfigSchema.parse(config);
  const log = deps.log.child({ component: 'tickets' });
  // Notices look the ticket up in the store the outbox keeps (created below).
  let outboxRef: TicketOutbox | null = null;
  const sinks = ticketSinks(cfg, log, (ref) => outboxRef?.store.get(ref) ?? null, deps.extraSinks);
  const outbox = new TicketOutbox(db, { sinks: sinks.map((s) => s.name) });
  outboxRef = outbox;
  const senders = sinks.map((s) => new TicketSender(outbox, s, { log, backoff: cfg.backoff }));
  for (const s of senders) s.start();
  return {
    outbox,
    senders,
    stats: () => Object.fromEntries(senders.map((s) => [s.sink.name, s.stats()])),
    close: async () => {
      await Promise.all(senders.map((s) => s.close()));
    },
  };
}

/** Sender loops over any ticket store (state/tickets.ts), e.g. PostgreSQL in a cluster. */
export type TicketSendersHandle = {
  senders: TicketSender[];
  stats(): Record<string, TicketSenderStats & { pending: number; failedRows: number }>;
  close(): Promise<void>;
};

export function startTicketSenders(
  store: TicketStateStore,
  sinks: readonly TicketSink[],
  config: TicketingConfig,
  log: Logger,
  active?: () => boolean,
): TicketSendersHandle {
  const senders = sinks.map((s) => new TicketSender(store, s, { log, backoff: config.backoff, active }));
  for (const s of senders) s.start();
  return {
    senders,
    stats: () => Object.fromEntries(senders.map((s) => [s.sink.name, s.stats()])),
    close: async () => {
      await Promise.all(senders.map((s) => s.close()));
    },
  };
}
