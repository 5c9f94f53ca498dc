// Loads and cross-checks every firmware profile in a directory, and matches a peripheral's
// identity to a profile. The agent and the collector both use this; there is no per-model code.
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join, relative, basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { firmwareProfile, type FirmwareProfile } from './schema.js';
import { collectFaultLevels } from './catalogue.js';
import { FleetcareError } from '../protocol/errors.js';

/** A profile file that cannot be used; names the file and the field. */
export class FirmwareProfileError extends FleetcareError<'profile-invalid'> {
  override name = 'FirmwareProfileError';
  constructor(
    readonly file: string,
    readonly field: string,
    readonly reason: string,
  ) {
    super('profile-invalid', `firmware profile ${file}: ${field}: ${reason}`, { file, field });
  }
}

function jsonFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...jsonFiles(p));
    else if (name.endsWith('.json')) out.push(p);
  }
  return out;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
const isObject = (v: unknown): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Resolves `$import` the way zwave-js device files do: in any object, `"$import": "file.json#a/b"`
 * (or a list of them) pulls in the object at that JSON pointer of that file (path relative to the
 * importing file; no `#` = the whole file); the object's own keys override what it imports.
 * Imported objects may import in turn; a cycle is refused. Errors name the importing file and field.
 */
/** Where an imported value came from: field path in the profile → file and field in that file. */
type Origins = Map<string, { file: string; field: string }>;

