// Notice to the store (seed 003: "notify the customer by e-mail or SMS"): when a ticket is opened
// for one of its devices and when it is resolved, in the tenant's language. Each channel is a
// ticket sink, so notices go through the same durable outbox as ERPNext or Zammad: retried on
// network errors, 429 and 5xx, never lost on a crash. A notice carries a deterministic id
// (`Message-ID` for e-mail, `Idempotency-Key` for the SMS gateway), so a retry after an unknown
// outcome — or a Resolved followed by Closed — is dropped by the receiver instead of sent twice.
import nodemailer, { type Transporter } from 'nodemailer';
import type { Logger } from 'pino';
import { z } from 'zod';
import { ticketLanguageSchema, type Ticket, type TicketLanguage, type SinkOperation } from '../tickets/model.js';
import { SinkError, clip, httpFailure, httpRequest, isOk, type ExternalTicket, type TicketSink } from '../tickets/sink.js';
import {
  defaultTemplates,
  noticeEventSchema,
  noticeTemplateSchema,
  renderTemplate,
  rtlLanguages,
  type NoticeEvent,
  type NoticeTemplate,
  type TemplateValues,
} from './templates.js';

export * from './templates.js';

const secret = z.string().min(1);
/** A secret from the config file or, better, from the environment variable it names. */
const secretRef = z.union([z.object({ env: z.string().min(1) }).strict(), secret]).optional();

