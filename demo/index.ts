// The demo: `fleetcare demo` / `npm run demo`. A server and a simulated fleet in one process; in
// the default `showcase` scenario also the customers' SLAs, calendars and ticket languages
// (tenants.ts), warranty records, 90 days of history (history.ts) and a scripted timeline a
// newcomer can watch within two minutes:
//   ~15 s  a printer cutter past 95 % of its rated life → a predictive wear ticket (Shenzhen, zh)
//    20 s  a cutter jam in Riyadh (ar), printer under warranty → ticket + warranty claim; clears at 60 s
//    10 s  paper out in Tehran (fa) → ticket after the hold; paper replaced at 75 s → resolved
// `quiet`: the fleet alone, as before (no timeline, no history, no SLAs).
import { incidentsConfigSchema } from '../collector/incidents/config.js';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { DeviceRegistry } from '../broker/index.js';
import { runServer, type RunningServer } from '../cli/server.js';
import type { ServerConfig } from '../cli/server-config.js';
import { renderTable } from '../cli/table.js';
import type { ServiceLevelAgreement } from '../collector/sla/index.js';
import type { Ticket } from '../collector/tickets/index.js';
import { startFleet, simSerial, type DevicePin, type Fleet, type SimulatedDevice } from '../sim/fleet.js';
import { backdateUnits, backfillTelemetry, createPastTickets, warrantyCsv, type WarrantyPlan } from './history.js';
import { DEMO_TEAMS, DEMO_TENANTS, demoIncidentsConfig } from './tenants.js';
import { startDemoMailbox, storeEmail } from './mailbox.js';
import { teamSchema, technicianSchema } from '../dispatch/model.js';
import { SqliteDispatchState } from '../state/sqlite/dispatch.js';

export const SCENARIOS = ['showcase', 'quiet'] as const;
export type Scenario = (typeof SCENARIOS)[number];

/** Password of the demo's users unless FLEETCARE_DEMO_PASSWORD is set (demo data dir only). */
export const DEMO_PASSWORD = 'fleetcare-demo';

export type DemoOptions = {
  config: ServerConfig;
  scenario: Scenario;
  devices: number;
  seed: number;
  intervalMs: number;
  log: Logger;
  /** Where the narration goes: a terminal (text lines) or the log (JSON). */
  narrate: (line: string, fields?: Record<string, unknown>) => void;
  /** Days of history (showcase). */
  historyDays?: number;
};

export type Demo = { server: RunningServer; fleet: Fleet; scenario: Scenario; startedAt: number; ready: Promise<void>; close(): Promise<void> };

/** The scripted devices: index in the fleet → what the timeline needs of it. */
const SCRIPT = {
  jam: { index: 0, pin: { site: 'riyadh-olaya-01', printer: 'epson-tm-t88vi' } },
  wear: { index: 1, pin: { site: 'shenzhen-futian-07', printer: 'epson-tm-t88vi', printerCounters: { autocutterCuts: 1_930_000 } } },
  paper: { index: 2, pin: { site: 'tehran-vanak-01', printer: 'epson-tm-t88vi' } },
} satisfies Record<string, { index: number; pin: DevicePin }>;

/** Warranty of each device's printer: the jammed one is covered, the worn one expired, the rest mixed. */
function warrantyPlan(i: number): WarrantyPlan {
  if (i === SCRIPT.jam.index) return 'under-warranty';
  if (i === SCRIPT.wear.index) return 'expired';
  if (i === SCRIPT.paper.index) return 'under-amc';
  return (['under-warranty', 'expired', 'under-amc', 'none'] as const)[i % 4];
}

/** Provisions through the registry, re-issuing the token when the device already exists. */
export function provisioner(registry: DeviceRegistry) {
  return (id: string, site: string, tenant: string): string => {
    if (registry.listDevices().some((d) => d.id === id)) return registry.rotateDeviceToken(id);
    return registry.addDevice(id, { site, tenant });
  };
}

const clock = (startedAt: number) => {
  const s = Math.max(0, Math.round((Date.now() - startedAt) / 1000));
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
};

