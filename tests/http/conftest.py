"""Fixtures for the HTTP tests that must hold under both event loops duplex runs on: asyncio's own
(selector) loop and uvloop, whose transports differ in what they tell the protocol (a TCP half-close,
a TLS close_notify) and in how they accept connections."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loop_server import run_on_loop


@pytest.fixture(params=["asyncio", "uvloop"])
def loop_kind(request: pytest.FixtureRequest) -> str:
    """Each test that takes it runs once per event loop (uvloop skipped where not installed)."""
    kind: str = request.param
    if kind == "uvloop":
        pytest.importorskip("uvloop")
    return kind


@pytest.fixture
def serve_on(
    loop_kind: str, static_root: Path, certificate_folder: Path, client_ssl: ssl.SSLContext
) -> Callable[..., Any]:
    """``with serve_on(**HttpConfig overrides) as running:``: a server on the ``loop_kind`` loop."""

    def factory(**config: Any) -> Any:
        return run_on_loop(loop_kind, static_root, certificate_folder, client_ssl, **config)

    return factory
