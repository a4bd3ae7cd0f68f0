"""The HTTP/1.1 server: listening sockets, the state its connections share, and a clean, bounded
shutdown."""

from __future__ import annotations

import asyncio
import time
from typing import cast

from ..asyncio.broadcast import BroadcastBatch
from ..asyncio.websocket_protocol import WebSocketProtocol
from .config import HttpConfig
from .descriptors import DescriptorWatch
from .exchange import Application
from .http_protocol import HttpProtocol
from .routing import Router
from .static import StaticFiles
from .upgrade import UpgradeEndpoint

__all__ = ["HttpServer"]


class HttpServer:
    """Serves static files and WebSocket upgrades on one or two ports, on the running event loop.

    It is the site its connections share (:class:`~duplex.http.http_protocol.Site`): configuration,
    routes, static files, the open connections, the broadcast batch, whether it is stopping.
    """

    def __init__(self, config: HttpConfig) -> None:
        self.config = config
        self.router: Router[UpgradeEndpoint] = Router()
        self.static = StaticFiles(config.root_folder, config.default_homepage) if config.root_folder else None
        self.http_connections: set[HttpProtocol] = set()
        self.websocket_connections: set[WebSocketProtocol] = set()
        self.stopping = False
        # What answers the requests nothing else does (an ASGI application), or None: 404.
        self.app: Application | None = None
        self._servers: list[asyncio.Server] = []
        self.loop: asyncio.AbstractEventLoop | None = None  # set by start()
        self.broadcasts: BroadcastBatch | None = None  # set by start()
        self.http_port: int | None = None
        self.https_port: int | None = None
        self.descriptors: DescriptorWatch | None = None  # set by start()

    def _protocol(self) -> asyncio.BaseProtocol:
        # An asyncio protocol by its methods, not by inheritance (it compiles to an extension type).
        return cast(asyncio.BaseProtocol, HttpProtocol(self))

    def _tls_protocol(self) -> asyncio.BaseProtocol:
        return cast(asyncio.BaseProtocol, HttpProtocol(self, tls=True))

    async def start(self, listen: bool = True) -> None:
        """Bind the ports and start accepting (with ``listen`` False, only bind: see
        :meth:`start_serving`).

        Raises:
            OSError: a port could not be bound (in use, no permission, bad address).
            ValueError: HTTPS is on without an SSL context.
        """
        loop = self.loop = asyncio.get_running_loop()
        self.broadcasts = BroadcastBatch(loop)
        config = self.config
        try:
            if config.http_port is not None:
                server = await loop.create_server(
                    self._protocol,
                    config.host,
                    config.http_port,
                    reuse_address=True,
                    reuse_port=config.reuse_port or None,
                    backlog=config.backlog,
                    start_serving=listen,
                )
                self._servers.append(server)
                self.http_port = server.sockets[0].getsockname()[1]
            if config.https_port is not None:
                if config.ssl_context is None:
                    raise ValueError("HTTPS needs a certificate: set certificateFolder")
                server = await loop.create_server(
                    self._tls_protocol,
                    config.host,
                    config.https_port,
                    ssl=config.ssl_context,
                    reuse_address=True,
                    reuse_port=config.reuse_port or None,
                    backlog=config.backlog,
                    start_serving=listen,
                    ssl_handshake_timeout=config.request_timeout,
                )
                self._servers.append(server)
                self.https_port = server.sockets[0].getsockname()[1]
        except BaseException:
            for server in self._servers:
                server.close()
            self._servers.clear()
            raise
        self.descriptors = DescriptorWatch(
            loop,
            self._servers,
            config.descriptor_log_interval,
            lambda: len(self.http_connections) + len(self.websocket_connections),
        )
        self.descriptors.start()

    async def start_serving(self) -> None:
        """Listen on the ports bound by ``start(listen=False)``. Until then a connection is refused
        by the kernel (the socket is bound, not listening): with ``reuse_port`` it goes to another
        process of the port instead."""
        for server in self._servers:
            await server.start_serving()

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
        if self.descriptors is not None:
            self.descriptors.stop()
        # Let the aborted transports' connection_lost callbacks run.
        await asyncio.sleep(0)
