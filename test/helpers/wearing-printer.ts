// An Epson TM-T88VI (by its profile) whose cutter counter climbs 5 cuts a poll: a part wearing out
// within seconds, for tests of predicted-failure tickets through real agents.
import type { PeripheralDriver, PeripheralIdentity, PeripheralReading } from '../../agent/drivers/driver.js';

export class WearingPrinter implements PeripheralDriver {
  readonly id = 'printer0';
  readonly kind = 'printer' as const;
  constructor(public cuts: number) {}
  async open(): Promise<PeripheralIdentity> {
    return { vendor: 'Epson', model: 'TM-T88VI', serial: `SN-${this.cuts}`, firmware: '30.01 ESC/POS', profile: 'epson-tm-t88vi', port: 'test:printer0' };
  }
  async poll(): Promise<PeripheralReading> {
    this.cuts += 5;
    return { health: 'ok', metrics: {}, counters: { autocutterCuts: this.cuts, linesFed: 1000 }, faults: [] };
  }
  async selfTest(): Promise<Record<string, unknown>> {
    return { cuts: this.cuts };
  }
  async close(): Promise<void> {}
}
