#!/usr/bin/env bash
# Runs the Autobahn|Testsuite (all 517 cases, compression included) against an echo server:
#   engine  tests/conformance/echo_server.py, the bare engine (default)
#   api     tests/conformance/api_echo_server.py, the public 4D-style API (dataType "auto")
# Usage: bash scripts/conformance.sh [engine|api] [CASES] [EXCLUDE]   (needs .venv from scripts/test.sh)
# Exits non-zero if any case FAILED or is UNIMPLEMENTED; the report lands in autobahn-report/<server>/.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${DUPLEX_SHARED:-../shared}
which=${1:-engine}
case $which in
  engine) script=tests/conformance/echo_server.py ;;
  api) script=tests/conformance/api_echo_server.py ;;
  *) echo "usage: $0 [engine|api] [CASES] [EXCLUDE]"; exit 2 ;;
esac
log=$(mktemp)
.venv/bin/python "$script" --port 0 >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do
  url=$(grep -o 'ws://[0-9.:]*/' "$log" || true)
  [[ -n $url ]] && break
  sleep 0.1
done
[[ -n ${url:-} ]] || { echo "echo server did not start:"; cat "$log"; exit 1; }
"$shared/tools/autobahn/run" "$url" "autobahn-report/$which" "${2:-*}" "${3:-}"
