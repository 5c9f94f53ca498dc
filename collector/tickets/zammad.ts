// Zammad sink over its REST API (/api/v1). Zammad has no unique custom field we can rely on, so
// the ticket ref goes into the title (`[ref] subject`) and, when configured, into a custom
// ticket attribute; the local ticket_link table stays the source of truth because Zammad's
// search is index-backed and may lag.
import type { Logger } from 'pino';
import { z } from 'zod';
import type { SinkOperation, TicketPriority, TicketStatus } from './model.js';
import { SinkError, clip, httpFailure, httpRequest, isOk, type ExternalTicket, type HttpResult, type TicketSink } from './sink.js';

export const zammadSinkConfigSchema = z.object({
  name: z.string().default('zammad'),
  url: z.string().url(),
  token: z.string().min(1),
  group: z.string().default('Users'),
  /** Zammad customer (email or login) per tenant, and the fallback. */
  customers: z.record(z.string(), z.string()).default({}),
  defaultCustomer: z.string().min(1),
  /** Custom ticket attribute (object manager) holding the ref; null = title only. */
  keyAttribute: z.string().nullable().default(null),
  priorities: z.record(z.string(), z.string()).default({ Urgent: '3 high', High: '3 high', Medium: '2 normal', Low: '1 low' }),
  states: z.record(z.string(), z.string()).default({ Open: 'open', Replied: 'open', 'On Hold': 'pending reminder', Resolved: 'closed', Closed: 'closed' }),
  /** For "pending reminder": when Zammad should remind (ms after the change). */
  pendingReminderMs: z
    .number()
    .int()
    .positive()
    .default(24 * 3600_000),
  timeoutMs: z.number().int().positive().default(15_000),
  /** Zammad agent user id per fleetcare technician id (the ticket's `owner_id`); unmapped technicians leave the owner as it is. */
  owners: z.record(z.string(), z.number().int().positive()).default({}),
  /** Zammad group per fleetcare team id (the ticket's `group`); unmapped teams leave the group as it is. */
  teamGroups: z.record(z.string(), z.string()).default({}),
});
export type ZammadSinkConfig = z.infer<typeof zammadSinkConfigSchema>;
export type ZammadSinkConfigInput = z.input<typeof zammadSinkConfigSchema>;

export function zammadErrorMessage(body: unknown): string {
  if (!body || typeof body !== 'object') return '';
  const b = body as { error?: unknown; error_human?: unknown };
  return clip(typeof b.error_human === 'string' ? b.error_human : typeof b.error === 'string' ? b.error : '');
}

export class ZammadSink implements TicketSink {
  readonly name: string;
  private readonly cfg: ZammadSinkConfig;
  private readonly base: string;

  constructor(
    config: ZammadSinkConfigInput,
    private readonly log: Logger,
  ) {
    this.cfg = zammadSinkConfigSchema.parse(config);
    this.name = this.cfg.name;
    this.base = this.cfg.url.replace(/\/+$/, '');
  }

  private async call(method: string, path: string, body?: unknown): Promise<HttpResult> {
    const headers = { Authorization: `Token token=${this.cfg.token}`, 'Content-Type': 'application/json', Accept: 'application/json' };
    return httpRequest(
      `${this.base}${path}`,
      { method, headers, body: body === undefined ? undefined : JSON.stringify(body) },
      { timeoutMs: this.cfg.timeoutMs, log: this.log },
    );
  }

  private title(ref: string, subject: string): string {
    return `[${ref}] ${subject}`;
  }

  private priority(p: TicketPriority): string {
    return this.cfg.priorities[p] ?? '2 normal';
  }

  private state(s: TicketStatus): string {
    return this.cfg.states[s] ?? 'open';
  }

