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
