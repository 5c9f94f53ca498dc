// `fleetcare team …`, `fleetcare technician …` and `fleetcare dispatch …`: teams, technicians,
// assignment by hand and the team performance report, on the server's data dir (they work while
// the server runs: SQLite WAL; a ticket change goes through the same outbox as the server's, so
// every configured sink gets it). The same Dispatcher as the NOC (dispatch/service.ts).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pino from 'pino';
import { incidentFiles } from '../collector/incidents/service.js';
import { incidentsConfigSchema } from '../collector/incidents/config.js';
import { TicketOutbox } from '../collector/tickets/index.js';
import type { DeviceState } from '../collector/fleet.js';
import { teamSchema, technicianSchema, type DispatchConfig } from '../dispatch/model.js';
import { PERFORMANCE_CSV_HEAD, performanceCsvRow } from '../dispatch/report.js';
import { Dispatcher, DispatchError, type UnitFacts } from '../dispatch/service.js';
import { defaultFirmwareProfilesDir, loadFirmwareProfiles } from '../firmware-profiles/index.js';
import { formatZodError } from '../protocol/index.js';
import { DispatchStateError } from '../state/dispatch.js';
import { SqliteDispatchState } from '../state/sqlite/dispatch.js';
import { SqliteTicketState } from '../state/sqlite/tickets.js';
import { toCsv } from '../noc/reports.js';
import { ConfigError, UsageError } from './errors.js';
import { loadServerConfig } from './server-config.js';
import { printList } from './table.js';

type Flags = Record<string, string | boolean | undefined>;
const str = (flags: Flags, name: string): string | undefined => (typeof flags[name] === 'string' ? (flags[name] as string) : undefined);
const list = (s: string | undefined) =>
  s
    ? s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)
    : [];

/** Kind and profile of a unit from the collector's saved fleet state (collector.db). */
function unitsFromSavedFleet(collectorDir: string): (device: string, peripheral: string | null) => UnitFacts {
  const devices = new Map<string, DeviceState>();
  const path = join(collectorDir, 'collector.db');
  if (existsSync(path)) {
    const db = new Database(path, { readonly: true, timeout: 10_000 });
    try {
      for (const r of db.prepare('SELECT device, state FROM devices').all() as Array<{ device: string; state: string }>) {
        try {
          devices.set(r.device, JSON.parse(r.state) as DeviceState);
        } catch {
          // an unreadable row: that device's kind is unknown (every team's skills match it)
        }
      }
    } catch {
      // no devices table yet
    } finally {
      db.close();
    }
  }
  return (device, peripheral) => {
    const d = devices.get(device);
    if (!d) return { kind: null, profile: null };
    if (peripheral === null) return { kind: 'host', profile: null };
    const p = d.peripherals.find((x) => x.id === peripheral);
    return { kind: p?.kind ?? null, profile: p?.profile ?? null };
  };
}

async function withDispatcher<T>(flags: Flags, f: (d: Dispatcher) => Promise<T>): Promise<T> {
  const server = loadServerConfig(flags);
  const r = incidentsConfigSchema.safeParse(server.collector.incidents ?? {});
  if (!r.success) throw new ConfigError(`collector.incidents.${formatZodError(r.error)}`);
  const t = r.data.tickets;
  const sinks = [
    ...(t.erpnext ? [t.erpnext.name] : []),
    ...(t.zammad ? [t.zammad.name] : []),
    ...t.webhooks.map((w) => w.name),
    ...(t.notify?.smtp ? ['email'] : []),
    ...(t.notify?.sms ? ['sms'] : []),
  ];
  const collectorDir = join(server.dataDir, 'collector');
  const path = incidentFiles(collectorDir).incidents;
  if (!existsSync(path)) throw new ConfigError(`${path}: no ticket database yet (has the server run with this data dir?)`);
  const db = new Database(path, { timeout: 10_000 });
  try {
    const config: DispatchConfig = r.data.dispatch;
    const d = new Dispatcher({
      tickets: new SqliteTicketState(new TicketOutbox(db, { sinks })),
      state: new SqliteDispatchState(db),
      config,
      slaContext: r.data,
      unitOf: unitsFromSavedFleet(collectorDir),
      profiles: new Map(loadFirmwareProfiles(r.data.profilesDir ?? defaultFirmwareProfilesDir()).map((p) => [p.id, p])),
      log: pino({ level: 'silent' }),
    });
    return await f(d);
  } catch (e) {
    if (e instanceof DispatchError || e instanceof DispatchStateError) throw new ConfigError(e.message);
    throw e;
  } finally {
    db.close();
  }
}

