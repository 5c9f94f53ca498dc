// Fake ticket systems on 127.0.0.1 (real HTTP servers on free ports) that follow the documented
// APIs including their error bodies: Frappe/ERPNext (/api/resource, 417 + exc_type +
// _server_messages, 401/403/404; Issue Select/Link/datetime checks, v15 SLA field names),
// Zammad (/api/v1, {error, error_human} with 401/422), and a webhook receiver. Scriptable
// faults: answer a status (429 with Retry-After, 500, 403…), drop the connection before or after
// applying a request, or apply it and never answer.
import http from 'node:http';
import type { Socket } from 'node:net';

export type FakeRequest = { method: string; path: string; query: URLSearchParams; headers: http.IncomingHttpHeaders; raw: string; body: any };
export type FakeResponse = { status: number; body?: unknown; headers?: Record<string, string> };

export type FaultAction =
  | { kind: 'respond'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'drop-before' } // connection reset, request not applied
  | { kind: 'drop-after' } // request applied, then connection reset (unknown outcome)
  | { kind: 'hang-after' } // request applied, no answer ever (client times out)
  | { kind: 'delay-before'; ms: number }; // a slow server: applied and answered only after `ms`

type Fault = { match: (r: FakeRequest) => boolean; action: FaultAction; times: number };

export abstract class FakeHttpServer {
  readonly requests: FakeRequest[] = [];
  /** Requests received and held back by a `delay-before` fault, not applied yet. */
  delayed = 0;
  private readonly faults: Fault[] = [];
  private readonly sockets = new Set<Socket>();
  private server!: http.Server;
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  protected abstract handle(r: FakeRequest): FakeResponse;

  /** The next `times` requests matching `match` get `action` instead of normal handling. */
  fault(match: (r: FakeRequest) => boolean, action: FaultAction, times = 1): void {
    this.faults.push({ match, action, times });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  count(method: string, pathPrefix: string): number {
    return this.requests.filter((r) => r.method === method && r.path.startsWith(pathPrefix)).length;
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString();
        const u = new URL(req.url ?? '/', 'http://x');
        let body: any;
        try {
          body = raw ? JSON.parse(raw) : undefined;
        } catch {
          body = undefined;
        }
        const r: FakeRequest = { method: req.method ?? 'GET', path: decodeURIComponent(u.pathname), query: u.searchParams, headers: req.headers, raw, body };
        this.requests.push(r);
        const i = this.faults.findIndex((f) => f.match(r));
        const fault = i >= 0 ? this.faults[i] : undefined;
        if (fault && --fault.times <= 0) this.faults.splice(i, 1);
        const action = fault?.action;
        if (action?.kind === 'respond') return send(res, { status: action.status, body: action.body, headers: action.headers });
        if (action?.kind === 'drop-before') return void req.socket.destroy();
        const apply = () => {
          let out: FakeResponse;
          try {
            out = this.handle(r);
          } catch (e) {
            out = { status: 500, body: { error: String(e) } };
          }
          if (action?.kind === 'drop-after') return void req.socket.destroy();
          if (action?.kind === 'hang-after') return; // never answer
          send(res, out);
        };
        if (action?.kind !== 'delay-before') return apply();
        // Applied even when the client gave up meanwhile, as a slow server does.
        this.delayed++;
        setTimeout(() => {
          this.delayed--;
          apply();
        }, action.ms);
      });
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function send(res: http.ServerResponse, out: FakeResponse): void {
  const text = out.body === undefined ? '' : JSON.stringify(out.body);
  res.writeHead(out.status, { 'Content-Type': 'application/json', ...(out.headers ?? {}) });
  res.end(text);
}

// ---------------- Frappe / ERPNext ----------------

/** A Frappe error body: exc_type, exception, _server_messages (a JSON string of JSON strings). */
export function frappeError(status: number, excType: string, message: string): FakeResponse {
  return {
    status,
    body: {
      exc_type: excType,
      exception: `frappe.exceptions.${excType}: ${message}`,
      exc: '["Traceback (most recent call last): ..."]',
      _server_messages: JSON.stringify([JSON.stringify({ message, title: 'Message', indicator: 'red', raise_exception: 1, __frappe_exc_id: 'abc123' })]),
    },
  };
}

export type FrappeIssue = Record<string, unknown> & { name: string; subject: string; status: string };

/** ERPNext v15 Issue SLA fields (v14's `resolution_by` became `sla_resolution_by`). */
const issueDatetimeFields = ['response_by', 'sla_resolution_by', 'first_responded_on', 'on_hold_since'];
const agreementStatuses = ['First Response Due', 'Resolution Due', 'Fulfilled', 'Failed'];
/** Fields an ERPNext v15 Issue does not have: Frappe ignores them (they are not saved). */
const notIssueFields = ['resolution_by', 'resolution_date'];
/** Frappe's naive datetime (in the System Settings time zone), as the REST API takes and gives it. */
const frappeDatetimeRe = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?$/;
export type FrappeComment = { name: string; comment_type: string; reference_doctype: string; reference_name: string; content: string };

const issueStatuses = ['Open', 'Replied', 'On Hold', 'Resolved', 'Closed'];

export class FakeFrappe extends FakeHttpServer {
  readonly issues = new Map<string, FrappeIssue>();
  readonly comments: FrappeComment[] = [];
  private seq = 0;
  /** Answer 403 PermissionError to every write (a user without the Support role). */
  forbidWrites = false;
  /** Service Level Agreement documents (`service_level_agreement` is a Link to one of them). */
  readonly serviceLevelAgreements = new Set<string>(['Gold 24x7']);

