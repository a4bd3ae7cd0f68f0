"""Shared fixtures: a real engine server on 127.0.0.1, run on its own thread, always stopped."""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

import duplex
from support import RunningServer, run_server


def pytest_sessionstart(session: pytest.Session) -> None:
    """Refuse to test stale code: Python prefers a compiled module (setup.py builds them) to the
    .py beside it, so an edit to the .py does nothing until the module is rebuilt."""
    if os.environ.get("DUPLEX_PURE_PYTHON"):
        return
    root = Path(duplex.__file__).parent
    stale = [
        str(binary.relative_to(root))
        for binary in root.rglob("*.so")
        if (source := binary.with_name(binary.name.split(".", 1)[0] + ".py")).exists()
        and binary.stat().st_mtime < source.stat().st_mtime
    ]
    if stale:
        pytest.exit(
            f"compiled modules older than their .py: {stale}; rebuild them with "
            "`pip install -e .` (scripts/test.sh does), or run with DUPLEX_PURE_PYTHON=1",
            returncode=2,
        )


@pytest.fixture(scope="session")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def certificate_folder(certificate_authority: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with cert.pem and key.pem for localhost and 127.0.0.1, signed by a test CA."""
    folder = tmp_path_factory.mktemp("certs")
    cert = certificate_authority.issue_cert("localhost", "127.0.0.1")
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    with open(folder / "cert.pem", "wb") as file:
        for blob in cert.cert_chain_pems:
            file.write(blob.bytes())
    return folder


@pytest.fixture(scope="session")
def client_ssl(certificate_authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    certificate_authority.configure_trust(context)
    return context


@pytest.fixture
def static_root(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    root.mkdir()
    (root / "index.html").write_text("<!doctype html><title>duplex</title>hello\n")
    return root


@pytest.fixture
def echo_server(
    static_root: Path, certificate_folder: Path, client_ssl: ssl.SSLContext
) -> Iterator[RunningServer]:
    """An echo endpoint at /echo on ws:// and wss://, with static files from ``static_root``."""
    with run_server(static_root, certificate_folder, client_ssl) as running:
        yield running


@pytest.fixture
def make_server(
    static_root: Path, certificate_folder: Path, client_ssl: ssl.SSLContext
) -> Callable[..., Any]:
    """``with make_server(endpoints=..., **HttpConfig overrides) as running:`` for custom servers."""

    def factory(**kwargs: Any) -> Any:
        return run_server(static_root, certificate_folder, client_ssl, **kwargs)

    return factory


@pytest.fixture
def new_web() -> Iterator[Callable[..., duplex.WebServer]]:
    """A factory of fresh (not started) ``WebServer`` instances, each stopped after the test."""
    made: list[duplex.WebServer] = []

    def make(settings: dict[str, Any] | None = None) -> duplex.WebServer:
        server = duplex.WebServer(settings)
        made.append(server)
        return server

    try:
        yield make
    finally:
        for server in made:
            server.stop()
