// `--help` for every bench script: the script's own header comment (what it measures and how to
// run it) and, for scripts that parse flags with node:util parseArgs, each option and its default.
// Without this, parseArgs' strict mode threw "Unknown option '--help'" at a curious reader.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** The leading `//` comment block of the compiled script (tsc keeps comments). */
function headerComment(scriptUrl: string): string {
  let text = '';
  try {
    text = readFileSync(fileURLToPath(scriptUrl), 'utf8');
  } catch {
    return '';
  }
  const lines: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('//')) lines.push(line.replace(/^\/\/ ?/, ''));
    else if (lines.length || line.trim()) break;
  }
  return lines.join('\n');
}

export function benchUsage(scriptUrl: string, options?: Options): string {
  const name = basename(fileURLToPath(scriptUrl));
  const opts = Object.entries(options ?? {}).map(([k, o]) => {
    const arg = o.type === 'string' ? ` ${k.toUpperCase().replace(/-/g, '_')}` : '';
    const dflt = o.default !== undefined ? `  (default ${String(o.default)})` : '';
    return `  --${k}${arg}${dflt}`;
  });
  return [`usage: node dist/bench/${name} [options]`, '', headerComment(scriptUrl), ...(opts.length ? ['', 'options:', ...opts] : [])].join('\n');
}

/** For scripts that read process.argv themselves: prints the usage and exits on -h/--help. */
export function exitOnHelp(scriptUrl: string, argv = process.argv.slice(2)): void {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(benchUsage(scriptUrl));
    process.exit(0);
  }
}

/** parseArgs plus `--help`; an unknown or malformed flag prints the usage and exits 64. */
export function parseBenchArgs<O extends Options>(scriptUrl: string, config: { options: O; args?: string[] }) {
  const args = config.args ?? process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    console.log(benchUsage(scriptUrl, config.options));
    process.exit(0);
  }
  try {
    return parseArgs({ args, options: config.options, strict: true, allowPositionals: false });
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${benchUsage(scriptUrl, config.options)}`);
    process.exit(64);
  }
}

/** A flag's default, which also says its type: a number, a string, a boolean, or null for a string flag without one. */
type FlagDefault = number | string | boolean | null;
type FlagValues<D extends Record<string, FlagDefault>> = {
  [K in keyof D]: D[K] extends number ? number : D[K] extends boolean ? boolean : D[K] extends null ? string | undefined : string;
};

/**
 * parseBenchArgs from a table of defaults, typed by them: a number flag comes back a number (a flag
 * that is not one is a usage error, exit 64, where `Number()` gave NaN and a run of nonsense).
 */
export function benchFlags<D extends Record<string, FlagDefault>>(scriptUrl: string, defaults: D, args?: string[]): FlagValues<D> {
  const options: Options = {};
  for (const [name, d] of Object.entries(defaults)) {
    options[name] = typeof d === 'boolean' ? { type: 'boolean', default: d } : d === null ? { type: 'string' } : { type: 'string', default: String(d) };
  }
  const { values } = parseBenchArgs(scriptUrl, { options, args });
  const flags: Record<string, string | boolean | number | undefined> = {};
  for (const [name, d] of Object.entries(defaults)) {
    const v = (values as Record<string, string | boolean | undefined>)[name];
    if (typeof d !== 'number') flags[name] = v;
    else if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) flags[name] = Number(v);
    else {
      console.error(`--${name}: expected a number, got "${String(v)}"\n\n${benchUsage(scriptUrl, options)}`);
      process.exit(64);
    }
  }
  return flags as FlagValues<D>;
}

/** The command line that passes these flags to a child bench script (the load generator). */
export function flagArgs(flags: Record<string, string | number>): string[] {
  return Object.entries(flags).flatMap(([name, v]) => [`--${name}`, String(v)]);
}
