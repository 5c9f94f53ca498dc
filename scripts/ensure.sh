#!/usr/bin/env bash
# Installs what fleetcare's commands need on a fresh Debian machine, then builds.
#   scripts/ensure.sh test   — everything the test suite uses (influxd, socat, mosquitto tools,
#                              chromium for the NOC's browser tests; PostgreSQL, Redis and
#                              nats-server for cluster mode; systemd-analyze for the units;
#                              openssl for the TLS tests' certificates)
#   scripts/ensure.sh demo   — what the demo uses (socat)
#   scripts/ensure.sh cluster — what `npm run cluster` uses (socat, influxd, redis-server, PostgreSQL)
# Debian packages are installed with apt-get when running as root; npm packages with `npm ci`.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A package_of=([influxd]=influxdb [influx]=influxdb-client [socat]=socat [mosquitto_pub]=mosquitto-clients [mosquitto]=mosquitto [chromium]=chromium [g++]=g++ [make]=make [python3]=python3 [redis-server]=redis-server [nats-server]=nats-server [pg_ctl]=postgresql [systemd-analyze]=systemd [openssl]=openssl)
case "${1:-test}" in
  test) commands=(influxd influx socat mosquitto_pub mosquitto chromium redis-server nats-server pg_ctl systemd-analyze openssl) ;;
  demo) commands=(socat) ;;
  cluster) commands=(socat influxd redis-server pg_ctl) ;;
  *) echo "usage: $0 test|demo|cluster" >&2; exit 64 ;;
esac

# better-sqlite3 has no prebuilt binary for this platform: npm ci compiles it with node-gyp.
[ -d node_modules/better-sqlite3/build ] || commands+=(g++ make python3)

# Debian keeps PostgreSQL's server programs (initdb, pg_ctl) off PATH, under a versioned folder.
have() { command -v "$1" >/dev/null || { [ "$1" = pg_ctl ] && compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null; }; }
need=()
for c in "${commands[@]}"; do have "$c" || need+=("${package_of[$c]}"); done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian packages: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    # Debian starts packaged services on install; fleetcare starts its own on free ports.
    systemctl stop influxdb mosquitto redis-server nats-server postgresql >/dev/null 2>&1 || true
  else
    echo "missing Debian packages (run as root, or install them): ${need[*]}" >&2
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run --silent build
