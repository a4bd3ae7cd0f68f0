"""duplex: the 4D WebSocketServer API in Python, on an RFC 6455/7692 engine of its own.

::

    import duplex

    class UpperCase:
        def onMessage(self, ws, event):
            ws.send(event.data.upper())

    class Server:
        def onConnection(self, wss, event):
            return UpperCase()

    web = duplex.web_server()
    web.start({"HTTPPort": 8080})
    wss = duplex.WebSocketServer(Server(), {"path": "/ws", "dataType": "text"})
    web.run_until_signal()        # serve until Ctrl-C or SIGTERM, then close every client with 1001
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import (
        ClientConnection,
        ConnectionClosed,
        DeflateSettings,
        InvalidHandshakeResponse,
        SyncClientConnection,
        WebSocket,
        connect,
        connect_sync,
    )
    from .cluster import BrokerError
    from .server.callback_events import Event, RequestInfo
    from .server.errors import ErrorCode, Reject
    from .server.publisher import AsyncPublisher, Publisher
    from .server.web_server import WebServer, web_server
    from .server.websocket_connection import WebSocketConnection
    from .server.websocket_server import WebSocketServer


def _load_sources_only() -> None:
    """Make duplex import its ``.py`` files even where compiled modules sit beside them.

    setup.py compiles the per-message path with Cython when it can; the ``.py`` files are the same
    code and the fallback. ``DUPLEX_PURE_PYTHON=1`` runs them, to test the fallback or to debug.
    """
    import sys
    from importlib.machinery import (
        BYTECODE_SUFFIXES,
        SOURCE_SUFFIXES,
        FileFinder,
        SourceFileLoader,
        SourcelessFileLoader,
    )

    for root in __path__:
        for folder in (root, *(os.path.join(root, package) for package in _PACKAGES)):
            sys.path_importer_cache[folder] = FileFinder(
                folder, (SourceFileLoader, SOURCE_SUFFIXES), (SourcelessFileLoader, BYTECODE_SUFFIXES)
            )


# The packages, one per layer (docs/engine.md), bottom up.
_PACKAGES = ("protocol", "asyncio", "http", "asgi", "cluster", "server", "client", "demo")

if os.environ.get("DUPLEX_PURE_PYTHON"):
    _load_sources_only()

# The public names load on first use (PEP 562), so that importing the sans-I/O core
# (duplex.protocol) does not pull in asyncio and the servers above it.
_EXPORTS = {
    "ClientConnection": "client",
    "ConnectionClosed": "client",
    "DeflateSettings": "client",
    "InvalidHandshakeResponse": "client",
    "SyncClientConnection": "client",
    "WebSocket": "client",
    "connect": "client",
    "connect_sync": "client",
    "AsyncPublisher": "server.publisher",
    "Publisher": "server.publisher",
    "BrokerError": "cluster",
    "ErrorCode": "server.errors",
    "Reject": "server.errors",
    "Event": "server.callback_events",
    "RequestInfo": "server.callback_events",
    "WebServer": "server.web_server",
    "web_server": "server.web_server",
    "WebSocketConnection": "server.websocket_connection",
    "WebSocketServer": "server.websocket_server",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'duplex' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__version__ = "0.1.0"

__all__ = [
    "AsyncPublisher",
    "BrokerError",
    "ClientConnection",
    "ConnectionClosed",
    "DeflateSettings",
    "ErrorCode",
    "Event",
    "InvalidHandshakeResponse",
    "Publisher",
    "Reject",
    "RequestInfo",
    "SyncClientConnection",
    "WebServer",
    "WebSocket",
    "WebSocketConnection",
    "WebSocketServer",
    "__version__",
    "connect",
    "connect_sync",
    "web_server",
]
