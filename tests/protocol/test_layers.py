"""Tests that duplex.protocol stays sans-I/O: importing it, and every module in it, pulls in no asyncio
and no socket (STYLE.md, principle 1).

The check runs in a fresh interpreter, since this test process has long imported both.
"""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import importlib, importlib.util, pkgutil, sys
import duplex.protocol
names = sorted(info.name for info in pkgutil.iter_modules(duplex.protocol.__path__, "duplex.protocol."))
# Under DUPLEX_PURE_PYTHON=1 the C-only module (_mask) is listed but not importable, by design.
names = [name for name in names if importlib.util.find_spec(name) is not None]
for name in names:
    importlib.import_module(name)
print(",".join(names))
loaded = sorted(name for name in ("asyncio", "socket", "selectors", "ssl") if name in sys.modules)
assert not loaded, loaded
"""


def test_protocol_package_imports_neither_asyncio_nor_socket() -> None:
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    modules = result.stdout.strip().split(",")
    # The walk really covered the package, not an empty or mistaken path.
    for name in ("connection", "deflate", "events", "exceptions", "frames", "handshake", "utf8"):
        assert f"duplex.protocol.{name}" in modules


def test_check_detects_a_forbidden_import() -> None:
    # The same check, made to fail on purpose, proves that it can fail.
    script = "import socket\n" + CHECK
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "socket" in result.stderr
