// A pair of linked pseudo-terminals made by socat: what one end writes, the other reads. The
// agent's serial driver opens `hostPath`; a simulated peripheral opens `devicePath`. Used by the
// simulators, the fleet simulator, the demo and the tests (test/helpers/pty.ts re-exports it).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type PtyPairOptions = {
  /** Directory to put the two links in (default: a fresh temporary directory, removed on close). */
  dir?: string;
  /** How long to wait for socat to create the links (default 5000 ms). */
  timeoutMs?: number;
};

// socat must not outlive the process that made it. One 'exit' hook for all pairs (not one per
// pair, which would trip Node's listener-leak warning with a fleet of simulated printers).
const liveSocats = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(proc: ChildProcess): void {
  liveSocats.add(proc);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const p of liveSocats) if (p.exitCode === null) p.kill('SIGKILL');
  });
}

export class PtyPair {
  private closed = false;

  private constructor(
    private readonly proc: ChildProcess,
    private readonly ownDir: string | null,
    /** Path of the end the device under test (agent driver) opens. */
    readonly hostPath: string,
    /** Path of the end the simulated peripheral opens. */
    readonly devicePath: string,
  ) {
    track(proc);
  }

  static async create(opts: PtyPairOptions = {}): Promise<PtyPair> {
    const ownDir = opts.dir ? null : mkdtempSync(join(tmpdir(), 'fleetcare-pty-'));
    const dir = opts.dir ?? ownDir!;
    const hostPath = join(dir, 'host');
    const devicePath = join(dir, 'device');
    const proc = spawn('socat', [`pty,raw,echo=0,link=${hostPath}`, `pty,raw,echo=0,link=${devicePath}`], { stdio: 'ignore' });
    let spawnError: Error | null = null;
    proc.once('error', (e) => (spawnError = e));
    const deadline = Date.now() + (opts.timeoutMs ?? 5000);
    while (!(existsSync(hostPath) && existsSync(devicePath))) {
      const failed: Error | null = spawnError;
      if (failed || proc.exitCode !== null || Date.now() > deadline) {
        proc.kill('SIGKILL');
        if (ownDir) rmSync(ownDir, { recursive: true, force: true });
        throw new Error(
          `socat PTY pair not created${failed ? `: ${(failed as Error).message}` : proc.exitCode !== null ? ` (socat exited ${proc.exitCode})` : ' in time'}`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return new PtyPair(proc, ownDir, hostPath, devicePath);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      await new Promise<void>((r) => {
        this.proc.once('exit', () => r());
        this.proc.kill('SIGTERM');
      });
    }
    liveSocats.delete(this.proc);
    if (this.ownDir) rmSync(this.ownDir, { recursive: true, force: true });
  }
}

/** Creates a socat PTY pair (see PtyPair). */
export function createPtyPair(opts: PtyPairOptions = {}): Promise<PtyPair> {
  return PtyPair.create(opts);
}
