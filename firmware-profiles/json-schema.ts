// Writes docs/firmware-profile.schema.json from the zod schema, for editors of profile files.
// Run: node dist/firmware-profiles/json-schema.js [out-file]
import { writeFileSync } from 'node:fs';
import { z } from 'zod';
import { firmwareProfile } from './schema.js';

const importRef = {
  description: 'Imports the object at "file.json#json/pointer" (path relative to this file); keys here override it.',
  anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
};

/**
 * Lets every object carry `$import` (resolved by the loader before validation): the key is
 * allowed, and an object that imports need not repeat the required keys it imports.
 */
function allowImports(node: unknown): void {
  if (Array.isArray(node)) return node.forEach(allowImports);
  if (typeof node !== 'object' || node === null) return;
  const o = node as Record<string, unknown>;
  for (const v of Object.values(o)) allowImports(v);
  if (o.type !== 'object') return;
  o.properties = { $import: importRef, ...(o.properties as object | undefined) };
  const names = o.propertyNames as Record<string, unknown> | undefined;
  if (names) o.propertyNames = { anyOf: [{ const: '$import' }, names] };
  if (Array.isArray(o.required) && o.required.length) {
    o.allOf = [...((o.allOf as unknown[] | undefined) ?? []), { anyOf: [{ required: ['$import'] }, { required: o.required }] }];
    delete o.required;
  }
}

export function firmwareProfileJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(firmwareProfile, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  allowImports(schema);
  return {
    ...schema,
    title: 'fleetcare firmware profile',
    description:
      'One file per model in firmware-profiles/models/<id>.json; shared parts come from firmware-profiles/templates/ by "$import". Generated from firmware-profiles/schema.ts; do not edit by hand.',
  };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/dist\//, '/dist/'))) {
  const out = process.argv[2] ?? 'docs/firmware-profile.schema.json';
  writeFileSync(out, JSON.stringify(firmwareProfileJsonSchema(), null, 2) + '\n');
  console.log(`wrote ${out}`);
}
