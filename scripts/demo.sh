#!/usr/bin/env bash
# The main job, from a fresh Debian machine: the server with a simulated fleet, on the embedded
# telemetry store unless --influx-url is given. Usage: npm run demo [-- --devices 20 --port 1884]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure.sh demo
exec node dist/cli/fleetcare.js demo "$@"
