"""The compiled per-message path (setup.py) and its pure-Python fallback are the same modules."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def compiled_modules() -> list[str]:
    """What setup.py compiles with Cython when it can (its COMPILED list)."""
    tree = ast.parse((Path(__file__).resolve().parents[1] / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "COMPILED" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise AssertionError("setup.py has no COMPILED list")


COMPILED = compiled_modules()


def module_files(environment: dict[str, str]) -> dict[str, str]:
    """Where each module of COMPILED is loaded from, in a fresh interpreter."""
    code = (
        "import importlib, json, sys\n"
        f"names = {COMPILED!r}\n"
        "print(json.dumps({n: importlib.import_module(n).__file__ for n in names}))\n"
    )
    env = {**os.environ, **environment}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


def test_pure_python_switch_loads_the_sources() -> None:
    files = module_files({"DUPLEX_PURE_PYTHON": "1"})
    assert all(path.endswith(".py") for path in files.values()), files


@pytest.mark.skipif(
    bool(os.environ.get("DUPLEX_PURE_PYTHON") or os.environ.get("DUPLEX_NO_EXTENSIONS")),
    reason="pure-Python run",
)
def test_the_hot_path_is_compiled() -> None:
    # The install (pip install -e .) compiles these; losing them silently would cost ~40% speed.
    files = module_files({"DUPLEX_PURE_PYTHON": ""})
    missing = [name for name, path in files.items() if path.endswith(".py")]
    assert not missing, (
        f"not compiled: {missing}; reinstall with a C compiler and Cython (pip install -e .), "
        "or set DUPLEX_NO_EXTENSIONS=1 to run pure Python on purpose"
    )
