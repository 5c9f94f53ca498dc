// ERPNext / Frappe Helpdesk sink over the Frappe REST API (/api/resource/{doctype}).
// Dedup: a unique Custom Field (default `custom_fleetcare_key`) holds our ticket ref; a second
// insert fails with 417 UniqueValidationError (or DuplicateEntryError) and we adopt the Issue.
import type { Logger } from 'pino';
import { z } from 'zod';
import type { SinkOperation, TicketAssignment, TicketSla } from './model.js';
import { SinkError, clip, httpFailure, httpRequest, isOk, type ExternalTicket, type HttpResult, type TicketSink } from './sink.js';

export const erpnextSinkConfigSchema = z.object({
  name: z.string().default('erpnext'),
  url: z.string().url(),
  apiKey: z.string().min(1),
  apiSecret: z.string().min(1),
  /** `Issue` for ERPNext, `HD Ticket` for Frappe Helpdesk. */
  doctype: z.string().default('Issue'),
  keyField: z.string().default('custom_fleetcare_key'),
  /** Custom fields for our extra data; a field set to null is not sent. */
  fields: z
    .object({
      site: z.string().nullable().default('custom_site'),
      device: z.string().nullable().default('custom_device'),
      peripheral: z.string().nullable().default('custom_peripheral'),
      serial: z.string().nullable().default('custom_serial'),
      warrantyStatus: z.string().nullable().default('custom_warranty_status'),
    })
    .default({
      site: 'custom_site',
      device: 'custom_device',
      peripheral: 'custom_peripheral',
      serial: 'custom_serial',
      warrantyStatus: 'custom_warranty_status',
    }),
  /**
   * ERPNext v15 Issue SLA fields (v15 renamed resolution_by → sla_resolution_by). A field set to
   * null is not sent. `service_level_agreement` is a Link: it is sent only when configured, since
   * an SLA name ERPNext does not have is refused (LinkValidationError) and would fail the create.
   */
  slaFields: z
    .object({
      serviceLevelAgreement: z.string().nullable().default(null),
      responseBy: z.string().nullable().default('response_by'),
      resolutionBy: z.string().nullable().default('sla_resolution_by'),
      agreementStatus: z.string().nullable().default('agreement_status'),
    })
    .prefault({}),
  /** Frappe datetimes are naive, in the site's System Settings time zone. */
  timeZone: z.string().default('UTC'),
  /** Frappe user (e-mail) per fleetcare technician id; default: the technician's e-mail, else its id. */
  assignees: z.record(z.string(), z.string()).default({}),
  timeoutMs: z.number().int().positive().default(15_000),
});
export type ErpnextSinkConfig = z.infer<typeof erpnextSinkConfigSchema>;
export type ErpnextSinkConfigInput = z.input<typeof erpnextSinkConfigSchema>;

/** The server's own words from a Frappe error body: `_server_messages`, else `exception` / `exc_type`. */
export function frappeErrorMessage(body: unknown): string {
  if (!body || typeof body !== 'object') return '';
  const b = body as { _server_messages?: unknown; exception?: unknown; exc_type?: unknown; message?: unknown };
  const out: string[] = [];
  if (typeof b._server_messages === 'string') {
    try {
      // A JSON string holding a list of JSON strings, each {message, title, indicator…} (or plain text).
      for (const item of JSON.parse(b._server_messages) as unknown[]) {
        if (typeof item !== 'string') continue;
        try {
          const m = JSON.parse(item) as { message?: unknown };
          out.push(typeof m.message === 'string' ? m.message : item);
        } catch {
          out.push(item);
        }
      }
    } catch {
      out.push(b._server_messages);
    }
  }
  if (!out.length && typeof b.exception === 'string') out.push(b.exception);
  if (!out.length && typeof b.message === 'string') out.push(b.message);
  const type = typeof b.exc_type === 'string' ? b.exc_type : '';
  const text = out.join('; ').replace(/<[^>]+>/g, '');
  return clip(type && !text.startsWith(type) ? `${type}: ${text}` : text);
}

function frappeExcType(body: unknown): string {
  return body && typeof body === 'object' && typeof (body as { exc_type?: unknown }).exc_type === 'string' ? (body as { exc_type: string }).exc_type : '';
}

