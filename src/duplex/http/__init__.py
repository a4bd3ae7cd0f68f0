"""The HTTP/1.1 server: parsing, static files, TLS, routing, and the hand-off of WebSocket upgrades.

It builds on the asyncio layer (:mod:`duplex.asyncio`) and the core (:mod:`duplex.protocol`); the
4D API (:mod:`duplex.server`) builds on it.
"""

from __future__ import annotations

from .config import HttpConfig
from .http_server import HttpServer
from .request import Headers, Request
from .upgrade import Accept, Refuse, UpgradeEndpoint

__all__ = ["Accept", "Headers", "HttpConfig", "HttpServer", "Refuse", "Request", "UpgradeEndpoint"]