function calendarFrom(flags: Flags): unknown {
  const file = str(flags, 'calendar');
  if (!file) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(`--calendar ${file}: ${(e as Error).message}`);
  }
}

export async function teamCommand(positionals: string[], flags: Flags): Promise<void> {
  const [action, id] = positionals;
  await withDispatcher(flags, async (d) => {
    if (action === 'list') {
      const techs = await d.deps.state.technicians();
      printList(
        await d.deps.state.teams(),
        [
          { head: 'TEAM', value: (t) => t.id },
          { head: 'NAME', value: (t) => t.name },
          { head: 'SITES', value: (t) => t.sites.join(',') || 'any' },
          { head: 'TENANTS', value: (t) => t.tenants.join(',') || 'any' },
          { head: 'SKILLS', value: (t) => t.skills.join(',') || 'any' },
          { head: 'HOURS', value: (t) => (t.calendar ? (t.calendar.twenty_four_seven ? '24/7' : t.calendar.time_zone) : 'always') },
          { head: 'TECHNICIANS', value: (t) => techs.filter((x) => x.team === t.id).length },
        ],
        { json: !!flags.json, empty: 'no teams (fleetcare team add ID --name NAME)' },
      );
      return;
    }
    if (action === 'add') {
      if (!id) throw new UsageError('team add needs an ID');
      const parsed = teamSchema.safeParse({
        id,
        name: str(flags, 'name') ?? id,
        sites: list(str(flags, 'sites')),
        tenants: list(str(flags, 'tenants')),
        skills: list(str(flags, 'skills')),
        calendar: calendarFrom(flags),
      });
      if (!parsed.success) throw new UsageError(`team: ${formatZodError(parsed.error)}`);
      await d.deps.state.putTeam(parsed.data, { replace: !!flags.replace });
      process.stdout.write(`team ${id} saved\n`);
      await d.pass(Date.now());
      return;
    }
    if (action === 'remove') {
      if (!id) throw new UsageError('team remove needs an ID');
      if (!(await d.deps.state.removeTeam(id))) throw new ConfigError(`no team ${id}`);
      process.stdout.write(`team ${id} removed\n`);
      return;
    }
    throw new UsageError(`team: unknown action "${action ?? ''}" (add, list, remove)`);
  });
}

