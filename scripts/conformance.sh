#!/usr/bin/env bash
# Runs the Autobahn|Testsuite (all 517 cases, compression included) against duplex:
#   engine  the fuzzing client against tests/conformance/echo_server.py, the bare engine (default)
#   api     the fuzzing client against tests/conformance/api_echo_server.py, the 4D-style API
#   client  the fuzzing server against duplex's client (tests/conformance/client_runner.py, the 4D
#           duplex.WebSocket class; DUPLEX_CLIENT_FACE=async walks the cases with duplex.connect())
# Usage: bash scripts/conformance.sh [engine|api|client] [CASES] [EXCLUDE]   (needs .venv from scripts/test.sh)
# Exits non-zero if any case FAILED or is UNIMPLEMENTED; the report lands in autobahn-report/<which>/.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${DUPLEX_SHARED:-../shared}
which=${1:-engine}
case $which in
  engine) script=tests/conformance/echo_server.py ;;
  api) script=tests/conformance/api_echo_server.py ;;
  client) script=tests/conformance/client_runner.py ;;
  *) echo "usage: $0 [engine|api|client] [CASES] [EXCLUDE]"; exit 2 ;;
esac
if [[ $which == client ]]; then
  port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  out=autobahn-report/client
  log=$(mktemp)
  "$shared/tools/autobahn/fuzzingserver" "$port" "$out" "${2:-*}" "${3:-}" >"$log" 2>&1 &
  fuzzer=$!
  trap 'kill $fuzzer 2>/dev/null || true; pkill -f "wstest -m fuzzingserver -s $PWD/$out" 2>/dev/null || true; rm -f "$log"' EXIT
  for _ in $(seq 600); do  # the first run installs Autobahn
    (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 $fuzzer 2>/dev/null || { echo "the fuzzing server did not start:"; cat "$log"; exit 1; }
    sleep 0.5
  done
  .venv/bin/python "$script" "ws://127.0.0.1:$port" --face "${DUPLEX_CLIENT_FACE:-4d}"
  python3 "$shared/tools/autobahn/summarize.py" "$out/index.json"
  exit $?
fi
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
