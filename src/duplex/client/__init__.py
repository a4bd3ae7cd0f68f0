"""The client: ``duplex.WebSocket`` (4D.WebSocket), ``duplex.connect()`` and ``duplex.connect_sync()``.

Three faces of one connection, built on the server's own engine (the protocol core in client mode,
the same asyncio transport) and sharing :class:`~duplex.client.link.Link`, which opens the
connection and, when asked, opens it again:

- :mod:`.websocket`: the 4D class, driven by handler callbacks (``onOpen``, ``onMessage``...).
- :mod:`.connection`: ``async with duplex.connect(url) as ws`` and ``async for message in ws``.
- :mod:`.sync`: ``with duplex.connect_sync(url) as ws`` for scripts and tests.

It sits above the 4D server API, whose events, error codes and callback rules it reuses, and
reaches the engine only through :mod:`duplex.asyncio`.
"""

from __future__ import annotations

from ..asyncio.client import DeflateSettings, InvalidHandshakeResponse
from .connection import ClientConnection, ConnectionClosed, connect
from .sync import SyncClientConnection, connect_sync
from .websocket import WebSocket

__all__ = [
    "ClientConnection",
    "ConnectionClosed",
    "DeflateSettings",
    "InvalidHandshakeResponse",
    "SyncClientConnection",
    "WebSocket",
    "connect",
    "connect_sync",
]
