// Writes docs/contract.schema.json from the zod schemas, for people who write other clients.
// Run: node dist/protocol/json-schema.js [out-file]
import { writeFileSync } from 'node:fs';
import { z } from 'zod';
import { ackMessage, commandRequest, deviceMessageSchemas } from './messages.js';

export function contractJsonSchema(): Record<string, unknown> {
  const defs: Record<string, unknown> = {};
  for (const [channel, schema] of Object.entries(deviceMessageSchemas)) {
    defs[channel] = z.toJSONSchema(schema, { io: 'input' });
  }
  defs.ack = z.toJSONSchema(ackMessage, { io: 'input' });
  defs['cmd/req'] = z.toJSONSchema(commandRequest, { io: 'input' });
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'fleetcare wire contract v1 (topic fleet/v1/{deviceId}/{channel})',
    description: 'One schema per channel. Generated from protocol/messages.ts; do not edit by hand.',
    channels: defs,
  };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/dist\//, '/dist/'))) {
  const out = process.argv[2] ?? 'docs/contract.schema.json';
  writeFileSync(out, JSON.stringify(contractJsonSchema(), null, 2) + '\n');
  console.log(`wrote ${out}`);
}