export async function startDemo(o: DemoOptions): Promise<Demo> {
  const showcase = o.scenario === 'showcase';
  if (showcase && o.devices < 3) throw new Error('the showcase scenario needs at least 3 devices (--devices 3)');
  // Store notices and escalation mails land in a local mailbox (.eml files) the demo prints.
  const mailbox = showcase ? await startDemoMailbox(join(o.config.dataDir, 'mailbox')) : null;
  const notify = mailbox
    ? {
        smtp: { host: '127.0.0.1', port: mailbox.port, from: 'fleetcare-demo@support.example' },
        tenants: Object.fromEntries(DEMO_TENANTS.map((t) => [t.tenant, { email: [storeEmail(t.tenant)] }])),
      }
    : undefined;
  const config: ServerConfig = showcase
    ? // The server config arrives parsed (defaults filled in), so the demo's settings go on top and are parsed again.
      {
        ...o.config,
        collector: {
          ...o.config.collector,
          incidents: incidentsConfigSchema.parse({
            ...o.config.collector.incidents,
            ...demoIncidentsConfig(),
            tickets: { ...o.config.collector.incidents?.tickets, notify },
          }),
        },
      }
    : o.config;
  let server: RunningServer;
  try {
    server = await runServer(config, { log: o.log });
  } catch (e) {
    await mailbox?.close();
    throw e;
  }
  const timers: NodeJS.Timeout[] = [];
  let fleet: Fleet | null = null;
  try {
    const demoPassword = process.env.FLEETCARE_DEMO_PASSWORD ?? DEMO_PASSWORD;
    if (server.noc) for (const role of ['admin', 'operator', 'viewer'] as const) await server.noc.context.users.ensureUser(role, role, demoPassword);
    const incidents = server.incidents;
    const now = Date.now();
    if (showcase && incidents) {
      // Warranty records first: the first tickets look their printers up.
      const planned = Array.from({ length: o.devices }, (_, i) => ({ i, serial: simSerial(o.seed, i, 'P') }));
      const csv = warrantyCsv(
        planned.map(({ i, serial }) => ({
          id: `pos-${String(i + 1).padStart(3, '0')}`,
          site: '',
          tenant: '',
          serials: { printer0: serial },
          printerProfile: 'epson-tm-t88vi',
          warranty: warrantyPlan(i),
        })),
        now,
      );
      incidents.warranty.import(csv, 'csv');
      // Field teams and technicians: the dispatch rules assign the demo's tickets to them.
      const dispatch = new SqliteDispatchState(incidents.tickets.db);
      for (const { team, technicians } of DEMO_TEAMS) {
        await dispatch.putTeam(teamSchema.parse(team), { replace: true });
        for (const t of technicians) await dispatch.putTechnician(technicianSchema.parse(t), { replace: true });
      }
    }
    // One unscripted device has the worn printer's model too: its past cutter replacement is the
    // known fix the live predictive ticket shows (known fixes are per model).
    const pins: Record<number, DevicePin> = showcase
      ? { [SCRIPT.paper.index + 1]: { printer: SCRIPT.wear.pin.printer }, ...Object.fromEntries(Object.values(SCRIPT).map((s) => [s.index, s.pin])) }
      : {};
    fleet = await startFleet({
      devices: o.devices,
      seed: o.seed,
      intervalMs: o.intervalMs,
      brokerUrl: server.brokerUrl!,
      provision: provisioner(server.broker!.registry),
      dataDir: join(config.dataDir, 'sim-agents'),
      log: o.log.child({ component: 'sim' }),
      pins,
    });
    const startedAt = Date.now();
    const slas = incidents?.config.slas ?? {};
    const languages = incidents?.config.languages ?? {};
    printSummary(o, server, fleet, slas, languages, incidents ? (serial: string) => incidents.warranty.statusOf(serial, startedAt) ?? null : () => null);

    let ready: Promise<void> = Promise.resolve();
    if (showcase && incidents) {
      const f = fleet;
      const dev = (k: keyof typeof SCRIPT) => f.devices[SCRIPT[k].index];
      const at = (s: number, what: () => void) => timers.push(setTimeout(what, s * 1000));
      const say = (line: string, fields: Record<string, unknown> = {}) => o.narrate(`[${clock(startedAt)}] ${line}`, fields);
      say(
        `timeline: ${dev('wear').id} (${dev('wear').site}) has a cutter at 96.5 % of its rated life — watch for a predictive ticket; paper out at ${dev('paper').id} at 00:10; cutter jam at ${dev('jam').id} at 00:20`,
      );
      at(
        10,
        () => (
          dev('paper').printer.paperOut(true), say(`paper out at ${dev('paper').id} (${dev('paper').site})`, { device: dev('paper').id, event: 'paper-out' })
        ),
      );
      at(
        20,
        () => (dev('jam').printer.cutterJam(true), say(`cutter jam at ${dev('jam').id} (${dev('jam').site})`, { device: dev('jam').id, event: 'cutter-jam' })),
      );
      at(
        60,
        () => (dev('jam').printer.cutterJam(false), say(`cutter jam cleared at ${dev('jam').id}`, { device: dev('jam').id, event: 'cutter-jam-cleared' })),
      );
      at(
        75,
        () => (dev('paper').printer.paperOut(false), say(`paper roll replaced at ${dev('paper').id}`, { device: dev('paper').id, event: 'paper-replaced' })),
      );
      if (mailbox) say(`store notices and escalation mails (in each store's language): ${mailbox.dir} (.eml files)`, { mailbox: mailbox.dir });
      timers.push(watchTickets(incidents.tickets.list.bind(incidents.tickets), startedAt, say));
      ready = fillHistory(server, f, o, now, say).catch((e) => o.log.error({ err: (e as Error).message }, 'demo history not written'));
    }
    return {
      server,
      fleet,
      scenario: o.scenario,
      startedAt,
      ready,
      async close() {
        for (const t of timers) clearTimeout(t);
        await ready;
        await fleet!.close();
        await server.close('demo stopped');
        await mailbox?.close();
      },
    };
  } catch (e) {
    for (const t of timers) clearTimeout(t);
    await fleet?.close().catch(() => {});
    await server.close('demo failed to start');
    await mailbox?.close();
    throw e;
  }
}

