// Polls each peripheral on its own interval with its own deadline: a hung or missing
// device never blocks the others. Turns readings into samples, fault changes into events at once
// (not at the next telemetry tick), and failures into `absent` with a backed-off re-probe.
import type { Logger } from 'pino';
import type { EventMessage, Health, Sample } from '../protocol/index.js';
import { errorCode, timeoutError } from '../protocol/errors.js';
import type { PeripheralDriver, PeripheralIdentity, PeripheralReading } from './drivers/driver.js';
import { faultLevels, type FaultLevel, type FaultLevels } from '../firmware-profiles/catalogue.js';
import { lazyProfiles } from './drivers/common.js';
import { LogLimiter } from '../logging/log-limiter.js';

export type Severity = EventMessage['severity'];

const healthRank: Record<Health, number> = { ok: 0, unknown: 1, warning: 2, critical: 3, absent: 4 };

/**
 * Severity of a raised fault: its level in the fault catalogue (the firmware profiles), the same
 * level the sample's health takes from it. Codes no profile defines are `warning`.
 */
export function severityOf(code: string, levels: FaultLevels): Severity {
  return levelOf(code, levels);
}

const levelOf = (code: string, levels: FaultLevels): FaultLevel => levels.get(code) ?? 'warning';

/** The driver's own verdict, raised to the worst level among the active faults. */
export function deriveHealth(reading: PeripheralReading, levels: FaultLevels): Health {
  let h = reading.health;
  for (const f of reading.faults) {
    const fh = levelOf(f, levels);
    if (healthRank[fh] > healthRank[h]) h = fh;
  }
  return h;
}

export type PolledPeripheral = {
  driver: PeripheralDriver;
  intervalMs: number;
  timeoutMs: number;
};

export type PollerEvent = Omit<EventMessage, 'v' | 'device' | 'seq' | 'ts'> & { ts: number };

export type PollerOptions = {
  log: Logger;
  onSample: (s: Sample) => void;
  onEvent: (e: PollerEvent) => void;
  /** A peripheral (re)opened with this identity; the agent republishes its inventory. */
  onIdentity: (peripheral: string, identity: PeripheralIdentity) => void;
  /** Cap on the re-probe backoff of an absent peripheral. */
  maxProbeMs?: number;
  now?: () => number;
  /** Fault code → level; from the shipped firmware profiles when not given. */
  faultLevels?: FaultLevels;
};

type State = 'starting' | 'present' | 'absent';

type Entry = PolledPeripheral & {
  state: State;
  identity: PeripheralIdentity | null;
  faults: Set<string>;
  last: (PeripheralReading & { ts: number }) | null;
  probeFailures: number;
  nextProbeAt: number;
  timer: NodeJS.Timeout | null;
  busy: boolean;
  polls: number;
  failures: number;
  lastError: string | null;
};

export type PeripheralStats = {
  id: string;
  kind: string;
  state: State;
  polls: number;
  failures: number;
  faults: string[];
  lastError: string | null;
};

/**
 * Runs `fn` with an AbortSignal that fires after `ms`, and stops waiting at that moment even if
 * the driver ignores the signal (its promise is left to settle on its own).
 */
