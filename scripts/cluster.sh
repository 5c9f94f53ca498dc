#!/usr/bin/env bash
# A local cluster on loopback (docs/cluster.md): PostgreSQL, Redis and InfluxDB on temp dirs and
# free ports, 3 broker nodes, 2 collectors, 2 NOC nodes and a simulated fleet; Ctrl-C stops it.
# Usage: npm run cluster [-- --devices 20]. As root, PostgreSQL runs as the `postgres` user.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure.sh cluster
exec node dist/cli/fleetcare.js cluster local "$@"
