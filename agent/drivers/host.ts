// The host itself as a peripheral: uptime, load, disk, memory, the agent's own
// memory, clock offset against the collector and event-loop lag. Cheap enough to poll every
// few seconds on a small POS box: no child processes, one statfs per poll.
import { statfs } from 'node:fs/promises';
import os from 'node:os';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { HostPeripheralConfig } from '../config.js';
import type { DriverContext, PeripheralDriver, PeripheralIdentity, PeripheralReading } from './driver.js';
import { healthOfFaults, lazyProfiles } from './common.js';

export type HostDriverContext = DriverContext & {
  /** Where disk space is measured when the config names no path. */
  defaultDiskPath: string;
  /** Device clock minus collector clock (ms) from the last ack, or undefined when not known yet. */
  clockOffsetMs: () => number | undefined;
};

/** Fault codes the host reports; the shipped `host` profile defines them. */
export const hostFaultCodes = ['disk-low', 'disk-critical'] as const;

/** The event-loop delay histogram samples once per this many ms (one timer wake-up each). */
const LOOP_RESOLUTION_MS = 1000;

export function createHostDriver(config: HostPeripheralConfig, ctx: HostDriverContext): PeripheralDriver {
  const diskPath = config.diskPath ?? ctx.defaultDiskPath;
  let loop: IntervalHistogram | null = null;
  // The shipped `host` profile defines the disk faults (level, priority, runbook).
  const getProfiles = lazyProfiles(undefined, ctx.log);
  const hostProfile = () => getProfiles().find((p) => p.id === 'host') ?? null;

  return {
    id: config.id,
    kind: 'host',

    async open(): Promise<PeripheralIdentity> {
      await statfs(diskPath); // a wrong diskPath shows up as an absent host, with the reason
      if (!loop) {
        loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
        loop.enable();
      }
      const cpu = os.cpus()[0];
      return {
        vendor: os.type(),
        model: cpu ? `${os.arch()} ${cpu.model}`.slice(0, 80) : os.arch(),
        firmware: os.release().slice(0, 80),
        serial: os.hostname().slice(0, 80),
        port: 'host',
        ...(hostProfile() ? { profile: 'host' } : {}),
      };
    },

    async poll(signal: AbortSignal): Promise<PeripheralReading> {
      const fs = await statfs(diskPath);
      signal.throwIfAborted();
      const diskTotal = fs.blocks * fs.bsize;
      const diskFree = fs.bavail * fs.bsize;
      const diskFreePct = diskTotal > 0 ? (diskFree / diskTotal) * 100 : 100;
      const mem = process.memoryUsage();
      const [load1, load5, load15] = os.loadavg();
      const metrics: Record<string, number> = {
        uptimeSec: Math.round(os.uptime()),
        agentUptimeSec: Math.round(process.uptime()),
        load1,
        load5,
        load15,
        diskFreeBytes: diskFree,
        diskTotalBytes: diskTotal,
        diskFreePct: Math.round(diskFreePct * 100) / 100,
        memFreeBytes: os.freemem(),
        memTotalBytes: os.totalmem(),
        agentRssBytes: mem.rss,
        agentHeapUsedBytes: mem.heapUsed,
      };
      if (loop) {
        // Values include the sampling period itself; what is above it is lag.
        metrics.eventLoopLagMs = Math.max(0, Math.round((loop.max / 1e6 - LOOP_RESOLUTION_MS) * 10) / 10);
        loop.reset();
      }
      const offset = ctx.clockOffsetMs();
      if (offset !== undefined && Number.isFinite(offset)) metrics.clockOffsetMs = offset;
      const faults: string[] = [];
      if (diskFreePct < config.diskCriticalFreePct) faults.push('disk-critical');
      else if (diskFreePct < config.diskWarnFreePct) faults.push('disk-low');
      return { health: healthOfFaults(faults, hostProfile(), getProfiles()), metrics, counters: {}, faults };
    },

    async selfTest(signal: AbortSignal): Promise<Record<string, unknown>> {
      const r = await this.poll(signal);
      return { ...r.metrics, diskPath, health: r.health, faults: r.faults, node: process.version, pid: process.pid };
    },

    async close(): Promise<void> {
      loop?.disable();
      loop = null;
    },
  };
}
