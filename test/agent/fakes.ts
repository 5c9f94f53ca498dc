// Peripheral drivers with controllable behaviour for poller and command tests. They implement
// the real PeripheralDriver interface; the host driver is the real one.
import type { PeripheralDriver, PeripheralIdentity, PeripheralReading } from '../../agent/drivers/driver.js';
import type { PeripheralKind } from '../../protocol/index.js';

export class ControlledDriver implements PeripheralDriver {
  present = true;
  faults: string[] = [];
  counters: Record<string, number> = { cuts: 10 };
  opens = 0;
  polls = 0;
  closes = 0;
  /** When true, poll() never settles and ignores its signal: the worst driver bug. */
  hang = false;
  identity: PeripheralIdentity = { vendor: 'ACME', model: 'TP-1', serial: 'SN1', port: 'fake:0' };

  constructor(
    readonly id: string,
    readonly kind: PeripheralKind = 'printer',
  ) {}

  async open(): Promise<PeripheralIdentity> {
    this.opens++;
    if (!this.present) throw Object.assign(new Error('no such device'), { code: 'ENOENT' });
    return this.identity;
  }

  poll(): Promise<PeripheralReading> {
    this.polls++;
    if (this.hang) return new Promise(() => {});
    if (!this.present) return Promise.reject(Object.assign(new Error('device vanished'), { code: 'EIO' }));
    this.counters.cuts++;
    return Promise.resolve({ health: 'ok', metrics: { temperature: 40.5, 'bad.name': 1, nan: NaN }, counters: { ...this.counters }, faults: [...this.faults] });
  }

  async selfTest(): Promise<Record<string, unknown>> {
    if (!this.present) throw new Error('device vanished');
    return { headOk: true, cuts: this.counters.cuts };
  }

  async close(): Promise<void> {
    this.closes++;
  }
}
