// What every TelemetryStore must do, run over each implementation (as aedes runs
// abstract-persistence over each persistence): telemetry-store-sqlite.test.ts and
// telemetry-store-influx.test.ts call it with a factory that makes a fresh, empty store.
// The ingest pipeline relies on these: a write reads back through every query, a re-delivered
// message is stored once, devices and fields stay apart, and a store with a server says why a
// write failed (unreachable = spool and retry) and takes the same batch again afterwards.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type IngestRecord, StoreWriteError, type TelemetryStore } from '../../collector/index.js';
import { CONTRACT_VERSION, type EventMessage, type TelemetryMessage } from '../../protocol/index.js';

export type TelemetryStoreHarness = {
  store: TelemetryStore;
  /** For stores with a server: takes it away (a real outage) and brings it back. */
  outage?: { begin(): Promise<void>; end(): Promise<void> };
  cleanup(): Promise<void>;
};

export type TelemetryStoreFactory = () => Promise<TelemetryStoreHarness>;

// Fixed, unaligned instants well inside any retention policy.
const T0 = Date.now() - 3_600_000 + 137;
const DEVICE = 'pos-contract';

function telemetry(seq: number, ts: number, samples: TelemetryMessage['samples'], device = DEVICE): IngestRecord {
  return {
    channel: 'telemetry',
    device,
    seq,
    arrivedAt: ts + 25,
    tags: { site: 'store-7', tenant: 'acme' },
    message: { v: CONTRACT_VERSION, device, seq, ts, samples },
  };
}

function printer(ts: number, temperature: number, cuts: number, faults: string[] = []): TelemetryMessage['samples'][number] {
  return {
    peripheral: 'printer0',
    kind: 'printer',
    ts,
    health: faults.length ? 'critical' : 'ok',
    metrics: { temperature },
    counters: { autocutterCuts: cuts },
    faults,
  };
}

function host(ts: number, cpuPct: number): TelemetryMessage['samples'][number] {
  return { peripheral: 'host', kind: 'host', ts, health: 'ok', metrics: { cpuPct }, counters: {}, faults: [] };
}

function event(seq: number, ts: number, extra: Partial<EventMessage> = {}, device = DEVICE): IngestRecord {
  const message: EventMessage = {
    v: CONTRACT_VERSION,
    device,
    seq,
    ts,
    type: 'fault-raised',
    peripheral: 'printer0',
    code: 'cover-open',
    severity: 'critical',
    message: 'cover open',
    ...extra,
  };
  return { channel: 'event', device, seq, arrivedAt: ts + 25, tags: {}, message };
}

/** Three telemetry messages (two peripherals) and two events of one device. */
function batch(): IngestRecord[] {
  return [
    telemetry(1, T0, [printer(T0, 41.5, 1000), host(T0 - 5, 12)]),
    telemetry(2, T0 + 1000, [printer(T0 + 1000, 42.25, 1003), host(T0 + 995, 30)]),
    event(3, T0 + 1500, { data: { doorCount: 2, latched: false, by: 'sensor' } }),
    telemetry(4, T0 + 2000, [printer(T0 + 2000, 43, 1007, ['cover-open'])]),
    event(5, T0 + 2500, { type: 'fault-cleared', severity: 'info', code: 'cover-open', message: undefined }),
  ];
}

const byPeripheral = <T extends { peripheral: string }>(xs: T[]) => [...xs].sort((a, b) => a.peripheral.localeCompare(b.peripheral));

