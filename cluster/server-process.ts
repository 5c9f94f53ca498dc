// A `fleetcare server` child of the local cluster (local-cluster.ts, local-brokers.ts): its pino
// output read line by line, and its stop (graceful or kill -9) awaited until the process is gone.
import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';

/** Calls `onLine` with each JSON line written to `stream`; lines that are not JSON are skipped. */
export function onJsonLines(stream: Readable, onLine: (line: Record<string, unknown>) => void): void {
  let buf = '';
  stream.on('data', (b: Buffer) => {
    buf += b.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text);
      } catch {
        continue;
      }
      onLine(line);
    }
  });
}

/** kill -9 of a node's process (when it has one); resolves once the process is gone. */
export async function killNode(n: { proc: ChildProcess | null; exited: Promise<void> | null }): Promise<void> {
  const p = n.proc;
  if (!p) return;
  n.proc = null;
  if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await n.exited;
}

/** Graceful stop of a node's process (when it has one): SIGTERM, then SIGKILL after `killAfterMs`. */
export async function stopNode(n: { proc: ChildProcess | null; exited: Promise<void> | null }, killAfterMs: number): Promise<void> {
  const p = n.proc;
  if (!p) return;
  n.proc = null;
  if (p.exitCode !== null || p.signalCode !== null) return;
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), killAfterMs);
  await n.exited;
  clearTimeout(t);
}
