// `fleetcare service record|history …` and `fleetcare reliability`: service records written to the server's data
// dir, or to the cluster's PostgreSQL when the config's state.kind is postgres (the running incident
// service applies them at its next tick: the part's wear and error-rate baselines re-base), and the
// fleet's life fit per model and part.
import { existsSync, mkdirSync } from 'node:fs';
import { defaultFirmwareProfilesDir, loadFirmwareProfiles } from '../firmware-profiles/index.js';
import { DetectorEngine } from '../collector/detectors/index.js';
import { incidentFiles } from '../collector/incidents/service.js';
import { IncidentStore, restoreEngine } from '../collector/incidents/index.js';
import { fitLifeModels, lifeGroups } from '../collector/reliability/index.js';
import { serviceKind, type ServiceRecord, type ServiceRecordStore } from '../collector/service-records/index.js';
import type { DeviceSnapshot } from '../collector/detectors/index.js';
import { SqliteServiceRecordStore } from '../state/sqlite/service-records.js';
import { PgServiceRecordStore } from '../state/postgres/service-records.js';
import { PgIncidentState } from '../state/postgres/incidents.js';
import { formatZodError } from '../protocol/index.js';
import { ConfigError, UsageError } from './errors.js';
import { serverContext } from './tickets.js';

type Flags = Record<string, string | boolean | undefined>;
const str = (flags: Flags, name: string): string | undefined => (typeof flags[name] === 'string' ? (flags[name] as string) : undefined);

/** `--date`: YYYY-MM-DD (midnight UTC) or an ISO date-time. */
export function parseServiceDate(text: string): number {
  const t = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text);
  if (!Number.isFinite(t)) throw new UsageError(`--date: expected YYYY-MM-DD or an ISO date-time, got "${text}"`);
  return t;
}

const recordLine = (r: ServiceRecord) =>
  [
    r.id,
    new Date(r.at).toISOString(),
    r.device,
    r.peripheral,
    r.part,
    r.kind,
    r.failed ? 'failed' : 'not-failed',
    r.usage ?? '-',
    r.serial ?? '-',
    r.source,
    r.note ?? '',
  ].join('\t');

export async function serviceRecordCommand(positionals: string[], flags: Flags): Promise<void> {
  const [action, device, peripheral, part] = positionals;
  const { dataDir, state } = serverContext(flags);
  let store: ServiceRecordStore;
  if (state.kind === 'postgres') store = new PgServiceRecordStore(state.url);
  else {
    mkdirSync(dataDir, { recursive: true });
    store = new SqliteServiceRecordStore(incidentFiles(dataDir).serviceRecords);
  }
  try {
    if (action === 'record') {
      if (!device || !peripheral || !part) throw new UsageError('service record needs DEVICE PERIPHERAL PART (e.g. pos-12 printer0 cutter)');
      const kind = str(flags, 'kind') ?? 'part-replaced';
      if (!serviceKind.safeParse(kind).success) throw new UsageError(`--kind: one of ${serviceKind.options.join(', ')}`);
      const date = str(flags, 'date');
      let r: ServiceRecord;
      try {
        r = await store.add({
          device,
          peripheral,
          part,
          kind: kind as ServiceRecord['kind'],
          ...(date ? { at: parseServiceDate(date) } : {}),
          ...(flags['not-failed'] ? { failed: false } : {}),
          ...(str(flags, 'serial') ? { serial: str(flags, 'serial') } : {}),
          ...(str(flags, 'note') ? { note: str(flags, 'note') } : {}),
          ...(str(flags, 'ticket') ? { ref: str(flags, 'ticket') } : {}),
          source: 'cli',
        });
      } catch (e) {
        if (e instanceof Error && 'issues' in e) throw new UsageError(`service record: ${formatZodError(e as never)}`);
        throw e;
      }
      process.stdout.write(recordLine(r) + '\n');
      return;
    }
    if (action === 'history') {
      const rows = await store.list(device ? { device } : {});
      if (flags.json) process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      else for (const r of rows) process.stdout.write(recordLine(r) + '\n');
      return;
    }
    throw new UsageError(`service: unknown action "${action ?? ''}" (record DEVICE PERIPHERAL PART, history [DEVICE])`);
  } finally {
    await store.close();
  }
}

export async function reliabilityCommand(flags: Flags): Promise<void> {
  const { dataDir, state } = serverContext(flags);
  // The parts in service, with their usage, from the detectors' saved state (the censored lives).
  const engine = new DetectorEngine(loadFirmwareProfiles(defaultFirmwareProfilesDir()));
  let records: ServiceRecordStore;
  let closeState: () => Promise<void>;
  if (state.kind === 'postgres') {
    const incidents = new PgIncidentState(state.url);
    records = new PgServiceRecordStore(incidents.pool);
    closeState = () => incidents.close();
    try {
      for (const s of await incidents.loadDeviceStates<DeviceSnapshot>()) engine.restoreDevice(s);
    } catch (e) {
      await closeState();
      throw e;
    }
  } else {
    const files = incidentFiles(dataDir);
    if (!existsSync(files.incidents)) throw new ConfigError(`${files.incidents}: no detector state yet (has the server run with this data dir?)`);
    const incidents = new IncidentStore(files.incidents);
    records = new SqliteServiceRecordStore(files.serviceRecords);
    closeState = async () => {
      incidents.close();
      await records.close();
    };
    restoreEngine(engine, incidents);
  }
  try {
    const ended = await records.list();
    const models = fitLifeModels(lifeGroups(ended, engine.aliveParts()));
    const minFailures = engine.config.wear.fleetLife.minFailures;
    if (flags.json) {
      process.stdout.write(
        JSON.stringify(
          models.map((m) => ({ ...m, inUse: m.failures >= minFailures })),
          null,
          2,
        ) + '\n',
      );
      return;
    }
    process.stdout.write(['model', 'part', 'failures', 'censored', 'shape', 'scale', 'median life', 'used by wear-out'].join('\t') + '\n');
    for (const m of models)
      process.stdout.write(
        [
          m.profile,
          m.part,
          m.failures,
          m.censored,
          m.shape.toFixed(2),
          Math.round(m.scale),
          Math.round(m.medianLife),
          m.failures >= minFailures ? 'yes' : `no (< ${minFailures} failures)`,
        ].join('\t') + '\n',
      );
    if (!models.length)
      process.stdout.write(`no model yet: a fit needs at least 2 failures of a model's part with their usage (${ended.length} service record(s))\n`);
  } finally {
    await closeState();
  }
}
