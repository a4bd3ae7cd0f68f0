"""Test support: an engine server on a chosen event loop (asyncio's own or uvloop), run on its own
thread, with what reached the loop's exception handler; the loop-independent twin of
``support.run_server``."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from echo_server import Echo

from duplex.http import Accept, HttpConfig, HttpServer
from duplex.http.tls import load_certificate_folder
from support import RunningServer


def new_loop(kind: str) -> asyncio.AbstractEventLoop:
    """A new event loop of ``kind``: "asyncio" (the standard selector loop) or "uvloop"."""
    if kind == "uvloop":
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        return loop
    return asyncio.new_event_loop()


@dataclass
class LoopServer(RunningServer):
    """A running server, and what reached its loop's exception handler (asyncio ERRORs)."""

    errors: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def run_on_loop(
    kind: str, root: Path, certificate_folder: Path, client_ssl: ssl.SSLContext, **config: Any
) -> Iterator[LoopServer]:
    """An HttpServer on 127.0.0.1 (HTTP and HTTPS on free ports, an echo endpoint at /echo) run on a
    ``kind`` loop on its own thread; always stopped."""
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "http_port": 0,
        "https_port": 0,
        "ssl_context": load_certificate_folder(certificate_folder),
        "root_folder": str(root),
        **config,
    }
    server = HttpServer(HttpConfig(**settings))
    server.router.add("/echo", lambda request, offer: Accept(Echo()))
    loop = new_loop(kind)
    running = LoopServer(server, loop, root, client_ssl)

    def record(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        running.errors.append(context)
        loop.default_exception_handler(context)

    # Set before start(): the server's own handler passes what it does not take on to this one.
    loop.set_exception_handler(record)
    thread = threading.Thread(target=loop.run_forever, name=f"test-server-{kind}", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
        yield running
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(2.0), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
