// A small real tmpfs for full-disk tests (mounting needs root; callers skip with this reason
// otherwise), and a filler that takes every free byte of it and gives them back.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, rmdirSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type Tmpfs = { path: string; fill(): void; free(): void; unmount(): void };

/** Why a tmpfs cannot be mounted here, or null when it can. */
export function tmpfsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root to mount a tmpfs (mount -t tmpfs); run the suite as root as CI does';
  // Root in a container without CAP_SYS_ADMIN still cannot mount: try once.
  try {
    mountTmpfs(64).unmount();
  } catch (e) {
    return `mount -t tmpfs is refused here (${(e as Error).message.trim()})`;
  }
  return null;
}

export function mountTmpfs(sizeKiB: number): Tmpfs {
  const path = mkdtempSync(join(tmpdir(), 'fleetcare-tmpfs-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k,mode=0700`, 'tmpfs', path], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmdirSync(path);
    throw new Error(`mount -t tmpfs failed: ${r.stderr || r.error?.message}`);
  }
  const filler = join(path, 'filler');
  return {
    path,
    /** Writes a file until ENOSPC, in smaller and smaller pieces, so not one block is left. */
    fill() {
      const fd = openSync(filler, 'a');
      try {
        for (const size of [65536, 4096, 512, 1]) {
          const buf = Buffer.alloc(size, 0x55);
          for (;;) {
            try {
              writeSync(fd, buf);
            } catch (e) {
              if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
              throw e;
            }
          }
        }
      } finally {
        closeSync(fd);
      }
    },
    free() {
      rmSync(filler, { force: true });
    },
    unmount() {
      spawnSync('umount', ['-l', path]);
      try {
        rmdirSync(path);
      } catch {
        /* still busy: left for the OS */
      }
    },
  };
}
