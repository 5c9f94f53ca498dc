// The one interface every peripheral driver implements. The poller owns timing:
// it calls poll() on the peripheral's interval with an AbortSignal that fires at its timeout,
// so a hung device never blocks the others; a driver only has to honour the signal.
import type { Logger } from 'pino';
import type { Health, PeripheralKind } from '../../protocol/index.js';

/** What the driver learned about the peripheral when it opened it (goes into inventory). */
export type PeripheralIdentity = {
  vendor?: string;
  model?: string;
  serial?: string;
  firmware?: string;
  /** Firmware profile id matched to this peripheral, if any. */
  profile?: string;
  /** Where it is reached: `serial:/dev/ttyS0`, `usb:04b8:0202`, … */
  port?: string;
};

/** One poll's result. The poller turns it into a telemetry sample and fault events. */
export type PeripheralReading = {
  health: Health;
  /** Gauges and rates (floats). */
  metrics: Record<string, number>;
  /** Cumulative counters as the device reports them (never reset by us). */
  counters: Record<string, number>;
  /** Fault codes active now, kebab-case (`paper-end`, `cover-open`, `autocutter-error`). */
  faults: string[];
};

export interface PeripheralDriver {
  readonly id: string;
  readonly kind: PeripheralKind;
  /** Opens and identifies the peripheral. Rejects when it is absent or not answering. */
  open(signal: AbortSignal): Promise<PeripheralIdentity>;
  /** Reads health once. Rejects (or honours `signal`) when the peripheral does not answer. */
  poll(signal: AbortSignal): Promise<PeripheralReading>;
  /** A deeper check for remote diagnosis; returns figures to show the NOC. */
  selfTest(signal: AbortSignal): Promise<Record<string, unknown>>;
  /** Releases the port. Never rejects. */
  close(): Promise<void>;
  /**
   * Remote fixes this peripheral supports, by command name (`sync-clock-time` on clocks); each
   * honours `signal` and returns figures for the NOC.
   */
  readonly commands?: Readonly<Record<string, (signal: AbortSignal, args: Record<string, unknown>) => Promise<Record<string, unknown>>>>;
}

export type DriverContext = { log: Logger };
