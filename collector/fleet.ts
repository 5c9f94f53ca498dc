// Fleet state: what the collector knows about each device right now. Online/offline comes from
// status messages (birth, graceful stop, the broker-published LWT) plus a staleness timer;
// inventory gives site/tenant/model/peripherals; telemetry gives the last health per peripheral.
// Persisted in collector.db so a restart keeps it.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { InventoryMessage, PeripheralInventory, StatusMessage, TelemetryMessage } from '../protocol/index.js';
import type { CollectorDb } from './telemetry/collector-db.js';

export type PeripheralHealth = { kind: string; health: string; faults: string[]; ts: number };

export type DeviceState = {
  device: string;
  online: boolean;
  /** Why the state is what it is: `birth`, `lwt`, a stop reason, `stale`, `seen`. */
  reason: string;
  /** When `online` last changed (collector clock, ms). */
  since: number;
  /** Last live (non-retained) message from the device (collector clock, ms); null if never. */
  lastSeen: number | null;
  lastSeq: number;
  site?: string;
  tenant?: string;
  model?: string;
  serial?: string;
  os?: string;
  agentVersion?: string;
  peripherals: PeripheralInventory[];
  health: Record<string, PeripheralHealth>;
  /** arrival − device ts of the latest live message, ms (positive: device clock behind). */
  clockOffsetMs?: number;
};

export type FleetChange = { device: string; online: boolean; reason: string; previous: boolean | null };

export class FleetState extends EventEmitter<{ change: [FleetChange] }> {
  private readonly devices = new Map<string, DeviceState>();
  private readonly dirty = new Set<string>();
  private readonly startedAt = Date.now();
  private sweepTimer: NodeJS.Timeout | null = null;
  private flushTimer: NodeJS.Timeout | null = null;
  /**
   * Since when this node hears a device's telemetry (null: it does not). A cluster owner routed by
   * partition receives the telemetry of its own partitions only, from when it took them
   * (docs/cluster.md): the others' silence is not its call.
   */
  hearsSince: (device: string) => number | null = () => 0;

  constructor(
    private readonly db: CollectorDb,
    private readonly staleAfterMs: number,
    private readonly log: Logger,
  ) {
    super();
    for (const { device, state } of db.loadDevices()) {
      try {
        this.devices.set(device, JSON.parse(state) as DeviceState);
      } catch (e) {
        log.warn({ device, err: (e as Error).message }, 'fleet state: unreadable row ignored');
      }
    }
  }

  start(): void {
    const every = Math.max(50, Math.min(5000, Math.floor(this.staleAfterMs / 4)));
    this.sweepTimer = setInterval(() => this.sweep(Date.now()), every);
    this.flushTimer = setInterval(() => this.flush(), 1000);
    this.sweepTimer.unref();
    this.flushTimer.unref();
  }

  stop(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.sweepTimer = this.flushTimer = null;
    this.flush();
  }

  get(device: string): DeviceState | undefined {
    return this.devices.get(device);
  }

  /** The live state objects, not copies: for read-only passes over a large fleet. */
  values(): IterableIterator<DeviceState> {
    return this.devices.values();
  }

  all(): DeviceState[] {
    return [...this.devices.values()].map((d) => structuredClone(d)).sort((a, b) => a.device.localeCompare(b.device));
  }

  /** site/tenant tags for the store. */
  tags(device: string): { site?: string; tenant?: string } {
    const d = this.devices.get(device);
    return d ? { site: d.site, tenant: d.tenant } : {};
  }

  private entry(device: string, now: number): DeviceState {
    let d = this.devices.get(device);
    if (!d) {
      d = { device, online: false, reason: 'unknown', since: now, lastSeen: null, lastSeq: 0, peripherals: [], health: {} };
      this.devices.set(device, d);
    }
    return d;
  }

  private setOnline(d: DeviceState, online: boolean, reason: string, now: number): void {
    const previous = d.online;
    const known = d.reason !== 'unknown';
    d.reason = reason;
    if (previous === online && known) return;
    d.online = online;
    d.since = now;
    this.log.info({ device: d.device, online, reason }, online ? 'device online' : 'device offline');
    this.emit('change', { device: d.device, online, reason, previous: known ? previous : null });
  }

  /** Any message: a live one is proof of a connection right now. */
  seen(device: string, seq: number, deviceTs: number, now: number, retained: boolean): void {
    const d = this.entry(device, now);
    if (retained) return;
    this.touch(d, seq, deviceTs, now);
    if (!d.online) this.setOnline(d, true, 'seen', now);
    this.dirty.add(device);
  }

  private touch(d: DeviceState, seq: number, deviceTs: number, now: number): void {
    d.lastSeen = now;
    if (seq > d.lastSeq) d.lastSeq = seq;
    d.clockOffsetMs = now - deviceTs;
    this.dirty.add(d.device);
  }

  status(m: StatusMessage, now: number, retained: boolean): void {
    const d = this.entry(m.device, now);
    // A retained status is the broker's latest word on the connection; it is applied, but it is
    // not proof that the device is talking now, so it does not move lastSeen.
    if (!retained) this.touch(d, m.seq, m.ts, now);
    if (m.state === 'online') this.setOnline(d, true, 'birth', now);
    else this.setOnline(d, false, m.reason ?? 'offline', now);
    if (m.agentVersion) d.agentVersion = m.agentVersion;
    this.dirty.add(m.device);
    this.flush();
  }

  inventory(m: InventoryMessage, now: number, retained: boolean): void {
    const d = this.entry(m.device, now);
    if (!retained) this.touch(d, m.seq, m.ts, now);
    Object.assign(d, { site: m.site, tenant: m.tenant, model: m.model, serial: m.serial, os: m.os, agentVersion: m.agentVersion, peripherals: m.peripherals });
    this.dirty.add(m.device);
    this.flush();
  }

  telemetry(m: TelemetryMessage): void {
    const d = this.devices.get(m.device);
    if (!d) return;
    for (const s of m.samples) {
      const prev = d.health[s.peripheral];
      if (!prev || prev.ts <= s.ts) d.health[s.peripheral] = { kind: s.kind, health: s.health, faults: s.faults, ts: s.ts };
    }
    this.dirty.add(m.device);
  }

  /** Marks devices offline that have been silent for staleAfterMs (counting from our own start too). */
  sweep(now: number): void {
    for (const d of this.devices.values()) {
      if (!d.online) continue;
      const since = this.hearsSince(d.device);
      if (since === null) continue;
      const last = Math.max(d.lastSeen ?? 0, this.startedAt, since);
      if (now - last >= this.staleAfterMs) {
        this.setOnline(d, false, 'stale', now);
        this.dirty.add(d.device);
      }
    }
  }

  flush(): void {
    if (this.dirty.size === 0) return;
    const rows: Array<[string, string]> = [];
    for (const id of this.dirty) {
      const d = this.devices.get(id);
      if (d) rows.push([id, JSON.stringify(d)]);
    }
    this.dirty.clear();
    try {
      this.db.saveDevices(rows);
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'fleet state: could not persist');
    }
  }
}
