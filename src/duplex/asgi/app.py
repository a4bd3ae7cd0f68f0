"""An ASGI 3 application as the HTTP server's :class:`~duplex.http.exchange.Application`: the
requests that no WebSocket server and no static file answer."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Coroutine
from typing import Any

from ..asyncio.websocket_protocol import WebSocketSettings
from ..http.exchange import Exchange
from ..http.upgrade import UpgradeOffer
from .http import serve_http
from .lifespan import Lifespan
from .types import ASGIApp
from .websocket import WebSocketSession

__all__ = ["AsgiApp", "load_app"]


class AsgiApp:
    """Serves one ASGI application: HTTP requests, WebSocket connections, and its lifespan.

    Args:
        app: the ASGI 3 application (``async def app(scope, receive, send)``).
        websocket_settings: limits and timers of its WebSocket connections (compression on,
            duplex's default message size limit, when None).
    """

    def __init__(self, app: ASGIApp, websocket_settings: WebSocketSettings | None = None) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self.lifespan = Lifespan(app, self.state)
        self.websocket_settings = websocket_settings or WebSocketSettings()

    def __repr__(self) -> str:
        return f"<AsgiApp {self.app!r}>"

    def http(self, exchange: Exchange) -> Coroutine[Any, Any, None]:
        return serve_http(self.app, exchange, self.state)

    def websocket(self, exchange: Exchange, offer: UpgradeOffer) -> Any:
        session = WebSocketSession(self.app, exchange, offer, self.websocket_settings, self.state)
        return session.answer


def load_app(spec: str) -> ASGIApp:
    """Import ``"module:attribute"`` (the attribute may be dotted) and return the application.

    Raises:
        ValueError: the text is not of that form, the module does not import, the attribute is
            missing or is not callable; the message says which.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"asgi {spec!r}: give the application as 'module:attribute', e.g. 'main:app'")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(
            f"asgi {spec!r}: cannot import module {module_name!r} ({exc}); run from the folder that "
            "holds it, or put that folder on PYTHONPATH"
        ) from exc
    except Exception as exc:  # the module itself fails: say so rather than crash the start
        raise ValueError(
            f"asgi {spec!r}: importing {module_name!r} raised {type(exc).__name__}: {exc}"
        ) from exc
    for name in attribute.split("."):
        try:
            target = getattr(target, name)
        except AttributeError:
            raise ValueError(
                f"asgi {spec!r}: module {module_name!r} has no attribute {attribute!r}"
            ) from None
    if not callable(target) or inspect.isclass(target):
        raise ValueError(
            f"asgi {spec!r} is {target!r}: an ASGI application is a callable app(scope, receive, send), "
            "such as a FastAPI() or Starlette() instance"
        )
    app: ASGIApp = target
    return app
