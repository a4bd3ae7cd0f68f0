"""The HTTP/1.1 server: listening sockets, configuration, and a clean, bounded shutdown."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

from ..protocol.handshake import UpgradeOffer
from ..transport import Accept, Reject, WebSocketProtocol
from .http import HttpProtocol
from .request import Request
from .routing import Router
from .static import StaticFiles

__all__ = ["HttpConfig", "HttpServer", "UpgradeEndpoint"]

UpgradeEndpoint = Callable[[Request, UpgradeOffer], "Accept | Reject | Awaitable[Accept | Reject]"]
"""Decides on a validated WebSocket upgrade: accept (with a handler) or reject (with a status)."""


@dataclass
class HttpConfig:
    """Everything the HTTP server needs to know; see the WebServer settings for the user-facing names.

    Attributes:
        host: the address to listen on ("0.0.0.0" or "::" for all).
        http_port: the plain HTTP port (0: pick a free one; None: no plain HTTP).
        https_port: the HTTPS port (0: pick a free one; None: no HTTPS).
        ssl_context: the TLS context for the HTTPS port.
        root_folder: the folder of static files (None: no static files, every GET is 404).
        default_homepage: the file served for a directory request.
        max_request_size: the largest request body accepted (413 above).
        max_url_length: the longest request target (414 above).
        max_header_size: the most bytes of header lines (431 above).
        max_header_count: the most header lines (431 above).
        request_timeout: seconds for a request head (and any body) to arrive once begun; a
            handshake that never finishes is answered 408 and closed.
        keepalive_timeout: seconds an idle keep-alive connection stays open.
        cors: CORS rules ``(origin or "*", "GET,HEAD")``, or None for no CORS headers.
        hsts_max_age: when set, HTTPS responses carry ``Strict-Transport-Security: max-age=N``.
    """

    host: str = "127.0.0.1"
    http_port: int | None = 8080
    https_port: int | None = None
    ssl_context: ssl.SSLContext | None = None
    root_folder: str | None = None
    default_homepage: str = "index.html"
    max_request_size: int = 2_000_000
    max_url_length: int = 8192
    max_header_size: int = 16384
    max_header_count: int = 100
    request_timeout: float = 10.0
    keepalive_timeout: float = 15.0
    cors: list[tuple[str, str]] | None = None
    hsts_max_age: int | None = None


class HttpServer:
    """Serves static files and WebSocket upgrades on one or two ports, on the running event loop."""

    def __init__(self, config: HttpConfig) -> None:
        self.config = config
        self.router: Router[UpgradeEndpoint] = Router()
        self.static = StaticFiles(config.root_folder, config.default_homepage) if config.root_folder else None
        self.http_connections: set[HttpProtocol] = set()
        self.websocket_connections: set[WebSocketProtocol] = set()
        self.stopping = False
        self._servers: list[asyncio.Server] = []
        self.loop: asyncio.AbstractEventLoop | None = None  # set by start()
        self.http_port: int | None = None
        self.https_port: int | None = None

    def _protocol(self) -> asyncio.BaseProtocol:
        # An asyncio protocol by its methods, not by inheritance (it compiles to an extension type).
        return cast(asyncio.BaseProtocol, HttpProtocol(self))

    async def start(self) -> None:
        """Bind the ports and start accepting.

        Raises:
            OSError: a port could not be bound (in use, no permission, bad address).
            ValueError: HTTPS is on without an SSL context.
        """
        loop = self.loop = asyncio.get_running_loop()
        config = self.config
        try:
            if config.http_port is not None:
                server = await loop.create_server(
                    self._protocol, config.host, config.http_port, reuse_address=True
                )
                self._servers.append(server)
                self.http_port = server.sockets[0].getsockname()[1]
            if config.https_port is not None:
                if config.ssl_context is None:
                    raise ValueError("HTTPS needs a certificate: set certificateFolder")
                server = await loop.create_server(
                    self._protocol,
                    config.host,
                    config.https_port,
                    ssl=config.ssl_context,
                    reuse_address=True,
                    ssl_handshake_timeout=config.request_timeout,
                )
                self._servers.append(server)
                self.https_port = server.sockets[0].getsockname()[1]
        except BaseException:
            for server in self._servers:
                server.close()
            self._servers.clear()
            raise

    def stop_listening(self) -> None:
        """Stop accepting new connections (those open go on)."""
        for server in self._servers:
            server.close()

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close WebSocket connections with 1001 and idle HTTP connections, wait up
        to ``timeout`` seconds for the rest to finish, then drop what is left."""
        self.stopping = True
        deadline = time.monotonic() + timeout
        for server in self._servers:
            server.close()
        for websocket in list(self.websocket_connections):
            websocket.close_timeout = min(websocket.close_timeout, timeout)
            websocket.close(1001, "server shutting down")
        while time.monotonic() < deadline and (self.http_connections or self.websocket_connections):
            for http in list(self.http_connections):
                http.close_idle()
            await asyncio.sleep(0.01)
        for http in list(self.http_connections):
            if http.transport is not None:
                http.transport.abort()
        for websocket in list(self.websocket_connections):
            websocket.abort()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        # Let the aborted transports' connection_lost callbacks run.
        await asyncio.sleep(0)
