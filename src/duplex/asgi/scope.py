"""The ``http`` and ``websocket`` scopes of the ASGI 3.0 specification, built from a request."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from ..http.exchange import Exchange
from .types import Scope

__all__ = ["ASGI_HTTP", "ASGI_WEBSOCKET", "http_scope", "websocket_scope"]

# "spec_version" 2.3 for HTTP: a response sent after the client left is dropped, not an OSError,
# so frameworks listen for http.disconnect instead (as uvicorn does). 2.4 for WebSocket: sending
# on a closed connection raises an OSError the frameworks turn into their disconnect exception.
ASGI_HTTP = {"version": "3.0", "spec_version": "2.3"}
ASGI_WEBSOCKET = {"version": "3.0", "spec_version": "2.4"}

# What the scopes say the server supports beyond the core: a WebSocket refused with a response.
_WEBSOCKET_EXTENSIONS: dict[str, dict[str, Any]] = {"websocket.http.response": {}}


def _common(exchange: Exchange, state: dict[str, Any]) -> Scope:
    request = exchange.request
    raw_path = request.path
    return {
        "http_version": request.http_version,
        # Percent-decoded as UTF-8 (the specification), the raw form beside it.
        "path": unquote(raw_path) if "%" in raw_path else raw_path,
        "raw_path": raw_path.encode("latin-1"),
        "query_string": request.query_string.encode("latin-1"),
        "root_path": "",
        "headers": [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in request.headers.items_raw()
        ],
        "client": exchange.client,
        "server": exchange.server,
        # Each request gets its own copy of what the lifespan startup put there (the specification).
        "state": state.copy(),
    }


def http_scope(exchange: Exchange, state: dict[str, Any]) -> Scope:
    """The ``http`` scope of ``exchange``'s request."""
    scope = _common(exchange, state)
    scope["type"] = "http"
    scope["asgi"] = ASGI_HTTP
    scope["method"] = exchange.request.method
    scope["scheme"] = exchange.scheme
    return scope


def websocket_scope(exchange: Exchange, subprotocols: list[str], state: dict[str, Any]) -> Scope:
    """The ``websocket`` scope of the upgrade request in ``exchange``."""
    scope = _common(exchange, state)
    scope["type"] = "websocket"
    scope["asgi"] = ASGI_WEBSOCKET
    scope["scheme"] = "wss" if exchange.scheme == "https" else "ws"
    scope["subprotocols"] = subprotocols
    scope["extensions"] = _WEBSOCKET_EXTENSIONS
    return scope