export const notifyConfigSchema = z
  .object({
    smtp: z
      .object({
        host: z.string().min(1),
        port: z.number().int().min(1).max(65535).default(587),
        /** TLS from the first byte (port 465); otherwise STARTTLS when the server offers it. */
        secure: z.boolean().default(false),
        user: z.string().optional(),
        password: secretRef,
        from: z.string().min(3),
        timeoutMs: z.number().int().positive().default(20_000),
      })
      .strict()
      .optional(),
    sms: z
      .object({
        /** The gateway's send endpoint: POST JSON {to, text, ref, event} (docs/notify.md). */
        url: z.string().url(),
        token: secretRef,
        timeoutMs: z.number().int().positive().default(15_000),
      })
      .strict()
      .optional(),
    /** Who is told, per tenant (the ticket's customer). Tenants not listed get no notice. */
    tenants: z
      .record(
        z.string().min(1),
        z
          .object({
            /** Overrides the ticket's language for this tenant's notices. */
            language: ticketLanguageSchema.optional(),
            email: z.array(z.string().email()).default([]),
            /** E.164 numbers. */
            sms: z.array(z.string().regex(/^\+[1-9]\d{6,14}$/, 'an E.164 number such as +966501234567')).default([]),
            on: z.array(noticeEventSchema).default(['opened', 'assigned', 'resolved']),
          })
          .strict(),
      )
      .default({}),
    /** Replacements for the built-in texts, per language and notice. */
    templates: z.partialRecord(ticketLanguageSchema, z.partialRecord(noticeEventSchema, noticeTemplateSchema)).default({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    for (const [tenant, t] of Object.entries(c.tenants)) {
      if (t.email.length && !c.smtp) ctx.addIssue({ code: 'custom', path: ['tenants', tenant, 'email'], message: 'e-mail recipients need notify.smtp' });
      if (t.sms.length && !c.sms) ctx.addIssue({ code: 'custom', path: ['tenants', tenant, 'sms'], message: 'SMS recipients need notify.sms' });
    }
  });
export type NotifyConfig = z.output<typeof notifyConfigSchema>;
export type NotifyConfigInput = z.input<typeof notifyConfigSchema>;

function resolveSecret(s: z.infer<typeof secretRef>, what: string): string | undefined {
  if (s === undefined || typeof s === 'string') return s;
  const v = process.env[s.env];
  if (!v) throw new Error(`${what}: environment variable ${s.env} is not set`);
  return v;
}

/** Looks a ticket up by ref (update operations carry no ticket fields). */
export type TicketLookup = (ref: string) => Ticket | null | Promise<Ticket | null>;

export type Notice = { event: NoticeEvent | 'escalated'; language: TicketLanguage; subject: string; text: string; html: string; id: string };

/** Which notice an operation is, if any. */
function noticeEvent(op: SinkOperation): NoticeEvent | null {
  if (op.kind === 'create') return 'opened';
  if (op.status === 'Resolved' || op.status === 'Closed') return 'resolved';
  // A technician assigned (dispatch/): by the rules or by hand; "nobody matched" is not news for the store.
  return op.patch.assignment?.technician ? 'assigned' : null;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Renders the notice for a ticket; exported for the tests and the docs' examples. */
export function renderNotice(config: NotifyConfig, event: NoticeEvent, ticket: Ticket, resolution: string | null): Notice {
  const language = config.tenants[ticket.customer]?.language ?? ticket.language;
  const template: NoticeTemplate = config.templates[language]?.[event] ?? defaultTemplates[language][event];
  const values: TemplateValues = {
    ref: ticket.ref,
    subject: ticket.subject,
    device: ticket.device,
    site: ticket.site ?? '-',
    customer: ticket.customer,
    priority: ticket.priority,
    status: ticket.status,
    resolution: resolution ?? ticket.resolution ?? '',
    technician: ticket.assignment?.technicianName ?? ticket.assignment?.technician ?? '',
  };
  const subject = renderTemplate(template.subject, values).trim();
  const text = renderTemplate(template.body, values).trim();
  const dir = rtlLanguages.has(language) ? 'rtl' : 'ltr';
  const html = `<!doctype html><html lang="${language}" dir="${dir}"><body dir="${dir}"><p>${escapeHtml(text)}</p></body></html>`;
  // A reassignment is news again: the assigned notice's id names the technician.
  const id = event === 'assigned' ? `${ticket.ref}:${event}:${ticket.assignment?.technician ?? '-'}` : `${ticket.ref}:${event}`;
  return { event, language, subject, text, html, id };
}

const escalationText: Record<TicketLanguage, { subject: string; response: string; resolution: string }> = {
  en: {
    subject: 'Escalated: {ref} {subject}',
    response: 'Ticket {ref} ({device} at {site}, {customer}) has used {share} of its response time without a first response.',
    resolution: 'Ticket {ref} ({device} at {site}, {customer}) has used {share} of its resolution time without being resolved.',
  },
  ar: {
    subject: 'تصعيد: {ref} {subject}',
    response: 'استهلكت التذكرة {ref} ({device} في {site}، {customer}) {share} من وقت الاستجابة دون رد أول.',
    resolution: 'استهلكت التذكرة {ref} ({device} في {site}، {customer}) {share} من وقت الحل دون حلها.',
  },
  fa: {
    subject: 'ارجاع به سرپرست: {ref} {subject}',
    response: 'تیکت {ref} ({device} در {site}، {customer}) {share} از زمان پاسخ را بدون اولین پاسخ مصرف کرده است.',
    resolution: 'تیکت {ref} ({device} در {site}، {customer}) {share} از زمان رفع را بدون رفع مشکل مصرف کرده است.',
  },
  zh: {
    subject: '已升级：{ref} {subject}',
    response: '工单 {ref}（{customer} {site} 的 {device}）已用去 {share} 的响应时间，仍未首次响应。',
    resolution: '工单 {ref}（{customer} {site} 的 {device}）已用去 {share} 的解决时间，仍未解决。',
  },
};

/** The notice a team lead gets when a ticket escalates, in the ticket's language. */
export function renderEscalationNotice(ticket: Ticket, stage: 'response' | 'resolution', share: number): Notice {
  const language = ticket.language;
  const t = escalationText[language];
  const values: Record<string, string> = {
    ref: ticket.ref,
    subject: ticket.subject,
    device: ticket.device,
    site: ticket.site ?? '-',
    customer: ticket.customer,
    share: `${Math.round(share * 100)} %`,
  };
  const fill = (s: string) => s.replace(/\{(\w+)\}/g, (_, k: string) => values[k] ?? '');
  const text = fill(t[stage]);
  const dir = rtlLanguages.has(language) ? 'rtl' : 'ltr';
  const html = `<!doctype html><html lang="${language}" dir="${dir}"><body dir="${dir}"><p>${escapeHtml(text)}</p></body></html>`;
  return { event: 'escalated', language, subject: fill(t.subject), text, html, id: `${ticket.ref}:escalated-${stage}` };
}

/** The common part of both channels: which tickets, which notice, which recipients. */
abstract class NoticeSink implements TicketSink {
  abstract readonly name: string;
  constructor(
    protected readonly config: NotifyConfig,
    private readonly lookup: TicketLookup,
    protected readonly log: Logger,
  ) {}

  protected abstract recipients(tenant: string): string[];
  protected abstract send(notice: Notice, to: string[], ticket: Ticket): Promise<void>;
  /** Team leads are told of escalations by e-mail only (dispatch/escalation.ts puts their addresses on the ticket). */
  protected readonly tellsLeads: boolean = false;

  /** The escalations this update added (the newest ones), each to its team leads. */
  private async notifyLeads(op: SinkOperation): Promise<void> {
    if (!this.tellsLeads || op.kind !== 'update' || !op.patch.escalations?.length) return;
    const newest = Math.max(...op.patch.escalations.map((e) => e.at));
    const fresh = op.patch.escalations.filter((e) => e.at === newest && e.notified.length);
    if (!fresh.length) return;
    const ticket = await this.lookup(op.ref);
    if (!ticket) throw new SinkError('fatal', `no ticket ${op.ref} in the store to notify about`);
    for (const e of fresh) {
      await this.send(renderEscalationNotice(ticket, e.stage, e.share), e.notified, ticket);
      this.log.info({ sink: this.name, ref: op.ref, stage: e.stage, recipients: e.notified.length }, 'team lead told of an escalation');
    }
  }

  private async notify(op: SinkOperation): Promise<void> {
    await this.notifyLeads(op);
    const event = noticeEvent(op);
    if (!event) return;
    const ticket = await this.lookup(op.ref);
    if (!ticket) throw new SinkError('fatal', `no ticket ${op.ref} in the store to notify about`);
    const tenant = this.config.tenants[ticket.customer];
    if (!tenant?.on.includes(event)) return;
    const to = this.recipients(ticket.customer);
    if (!to.length) return;
    await this.send(renderNotice(this.config, event, ticket, op.kind === 'update' ? op.resolution : null), to, ticket);
    this.log.info({ sink: this.name, ref: op.ref, event, recipients: to.length }, 'customer notified');
  }

  async create(op: Extract<SinkOperation, { kind: 'create' }>): Promise<ExternalTicket> {
    await this.notify(op);
    return { externalId: op.ref };
  }

  async update(_externalId: string, op: Extract<SinkOperation, { kind: 'update' }>): Promise<void> {
    await this.notify(op);
  }

  /** Nothing to search: the notice id makes a resend harmless. */
  async find(): Promise<undefined> {
    return undefined;
  }
}

/** SMTP errors by stage: a refusal (5xx) is final, 4xx and failed connections are retried,
 *  a connection lost after the message was handed over is an unknown outcome. */
export function classifySmtpError(e: unknown): SinkError {
  const err = e as { responseCode?: number; code?: string; command?: string; message?: string; response?: string };
  const msg = clip(err.response ?? err.message ?? String(e), 300);
  if (typeof err.responseCode === 'number') {
    if (err.responseCode >= 500) return new SinkError('fatal', `SMTP ${err.responseCode} at ${err.command ?? '?'}: ${msg}`, err.responseCode);
    return new SinkError('retry', `SMTP ${err.responseCode} at ${err.command ?? '?'}: ${msg}`, err.responseCode);
  }
  // Before the server saw the message: connecting, greeting, TLS, auth, envelope.
  if (err.command === 'CONN' || err.code === 'ECONNREFUSED' || err.code === 'EDNS' || err.code === 'EAUTH' || err.command === 'GREETING')
    return new SinkError(err.code === 'EAUTH' ? 'fatal' : 'retry', `SMTP ${err.code ?? ''} ${msg}`.trim());
  return new SinkError('unknown', `SMTP connection lost (${err.code ?? 'no code'}, at ${err.command ?? 'unknown stage'}): ${msg}`);
}

export class EmailNoticeSink extends NoticeSink {
  readonly name = 'email';
  protected override readonly tellsLeads = true;
  private readonly transport: Transporter;

  constructor(config: NotifyConfig, lookup: TicketLookup, log: Logger) {
    super(config, lookup, log);
    const smtp = config.smtp;
    if (!smtp) throw new Error('notify.smtp is not configured');
    const password = resolveSecret(smtp.password, 'notify.smtp.password');
    this.transport = nodemailer.createTransport({
      host: smtp.host,
      port: smtp.port,
      secure: smtp.secure,
      auth: smtp.user ? { user: smtp.user, pass: password } : undefined,
      connectionTimeout: smtp.timeoutMs,
      greetingTimeout: smtp.timeoutMs,
      socketTimeout: smtp.timeoutMs,
      disableFileAccess: true,
      disableUrlAccess: true,
    });
  }

  protected recipients(tenant: string): string[] {
    return this.config.tenants[tenant]?.email ?? [];
  }

  protected async send(notice: Notice, to: string[]): Promise<void> {
    const domain = /@([^>\s]+)/.exec(this.config.smtp!.from)?.[1] ?? 'fleetcare.invalid';
    try {
      await this.transport.sendMail({
        from: this.config.smtp!.from,
        to,
        subject: notice.subject,
        text: notice.text,
        html: notice.html,
        messageId: `<${encodeURIComponent(notice.id)}@${domain}>`,
        headers: { 'Content-Language': notice.language, 'Auto-Submitted': 'auto-generated' },
      });
    } catch (e) {
      throw classifySmtpError(e);
    }
  }
}

export class SmsNoticeSink extends NoticeSink {
  readonly name = 'sms';
  private readonly token: string | undefined;

  constructor(config: NotifyConfig, lookup: TicketLookup, log: Logger) {
    super(config, lookup, log);
    if (!config.sms) throw new Error('notify.sms is not configured');
    this.token = resolveSecret(config.sms.token, 'notify.sms.token');
  }

  protected recipients(tenant: string): string[] {
    return this.config.tenants[tenant]?.sms ?? [];
  }

  /** One request per number; a retry repeats the numbers already sent with the same key. */
  protected async send(notice: Notice, to: string[]): Promise<void> {
    const sms = this.config.sms!;
    const path = new URL(sms.url).pathname;
    for (const number of to) {
      const headers: Record<string, string> = { 'Content-Type': 'application/json', 'Idempotency-Key': `${notice.id}:${number}` };
      if (this.token) headers.Authorization = `Bearer ${this.token}`;
      const body = JSON.stringify({
        to: number,
        text: `${notice.subject}\n${notice.text}`,
        ref: notice.id.split(':')[0],
        event: notice.event,
        language: notice.language,
      });
      const r = await httpRequest(sms.url, { method: 'POST', headers, body }, { timeoutMs: sms.timeoutMs, log: this.log });
      if (!isOk(r.status)) throw httpFailure('POST', path, r, clip(r.text, 200));
    }
  }
}

/** The notice sinks a config asks for. */
export function noticeSinks(config: NotifyConfig, lookup: TicketLookup, log: Logger): TicketSink[] {
  const sinks: TicketSink[] = [];
  if (config.smtp) sinks.push(new EmailNoticeSink(config, lookup, log));
  if (config.sms) sinks.push(new SmsNoticeSink(config, lookup, log));
  return sinks;
}
