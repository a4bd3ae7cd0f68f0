#!/usr/bin/env bash
# Installs duplex with its test tools into .venv, then runs lint, types and the test suite.
# Usage: bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
if [[ ! -x .venv/bin/python ]]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
# Real services, from Debian's packages: chromium for the demo page (Playwright drives it, never
# downloads one), redis-server and nats-server for the cluster tests (they start their own).
missing=()
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
command -v redis-server >/dev/null || [[ -x /usr/bin/redis-server ]] || missing+=(redis-server)
command -v nats-server >/dev/null || [[ -x /usr/sbin/nats-server ]] || missing+=(nats-server)
if (( ${#missing[@]} )); then
  if [[ $(id -u) == 0 ]]; then
    echo "== installing ${missing[*]} (apt-get)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "some tests need Debian's ${missing[*]}: sudo apt-get install ${missing[*]}" >&2
  fi
fi
echo "== ruff"
.venv/bin/ruff check src tests benchmarks examples
.venv/bin/ruff format --check src tests benchmarks examples
echo "== mypy --strict"
.venv/bin/mypy
echo "== pytest"
.venv/bin/pytest "$@"
# The same engine and API tests again on the pure-Python modules: the fallback where duplex could
# not be compiled (see setup.py), and the source the compiled modules are built from.
echo "== pytest, pure Python (DUPLEX_PURE_PYTHON=1)"
DUPLEX_PURE_PYTHON=1 .venv/bin/pytest -q tests/protocol tests/asyncio tests/http tests/asgi tests/integration tests/server tests/cluster tests/client tests/test_compiled.py
