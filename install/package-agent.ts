// `npm run package:agent`: the offline agent package for store devices of this platform,
//   dist/packages/fleetcare-agent-<version>-<platform>-<arch>.tar.gz
// holding the agent bundle, its native modules built here, the firmware profiles, the systemd
// unit (as installed by default, for reading), and install.sh. Node itself is not inside: it
// comes from the distribution's package (nodejs ≥ 20). Copy the tarball to the device, then
//   tar xzf fleetcare-agent-….tar.gz && sudo ./fleetcare-agent-…/install.sh install --config agent.json
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { build } from 'esbuild';
import { agentPayload, copyPayload, duBytes, packageRoot, AGENT_NATIVE_MODULES } from './payload.js';
import { renderAgentUnit, AGENT_SERVICE } from './systemd.js';
import { AGENT_DEFAULTS } from './agent.js';

const INSTALL_SH = `#!/bin/sh
# Installs (or upgrades, or with "uninstall" removes) the fleetcare agent from this package.
#   sudo ./install.sh install --config agent.json      first install (config from \`fleetcare device add … --write-config\`)
#   sudo ./install.sh install                          upgrade: new code, config and data kept
#   ./install.sh install --config agent.json --root DIR   stage under DIR (no root needed, nothing started)
#   sudo ./install.sh uninstall [--purge]
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
node=\${NODE:-node}
if ! command -v "$node" >/dev/null 2>&1; then
  echo "fleetcare-agent: Node.js is not installed. Install the distribution's package: apt-get install nodejs (version 20 or later)" >&2
  exit 1
fi
major=$("$node" -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "fleetcare-agent: Node.js $("$node" --version) is too old; the agent needs 20 or later (Debian 13: apt-get install nodejs; Debian 12 ships 18 — use a newer release's package)" >&2
  exit 1
fi
abi=$("$node" -p process.versions.modules)
if [ "$abi" != "__ABI__" ]; then
  echo "fleetcare-agent: this package's native modules were built for Node ABI __ABI__ (Node __NODE__); this Node is ABI $abi. Build the package with the same Node major version." >&2
  exit 1
fi
exec "$node" "$here/dist/install/install.mjs" "$@"
`;

export async function packageAgent(
  root = packageRoot(),
  out = join(root, 'dist', 'packages'),
): Promise<{ tarball: string; bytes: number; unpackedBytes: number }> {
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  const name = `fleetcare-agent-${version}-${process.platform}-${process.arch}`;
  const stage = join(out, name);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  copyPayload(agentPayload(root), stage);
  // The installer, bundled like the agent (its zod schemas check the config before installing).
  await build({
    entryPoints: [join(root, 'dist', 'install', 'installer-entry.js')],
    outfile: join(stage, 'dist', 'install', 'install.mjs'),
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    minify: true,
    legalComments: 'none',
    external: [...AGENT_NATIVE_MODULES, '@serialport/*', 'esbuild'],
    banner: { js: "import{createRequire as __fcRequire}from'node:module';const require=__fcRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  const sh = join(stage, 'install.sh');
  writeFileSync(sh, INSTALL_SH.replaceAll('__ABI__', process.versions.modules).replaceAll('__NODE__', process.version));
  chmodSync(sh, 0o755);
  writeFileSync(join(stage, AGENT_SERVICE), renderAgentUnit({ ...AGENT_DEFAULTS, dataDir: '/var/lib/fleetcare-agent' }));
  const unpackedBytes = duBytes(stage);
  const tarball = join(out, `${name}.tar.gz`);
  const tar = spawnSync('tar', ['-czf', tarball, '--owner=0', '--group=0', '-C', out, name], { encoding: 'utf8' });
  if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr}`);
  rmSync(stage, { recursive: true, force: true });
  return { tarball, bytes: duBytes(tarball), unpackedBytes };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/dist\//, '/dist/'))) {
  const r = await packageAgent();
  const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;
  console.log(`agent package: ${r.tarball} (${mb(r.bytes)}, ${mb(r.unpackedBytes)} unpacked)`);
}