  constructor(
    readonly apiKey = 'k3y',
    readonly apiSecret = 's3cr3t-frappe',
    readonly keyField = 'custom_fleetcare_key',
  ) {
    super();
  }

  protected handle(r: FakeRequest): FakeResponse {
    if (r.headers.authorization !== `token ${this.apiKey}:${this.apiSecret}`) return frappeError(401, 'AuthenticationError', 'Invalid login credentials');
    if (this.forbidWrites && r.method !== 'GET') return frappeError(403, 'PermissionError', `No permission for Issue`);
    if (r.method === 'POST' && r.path === '/api/method/frappe.desk.form.assign_to.add') return this.assignAdd(r.body);
    if (r.method === 'POST' && r.path === '/api/method/frappe.desk.form.assign_to.remove') return this.assignRemove(r.body);
    const m = /^\/api\/resource\/([^/]+)(?:\/(.+))?$/.exec(r.path);
    if (!m) return { status: 404, body: { exc_type: 'DoesNotExistError', message: 'Not found' } };
    const [, doctype, name] = m;
    if (doctype === 'Issue' && r.method === 'POST' && !name) return this.insertIssue(r.body);
    if (doctype === 'Issue' && r.method === 'GET' && !name) return this.listIssues(r.query);
    if (doctype === 'Issue' && r.method === 'GET' && name) {
      const issue = this.issues.get(name);
      return issue ? { status: 200, body: { data: issue } } : frappeError(404, 'DoesNotExistError', `Issue ${name} not found`);
    }
    if (doctype === 'Issue' && r.method === 'PUT' && name) return this.updateIssue(name, r.body);
    if (doctype === 'Comment' && r.method === 'POST' && !name) return this.insertComment(r.body);
    return frappeError(404, 'DoesNotExistError', `${doctype} ${name ?? ''} not found`);
  }

  /** Frappe's checks of Issue fields: Select options, Link targets, datetime values. Null clears a field. */
  private validateIssueFields(doc: any): FakeResponse | null {
    if (doc.status && !issueStatuses.includes(doc.status)) return frappeError(417, 'ValidationError', `Status cannot be "${doc.status}"`);
    if (doc.agreement_status != null && !agreementStatuses.includes(doc.agreement_status)) {
      return frappeError(
        417,
        'ValidationError',
        `Agreement Status cannot be "${doc.agreement_status}". It should be one of ${agreementStatuses.map((a) => `"${a}"`).join(', ')}`,
      );
    }
    if (doc.service_level_agreement != null && !this.serviceLevelAgreements.has(doc.service_level_agreement)) {
      return frappeError(417, 'LinkValidationError', `Could not find Service Level Agreement: ${doc.service_level_agreement}`);
    }
    for (const f of issueDatetimeFields) {
      if (doc[f] != null && (typeof doc[f] !== 'string' || !frappeDatetimeRe.test(doc[f])))
        return frappeError(417, 'ValidationError', `${f}: ${JSON.stringify(doc[f])} is not a valid datetime (YYYY-MM-DD HH:mm:ss)`);
    }
    return null;
  }

