// The single-node server the incident tests run (`runServer`): its data in a new temp dir, the
// broker on a free loopback port, the NOC on port 0, and the collector part each test needs.
import { serverConfigSchema, type ServerConfig, type ServerConfigInput } from '../../cli/server-config.js';
import { freePort } from '../helpers/net.js';
import { tempDir, type TempDir } from '../helpers/tmp.js';

export async function oneNodeConfig(dirPrefix: string, collector: ServerConfigInput['collector']): Promise<{ dir: TempDir; config: ServerConfig }> {
  const dir = tempDir(dirPrefix);
  const port = await freePort();
  return { dir, config: serverConfigSchema.parse({ dataDir: dir.path, broker: { port, scryptCost: 1024 }, noc: { port: 0 }, collector }) };
}