function resolveImports(value: Json, file: string, absPath: string, path: (string | number)[], chain: readonly string[], origins: Origins): Json {
  if (Array.isArray(value)) return value.map((v, i) => resolveImports(v, file, absPath, [...path, i], chain, origins));
  if (!isObject(value)) return value;
  const here = (extra?: string) => [...path, ...(extra ? [extra] : [])].join('.') || '(root)';
  let out: Record<string, Json> = {};
  if ('$import' in value) {
    const refs = value.$import;
    const list = typeof refs === 'string' ? [refs] : Array.isArray(refs) && refs.every((r) => typeof r === 'string') ? (refs as string[]) : null;
    if (!list) throw new FirmwareProfileError(file, here('$import'), 'must be a string or a list of strings ("file.json#pointer")');
    for (const ref of list) {
      const [target, pointer = ''] = ref.split('#');
      const targetAbs = target ? resolve(dirname(absPath), target) : absPath;
      const key = `${targetAbs}#${pointer}`;
      if (chain.includes(key)) throw new FirmwareProfileError(file, here('$import'), `"${ref}" imports itself (${chain.length} levels deep)`);
      let text: string;
      try {
        text = readFileSync(targetAbs, 'utf8');
      } catch (e) {
        throw new FirmwareProfileError(file, here('$import'), `cannot read "${ref}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      let node: Json;
      try {
        node = JSON.parse(text) as Json;
      } catch (e) {
        throw new FirmwareProfileError(file, here('$import'), `"${ref}" is not valid JSON: ${(e as Error).message}`);
      }
      for (const seg of pointer.split('/').filter(Boolean)) {
        node = isObject(node) && seg in node ? node[seg] : (undefined as unknown as Json);
        if (node === undefined) throw new FirmwareProfileError(file, here('$import'), `"${ref}": no "${seg}" at that pointer`);
      }
      if (!isObject(node)) throw new FirmwareProfileError(file, here('$import'), `"${ref}" is not an object`);
      const targetFile = relative(process.cwd(), targetAbs) || targetAbs;
      const inner: Origins = new Map();
      const imported = resolveImports(node, targetFile, targetAbs, [], [...chain, key], inner) as Record<string, Json>;
      delete imported.$schema;
      delete imported.$comment;
      const base = pointer.split('/').filter(Boolean);
      for (const k of Object.keys(imported)) origins.set([...path, k].join('.'), { file: targetFile, field: [...base, k].join('.') });
      for (const [rel, o] of inner) origins.set([...path, rel].join('.'), o);
      out = { ...out, ...imported };
    }
  }
  for (const [k, v] of Object.entries(value)) {
    if (k === '$import') continue;
    const at = [...path, k].join('.');
    for (const o of [...origins.keys()]) if (o === at || o.startsWith(`${at}.`)) origins.delete(o);
    out[k] = resolveImports(v, file, absPath, [...path, k], chain, origins);
  }
  return out;
}

/** ` (from templates/x.json, faults.y)` when the value at `path` was imported. */
function originOf(path: readonly PropertyKey[], origins: Origins): string {
  for (let n = path.length; n > 0; n--) {
    const o = origins.get(path.slice(0, n).join('.'));
    if (o) return ` (imported from ${o.file}, ${[o.field, ...path.slice(n)].join('.')})`;
  }
  return '';
}

/**
 * Validates one profile file's text, after resolving its `$import`s (relative to `absPath`,
 * default `file`); throws FirmwareProfileError naming `file` and the field.
 */
export function parseFirmwareProfile(text: string, file: string, absPath: string = resolve(file)): FirmwareProfile {
  let raw: Json;
  try {
    raw = JSON.parse(text) as Json;
  } catch (e) {
    throw new FirmwareProfileError(file, '(root)', `invalid JSON: ${(e as Error).message}`);
  }
  const origins: Origins = new Map();
  raw = resolveImports(raw, file, absPath, [], [`${absPath}#`], origins);
  const r = firmwareProfile.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0];
    const field = first.path.length ? first.path.join('.') : '(root)';
    const more =
      r.error.issues.length > 1
        ? ` (and ${r.error.issues.length - 1} more: ${r.error.issues
            .slice(1, 4)
            .map((i) => i.path.join('.') || '(root)')
            .join(', ')})`
        : '';
    throw new FirmwareProfileError(file, field, first.message + originOf(first.path, origins) + more);
  }
  const expected = basename(file, '.json');
  if (r.data.id !== expected) throw new FirmwareProfileError(file, 'id', `"${r.data.id}" must equal the file name "${expected}"`);
  return r.data;
}

/**
 * Every `*.json` under `dir` (recursively), validated. Refuses the whole set on the first bad
 * file rather than running with a silently missing model; duplicate ids are refused too.
 */
export function loadFirmwareProfiles(dir: string): FirmwareProfile[] {
  const profiles: FirmwareProfile[] = [];
  const seen = new Map<string, string>();
  for (const path of jsonFiles(dir)) {
    const file = relative(process.cwd(), path) || path;
    const p = parseFirmwareProfile(readFileSync(path, 'utf8'), file, path);
    const other = seen.get(p.id);
    if (other) throw new FirmwareProfileError(file, 'id', `"${p.id}" is also used by ${other}`);
    seen.set(p.id, file);
    profiles.push(p);
  }
  // One definition per fault: the agent derives event severity and health from the code alone.
  const c = collectFaultLevels(profiles).conflicts[0];
  if (c)
    throw new FirmwareProfileError(
      seen.get(c.profile)!,
      `faults.${c.code}.health`,
      `"${c.level}" but ${seen.get(c.otherProfile)} says "${c.otherLevel}": a fault code has one health in every profile`,
    );
  return profiles;
}

let shipped: readonly FirmwareProfile[] | null = null;

/** The shipped profiles, loaded once per process (throws like loadFirmwareProfiles). */
export function shippedFirmwareProfiles(): readonly FirmwareProfile[] {
  return (shipped ??= loadFirmwareProfiles(defaultFirmwareProfilesDir()));
}

/**
 * The directory of the profiles shipped with fleetcare: `firmware-profiles/models` in the
 * repository, found from both the compiled (`dist/firmware-profiles/`) and source locations.
 */
export function defaultFirmwareProfilesDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const candidates = [join(here, 'models'), join(here, '..', '..', 'firmware-profiles', 'models')];
  return candidates.find((d) => existsSync(d)) ?? candidates[candidates.length - 1];
}

/** What a driver learned that can identify a model. */
export type ProfileMatchInput = {
  /** Restricts matching to profiles of this driver. */
  driver?: string;
  gsIModelId?: number;
  modelName?: string;
  maker?: string;
  usb?: { vid: number; pid: number };
};

export type ProfileMatch = { profile: FirmwareProfile; score: number; by: string[] };

const matchesAny = (patterns: string[] | undefined, value: string | undefined) => !!value && !!patterns?.some((p) => new RegExp(p, 'i').test(value.trim()));

/**
 * The best profile for an identity, or null. Scores: model name 4, USB vid/pid 2, GS I model
 * id 1 (ids and pids are shared across series, names are not). A profile whose `makers` rule
 * does not match a reported maker is excluded. Ties go to the earlier profile (sorted by file).
 */
export function matchProfile(identity: ProfileMatchInput, profiles: readonly FirmwareProfile[]): ProfileMatch | null {
  let best: ProfileMatch | null = null;
  for (const profile of profiles) {
    if (identity.driver && profile.driver !== identity.driver) continue;
    const m = profile.match;
    if (!m) continue; // the host profile: applies by kind, never by identity
    if (identity.maker && m.makers?.length && !matchesAny(m.makers, identity.maker)) continue;
    let score = 0;
    const by: string[] = [];
    if (matchesAny(m.modelNames, identity.modelName)) {
      score += 4;
      by.push('modelName');
    }
    if (identity.usb && m.usb?.some((u) => parseInt(u.vid, 16) === identity.usb!.vid && parseInt(u.pid, 16) === identity.usb!.pid)) {
      score += 2;
      by.push('usb');
    }
    if (identity.gsIModelId !== undefined && m.gsIModelIds?.includes(identity.gsIModelId)) {
      score += 1;
      by.push('gsIModelId');
    }
    if (score > 0 && (!best || score > best.score)) best = { profile, score, by };
  }
  return best;
}