  private insertIssue(doc: any): FakeResponse {
    if (!doc || typeof doc.subject !== 'string' || !doc.subject) return frappeError(417, 'MandatoryError', '[Issue, new-issue-1]: subject');
    const invalid = this.validateIssueFields(doc);
    if (invalid) return invalid;
    doc = Object.fromEntries(Object.entries(doc).filter(([k]) => !notIssueFields.includes(k)));
    const key = doc[this.keyField];
    if (key !== undefined && [...this.issues.values()].some((i) => i[this.keyField] === key)) {
      return frappeError(417, 'UniqueValidationError', `Fleetcare Key ${key} already exists. Select another value`);
    }
    const name = `ISS-2026-${String(++this.seq).padStart(5, '0')}`;
    const issue: FrappeIssue = { ...doc, name, doctype: 'Issue', status: doc.status ?? 'Open', opening_date: '2026-01-01' };
    this.issues.set(name, issue);
    return { status: 200, body: { data: issue } };
  }

  private listIssues(q: URLSearchParams): FakeResponse {
    let filters: [string, string, unknown][] = [];
    try {
      filters = JSON.parse(q.get('filters') ?? '[]');
    } catch {
      return frappeError(417, 'ValidationError', 'filters is not valid JSON');
    }
    const fields: string[] = JSON.parse(q.get('fields') ?? '["name"]');
    const rows = [...this.issues.values()].filter((i) =>
      filters.every(([f, op, v]) => {
        if (op !== '=') throw new Error(`fake supports "=" only, got ${op}`);
        return i[f] === v;
      }),
    );
    return { status: 200, body: { data: rows.map((i) => Object.fromEntries(fields.map((f) => [f, i[f]]))) } };
  }

  private updateIssue(name: string, changes: any): FakeResponse {
    const issue = this.issues.get(name);
    if (!issue) return frappeError(404, 'DoesNotExistError', `Issue ${name} not found`);
    const invalid = this.validateIssueFields(changes ?? {});
    if (invalid) return invalid;
    Object.assign(issue, Object.fromEntries(Object.entries(changes ?? {}).filter(([k]) => !notIssueFields.includes(k))));
    return { status: 200, body: { data: issue } };
  }

  /** Frappe users that exist (assign_to.add refuses others: ToDo.allocated_to is a Link to User). */
  readonly users = new Set<string>(['Administrator', 'lina@acme-service.example', 'omar@acme-service.example']);
  /** Open ToDos per Issue (what `_assign` mirrors), in assignment order. */
  readonly assignments = new Map<string, string[]>();

  /** frappe.desk.form.assign_to.add: a ToDo per user not yet assigned; `_assign` is the JSON list; answers {message: get(args)}. */
  private assignAdd(b: any): FakeResponse {
    let users: unknown;
    try {
      users = typeof b?.assign_to === 'string' ? JSON.parse(b.assign_to) : b?.assign_to;
    } catch {
      return frappeError(417, 'ValidationError', 'assign_to is not valid JSON');
    }
    if (!b?.doctype || !b?.name || !Array.isArray(users)) return frappeError(417, 'MandatoryError', 'doctype, name and assign_to are required');
    const issue = b.doctype === 'Issue' ? this.issues.get(b.name) : undefined;
    if (!issue) return frappeError(404, 'DoesNotExistError', `${b.doctype} ${b.name} not found`);
    for (const u of users) if (!this.users.has(String(u))) return frappeError(417, 'LinkValidationError', `Could not find Allocated To: ${String(u)}`);
    const list = this.assignments.get(b.name) ?? [];
    // Already assigned users are skipped with a message, not an error.
    for (const u of users as string[]) if (!list.includes(u)) list.push(u);
    this.assignments.set(b.name, list);
    issue._assign = JSON.stringify(list);
    return { status: 200, body: { message: list.map((owner) => ({ owner, name: `todo-${b.name}-${owner}` })) } };
  }

  /** frappe.desk.form.assign_to.remove: cancels the user's ToDo; `_assign` drops them. */
  private assignRemove(b: any): FakeResponse {
    if (!b?.doctype || !b?.name || typeof b?.assign_to !== 'string') return frappeError(417, 'MandatoryError', 'doctype, name and assign_to are required');
    const issue = b.doctype === 'Issue' ? this.issues.get(b.name) : undefined;
    if (!issue) return frappeError(404, 'DoesNotExistError', `${b.doctype} ${b.name} not found`);
    const list = (this.assignments.get(b.name) ?? []).filter((u) => u !== b.assign_to);
    this.assignments.set(b.name, list);
    issue._assign = JSON.stringify(list);
    return { status: 200, body: { message: list.map((owner) => ({ owner, name: `todo-${b.name}-${owner}` })) } };
  }

