#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs what it needs, builds, runs every
# test file, and ends with the line `N passed, N failed`. Usage: npm test [-- filter...]
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v influxd >/dev/null || need+=(influxdb)
command -v influx >/dev/null || need+=(influxdb-client)
command -v socat >/dev/null || need+=(socat)
command -v mosquitto_pub >/dev/null || need+=(mosquitto-clients)
command -v mosquitto >/dev/null || need+=(mosquitto)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian packages: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "missing Debian packages (run as root to install): ${need[*]}" >&2
  fi
fi
# Debian starts the packaged services on install; tests start their own on free ports.
systemctl stop influxdb mosquitto >/dev/null 2>&1 || true

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build
exec node dist/test/run.js "$@"
