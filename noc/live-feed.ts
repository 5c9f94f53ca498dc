// What feeds the live-update stream (GET /api/live) besides tickets (noc/tickets.ts watches those)
// and commands (noc/commands.ts): `device` events when a device goes online or offline, and
// `health` events when a peripheral's health or active faults change. Health changes are found by
// comparing each stored sample with the last one seen here, seeded from the fleet state at start
// so a restart does not replay the whole fleet as changes.
import type { CollectorHandle } from '../collector/index.js';
import type { LiveEvent } from './api.js';

export class LiveFeed {
  /** `device\0peripheral` → `health|fault,fault` last published. */
  private readonly last = new Map<string, string>();
  private readonly offFleet: () => void;
  private readonly offIngested: () => void;

  constructor(collector: CollectorHandle, publish: (e: LiveEvent) => void) {
    collector.forEachDevice((d) => {
      for (const [p, h] of Object.entries(d.health)) this.last.set(`${d.device}\u0000${p}`, `${h.health}|${h.faults.join(',')}`);
    });
    this.offFleet = collector.onFleetChange((c) => publish({ type: 'device', device: c.device, online: c.online, reason: c.reason, at: Date.now() }));
    this.offIngested = collector.onIngested((records) => {
      for (const r of records) {
        if (r.channel !== 'telemetry') continue;
        for (const s of r.message.samples) {
          const key = `${r.device}\u0000${s.peripheral}`;
          const state = `${s.health}|${s.faults.join(',')}`;
          if (this.last.get(key) === state) continue;
          this.last.set(key, state);
          publish({ type: 'health', device: r.device, peripheral: s.peripheral, health: s.health, faults: s.faults, at: s.ts });
        }
      }
    });
  }

  close(): void {
    this.offFleet();
    this.offIngested();
  }
}
