// The running server's mark in its data dir: `server.lock`, JSON with its pid and addresses,
// written at start and removed at a clean stop. Commands that must not run beside the server
// (restore) read it; a lock left by a crash is recognised because its process is gone.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

export const SERVER_LOCK = 'server.lock';

export const serverLockSchema = z.object({
  pid: z.number().int().positive(),
  host: z.string(),
  startedAt: z.number(),
  brokerUrl: z.string().nullable(),
  nocUrl: z.string().nullable(),
});
export type ServerLock = z.infer<typeof serverLockSchema>;

export function writeServerLock(dataDir: string, lock: Omit<ServerLock, 'pid' | 'host' | 'startedAt'>): () => void {
  const path = join(dataDir, SERVER_LOCK);
  const mine: ServerLock = { pid: process.pid, host: hostname(), startedAt: Date.now(), ...lock };
  writeFileSync(path, JSON.stringify(mine) + '\n');
  return () => {
    // Only our own lock: another server may have taken the dir over since.
    const now = readServerLock(dataDir);
    if (now && now.pid === mine.pid && now.startedAt === mine.startedAt) rmSync(path, { force: true });
  };
}

export function readServerLock(dataDir: string): ServerLock | null {
  try {
    const r = serverLockSchema.safeParse(JSON.parse(readFileSync(join(dataDir, SERVER_LOCK), 'utf8')));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, owned by another user (the service user).
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The lock of a server that is running now on this host, or null (none, or left by a crash). */
export function runningServer(dataDir: string): ServerLock | null {
  const lock = readServerLock(dataDir);
  if (!lock) return null;
  if (lock.host !== hostname()) return lock; // another host on a shared disk: assume it runs
  return alive(lock.pid) ? lock : null;
}
