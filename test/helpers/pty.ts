// A pair of linked pseudo-terminals made by socat: what one end writes, the other reads.
// The agent's serial driver opens one end; a simulator (sim/) opens the other.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, waitFor, type TempDir } from './net.js';

export class PtyPair {
  private constructor(
    private readonly proc: ChildProcess,
    private readonly dir: TempDir,
    /** Path of the end the device under test (agent driver) opens. */
    readonly hostPath: string,
    /** Path of the end the simulated peripheral opens. */
    readonly devicePath: string,
  ) {}

  static async create(): Promise<PtyPair> {
    const dir = tempDir('fleetcare-pty-');
    const hostPath = join(dir.path, 'host');
    const devicePath = join(dir.path, 'device');
    const proc = spawn('socat', [`pty,raw,echo=0,link=${hostPath}`, `pty,raw,echo=0,link=${devicePath}`], { stdio: 'ignore' });
    await waitFor('socat PTY pair', () => existsSync(hostPath) && existsSync(devicePath), 5000, 20);
    return new PtyPair(proc, dir, hostPath, devicePath);
  }

  async close(): Promise<void> {
    if (this.proc.exitCode === null) {
      await new Promise<void>((r) => {
        this.proc.once('exit', () => r());
        this.proc.kill('SIGTERM');
      });
    }
    this.dir.remove();
  }
}
