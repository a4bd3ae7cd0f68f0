#!/usr/bin/env bash
# Runs the Autobahn|Testsuite (all 517 cases, compression included) against the engine's echo server.
# Usage: bash scripts/conformance.sh [CASES] [EXCLUDE]   (needs .venv from scripts/test.sh)
# Exits non-zero if any case FAILED or is UNIMPLEMENTED; the report lands in autobahn-report/.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${DUPLEX_SHARED:-../shared}
log=$(mktemp)
.venv/bin/python tests/conformance/echo_server.py --port 0 >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do
  url=$(grep -o 'ws://[0-9.:]*/' "$log" || true)
  [[ -n $url ]] && break
  sleep 0.1
done
[[ -n ${url:-} ]] || { echo "echo server did not start:"; cat "$log"; exit 1; }
"$shared/tools/autobahn/run" "$url" autobahn-report "${1:-*}" "${2:-}"