  private insertComment(doc: any): FakeResponse {
    if (!doc?.reference_doctype || !doc?.reference_name) return frappeError(417, 'MandatoryError', '[Comment]: reference_doctype, reference_name');
    if (doc.reference_doctype === 'Issue' && !this.issues.has(doc.reference_name)) {
      return frappeError(417, 'LinkValidationError', `Could not find Reference Name: ${doc.reference_name}`);
    }
    const c: FrappeComment = {
      name: `c${this.comments.length + 1}`,
      comment_type: doc.comment_type,
      reference_doctype: doc.reference_doctype,
      reference_name: doc.reference_name,
      content: doc.content,
    };
    this.comments.push(c);
    return { status: 200, body: { data: c } };
  }
}

// ---------------- Zammad ----------------

export type ZammadTicket = Record<string, unknown> & {
  id: number;
  number: string;
  title: string;
  state: string;
  priority: string;
  group: string;
  customer: string;
};
export type ZammadArticle = { id: number; ticket_id: number; subject?: string; body: string; type: string; internal: boolean };

const zammadStates: Record<string, number> = { new: 1, open: 2, 'pending reminder': 3, closed: 4, merged: 5, 'pending close': 7 };
const zammadPriorities: Record<string, number> = { '1 low': 1, '2 normal': 2, '3 high': 3 };

export function zammadError(status: number, error: string): FakeResponse {
  return { status, body: { error, error_human: error } };
}

export class FakeZammad extends FakeHttpServer {
  readonly tickets = new Map<number, ZammadTicket>();
  readonly articles: ZammadArticle[] = [];
  readonly groups = new Set(['Users', 'Support']);
  readonly customers = new Set(['ops@acme.example', 'it@globex.example']);
  /** Users by id; 1 is Zammad's "-" (nobody), the others agents. */
  readonly agents = new Map<number, string>([
    [1, '-'],
    [3, 'lina'],
    [4, 'omar'],
  ]);
  private seq = 0;

  constructor(readonly token = 'z-t0ken-secret') {
    super();
  }

  protected handle(r: FakeRequest): FakeResponse {
    if (r.headers.authorization !== `Token token=${this.token}`)
      return { status: 401, body: { error: 'authentication failed', error_human: 'Authentication failed' } };
    if (r.method === 'POST' && r.path === '/api/v1/tickets') return this.createTicket(r.body);
    if (r.method === 'GET' && r.path === '/api/v1/tickets/search') return this.search(r.query);
    const m = /^\/api\/v1\/tickets\/(\d+)$/.exec(r.path);
    if (m && r.method === 'PUT') return this.updateTicket(Number(m[1]), r.body);
    if (m && r.method === 'GET') {
      const t = this.tickets.get(Number(m[1]));
      return t ? { status: 200, body: t } : zammadError(404, `Couldn't find Ticket with 'id'=${m[1]}`);
    }
    if (r.method === 'POST' && r.path === '/api/v1/ticket_articles') return this.createArticle(r.body);
    return zammadError(404, 'No route matches');
  }

  private createTicket(b: any): FakeResponse {
    if (!b?.title) return zammadError(422, 'Title is required');
    if (!this.groups.has(b.group)) return zammadError(422, `No lookup value found for 'group': ${JSON.stringify(b.group)}`);
    if (!this.customers.has(b.customer)) return zammadError(422, `No lookup value found for 'customer': ${JSON.stringify(b.customer)}`);
    const state = b.state ?? 'new';
    if (!(state in zammadStates)) return zammadError(422, `No lookup value found for 'state': ${JSON.stringify(state)}`);
    const priority = b.priority ?? '2 normal';
    if (!(priority in zammadPriorities)) return zammadError(422, `No lookup value found for 'priority': ${JSON.stringify(priority)}`);
    if (!b.article?.body) return zammadError(422, 'Need at least an article body');
    const id = ++this.seq;
    const { article, ...rest } = b;
    const t: ZammadTicket = {
      ...rest,
      id,
      number: String(31000 + id),
      state,
      state_id: zammadStates[state],
      priority,
      priority_id: zammadPriorities[priority],
      group: b.group,
      customer: b.customer,
      title: b.title,
    };
    this.tickets.set(id, t);
    this.articles.push({
      id: this.articles.length + 1,
      ticket_id: id,
      subject: article.subject,
      body: article.body,
      type: article.type ?? 'note',
      internal: !!article.internal,
    });
    return { status: 201, body: t };
  }

