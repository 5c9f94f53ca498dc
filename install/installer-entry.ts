// Entry point bundled into the agent package as dist/install/install.mjs (see package-agent.ts).
import { installerMain } from './cli.js';

installerMain(process.argv.slice(2));
