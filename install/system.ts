// What installing a service does to a system, under a root that is / or a staging dir.
import { lstatSync, mkdirSync, symlinkSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { InstallError } from './payload.js';

export const WANTS_DIR = '/etc/systemd/system/multi-user.target.wants';

/** A path of the installed system, under `root`. */
export const under = (root: string, p: string) => join(root, p.replace(/^\/+/, ''));

export const isLiveRoot = (root: string) => resolve(root) === '/';

export function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) throw new InstallError(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new InstallError(`${cmd} ${args.join(' ')} failed (exit ${r.status}): ${(r.stderr || r.stdout).trim()}`);
}

function existsOrLink(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** What `systemctl enable` does for WantedBy=multi-user.target (valid in a staging root too). */
export function enableLink(root: string, service: string): void {
  const link = under(root, `${WANTS_DIR}/${service}`);
  mkdirSync(dirname(link), { recursive: true });
  if (!existsOrLink(link)) symlinkSync(`/etc/systemd/system/${service}`, link);
}
