#!/usr/bin/env bash
# Hunts flaky tests: runs the test suite (or only the files whose path contains a filter) N times
# in a row and prints, per test file, in how many runs it passed. A file below N/N is flaky (or
# broken); the full output of each run is kept to read why.
#   scripts/flake-hunt.sh N [filter...]      e.g. scripts/flake-hunt.sh 10
#                                                 scripts/flake-hunt.sh 3 test/cli/ noc/auth
# Builds once first (skip with FLAKE_HUNT_NO_BUILD=1). Exit status 0 only if every file passed
# every run. Logs: $FLAKE_HUNT_LOGS (default a new dir under /tmp), one file per run.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -lt 1 || ! "$1" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 N [filter...]   (N runs of the suite, or of the files matching a filter)" >&2
  exit 64
fi
runs=$1
shift
logs=${FLAKE_HUNT_LOGS:-$(mktemp -d /tmp/fleetcare-flake-hunt.XXXXXX)}
mkdir -p "$logs"
[[ "${FLAKE_HUNT_NO_BUILD:-}" == 1 ]] || npm run --silent build >/dev/null

started=$(date +%s)
for ((i = 1; i <= runs; i++)); do
  log="$logs/run-$i.log"
  # run.js exits 1 when a file fails; the hunt goes on and counts it.
  node dist/test/run.js "$@" >"$log" 2>&1 || true
  summary=$(tail -n 1 "$log")
  echo "run $i/$runs: $summary   ($log)"
done

# run.js ends with "per file:" then lines "  ok   FILE  N passed, …" or "  FAIL FILE …".
echo
echo "per file (runs passed / runs):"
status=0
awk -v runs="$runs" '
  /^per file:/ { inlist = 1; next }
  inlist && /^  (ok  |FAIL) / { file = $2; seen[file]++; if ($1 == "ok") ok[file]++; next }
  inlist { inlist = 0 }
  END {
    n = 0
    for (f in seen) names[++n] = f
    # sort by name (portable insertion sort; mawk has no asort)
    for (i = 2; i <= n; i++) { v = names[i]; j = i - 1; while (j > 0 && names[j] > v) { names[j + 1] = names[j]; j-- } names[j + 1] = v }
    bad = 0
    for (i = 1; i <= n; i++) {
      f = names[i]; p = ok[f] + 0
      flag = (p < runs) ? "FLAKY" : "ok   "
      if (p < runs) bad++
      printf "  %s %-44s %d/%d\n", flag, f, p, runs
    }
    printf "%d file(s), %d not passing every run\n", n, bad
    exit bad > 0 ? 1 : 0
  }' "$logs"/run-*.log || status=1
echo "$runs run(s) in $(( $(date +%s) - started )) s; logs in $logs"
exit $status
