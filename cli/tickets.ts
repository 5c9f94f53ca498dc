// `fleetcare tickets …` and `fleetcare warranty …`: operator commands on the server's data dir
// (they work while the server runs: SQLite WAL, and the ticket senders pick up outbox rows
// written by another process). A ticket change goes through the same outbox as the incident
// service's, so the built-in store and every configured sink (ERPNext, Zammad, webhooks) get it.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { incidentFiles } from '../collector/incidents/service.js';
import { incidentsConfigSchema } from '../collector/incidents/config.js';
import { operatorActionSchema, operatorTicketAction, TicketActionError, type SlaContext } from '../collector/tickets/actions.js';
import { TicketOutbox, ticketStatusSchema, type Ticket } from '../collector/tickets/index.js';
import { WarrantyRegistry, formatImportError } from '../collector/warranty/index.js';
import { formatZodError } from '../protocol/index.js';
import { ConfigError, UsageError } from './errors.js';
import { printList, type Column } from './table.js';
import { loadServerConfig, type ServerConfig } from './server-config.js';

type Flags = Record<string, string | boolean | undefined>;

const str = (flags: Flags, name: string): string | undefined => (typeof flags[name] === 'string' ? (flags[name] as string) : undefined);

/** The collector's data dir and the names of the configured ticket sinks (from --config, if any). */
export function serverContext(flags: Flags): { dataDir: string; sinks: string[]; slaContext: SlaContext; state: ServerConfig['state'] } {
  const server = loadServerConfig(flags);
  const r = incidentsConfigSchema.safeParse(server.collector.incidents ?? {});
  if (!r.success) throw new ConfigError(`collector.incidents.${formatZodError(r.error)}`);
  const t = r.data.tickets;
  const sinks = [...(t.erpnext ? [t.erpnext.name] : []), ...(t.zammad ? [t.zammad.name] : []), ...t.webhooks.map((w) => w.name)];
  return { dataDir: join(server.dataDir, 'collector'), sinks, slaContext: r.data, state: server.state };
}

const where = (t: Ticket): string => [t.site, t.peripheral ? `${t.device}/${t.peripheral}` : t.device].filter(Boolean).join(' ');

const ticketColumns: Column<Ticket>[] = [
  { head: 'REF', value: (t) => t.ref },
  { head: 'STATUS', value: (t) => t.status },
  { head: 'PRIORITY', value: (t) => t.priority },
  { head: 'TYPE', value: (t) => t.issueType },
  { head: 'CUSTOMER', value: (t) => t.customer },
  { head: 'WHERE', value: where },
  { head: 'SUBJECT', value: (t) => t.subject },
];

/** One ticket after an action: tab-separated, one line (scripts cut it). */
function line(t: Ticket): string {
  return [t.ref, t.status, t.priority, t.issueType, t.customer, where(t), t.subject].join('\t');
}

export async function ticketsCommand(positionals: string[], flags: Flags): Promise<void> {
  const [action, ref, ...rest] = positionals;
  const { dataDir, sinks, slaContext } = serverContext(flags);
  const path = incidentFiles(dataDir).incidents;
  if (!existsSync(path)) throw new ConfigError(`${path}: no ticket database yet (has the server run with this data dir?)`);
  const db = new Database(path, { timeout: 10_000 });
  try {
    const outbox = new TicketOutbox(db, { sinks });
    const store = outbox.store;
    if (action === 'list') {
      const status = str(flags, 'status');
      if (status !== undefined && !ticketStatusSchema.safeParse(status).success)
        throw new UsageError(`--status: one of ${ticketStatusSchema.options.join(', ')}`);
      const tickets = store.list({
        ...(status ? { status: status as Ticket['status'] } : {}),
        ...(flags.open ? { open: true } : {}),
        ...(str(flags, 'customer') ? { customer: str(flags, 'customer') } : {}),
        ...(str(flags, 'site') ? { site: str(flags, 'site') } : {}),
        ...(str(flags, 'device') ? { device: str(flags, 'device') } : {}),
      });
      printList(tickets, ticketColumns, { json: !!flags.json, empty: 'no tickets' });
      return;
    }
    const act = operatorActionSchema.safeParse(action);
    if (!act.success) throw new UsageError(`tickets: unknown action "${action ?? ''}" (list, ${operatorActionSchema.options.join(', ')})`);
    if (!ref) throw new UsageError(`tickets ${act.data} needs a ticket REF (see tickets list)`);
    const text = str(flags, 'comment') ?? (rest.length ? rest.join(' ') : undefined);
    if (act.data === 'comment' && !text) throw new UsageError('tickets comment needs the TEXT');
    let r;
    try {
      r = operatorTicketAction(outbox, ref, act.data, text, Date.now(), slaContext);
    } catch (e) {
      if (e instanceof TicketActionError) throw new ConfigError(e.message);
      throw e;
    }
    process.stdout.write(line(r.ticket) + '\n');
  } finally {
    db.close();
  }
}

export async function warrantyCommand(positionals: string[], flags: Flags): Promise<void> {
  const [action, file] = positionals;
  const { dataDir } = serverContext(flags);
  mkdirSync(dataDir, { recursive: true });
  const registry = new WarrantyRegistry(incidentFiles(dataDir).warranty);
  try {
    if (action === 'import') {
      if (!file) throw new UsageError('warranty import needs a FILE (.csv or .json)');
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        throw new ConfigError(`${file}: cannot read: ${(e as Error).message}`);
      }
      const format = str(flags, 'format') ?? (file.toLowerCase().endsWith('.json') ? 'json' : 'csv');
      if (format !== 'csv' && format !== 'json') throw new UsageError('--format: csv or json');
      const r = registry.import(text, format, { atomic: !!flags.atomic });
      for (const e of r.errors) process.stderr.write(`${file}: ${formatImportError(e)}\n`);
      process.stdout.write(`imported ${r.imported} serial(s)${r.errors.length ? `, ${r.errors.length} row(s) refused` : ''}\n`);
      if (r.errors.length) process.exitCode = 1;
      return;
    }
    if (action === 'list') {
      const today = new Date().toISOString().slice(0, 10);
      const customer = str(flags, 'customer');
      const rows = registry.list(customer ? { customer } : {}).map((r) => ({ ...r, status: registry.statusOf(r.serial_no, today) }));
      printList(
        rows,
        [
          { head: 'SERIAL', value: (r) => r.serial_no },
          { head: 'ITEM', value: (r) => r.item_code },
          { head: 'KIND', value: (r) => r.kind },
          { head: 'CUSTOMER', value: (r) => r.customer },
          { head: 'DEVICE', value: (r) => r.device_id },
          { head: 'WARRANTY UNTIL', value: (r) => r.warranty_expiry_date },
          { head: 'AMC UNTIL', value: (r) => r.amc_expiry_date },
          { head: 'STATUS', value: (r) => r.status },
        ],
        { json: !!flags.json, empty: 'no warranty records' },
      );
      return;
    }
    throw new UsageError(`warranty: unknown action "${action ?? ''}" (import FILE, list)`);
  } finally {
    registry.close();
  }
}