/** Telemetry history, past tickets and MTBF exposure, once the devices' first samples are in. */
async function fillHistory(
  server: RunningServer,
  fleet: Fleet,
  o: DemoOptions,
  now: number,
  say: (l: string, f?: Record<string, unknown>) => void,
): Promise<void> {
  const collector = server.collector!;
  const incidents = server.incidents!;
  const days = o.historyDays ?? 90;
  const latest = new Map<string, Awaited<ReturnType<typeof collector.store.latest>>>();
  // Waits for every device's first printer and card-reader samples (the history continues from
  // them): seconds normally, longer on a loaded machine; the bound only stops a device that never reports.
  const deadline = Date.now() + 600_000;
  while (latest.size < fleet.devices.length && Date.now() < deadline) {
    for (const d of fleet.devices) {
      if (latest.has(d.id)) continue;
      const l = await collector.store.latest(d.id);
      if (l.some((s) => s.peripheral === 'printer0') && l.some((s) => s.peripheral === 'msr0')) latest.set(d.id, l);
    }
    if (latest.size < fleet.devices.length) await new Promise((r) => setTimeout(r, 500));
  }
  if (latest.size < fleet.devices.length)
    say(`history: ${fleet.devices.length - latest.size} device(s) sent no printer or card-reader sample in 10 minutes; their history is left out`);
  const devices = fleet.devices.map((d) => ({ id: d.id, site: d.site, tenant: d.tenant, serials: d.serials, printerProfile: d.printer.profile }));
  const points = await backfillTelemetry(collector.store, devices, latest, now, days, o.seed);
  // The scripted devices' live tickets tell the story: no past ticket of the same problem.
  const scripted = Object.values(SCRIPT).map((s) => fleet.devices[s.index].id);
  const avoid = new Set(scripted.flatMap((id) => [`${id}/printer0/paper-end`, `${id}/printer0/autocutter-error`, `${id}/printer0/cutter-wear-out`]));
  const tickets = createPastTickets(devices, {
    outbox: incidents.ticketing.outbox,
    sla: incidents.config,
    languages: incidents.config.languages,
    warranty: incidents.warranty,
    now,
    days,
    seed: o.seed,
    avoid,
  });
  let units = 0;
  if (server.noc) {
    const reportUnits = server.noc.context.reportUnits;
    // The NOC notes a device's units (itself, printer, card reader, fingerprint module…) a few
    // seconds after its inventory arrives; their exposure then starts with the history.
    const until = Date.now() + 300_000;
    while (Date.now() < until && (await reportUnits.keys()).length < fleet.devices.length * 4) await new Promise((r) => setTimeout(r, 500));
    units = await backdateUnits(reportUnits, now - days * 86_400_000);
  }
  say(
    `history: ${points} telemetry points over ${days} days, ${tickets} past tickets (closed), ${units} units in service since ${new Date(now - days * 86_400_000).toISOString().slice(0, 10)} — the reports have data`,
    { points, tickets, units },
  );
}

