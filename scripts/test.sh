#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs what it needs, builds, runs every
# test file in its own process, and ends with the line `N passed, N failed`.
# The linter (biome, see biome.jsonc) is one of those test lines: test/lint.test.ts.
# Usage: npm test [-- filter...]   (only files whose path contains a filter)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure.sh test
exec node dist/test/run.js "$@"
