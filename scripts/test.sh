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
# The demo page is tested in a real browser: Debian's chromium (Playwright drives it, never downloads one).
if [[ ! -x /usr/bin/chromium ]]; then
  if [[ $(id -u) == 0 ]]; then
    echo "== installing chromium (apt-get)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "the browser tests need Debian's chromium: sudo apt-get install chromium" >&2
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
DUPLEX_PURE_PYTHON=1 .venv/bin/pytest -q tests/protocol tests/asyncio tests/http tests/integration tests/server tests/test_compiled.py