export function telemetryStoreSuite(
  name: string,
  factory: TelemetryStoreFactory,
  hooks: { before?: () => Promise<void>; after?: () => Promise<void> } = {},
): void {
  const test = suite(`telemetry store contract (${name})`);
  if (hooks.before) test.before(hooks.before);
  if (hooks.after) test.after(hooks.after);

  const withStore = (fn: (h: TelemetryStoreHarness) => Promise<void>) => async () => {
    const h = await factory();
    try {
      await h.store.init();
      await fn(h);
    } finally {
      await h.store.close().catch(() => {});
      await h.cleanup();
    }
  };

  test(
    'init is idempotent and an empty store answers every query with nothing',
    withStore(async ({ store }) => {
      await store.init();
      assert.equal(await store.latest(DEVICE), []);
      assert.equal(await store.series({ device: DEVICE, peripheral: 'printer0', field: 'temperature', from: 0, to: T0 * 2 }), []);
      assert.equal(
        (await store.seriesBuckets({ device: DEVICE, peripheral: 'printer0', field: 'temperature', from: T0, to: T0 + 10_000, buckets: 4 })).points,
        [],
      );
      assert.equal(await store.events(DEVICE, 0, T0 * 2, 10), []);
      assert.equal(await store.seqCounts(DEVICE), []);
    }),
  );

  test(
    'a write reads back: latest per peripheral, series oldest first, events newest first, points per seq',
    withStore(async ({ store }) => {
      await store.write(batch());
      assert.equal(byPeripheral(await store.latest(DEVICE)), [
        { device: DEVICE, peripheral: 'host', kind: 'host', ts: T0 + 995, seq: 2, health: 'ok', faults: [], metrics: { cpuPct: 30 }, counters: {} },
        {
          device: DEVICE,
          peripheral: 'printer0',
          kind: 'printer',
          ts: T0 + 2000,
          seq: 4,
          health: 'critical',
          faults: ['cover-open'],
          metrics: { temperature: 43 },
          counters: { autocutterCuts: 1007 },
        },
      ]);
      const all = { device: DEVICE, peripheral: 'printer0', from: T0, to: T0 + 2000 };
      assert.equal(await store.series({ ...all, field: 'temperature' }), [
        { ts: T0, value: 41.5 },
        { ts: T0 + 1000, value: 42.25 },
        { ts: T0 + 2000, value: 43 },
      ]);
      assert.equal(await store.series({ ...all, field: 'autocutterCuts' }), [
        { ts: T0, value: 1000 },
        { ts: T0 + 1000, value: 1003 },
        { ts: T0 + 2000, value: 1007 },
      ]);
      // from..to is inclusive at both ends.
      assert.equal(await store.series({ ...all, field: 'temperature', from: T0 + 1000, to: T0 + 1000 }), [{ ts: T0 + 1000, value: 42.25 }]);
      assert.equal(await store.series({ device: DEVICE, peripheral: 'host', field: 'cpuPct', from: T0 - 5, to: T0 + 995 }), [
        { ts: T0 - 5, value: 12 },
        { ts: T0 + 995, value: 30 },
      ]);
      assert.equal(await store.events(DEVICE, T0, T0 + 2500, 10), [
        { ts: T0 + 2500, seq: 5, type: 'fault-cleared', peripheral: 'printer0', code: 'cover-open', severity: 'info', message: null, data: null },
        {
          ts: T0 + 1500,
          seq: 3,
          type: 'fault-raised',
          peripheral: 'printer0',
          code: 'cover-open',
          severity: 'critical',
          message: 'cover open',
          data: { doorCount: 2, latched: false, by: 'sensor' },
        },
      ]);
      assert.equal(
        (await store.events(DEVICE, T0, T0 + 2500, 1)).map((e) => e.seq),
        [5],
        'limit keeps the newest',
      );
      assert.equal(await store.seqCounts(DEVICE), [
        { seq: 1, points: 2 },
        { seq: 2, points: 2 },
        { seq: 3, points: 1 },
        { seq: 4, points: 1 },
        { seq: 5, points: 1 },
      ]);
    }),
  );

  test(
    'a re-delivered message is stored once (the same batch again, and overlapping batches)',
    withStore(async ({ store }) => {
      const records = batch();
      await store.write(records);
      const before = { counts: await store.seqCounts(DEVICE), events: await store.events(DEVICE, 0, T0 * 2, 100), latest: await store.latest(DEVICE) };
      await store.write(records);
      await store.write(records.slice(1, 4));
      await store.write([records[4], records[0]]);
      assert.equal(await store.seqCounts(DEVICE), before.counts);
      assert.equal(await store.events(DEVICE, 0, T0 * 2, 100), before.events);
      assert.equal(byPeripheral(await store.latest(DEVICE)), byPeripheral(before.latest));
      assert.is((await store.series({ device: DEVICE, peripheral: 'printer0', field: 'temperature', from: 0, to: T0 * 2 })).length, 3);
    }),
  );

  test(
    'devices, peripherals and fields stay apart; unknown ones read as empty',
    withStore(async ({ store }) => {
      await store.write([...batch(), telemetry(1, T0 + 10, [printer(T0 + 10, 99, 5)], 'pos-other'), event(2, T0 + 20, {}, 'pos-other')]);
      assert.equal(
        (await store.latest('pos-other')).map((s) => [s.peripheral, s.seq, s.metrics.temperature]),
        [['printer0', 1, 99]],
      );
      assert.equal(
        (await store.series({ device: DEVICE, peripheral: 'printer0', field: 'temperature', from: 0, to: T0 * 2 })).map((p) => p.value),
        [41.5, 42.25, 43],
      );
      assert.equal(
        (await store.events('pos-other', 0, T0 * 2, 10)).map((e) => e.seq),
        [2],
      );
      assert.equal(await store.seqCounts('pos-other'), [
        { seq: 1, points: 1 },
        { seq: 2, points: 1 },
      ]);
      assert.equal(await store.series({ device: DEVICE, peripheral: 'host', field: 'temperature', from: 0, to: T0 * 2 }), [], 'a field of another peripheral');
      assert.equal(await store.series({ device: DEVICE, peripheral: 'printer0', field: 'noSuchField', from: 0, to: T0 * 2 }), []);
      assert.equal(await store.latest('pos-none'), []);
    }),
  );

  test(
    'a metric named like a stored column (seq, health) keeps its own values and does not change the real ones',
    withStore(async ({ store }) => {
      const s = {
        peripheral: 'printer0',
        kind: 'printer' as const,
        ts: T0,
        health: 'warning' as const,
        metrics: { seq: 7.5, health: 3 },
        counters: {},
        faults: [],
      };
      await store.write([telemetry(11, T0, [s])]);
      const [latest] = await store.latest(DEVICE);
      assert.is(latest.seq, 11);
      assert.is(latest.health, 'warning');
      assert.equal(await store.series({ device: DEVICE, peripheral: 'printer0', field: 'seq', from: T0, to: T0 }), [{ ts: T0, value: 7.5 }]);
      assert.equal(await store.series({ device: DEVICE, peripheral: 'printer0', field: 'health', from: T0, to: T0 }), [{ ts: T0, value: 3 }]);
    }),
  );

  test(
    'a store with a server: an outage fails the write as StoreWriteError unreachable (spool and retry), and the same batch is taken once afterwards',
    withStore(async ({ store, outage }) => {
      if (!outage) return; // an embedded store has no server to lose
      const records = batch();
      await store.write(records.slice(0, 2));
      await outage.begin();
      try {
        const err = await store.write(records).then(
          () => null,
          (e: unknown) => e,
        );
        assert.instance(err, StoreWriteError, `expected StoreWriteError, got ${String(err)}`);
        assert.is((err as StoreWriteError).failure, 'unreachable');
        assert.is((err as StoreWriteError).code, 'store-unreachable');
      } finally {
        await outage.end();
      }
      await store.write(records);
      assert.equal(
        (await store.seqCounts(DEVICE)).map((c) => c.seq),
        [1, 2, 3, 4, 5],
      );
      assert.is((await store.events(DEVICE, 0, T0 * 2, 10)).length, 2);
    }),
  );

  test.run();
}
