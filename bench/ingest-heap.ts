// Where the server's heap goes: reads a V8 heap snapshot (from `node dist/bench/ingest.js
// --brokers aedes --heap-snapshot DIR`, taken at the end of the measured window) and prints the
// classes with the most self size, how many objects each has (a count near the number of agents,
// or a multiple, is per-connection state), and the retainer that holds most of them (the class
// and edge of each object's first retainer and of that one's, as the DevTools "Retainers" view
// shows first).
//
//   node dist/bench/ingest-heap.js --file FILE.heapsnapshot [--top 30] [--per 10000]
import { readFileSync } from 'node:fs';
import { parseBenchArgs } from './help.js';

const { values } = parseBenchArgs(import.meta.url, {
  options: { file: { type: 'string' }, top: { type: 'string', default: '30' }, per: { type: 'string', default: '10000' } },
});
const file = values.file;
if (!file) {
  console.error('usage: node dist/bench/ingest-heap.js --file FILE.heapsnapshot [--top N] [--per AGENTS]');
  process.exit(64);
}

type Snapshot = {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] }; node_count: number };
  nodes: number[];
  edges: number[];
  strings: string[];
};
const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
const { meta } = snap.snapshot;
const NF = meta.node_fields.length;
const EF = meta.edge_fields.length;
const nType = meta.node_fields.indexOf('type');
const nName = meta.node_fields.indexOf('name');
const nSize = meta.node_fields.indexOf('self_size');
const nEdges = meta.node_fields.indexOf('edge_count');
const eType = meta.edge_fields.indexOf('type');
const eName = meta.edge_fields.indexOf('name_or_index');
const eTo = meta.edge_fields.indexOf('to_node');
const nodeTypes = meta.node_types[0];
const edgeTypes = meta.edge_types[0];
const { nodes, edges, strings } = snap;
const count = nodes.length / NF;

/** A node's class: the constructor name for objects and closures, else its kind and V8's name for it. */
function classOf(i: number): string {
  const type = nodeTypes[nodes[i * NF + nType]];
  const name = strings[nodes[i * NF + nName]];
  if (type === 'object' || type === 'native') return name;
  if (type === 'closure') return `${name || '(anonymous)'}()`;
  if (type === 'string' || type === 'concatenated string' || type === 'sliced string') return '(string)';
  if (type === 'code') return '(code)';
  return `(${type}) ${name.slice(0, 40)}`;
}

// First non-weak retainer of every node (edges are stored node after node, in node order).
const retainer = new Int32Array(count).fill(-1);
const retainerEdge = new Int32Array(count).fill(-1);
for (let i = 0, e = 0; i < count; i++) {
  const n = nodes[i * NF + nEdges];
  for (let k = 0; k < n; k++, e += EF) {
    const t = edgeTypes[edges[e + eType]];
    if (t === 'weak' || t === 'shortcut') continue;
    const to = edges[e + eTo] / NF;
    if (retainer[to] === -1) {
      retainer[to] = i;
      retainerEdge[to] = e;
    }
  }
}
function edgeLabel(e: number): string {
  const t = edgeTypes[edges[e + eType]];
  const n = edges[e + eName];
  return t === 'element' || t === 'hidden' ? `[${t}]` : String(strings[n]).slice(0, 30);
}

type Row = { cls: string; count: number; bytes: number; holders: Map<string, number> };
const rows = new Map<string, Row>();
let total = 0;
for (let i = 0; i < count; i++) {
  const size = nodes[i * NF + nSize];
  total += size;
  const cls = classOf(i);
  let r = rows.get(cls);
  if (!r) rows.set(cls, (r = { cls, count: 0, bytes: 0, holders: new Map() }));
  r.count++;
  r.bytes += size;
  // Two levels: "Map.table" alone does not say whose Map it is.
  const p = retainer[i];
  const pp = p < 0 ? -1 : retainer[p];
  const holder = p < 0 ? '(root)' : `${pp < 0 ? '' : `${classOf(pp)}.${edgeLabel(retainerEdge[p])} → `}${classOf(p)}.${edgeLabel(retainerEdge[i])}`;
  r.holders.set(holder, (r.holders.get(holder) ?? 0) + size);
}

const top = Number(values.top);
const per = Number(values.per);
const mb = (b: number) => (b / 1048576).toFixed(1);
console.log(`${file}: ${count.toLocaleString('en')} nodes, ${mb(total)} MB self size in all`);
console.log('class                                           count   per agent      MB   share  largest first retainer (share of the class)');
for (const r of [...rows.values()].sort((a, b) => b.bytes - a.bytes).slice(0, top)) {
  const [holder, held] = [...r.holders.entries()].sort((a, b) => b[1] - a[1])[0];
  console.log(
    `${r.cls.slice(0, 44).padEnd(44)} ${String(r.count).padStart(8)} ${(r.count / per).toFixed(2).padStart(11)} ${mb(r.bytes).padStart(7)} ${((r.bytes / total) * 100).toFixed(1).padStart(6)}%  ${holder} (${((held / r.bytes) * 100).toFixed(0)} %)`,
  );
}
