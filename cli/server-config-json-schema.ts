// Writes docs/server-config.schema.json from the server config's zod schema (every part is the
// component's own schema), for editors of server config files.
// Run: node dist/cli/server-config-json-schema.js [out-file]
import { writeFileSync } from 'node:fs';
import { z } from 'zod';
import { serverConfigParts, serverConfigSchema } from './server-config.js';

export function serverConfigJsonSchema(): Record<string, unknown> {
  // The parts without the preprocess step that fills in their dataDir (not representable).
  const { broker: _b, collector: _c, noc: _n, ...root } = serverConfigSchema.shape;
  // biome-ignore lint/suspicious/noExplicitAny: a JSON Schema document, edited by key below
  const schema = z.toJSONSchema(z.object({ ...root, ...serverConfigParts }).strict(), { io: 'input', unrepresentable: 'any' }) as Record<string, any>;
  for (const part of ['broker', 'collector']) {
    const s = schema.properties[part];
    delete s.properties.dataDir;
    s.required = (s.required as string[] | undefined)?.filter((k) => k !== 'dataDir');
    if (!s.required?.length) delete s.required;
  }
  schema.required = (schema.required as string[] | undefined)?.filter((k) => !['broker', 'collector', 'noc'].includes(k));
  if (!schema.required?.length) delete schema.required;
  return {
    ...schema,
    title: 'fleetcare server config',
    description: 'The file given to `fleetcare server --config`. Generated from cli/server-config.ts; do not edit by hand.',
  };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/dist\//, '/dist/'))) {
  const out = process.argv[2] ?? 'docs/server-config.schema.json';
  writeFileSync(out, JSON.stringify(serverConfigJsonSchema(), null, 2) + '\n');
  console.log(`wrote ${out}`);
}
