// What the fleetcare server allocates per message: reads an allocation profile written by
// `INGEST_TRACE=FILE INGEST_ALLOC_PROFILE=PROFILE node dist/bench/ingest.js --brokers aedes …`
// (sampled from the first message to the end, collected objects included) and prints the bytes
// allocated by owner (our folders, each npm package, Node's internals) and by allocating function,
// and how much was allocated with one of our folders anywhere on the stack.
//
//   node dist/bench/ingest-alloc.js --file PROFILE [--top 30] [--messages N]
// --messages: messages taken in while sampling (the trace's `in` at the end / 2 points per
// message), to print bytes per message.
import { readFileSync } from 'node:fs';
import { parseBenchArgs } from './help.js';

const { values } = parseBenchArgs(import.meta.url, {
  options: { file: { type: 'string' }, top: { type: 'string', default: '30' }, messages: { type: 'string' } },
});
if (!values.file) {
  console.error('usage: node dist/bench/ingest-alloc.js --file PROFILE [--top N] [--messages N]');
  process.exit(64);
}
type Node = { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children: Node[] };
const profile = JSON.parse(readFileSync(values.file, 'utf8')) as { head: Node };

const OURS = /\/dist\/((broker|collector|protocol|cli|cluster|noc|dispatch|logging|state|bench)\/[^:]*)/;
/** Who a frame belongs to: one of our folders, an npm package, or node itself. */
function owner(url: string): string {
  const pkg = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  const ours = OURS.exec(url);
  if (ours) return `fleetcare ${ours[2]}/`;
  if (url.startsWith('node:')) return 'node internals';
  return url ? url : '(native / VM)';
}

const byOwner = new Map<string, number>();
const byFunction = new Map<string, number>();
let total = 0;
let underOurs = 0;
function walk(n: Node, oursOnStack: boolean): void {
  const f = n.callFrame;
  const ours = oursOnStack || OURS.test(f.url);
  if (n.selfSize) {
    total += n.selfSize;
    if (ours) underOurs += n.selfSize;
    const o = owner(f.url);
    byOwner.set(o, (byOwner.get(o) ?? 0) + n.selfSize);
    const fn = `${f.functionName || '(anonymous)'} ${o.startsWith('fleetcare') ? (OURS.exec(f.url)?.[1] ?? '') : o}:${f.lineNumber + 1}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + n.selfSize);
  }
  for (const c of n.children) walk(c, ours);
}
walk(profile.head, false);

const msgs = values.messages ? Number(values.messages) : 0;
const fmt = (b: number) =>
  `${(b / 1048576).toFixed(1).padStart(8)} MB ${((b / total) * 100).toFixed(1).padStart(5)} %${msgs ? `  ${(b / msgs).toFixed(0).padStart(6)} B/msg` : ''}`;
const top = Number(values.top);
console.log(`allocated (sampled, incl. collected): ${fmt(total)}`);
console.log(`with one of our folders on the stack: ${fmt(underOurs)}\n\nby owner:`);
for (const [k, v] of [...byOwner].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${fmt(v)}  ${k}`);
console.log('\nby allocating function:');
for (const [k, v] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${fmt(v)}  ${k}`);