  async create(op: Extract<SinkOperation, { kind: 'create' }>): Promise<ExternalTicket> {
    const t = op.ticket;
    const body: Record<string, unknown> = {
      title: this.title(op.ref, t.subject),
      group: this.cfg.group,
      customer: this.cfg.customers[t.customer] ?? this.cfg.defaultCustomer,
      state: 'new',
      priority: this.priority(t.priority),
      article: { subject: t.subject, body: t.description, type: 'note', internal: false, content_type: 'text/plain' },
    };
    if (this.cfg.keyAttribute) body[this.cfg.keyAttribute] = op.ref;
    const path = '/api/v1/tickets';
    const r = await this.call('POST', path, body);
    if (!isOk(r.status)) throw httpFailure('POST', path, r, zammadErrorMessage(r.json));
    const id = (r.json as { id?: unknown } | undefined)?.id;
    if (typeof id !== 'number' && typeof id !== 'string') throw new SinkError('unknown', `POST ${path}: HTTP ${r.status} without an id`);
    return { externalId: String(id), status: 'new' };
  }

  async update(externalId: string, op: Extract<SinkOperation, { kind: 'update' }>): Promise<void> {
    const changes: Record<string, unknown> = {};
    if (op.patch.priority) changes.priority = this.priority(op.patch.priority);
    if (op.patch.subject) changes.title = this.title(op.ref, op.patch.subject);
    if (op.patch.assignment !== undefined) {
      const a = op.patch.assignment;
      // owner_id 1 is Zammad's "-" (nobody): an unassigned ticket goes back to it.
      const owner = a?.technician ? this.cfg.owners[a.technician] : 1;
      if (owner !== undefined) changes.owner_id = owner;
      else this.log.warn({ ref: op.ref, technician: a?.technician }, 'zammad: no owner id for this technician (tickets.zammad.owners); owner left as it is');
      const group = a?.team ? this.cfg.teamGroups[a.team] : undefined;
      if (group) changes.group = group;
    }
    if (op.status) {
      changes.state = this.state(op.status);
      if (changes.state === 'pending reminder' || changes.state === 'pending close') {
        changes.pending_time = new Date(Date.now() + this.cfg.pendingReminderMs).toISOString();
      }
    }
    // Idempotent PUT first, the article (not idempotent) last.
    if (Object.keys(changes).length) {
      const path = `/api/v1/tickets/${encodeURIComponent(externalId)}`;
      const r = await this.call('PUT', path, changes);
      if (!isOk(r.status)) throw httpFailure('PUT', path, r, zammadErrorMessage(r.json));
    }
    const text = [op.comment, op.resolution ? `Resolution: ${op.resolution}` : null].filter(Boolean).join('\n\n');
    if (text) {
      const path = '/api/v1/ticket_articles';
      const r = await this.call('POST', path, {
        ticket_id: Number.isFinite(Number(externalId)) ? Number(externalId) : externalId,
        subject: op.status ? `Status: ${op.status}` : 'Update',
        body: `${text}\n[fleetcare ${op.ref} v${op.version}]`,
        content_type: 'text/plain',
        type: 'note',
        internal: true,
      });
      if (!isOk(r.status)) throw httpFailure('POST', path, r, zammadErrorMessage(r.json));
    }
  }

  async find(ref: string): Promise<ExternalTicket | null> {
    const query = this.cfg.keyAttribute ? `${this.cfg.keyAttribute}:"${ref}"` : `title:"${ref}"`;
    const path = `/api/v1/tickets/search?query=${encodeURIComponent(query)}&expand=true&limit=20`;
    const r = await this.call('GET', path);
    if (!isOk(r.status)) throw httpFailure('GET', '/api/v1/tickets/search', r, zammadErrorMessage(r.json));
    // expand=true answers a list of tickets; without it Zammad answers {tickets: [ids], assets}.
    const list: unknown[] = Array.isArray(r.json) ? r.json : [];
    // The search is fuzzy: keep only an exact match of our ref.
    const prefix = `[${ref}] `;
    for (const item of list) {
      const t = item as { id?: unknown; title?: unknown; state?: unknown; [k: string]: unknown };
      const exact = this.cfg.keyAttribute ? t[this.cfg.keyAttribute] === ref : typeof t.title === 'string' && t.title.startsWith(prefix);
      if (exact && (typeof t.id === 'number' || typeof t.id === 'string'))
        return { externalId: String(t.id), status: typeof t.state === 'string' ? t.state : undefined };
    }
    return null;
  }
}
