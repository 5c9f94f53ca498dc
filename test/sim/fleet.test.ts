// The demo's pieces together: a real server (aedes broker + collector with the embedded store)
// and a seeded mixed fleet whose agents read every kind of virtual peripheral over its real
// bytes. Inventories must carry what the drivers read; telemetry must reach the store for every kind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { pino } from 'pino';
import { runServer } from '../../cli/server.js';
import { serverConfigSchema } from '../../cli/server-config.js';
import { startFleet } from '../../sim/fleet.js';
import { freePort, waitFor } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';

test('a seeded mixed fleet reports inventory and telemetry of every peripheral kind', async () => {
  const dir = tempDir();
  const log = pino({ level: 'silent' });
  const server = await runServer(
    serverConfigSchema.parse({ dataDir: dir.path, broker: { port: await freePort(), scryptCost: 1024 }, noc: { enabled: false } }),
    { log },
  );
  let fleet: Awaited<ReturnType<typeof startFleet>> | null = null;
  try {
    fleet = await startFleet({
      devices: 3,
      seed: 7,
      brokerUrl: server.brokerUrl!,
      provision: (id, site, tenant) => server.broker!.registry.addDevice(id, { site, tenant }),
      dataDir: join(dir.path, 'sim'),
      intervalMs: 300,
      log,
    });
    const collector = server.collector!;
    const kindsOf = (id: string) =>
      new Set<string>(
        collector
          .fleet()
          .find((d) => d.device === id)
          ?.peripherals.map((p) => p.kind),
      );
    for (const d of fleet.devices) {
      const want = ['host', 'printer', 'card-reader', 'fingerprint', ...(d.clock ? ['clock'] : [])];
      const identified = () =>
        collector
          .fleet()
          .find((x) => x.device === d.id)
          ?.peripherals.every((p) => p.kind === 'host' || p.model);
      await waitFor(
        `inventory of ${d.id} with ${want.join(', ')}, each identified`,
        () => want.every((k) => kindsOf(d.id).has(k)) && identified(),
        20_000,
        100,
      );
      const inv = collector.fleet().find((x) => x.device === d.id)!;
      assert.is(inv.site, d.site);
      for (const p of inv.peripherals.filter((p) => p.kind !== 'host')) {
        assert.ok(p.model && p.firmware, `${d.id}/${p.id}: model and firmware read by the driver (${JSON.stringify(p)})`);
        // Star's command set has no serial-number query; every other kind reports one.
        if (p.profile !== 'star-tsp143') assert.ok(p.serial, `${d.id}/${p.id}: serial read by the driver`);
        assert.ok(p.profile, `${d.id}/${p.id} matched a firmware profile`);
      }
      assert.ok(
        inv.peripherals.some((p) => p.kind === 'printer' && p.profile === d.printer.profile),
        `${d.id} printer is ${d.printer.profile}`,
      );
    }
    assert.ok(
      fleet.devices.some((d) => d.clock),
      'every third device has an attendance clock',
    );
    // Telemetry of each kind reaches the store with the figures its driver reads.
    const clockDevice = fleet.devices.find((d) => d.clock)!;
    const latest = await waitFor(
      'telemetry of every kind in the store',
      async () => {
        const rows = await collector.store.latest(clockDevice.id);
        return rows.length >= 5 ? rows : null;
      },
      20_000,
      200,
    );
    const byKind = new Map(latest.map((s) => [s.kind, s]));
    assert.ok(byKind.get('card-reader')!.counters.goodReadCount >= 0, 'card reader statistics');
    assert.ok('templatesUsedPct' in byKind.get('fingerprint')!.metrics, 'fingerprint template store');
    assert.ok('recordsUsedPct' in byKind.get('clock')!.metrics, 'clock log memory');
    assert.ok('uptimeSec' in byKind.get('host')!.metrics, 'host uptime');
  } finally {
    await fleet?.close();
    await server.close('test done');
    dir.remove();
  }
});

test.run();
