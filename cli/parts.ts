// `fleetcare parts forecast`: the spare parts each tenant and site will need within 30/60/90 days,
// read from the server's data dir (it works while the server runs: SQLite WAL). Wear ETAs come
// from the detectors' saved state (restored into an engine that is only read), regions from the
// device registry, open wear tickets from the built-in ticket store; the same pure function as
// the NOC report (collector/parts/forecast.ts).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DeviceRegistry } from '../broker/index.js';
import { DetectorEngine } from '../collector/detectors/index.js';
import { incidentFiles } from '../collector/incidents/service.js';
import { incidentsConfigSchema } from '../collector/incidents/config.js';
import { IncidentStore, restoreEngine } from '../collector/incidents/index.js';
import { forecastDevices, forecastHorizon, partsForecast, type ForecastTicket, type PartsForecastReport } from '../collector/parts/forecast.js';
import { TicketStore } from '../collector/tickets/index.js';
import { defaultFirmwareProfilesDir, loadFirmwareProfiles } from '../firmware-profiles/index.js';
import { formatZodError } from '../protocol/index.js';
import { ConfigError, UsageError } from './errors.js';
import { loadServerConfig } from './server-config.js';

type Flags = Record<string, string | boolean | undefined>;

const DAY = 86_400_000;

export async function partsCommand(positionals: string[], flags: Flags, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
  const [action] = positionals;
  if (action !== 'forecast') throw new UsageError(`parts: unknown action "${action ?? ''}" (forecast)`);
  const horizon = forecastHorizon.safeParse(Number(typeof flags.horizon === 'string' ? flags.horizon : '30'));
  if (!horizon.success) throw new UsageError(`--horizon: one of 30, 60, 90 (days), not "${String(flags.horizon)}"`);
  const tenant = typeof flags.tenant === 'string' ? flags.tenant : undefined;
  const report = readForecast(flags, horizon.data, tenant, Date.now());
  out(flags.json ? JSON.stringify(report, null, 2) + '\n' : forecastTable(report));
}

function readForecast(flags: Flags, horizonDays: 30 | 60 | 90, tenant: string | undefined, now: number): PartsForecastReport {
  const server = loadServerConfig(flags);
  const inc = incidentsConfigSchema.safeParse(server.collector.incidents ?? {});
  if (!inc.success) throw new ConfigError(`collector.incidents.${formatZodError(inc.error)}`);
  const path = incidentFiles(join(server.dataDir, 'collector')).incidents;
  if (!existsSync(path)) throw new ConfigError(`${path}: no incident database yet (has the server run with this data dir?)`);
  const profileList = loadFirmwareProfiles(inc.data.profilesDir ?? defaultFirmwareProfilesDir());
  const db = new Database(path, { timeout: 10_000 });
  const registry = DeviceRegistry.open(join(server.dataDir, 'broker'));
  try {
    const engine = new DetectorEngine(profileList, inc.data.detectors);
    restoreEngine(engine, new IncidentStore(db, inc.data.lifecycle));
    const openTickets: ForecastTicket[] = new TicketStore(db)
      .list({ open: true })
      .map((t) => ({ ref: t.ref, key: t.key, device: t.device, peripheral: t.peripheral, site: t.site, customer: t.customer }));
    const fleet = registry.listDevices().map((d) => ({ device: d.id, site: d.site ?? null, tenant: d.tenant ?? null }));
    return partsForecast({
      devices: forecastDevices(engine.partWear(now), fleet),
      profiles: new Map(profileList.map((p) => [p.id, p])),
      openTickets,
      now,
      horizonDays,
      tenant,
    });
  } finally {
    registry.close();
    db.close();
  }
}

/** The forecast as a text table with a header, or one line saying nothing is needed (kept in one place: the table style may change). */
export function forecastTable(f: PartsForecastReport): string {
  const scope = `${f.horizonDays} days${f.tenant !== null ? `, tenant ${f.tenant}` : ''}`;
  if (!f.rows.length) return `no parts needed in the next ${scope}\n`;
  const day = (ms: number | null) =>
    ms === null ? '-' : ms <= f.now ? 'due now' : `${new Date(ms).toISOString().slice(0, 10)} (${Math.ceil((ms - f.now) / DAY)} d)`;
  const header = ['TENANT', 'SITE', 'MODEL', 'PART', 'PART NO.', 'NAME', 'QTY', 'TICKETS', 'EARLIEST ETA', 'SWAP MIN'];
  const rows = f.rows.map((r) => [
    r.tenant ?? '-',
    r.site ?? '-',
    r.profile ?? 'unknown',
    r.part,
    r.partNumber ?? 'unknown',
    r.name?.en ?? '-',
    String(r.quantity),
    String(r.fromTickets),
    day(r.earliestEta),
    r.swapMinutesTotal === null ? '-' : String(r.swapMinutesTotal),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd() + '\n';
  return line(header) + rows.map(line).join('') + `${f.total} part(s) in the next ${scope}\n`;
}
