"""Test support shared by the test folders: a real engine server on 127.0.0.1, run on its own thread."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from echo_server import Echo

from duplex.http import Accept, HttpConfig, HttpServer, Refuse


@dataclass
class RunningServer:
    """A started engine server: ports, URLs, and the client-side TLS context that trusts it."""

    server: HttpServer
    loop: asyncio.AbstractEventLoop
    root: Path
    client_ssl: ssl.SSLContext

    @property
    def port(self) -> int:
        assert self.server.http_port is not None
        return self.server.http_port

    @property
    def tls_port(self) -> int:
        assert self.server.https_port is not None
        return self.server.https_port

    def url(self, path: str = "/echo") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def wss_url(self, path: str = "/echo") -> str:
        return f"wss://localhost:{self.tls_port}{path}"

    def http_url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def call(self, function: Callable[[], Any]) -> Any:
        """Run ``function`` on the server's loop thread and return its result."""
        future: asyncio.Future[Any] = asyncio.run_coroutine_threadsafe(_call(function), self.loop)  # type: ignore[arg-type]
        return future.result(5)


async def _call(function: Callable[[], Any]) -> Any:
    return function()


@contextmanager
def run_server(
    root: Path,
    certificate_folder: Path | None,
    client_ssl: ssl.SSLContext,
    *,
    endpoints: dict[str | None, Callable[..., Accept | Refuse | Any]] | None = None,
    **config: Any,
) -> Iterator[RunningServer]:
    """Start an engine server on free ports in a background thread; stop it on exit.

    ``endpoints`` maps routes to upgrade endpoints (default: an echo at "/echo", compression on);
    ``config`` overrides :class:`HttpConfig` fields.
    """
    from duplex.http.tls import load_certificate_folder

    if endpoints is None:
        endpoints = {"/echo": lambda request, offer: Accept(Echo(), max_message_size=64 * 1024 * 1024)}
    settings: dict[str, Any] = {"host": "127.0.0.1", "http_port": 0, "root_folder": str(root)}
    if certificate_folder is not None:
        settings.update(https_port=0, ssl_context=load_certificate_folder(certificate_folder))
    settings.update(config)
    server = HttpServer(HttpConfig(**settings))
    for route, endpoint in endpoints.items():
        server.router.add(route, endpoint)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []

    async def main() -> None:
        try:
            await server.start()
        except BaseException as exc:
            failure.append(exc)
            started.set()
            return
        started.set()

    thread = threading.Thread(target=loop.run_forever, name="test-server", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(main(), loop)
    started.wait(10)
    if failure:
        raise failure[0]
    try:
        yield RunningServer(server, loop, root, client_ssl)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(2.0), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