export class ErpnextSink implements TicketSink {
  readonly name: string;
  private readonly cfg: ErpnextSinkConfig;
  private readonly base: string;

  constructor(
    config: ErpnextSinkConfigInput,
    private readonly log: Logger,
  ) {
    this.cfg = erpnextSinkConfigSchema.parse(config);
    this.name = this.cfg.name;
    this.base = this.cfg.url.replace(/\/+$/, '');
  }

  private headers(): Record<string, string> {
    return { Authorization: `token ${this.cfg.apiKey}:${this.cfg.apiSecret}`, 'Content-Type': 'application/json', Accept: 'application/json' };
  }

  private async call(method: string, path: string, body?: unknown): Promise<HttpResult> {
    return httpRequest(
      `${this.base}${path}`,
      { method, headers: this.headers(), body: body === undefined ? undefined : JSON.stringify(body) },
      { timeoutMs: this.cfg.timeoutMs, log: this.log },
    );
  }

  private resourcePath(name?: string): string {
    return `/api/resource/${encodeURIComponent(this.cfg.doctype)}${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
  }

  /** Our SLA figures as ERPNext Issue fields; `clear` sends nulls too (a paused SLA clears its deadlines). */
  private slaDoc(sla: TicketSla, clear = false): Record<string, unknown> {
    const f = this.cfg.slaFields;
    const doc: Record<string, unknown> = {};
    const put = (field: string | null, value: unknown) => {
      if (field && (clear || (value !== null && value !== undefined))) doc[field] = value ?? null;
    };
    put(f.serviceLevelAgreement, sla.serviceLevelAgreement);
    put(f.responseBy, sla.responseBy === null ? null : frappeDatetime(sla.responseBy, this.cfg.timeZone));
    put(f.resolutionBy, sla.resolutionBy === null ? null : frappeDatetime(sla.resolutionBy, this.cfg.timeZone));
    put(f.agreementStatus, sla.agreementStatus);
    return doc;
  }

  async create(op: Extract<SinkOperation, { kind: 'create' }>): Promise<ExternalTicket> {
    const t = op.ticket;
    const doc: Record<string, unknown> = {
      subject: t.subject,
      description: t.description,
      status: 'Open',
      priority: t.priority,
      issue_type: t.issueType,
      customer: t.customer,
      [this.cfg.keyField]: op.ref,
    };
    const f = this.cfg.fields;
    const extra: [string | null, unknown][] = [
      [f.site, t.site],
      [f.device, t.device],
      [f.peripheral, t.peripheral],
      [f.serial, t.serial],
      [f.warrantyStatus, t.warrantyStatus],
    ];
    for (const [field, value] of extra) if (field && value !== null && value !== undefined) doc[field] = value;
    Object.assign(doc, this.slaDoc(t.sla));
    const path = this.resourcePath();
    const r = await this.call('POST', path, doc);
    if (isOk(r.status)) {
      const name = (r.json as { data?: { name?: unknown } } | undefined)?.data?.name;
      if (typeof name !== 'string') throw new SinkError('unknown', `POST ${path}: HTTP ${r.status} without data.name`);
      return { externalId: name, status: 'Open' };
    }
    const exc = frappeExcType(r.json);
    if ((r.status === 417 || r.status === 409) && (exc === 'UniqueValidationError' || exc === 'DuplicateEntryError')) {
      // Already there (an earlier attempt whose answer we lost, or created by hand): adopt it.
      const found = await this.find(op.ref);
      if (found) {
        this.log.info({ ref: op.ref, externalId: found.externalId }, 'Issue already exists: adopted');
        return found;
      }
      throw new SinkError('retry', `POST ${path}: ${exc} but no Issue with ${this.cfg.keyField} = ${op.ref} found`, r.status);
    }
    throw httpFailure('POST', path, r, frappeErrorMessage(r.json));
  }

  async update(externalId: string, op: Extract<SinkOperation, { kind: 'update' }>): Promise<void> {
    // Idempotent field/status change first, the (non-idempotent) comment last: a retry after a
    // failed comment repeats only a harmless PUT.
    const changes: Record<string, unknown> = {};
    if (op.patch.priority) changes.priority = op.patch.priority;
    if (op.patch.subject) changes.subject = op.patch.subject;
    if (op.patch.warrantyStatus !== undefined && this.cfg.fields.warrantyStatus) changes[this.cfg.fields.warrantyStatus] = op.patch.warrantyStatus;
    if (op.patch.sla) Object.assign(changes, this.slaDoc(op.patch.sla, true));
    if (op.status) changes.status = op.status;
    if (op.status === 'Closed' || op.status === 'Resolved') {
      if (op.resolution) changes.resolution_details = op.resolution;
    }
    if (Object.keys(changes).length) {
      const path = this.resourcePath(externalId);
      const r = await this.call('PUT', path, changes);
      if (!isOk(r.status)) throw httpFailure('PUT', path, r, frappeErrorMessage(r.json));
    }
    if (op.patch.assignment !== undefined) await this.assign(externalId, op.patch.assignment);
    if (op.comment) {
      const path = '/api/resource/Comment';
      const r = await this.call('POST', path, {
        comment_type: 'Comment',
        reference_doctype: this.cfg.doctype,
        reference_name: externalId,
        content: `${op.comment}\n[fleetcare ${op.ref} v${op.version}]`,
      });
      if (!isOk(r.status)) throw httpFailure('POST', path, r, frappeErrorMessage(r.json));
    }
  }

  /**
   * The Issue's assignee (`_assign`) follows our technician: Frappe's assign_to.remove for the
   * others, assign_to.add for ours (frappe/desk/form/assign_to.py). Idempotent: read `_assign` first.
   */
  private async assign(name: string, a: TicketAssignment | null): Promise<void> {
    const target = a?.technician ? (this.cfg.assignees[a.technician] ?? a.technicianEmail ?? a.technician) : null;
    const docPath = this.resourcePath(name);
    const r = await this.call('GET', docPath);
    if (!isOk(r.status)) throw httpFailure('GET', docPath, r, frappeErrorMessage(r.json));
    const raw = (r.json as { data?: { _assign?: unknown } } | undefined)?.data?._assign;
    let current: string[] = [];
    try {
      current = typeof raw === 'string' && raw ? (JSON.parse(raw) as string[]) : [];
    } catch {
      current = [];
    }
    for (const user of current.filter((u) => u !== target)) {
      const path = '/api/method/frappe.desk.form.assign_to.remove';
      const x = await this.call('POST', path, { doctype: this.cfg.doctype, name, assign_to: user });
      if (!isOk(x.status)) throw httpFailure('POST', path, x, frappeErrorMessage(x.json));
    }
    if (target && !current.includes(target)) {
      const path = '/api/method/frappe.desk.form.assign_to.add';
      const x = await this.call('POST', path, { doctype: this.cfg.doctype, name, assign_to: [target], description: a?.reason ?? '' });
      if (!isOk(x.status)) throw httpFailure('POST', path, x, frappeErrorMessage(x.json));
    }
  }

  async find(ref: string): Promise<ExternalTicket | null> {
    const filters = JSON.stringify([[this.cfg.keyField, '=', ref]]);
    const fields = JSON.stringify(['name', 'status']);
    const path = `${this.resourcePath()}?filters=${encodeURIComponent(filters)}&fields=${encodeURIComponent(fields)}&limit_page_length=2`;
    const r = await this.call('GET', path);
    if (!isOk(r.status)) throw httpFailure('GET', this.resourcePath(), r, frappeErrorMessage(r.json));
    const data = (r.json as { data?: unknown } | undefined)?.data;
    if (!Array.isArray(data)) throw new SinkError('retry', `GET ${this.resourcePath()}: no data list in the answer`);
    const first = data[0] as { name?: unknown; status?: unknown } | undefined;
    if (!first || typeof first.name !== 'string') return null;
    return { externalId: first.name, status: typeof first.status === 'string' ? first.status : undefined };
  }
}

/** `YYYY-MM-DD HH:mm:ss` in `timeZone` (Frappe's naive datetime format). */
export function frappeDatetime(ms: number, timeZone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    })
      .formatToParts(new Date(ms))
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}`;
}
