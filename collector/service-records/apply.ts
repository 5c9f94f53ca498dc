// Applies service records to the detectors: a replaced part's wear and error-rate baselines
// re-base, and the fleet's life fit is refitted from the records of ended parts. The embedded
// service applies every record; a cluster node only those of the devices it owns, and re-applies
// a device's whole history when its partition arrives (the engine applies a replacement once, by
// its time, so a record the previous owner had applied changes nothing).
import type { Logger } from 'pino';
import type { DetectorEngine } from '../detectors/index.js';
import { fitLifeModels, lifeGroups, type LifeModel } from '../reliability/index.js';
import type { ServiceRecord, ServiceRecordStore } from './index.js';

export type ServiceRecordApplier = {
  /** Applies the records added since the last call (of owned devices); resolves to how many were new. */
  sync(): Promise<number>;
  /** Applies every record of these devices (a partition just acquired). */
  reapply(devices: ReadonlySet<string>): Promise<number>;
  lifeModels(): LifeModel[];
  /** Waits for a sync in progress (before closing the store). */
  settled(): Promise<void>;
};

export function serviceRecordApplier(
  store: ServiceRecordStore,
  engine: DetectorEngine,
  profileOf: (device: string, peripheral: string) => string | undefined,
  log: Logger,
  ownsDevice: (device: string) => boolean = () => true,
): ServiceRecordApplier {
  let lifeModels: LifeModel[] = [];
  let appliedId = 0;
  let running: Promise<number> | null = null;

  // Fleet life models from the records (failures) and the parts in service here (censored).
  async function refitLives(): Promise<void> {
    const all = await store.list();
    lifeModels = fitLifeModels(
      lifeGroups(
        all.filter((r) => r.kind !== 'unit-swap'),
        engine.aliveParts(),
      ),
    );
    engine.setLifeModels(lifeModels);
  }

  async function apply(r: ServiceRecord): Promise<void> {
    // The life the part reached, for the fleet's life fit, read before the detectors re-base it.
    const profile = r.profile ?? profileOf(r.device, r.peripheral);
    const usage = r.usage ?? (r.kind === 'unit-swap' ? null : engine.partUsage(r.device, r.peripheral, r.part));
    if ((r.usage === undefined && usage !== null) || (r.profile === undefined && profile))
      await store.annotate(r.id, { ...(usage !== null ? { usage } : {}), ...(profile ? { profile } : {}) });
    if (r.kind === 'unit-swap') engine.unitReplaced(r.device, r.peripheral, r.at);
    else engine.partReplaced(r.device, r.peripheral, r.part, r.at);
  }

  /** One at a time: a reapply waits for a sync and the other way round. */
  function exclusive(fn: () => Promise<number>): Promise<number> {
    const p = (running ?? Promise.resolve(0)).catch(() => 0).then(fn);
    const mine = p.finally(() => {
      if (running === mine) running = null;
    });
    running = mine;
    return mine;
  }

  return {
    sync: () =>
      exclusive(async () => {
        const records = await store.list({ afterId: appliedId });
        let applied = 0;
        for (const r of records) {
          if (ownsDevice(r.device)) {
            await apply(r);
            applied++;
          }
          appliedId = r.id;
        }
        if (records.length) await refitLives();
        if (applied) log.info({ records: applied, lastId: appliedId }, 'service records applied to the detectors');
        return records.length;
      }),
    reapply: (devices) =>
      exclusive(async () => {
        if (!devices.size) return 0;
        // Those after `appliedId` are the next sync's.
        const records = (await store.list()).filter((r) => r.id <= appliedId && devices.has(r.device));
        for (const r of records) await apply(r);
        if (records.length) {
          await refitLives();
          log.info({ records: records.length, devices: devices.size }, 'service records of acquired devices applied');
        }
        return records.length;
      }),
    lifeModels: () => lifeModels,
    settled: async () => {
      await running?.catch(() => 0);
    },
  };
}