/** Narrates tickets as they open and change status. */
function watchTickets(list: () => Ticket[], since: number, say: (l: string, f?: Record<string, unknown>) => void): NodeJS.Timeout {
  const seen = new Map<string, string>();
  const assigned = new Map<string, string>();
  const t = setInterval(() => {
    for (const k of list()) {
      if (k.openedAt < since) continue;
      const a = k.assignment;
      const who = a ? (a.technician ? `${a.technicianName ?? a.technician} (team ${a.team})` : `nobody: ${a.reason}`) : null;
      if (who && assigned.get(k.ref) !== who) {
        assigned.set(k.ref, who);
        say(`ticket ${k.ref} assigned to ${who}`, { ticket: k.ref, technician: a?.technician ?? null, team: a?.team ?? null });
      }
      for (const e of k.escalations ?? []) {
        const key = `${k.ref}:${e.stage}`;
        if (assigned.has(key)) continue;
        assigned.set(key, e.stage);
        say(
          `ticket ${k.ref} escalated (${e.stage}, ${Math.round(e.share * 100)} % of the time used)${e.notified.length ? `: team lead ${e.notified.join(', ')} told` : ''}`,
          { ticket: k.ref, escalated: e.stage },
        );
      }
      const before = seen.get(k.ref);
      if (before === k.status) continue;
      seen.set(k.ref, k.status);
      const sla = k.sla.serviceLevelAgreement
        ? `SLA ${k.sla.serviceLevelAgreement}, response by ${k.sla.responseBy ? new Date(k.sla.responseBy).toISOString().slice(0, 16).replace('T', ' ') + ' UTC' : '-'}`
        : 'no SLA';
      if (!before)
        say(`ticket ${k.ref} opened — ${k.priority}, ${k.issueType}, ${sla}, warranty ${k.warrantyStatus ?? 'unknown'}, language ${k.language}: ${k.subject}`, {
          ticket: k.ref,
          status: k.status,
          language: k.language,
          warranty: k.warrantyStatus,
          sla: k.sla.serviceLevelAgreement,
        });
      else say(`ticket ${k.ref} → ${k.status}`, { ticket: k.ref, status: k.status });
    }
  }, 1000);
  t.unref();
  return t;
}

function printSummary(
  o: DemoOptions,
  server: RunningServer,
  fleet: Fleet,
  slas: Record<string, ServiceLevelAgreement>,
  languages: Record<string, string>,
  warrantyOf: (serial: string) => string | null,
): void {
  const table = renderTable<SimulatedDevice>(
    [
      { head: 'DEVICE', value: (d) => d.id },
      { head: 'SITE', value: (d) => d.site },
      { head: 'TENANT', value: (d) => d.tenant },
      { head: 'PRINTER', value: (d) => d.printer.profile },
      { head: 'CLOCK', value: (d) => (d.clock ? 'zk clock' : '') },
      { head: 'LANG', value: (d) => languages[d.tenant] ?? 'en' },
      { head: 'SLA', value: (d) => slas[d.tenant]?.service_level },
      { head: 'PRINTER WARRANTY', value: (d) => (d.printer.serial ? warrantyOf(d.printer.serial) : null) },
    ],
    fleet.devices,
  );
  const users = process.env.FLEETCARE_DEMO_PASSWORD
    ? 'admin / operator / viewer, password $FLEETCARE_DEMO_PASSWORD'
    : `admin / operator / viewer, password ${DEMO_PASSWORD}`;
  const lines = [
    `fleetcare demo (${o.scenario}): ${fleet.devices.length} simulated devices, broker ${server.brokerUrl}`,
    '',
    table.trimEnd(),
    '',
    server.noc ? `NOC: ${server.noc.url}  (log in as ${users})` : 'NOC: off',
    `tickets: fleetcare tickets list --open --data-dir ${o.config.dataDir}`,
    `who goes: fleetcare dispatch board --data-dir ${o.config.dataDir}`,
    'Ctrl-C to stop',
  ];
  o.narrate(lines.join('\n'), {
    noc: server.noc?.url ?? null,
    brokerUrl: server.brokerUrl,
    devices: fleet.devices.map((d) => ({ id: d.id, site: d.site, tenant: d.tenant, printer: d.printer.profile })),
  });
}