export async function technicianCommand(positionals: string[], flags: Flags): Promise<void> {
  const [action, id] = positionals;
  await withDispatcher(flags, async (d) => {
    if (action === 'list') {
      const open = await d.deps.tickets.list({ open: true }, { offset: 0, limit: 1_000_000 });
      const load = Dispatcher.loads(open.items);
      printList(
        (await d.deps.state.technicians()).map((t) => ({ ...t, load: load.get(t.id) ?? 0 })),
        [
          { head: 'TECHNICIAN', value: (t) => t.id },
          { head: 'NAME', value: (t) => t.name },
          { head: 'TEAM', value: (t) => t.team },
          { head: 'LEAD', value: (t) => (t.lead ? 'yes' : '') },
          { head: 'EMAIL', value: (t) => t.email },
          { head: 'OPEN TICKETS', value: (t) => t.load },
        ],
        { json: !!flags.json, empty: 'no technicians (fleetcare technician add ID --team TEAM --name NAME)' },
      );
      return;
    }
    if (action === 'add') {
      if (!id) throw new UsageError('technician add needs an ID');
      const parsed = technicianSchema.safeParse({
        id,
        name: str(flags, 'name') ?? id,
        team: str(flags, 'team'),
        email: str(flags, 'email') ?? null,
        lead: !!flags.lead,
        nocUser: str(flags, 'noc-user') ?? null,
      });
      if (!parsed.success) throw new UsageError(`technician: ${formatZodError(parsed.error)}`);
      await d.deps.state.putTechnician(parsed.data, { replace: !!flags.replace });
      process.stdout.write(`technician ${id} saved\n`);
      const r = await d.pass(Date.now());
      if (r.assigned) process.stdout.write(`${r.assigned} waiting ticket(s) assigned\n`);
      return;
    }
    if (action === 'remove') {
      if (!id) throw new UsageError('technician remove needs an ID');
      const refs = await d.removeTechnician(id, Date.now());
      process.stdout.write(`technician ${id} removed${refs.length ? `; back to the dispatch rules: ${refs.join(', ')}` : ''}\n`);
      for (const ref of refs) {
        const t = await d.deps.tickets.get(ref);
        process.stdout.write(`${ref}\t${t?.assignment?.technician ?? 'unassigned'}\t${t?.assignment?.reason ?? ''}\n`);
      }
      return;
    }
    throw new UsageError(`technician: unknown action "${action ?? ''}" (add, list, remove)`);
  });
}

export async function dispatchCommand(positionals: string[], flags: Flags): Promise<void> {
  const [action, ref, tech] = positionals;
  await withDispatcher(flags, async (d) => {
    if (action === 'assign') {
      if (!ref || !tech) throw new UsageError('dispatch assign needs REF and TECHNICIAN (or "rules" to hand it back to the rules)');
      const t = await d.assign(ref, tech === 'rules' ? null : tech, process.env.USER ? `cli:${process.env.USER}` : 'cli', Date.now());
      process.stdout.write(`${t.ref}\t${t.assignment?.technician ?? 'unassigned'}\t${t.assignment?.team ?? '-'}\t${t.assignment?.reason ?? ''}\n`);
      return;
    }
    if (action === 'run') {
      const r = await d.pass(Date.now());
      process.stdout.write(`assigned ${r.assigned}, unassigned ${r.unassigned}, escalated ${r.escalated}\n`);
      return;
    }
    if (action === 'board') {
      const open = await d.deps.tickets.list({ open: true }, { offset: 0, limit: 1_000_000 });
      printList(
        open.items,
        [
          { head: 'REF', value: (t) => t.ref },
          { head: 'PRIORITY', value: (t) => t.priority },
          { head: 'SITE', value: (t) => t.site },
          { head: 'TECHNICIAN', value: (t) => (t.assignment ? (t.assignment.technician ?? 'UNASSIGNED') : 'not dispatched yet') },
          { head: 'TEAM', value: (t) => t.assignment?.team },
          { head: 'ESCALATED', value: (t) => (t.escalations ?? []).map((e) => e.stage).join(',') },
          { head: 'WHY', value: (t) => t.assignment?.reason },
        ],
        { json: !!flags.json, empty: 'no open tickets' },
      );
      const unassigned = open.items.filter((t) => t.assignment && !t.assignment.technician).length;
      if (!flags.json) process.stdout.write(`${unassigned} unassigned\n`);
      return;
    }
    if (action === 'report') {
      const now = Date.now();
      const days = Number(str(flags, 'days') ?? '30');
      if (!Number.isFinite(days) || days <= 0) throw new UsageError('--days: a positive number');
      const report = await d.teamPerformance(now - days * 86_400_000, now, now);
      if (flags.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      else process.stdout.write(toCsv(PERFORMANCE_CSV_HEAD, report.rows.map(performanceCsvRow)));
      return;
    }
    throw new UsageError(`dispatch: unknown action "${action ?? ''}" (assign, board, run, report)`);
  });
}
