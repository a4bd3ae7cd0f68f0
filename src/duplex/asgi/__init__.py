"""ASGI 3 applications (FastAPI, Starlette, ...) on duplex's web server: HTTP requests, WebSocket
connections on duplex's own engine, and the lifespan.

It builds on the HTTP server (:mod:`duplex.http`, whose :class:`~duplex.http.exchange.Application`
hook it fills) and the asyncio layer; the 4D API's ``WebServer`` (:mod:`duplex.server`) uses it
for its ``asgi`` setting.
"""

from __future__ import annotations

from .app import AsgiApp, load_app
from .lifespan import Lifespan, LifespanFailed
from .types import ASGIApp
from .websocket import ConnectionClosed

__all__ = ["ASGIApp", "AsgiApp", "ConnectionClosed", "Lifespan", "LifespanFailed", "load_app"]