export function withDeadline<T>(what: string, ms: number, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      const err = timeoutError(what, ms, `${what} timed out after ${ms} ms`);
      ac.abort(err);
      reject(err);
    }, ms);
    let p: Promise<T>;
    try {
      p = Promise.resolve(fn(ac.signal));
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

const errMessage = (e: unknown) => (e instanceof Error ? e.message : String(e)).slice(0, 500);

export class Poller {
  private readonly entries = new Map<string, Entry>();
  private readonly log: Logger;
  /** A driver bug repeats every poll: one line per peripheral and minute, with a count. */
  private readonly failLog = new LogLimiter(60_000);
  private readonly now: () => number;
  private readonly maxProbeMs: number;
  private readonly levels: () => FaultLevels;
  private stopped = false;

  constructor(
    peripherals: PolledPeripheral[],
    private readonly o: PollerOptions,
  ) {
    this.log = o.log.child({ component: 'poller' });
    this.now = o.now ?? Date.now;
    this.maxProbeMs = o.maxProbeMs ?? 5 * 60_000;
    const getProfiles = lazyProfiles(undefined, this.log);
    this.levels = () => o.faultLevels ?? faultLevels(getProfiles());
    for (const p of peripherals) {
      this.entries.set(p.driver.id, {
        ...p,
        state: 'starting',
        identity: null,
        faults: new Set(),
        last: null,
        probeFailures: 0,
        nextProbeAt: 0,
        timer: null,
        busy: false,
        polls: 0,
        failures: 0,
        lastError: null,
      });
    }
  }

  start(): void {
    for (const e of this.entries.values()) this.schedule(e, 0);
  }

  private schedule(e: Entry, delay: number): void {
    if (this.stopped) return;
    e.timer = setTimeout(() => void this.tick(e), delay);
  }

  private async tick(e: Entry): Promise<void> {
    const started = this.now();
    e.busy = true;
    try {
      if (e.state !== 'present') {
        if (started >= e.nextProbeAt) await this.probe(e);
        else this.emitAbsentSample(e);
      }
      if (e.state === 'present' && !this.stopped) await this.poll(e);
    } catch (err) {
      // Nothing from a driver may escape; this is the last net.
      this.failLog.maybe(e.driver.id, this.now(), (suppressed) =>
        this.log.error({ peripheral: e.driver.id, err: errMessage(err), suppressed }, 'poll cycle failed'),
      );
    } finally {
      e.busy = false;
    }
    this.schedule(e, Math.max(0, started + e.intervalMs - this.now()));
  }

  private async probe(e: Entry): Promise<void> {
    const id = e.driver.id;
    try {
      const identity = await withDeadline(`open ${id}`, e.timeoutMs, (s) => e.driver.open(s));
      if (this.stopped) return;
      const wasAbsent = e.state === 'absent';
      e.state = 'present';
      e.identity = identity;
      e.probeFailures = 0;
      this.log.info({ peripheral: id, identity }, wasAbsent ? 'peripheral is back' : 'peripheral opened');
      if (wasAbsent) {
        this.o.onEvent({
          ts: this.now(),
          type: 'peripheral-attached',
          peripheral: id,
          severity: 'info',
          message: [identity.vendor, identity.model, identity.serial && `serial ${identity.serial}`].filter(Boolean).join(' ') || undefined,
        });
      }
      this.o.onIdentity(id, identity);
    } catch (err) {
      this.failed(e, err, 'open');
    }
  }

  private async poll(e: Entry): Promise<void> {
    const id = e.driver.id;
    let reading: PeripheralReading;
    try {
      reading = await withDeadline(`poll ${id}`, e.timeoutMs, (s) => e.driver.poll(s));
      e.polls++;
    } catch (err) {
      this.failed(e, err, 'poll');
      return;
    }
    if (this.stopped) return;
    const ts = this.now();
    const faults = [...new Set(reading.faults ?? [])]
      .filter((f) => typeof f === 'string' && FAULT_CODE.test(f))
      .sort()
      .slice(0, 32);
    e.last = { ...reading, faults, ts };
    this.diffFaults(e, faults, ts);
    this.o.onSample({
      peripheral: id,
      kind: e.driver.kind,
      ts,
      health: deriveHealth({ ...reading, faults }, this.levels()),
      metrics: finiteOnly(reading.metrics),
      counters: countersOnly(reading.counters),
      faults,
    });
  }

  /** Edge rule: every change of the fault set is an event now. */
  private diffFaults(e: Entry, faults: string[], ts: number): void {
    const id = e.driver.id;
    const now = new Set(faults);
    for (const f of now) {
      if (!e.faults.has(f)) this.o.onEvent({ ts, type: 'fault-raised', peripheral: id, code: f, severity: severityOf(f, this.levels()) });
    }
    for (const f of e.faults) {
      if (!now.has(f)) this.o.onEvent({ ts, type: 'fault-cleared', peripheral: id, code: f, severity: 'info' });
    }
    e.faults = now;
  }

  private failed(e: Entry, err: unknown, during: 'open' | 'poll'): void {
    const id = e.driver.id;
    e.failures++;
    e.lastError = errMessage(err);
    const wasPresent = e.state === 'present';
    const firstTime = e.state === 'starting';
    e.state = 'absent';
    e.probeFailures++;
    // Backoff from the poll interval up to maxProbeMs: a missing printer costs almost nothing.
    const backoff = Math.min(this.maxProbeMs, e.intervalMs * 2 ** Math.min(e.probeFailures - 1, 20));
    e.nextProbeAt = this.now() + backoff;
    if (wasPresent || firstTime) {
      this.log.warn({ peripheral: id, during, err: e.lastError }, 'peripheral not answering; marked absent');
      this.o.onEvent({
        ts: this.now(),
        type: 'peripheral-detached',
        peripheral: id,
        code: errorCode(err),
        severity: 'warning',
        message: `${during} failed: ${e.lastError}`,
      });
      void safeClose(e.driver, this.log);
    } else {
      this.log.debug({ peripheral: id, err: e.lastError, nextProbeInMs: backoff }, 're-probe failed');
    }
    this.emitAbsentSample(e);
  }

  private emitAbsentSample(e: Entry): void {
    this.o.onSample({ peripheral: e.driver.id, kind: e.driver.kind, ts: this.now(), health: 'absent', metrics: {}, counters: {}, faults: [] });
  }

  // ---------------------------------------------------------------------------------------------
  // for commands

  has(id: string): boolean {
    return this.entries.has(id);
  }

  ids(): string[] {
    return [...this.entries.keys()];
  }

  identity(id: string): PeripheralIdentity | null {
    return this.entries.get(id)?.identity ?? null;
  }

  kind(id: string): string | undefined {
    return this.entries.get(id)?.driver.kind;
  }

  lastReading(id: string): (PeripheralReading & { ts: number }) | null {
    return this.entries.get(id)?.last ?? null;
  }

  async selfTest(id: string, timeoutMs?: number): Promise<Record<string, unknown>> {
    const e = this.entries.get(id);
    if (!e) throw new Error(`unknown peripheral ${id}`);
    if (e.state !== 'present') throw new Error(`peripheral ${id} is ${e.state}`);
    return withDeadline(`self-test ${id}`, timeoutMs ?? e.timeoutMs * 5, (s) => e.driver.selfTest(s));
  }

  /** Runs a peripheral's own remote command (a `commands` entry of its driver) within a deadline. */
  async runDriverCommand(id: string, name: string, args: Record<string, unknown>, timeoutMs?: number): Promise<Record<string, unknown>> {
    const e = this.entries.get(id);
    if (!e) throw new Error(`unknown peripheral ${id}`);
    const run = e.driver.commands?.[name];
    if (!run) throw new Error(`peripheral ${id} (${e.driver.kind}) does not support ${name}`);
    if (e.state !== 'present') throw new Error(`peripheral ${id} is ${e.state}`);
    return withDeadline(`${name} ${id}`, timeoutMs ?? e.timeoutMs * 5, (s) => run(s, args));
  }

  stats(): PeripheralStats[] {
    return [...this.entries.values()].map((e) => ({
      id: e.driver.id,
      kind: e.driver.kind,
      state: e.state,
      polls: e.polls,
      failures: e.failures,
      faults: [...e.faults],
      lastError: e.lastError,
    }));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const e of this.entries.values()) if (e.timer) clearTimeout(e.timer);
    await Promise.all([...this.entries.values()].map((e) => safeClose(e.driver, this.log)));
  }
}

async function safeClose(d: PeripheralDriver, log: Logger): Promise<void> {
  try {
    await withDeadline(`close ${d.id}`, 2000, () => d.close());
  } catch (e) {
    log.warn({ peripheral: d.id, err: errMessage(e) }, 'driver close failed');
  }
}

// A driver's bad name or value would make the collector refuse the whole telemetry message, so
// it is left out here (same rules as protocol/messages.ts, without running zod on every poll).
const METRIC_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const FAULT_CODE = /^[a-z0-9][a-z0-9-]{0,63}$/;

function finiteOnly(m: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(m ?? {})) if (METRIC_NAME.test(k) && typeof v === 'number' && Number.isFinite(v)) out[k] = v;
  return out;
}

function countersOnly(m: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(m ?? {})) if (METRIC_NAME.test(k) && Number.isSafeInteger(v) && v >= 0) out[k] = v;
  return out;
}