  private updateTicket(id: number, b: any): FakeResponse {
    const t = this.tickets.get(id);
    if (!t) return zammadError(404, `Couldn't find Ticket with 'id'=${id}`);
    if (b.state !== undefined && !(b.state in zammadStates)) return zammadError(422, `No lookup value found for 'state': ${JSON.stringify(b.state)}`);
    if (b.state?.startsWith('pending') && !b.pending_time) return zammadError(422, 'Missing required value for field "pending_time"!');
    if (b.priority !== undefined && !(b.priority in zammadPriorities))
      return zammadError(422, `No lookup value found for 'priority': ${JSON.stringify(b.priority)}`);
    if (b.group !== undefined && !this.groups.has(b.group)) return zammadError(422, `No lookup value found for 'group': ${JSON.stringify(b.group)}`);
    if (b.owner_id !== undefined && !this.agents.has(Number(b.owner_id)))
      return zammadError(422, `No lookup value found for 'owner_id': ${JSON.stringify(b.owner_id)}`);
    Object.assign(t, b);
    if (b.state) t.state_id = zammadStates[b.state];
    return { status: 200, body: t };
  }

  private createArticle(b: any): FakeResponse {
    if (!this.tickets.has(Number(b?.ticket_id))) return zammadError(422, `No lookup value found for 'ticket_id'`);
    const a: ZammadArticle = {
      id: this.articles.length + 1,
      ticket_id: Number(b.ticket_id),
      subject: b.subject,
      body: b.body,
      type: b.type,
      internal: !!b.internal,
    };
    this.articles.push(a);
    return { status: 201, body: a };
  }

  /** A tiny subset of Zammad's query syntax: `field:"value"` (substring match) or bare words. */
  private search(q: URLSearchParams): FakeResponse {
    const query = q.get('query') ?? '';
    const m = /^(\w+):"(.*)"$/.exec(query);
    const hits = [...this.tickets.values()].filter((t) => (m ? String(t[m[1]] ?? '').includes(m[2]) : t.title.includes(query)));
    if (q.get('expand') === 'true') return { status: 200, body: hits };
    return { status: 200, body: { tickets: hits.map((t) => t.id), tickets_count: hits.length, assets: {} } };
  }
}

// ---------------- webhook receiver ----------------

export class FakeWebhookReceiver extends FakeHttpServer {
  /** Accepted deliveries (first time per idempotency key). */
  readonly accepted: FakeRequest[] = [];
  readonly seenKeys = new Set<string>();

  protected handle(r: FakeRequest): FakeResponse {
    const key = String(r.headers['idempotency-key'] ?? '');
    if (!this.seenKeys.has(key)) {
      this.seenKeys.add(key);
      this.accepted.push(r);
    }
    return { status: 204 };
  }
}

// ---------------- SMS gateway (docs/notify.md) ----------------
// POST {url} with `Authorization: Bearer <token>` and JSON {to, text, ref, event, language}:
// 200 {id} when queued; 400 {error} for a number that is not E.164 or an empty text; 401 for a wrong
// token; 429 with Retry-After when over its rate; an `Idempotency-Key` seen before is answered
// 200 with the first id and not sent again.

export class FakeSmsGateway extends FakeHttpServer {
  /** Messages the gateway really sent (once per idempotency key). */
  readonly sent: { to: string; text: string; ref: string; event: string; language: string; key: string }[] = [];
  private readonly ids = new Map<string, string>();

  constructor(readonly token = 'sms-token-0123456789') {
    super();
  }

  protected handle(r: FakeRequest): FakeResponse {
    if (r.method !== 'POST') return { status: 405, body: { error: 'method not allowed' } };
    if (r.headers.authorization !== `Bearer ${this.token}`) return { status: 401, body: { error: 'invalid token' } };
    const b = r.body as { to?: unknown; text?: unknown; ref?: unknown; event?: unknown; language?: unknown } | undefined;
    if (typeof b?.to !== 'string' || !/^\+[1-9]\d{6,14}$/.test(b.to)) return { status: 400, body: { error: `invalid number: ${String(b?.to)}` } };
    if (typeof b.text !== 'string' || !b.text.trim()) return { status: 400, body: { error: 'empty text' } };
    const key = String(r.headers['idempotency-key'] ?? '');
    const seen = key && this.ids.get(key);
    if (seen) return { status: 200, body: { id: seen, duplicate: true } };
    const id = `sms-${this.sent.length + 1}`;
    if (key) this.ids.set(key, id);
    this.sent.push({ to: b.to, text: b.text, ref: String(b.ref), event: String(b.event), language: String(b.language), key });
    return { status: 200, body: { id } };
  }
}
