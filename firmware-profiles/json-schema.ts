// Writes docs/firmware-profile.schema.json from the zod schema, for editors of profile files.
// Run: node dist/firmware-profiles/json-schema.js [out-file]
import { writeFileSync } from 'node:fs';
import { z } from 'zod';
import { firmwareProfile } from './schema.js';

export function firmwareProfileJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(firmwareProfile, { io: 'input', unrepresentable: 'any' }),
    title: 'fleetcare firmware profile',
    description: 'One file per model in firmware-profiles/models/<id>.json. Generated from firmware-profiles/schema.ts; do not edit by hand.',
  };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/dist\//, '/dist/'))) {
  const out = process.argv[2] ?? 'docs/firmware-profile.schema.json';
  writeFileSync(out, JSON.stringify(firmwareProfileJsonSchema(), null, 2) + '\n');
  console.log(`wrote ${out}`);
}
