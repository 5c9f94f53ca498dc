// What the agent needs on a store device, and nothing of the server: the launcher, the esbuild
// bundle, package.json (the agent reports its version), the firmware profiles (data), and the
// native modules the bundle leaves external with their runtime dependencies — built for this
// platform (other platforms' prebuilt binaries and the C/C++ sources are left out).
import { cpSync, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Kept in step with `external` in scripts/bundle-agent.mjs. */
export const AGENT_NATIVE_MODULES = ['better-sqlite3', 'serialport', 'usb'];
/** Install-time helpers of native modules (download/compile), not needed to run them. */
const INSTALL_TIME_ONLY = new Set(['prebuild-install', 'node-gyp', '@types/w3c-web-usb']);

/** The fleetcare tree this code runs from (repository or unpacked agent package). */
export function packageRoot(): string {
  // dist/install/payload.js or dist/bundle/install.mjs: two levels below the root.
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

export class InstallError extends Error {
  override name = 'InstallError';
}

type Pkg = { name: string; dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };

/** Node's lookup: `name` in node_modules of `fromDir`, then of each parent (not inside node_modules/ itself). */
function resolvePackageDir(name: string, fromDir: string, root: string): string | null {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    if (basename(dir) !== 'node_modules') {
      const candidate = join(dir, 'node_modules', name);
      if (existsSync(join(candidate, 'package.json'))) return candidate;
    }
    if (dir === root || dirname(dir) === dir) return null;
  }
}

/** Package dirs (relative to root) of the agent's native modules and everything they load. */
export function nativeModuleDirs(root: string): string[] {
  const found = new Set<string>();
  const visit = (name: string, fromDir: string, optional: boolean) => {
    if (INSTALL_TIME_ONLY.has(name)) return;
    const dir = resolvePackageDir(name, fromDir, root);
    if (!dir) {
      if (optional) return; // another platform's prebuilt binary
      throw new InstallError(`${name} is not installed under ${root}/node_modules (run npm ci)`);
    }
    const rel = relative(root, dir);
    if (found.has(rel)) return;
    found.add(rel);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Pkg;
    for (const d of Object.keys(pkg.dependencies ?? {})) visit(d, dir, false);
    for (const d of Object.keys(pkg.optionalDependencies ?? {})) visit(d, dir, true);
  };
  for (const m of AGENT_NATIVE_MODULES) visit(m, root, false);
  // A nested package lives inside its parent's dir, which is copied whole: drop it.
  return [...found].sort().filter((d, _i, all) => !all.some((p) => p !== d && d.startsWith(p + sep)));
}

const platformTag = `${process.platform}-${process.arch}`;

/** Copy filter inside a native module: skip sources, build intermediates, other platforms. */
function keepInModule(moduleDir: string) {
  const compiled = existsSync(join(moduleDir, 'binding.gyp'));
  return (src: string): boolean => {
    const rel = relative(moduleDir, src);
    if (!rel) return true;
    const parts = rel.split(sep);
    // C/C++ sources and the compiler's intermediates of a module built here (better-sqlite3: 25 MB).
    if (compiled && (parts[0] === 'deps' || parts[0] === 'src' || parts[0] === 'binding.gyp')) return false;
    if (compiled && parts[0] === 'build') return parts.length === 1 || (parts[1] === 'Release' && (parts.length === 2 || src.endsWith('.node')));
    // prebuilds/<platform>-<arch>[+arch]/: only this machine's.
    if (parts[0] === 'prebuilds' && parts.length >= 2)
      return parts[1].split('+').some((p, i, all) => (i === 0 ? p : `${all[0].split('-')[0]}-${p}`) === platformTag);
    return true;
  };
}

export type PayloadEntry = { from: string; to: string; filter?: (src: string) => boolean };

/** Files of the agent package, relative to its root, from the fleetcare tree at `root`. */
export function agentPayload(root = packageRoot()): PayloadEntry[] {
  const bundle = join(root, 'dist', 'bundle', 'agent.mjs');
  if (!existsSync(bundle)) throw new InstallError(`${bundle} is missing: build it first (npm run build)`);
  const entries: PayloadEntry[] = [
    { from: join(root, 'bin', 'fleetcare-agent'), to: 'bin/fleetcare-agent' },
    { from: join(root, 'dist', 'bundle'), to: 'dist/bundle' },
    { from: join(root, 'package.json'), to: 'package.json' },
    { from: join(root, 'firmware-profiles', 'models'), to: 'firmware-profiles/models' },
  ];
  for (const readme of ['README.md', 'docs/operations.md']) if (existsSync(join(root, readme))) entries.push({ from: join(root, readme), to: readme });
  for (const dir of nativeModuleDirs(root)) entries.push({ from: join(root, dir), to: dir.split(sep).join('/'), filter: keepInModule(join(root, dir)) });
  return entries;
}

export function copyPayload(entries: PayloadEntry[], dest: string): void {
  for (const e of entries) cpSync(e.from, join(dest, e.to), { recursive: true, preserveTimestamps: true, ...(e.filter ? { filter: e.filter } : {}) });
}

/** Total bytes under a path (for the package summary). */
export function duBytes(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((a, n) => a + duBytes(join(path, n)), 0);
}
