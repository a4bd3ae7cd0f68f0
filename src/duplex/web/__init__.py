"""The HTTP/1.1 web server: parsing, static files, TLS, and the hand-off of WebSocket upgrades."""

from __future__ import annotations

from .request import Headers, Request
from .server import HttpConfig, HttpServer, UpgradeEndpoint

__all__ = ["Headers", "HttpConfig", "HttpServer", "Request", "UpgradeEndpoint"]
