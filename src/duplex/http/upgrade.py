"""An upgrade endpoint's answer: take the WebSocket connection (:class:`Accept`) or refuse it with an
HTTP status (:class:`Refuse`).

The router maps a path to an :data:`UpgradeEndpoint`; the HTTP connection calls it with a validated
upgrade and, on :class:`Accept`, writes the ``101``, builds the protocol core and the
:class:`~duplex.asyncio.websocket_protocol.WebSocketProtocol` with the settings given here, and hands
the transport over.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..asyncio.websocket_protocol import WebSocketHandler, WebSocketProtocol, WebSocketSettings
from ..protocol.connection import DEFAULT_MAX_MESSAGE_SIZE
from ..protocol.deflate import DeflateSettings
from ..protocol.handshake import UpgradeOffer, select_subprotocol
from .request import Request

# UpgradeOffer (what the client asked for), select_subprotocol and DeflateSettings (how an Accept
# compresses) are part of an endpoint's contract, so they are offered here, beside the answers, to
# code above the HTTP layer.
__all__ = ["Accept", "DeflateSettings", "Refuse", "UpgradeEndpoint", "UpgradeOffer", "select_subprotocol"]


class Accept:
    """An endpoint's answer that takes the upgrade.

    Args:
        handler: receives the connection's events; or None when ``make_handler`` is given.
        make_handler: called with the new connection once the ``101`` is written; returns its
            handler (for a handler that needs the connection object, such as the 4D API's).
        subprotocol: the subprotocol chosen among the client's (None: none).
        settings: the connection's limits and timers, made once per endpoint; when None, they are
            made from the keyword arguments below (see :class:`WebSocketSettings`).
        extra_headers: more headers for the ``101`` response.

    Raises:
        ValueError: not exactly one of ``handler`` and ``make_handler``; a bad setting.
    """

    # A plain class rather than a dataclass: one is made per handshake, and this __init__ compiles
    # to C with the module, where a dataclass's generated __init__ stays Python (measured: 0.7 µs).
    __slots__ = ("extra_headers", "handler", "make_handler", "settings", "subprotocol")

    def __init__(
        self,
        handler: WebSocketHandler | None = None,
        make_handler: Callable[[WebSocketProtocol], WebSocketHandler] | None = None,
        subprotocol: str | None = None,
        settings: WebSocketSettings | None = None,
        extra_headers: list[tuple[str, str]] | None = None,
        *,
        compression: bool | DeflateSettings = True,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        close_timeout: float = 10.0,
        ping_interval: float | None = None,
        ping_timeout: float | None = None,
        send_buffer_limit: int | None = None,
        backpressure: str = "close",
    ) -> None:
        if (handler is None) == (make_handler is None):
            raise ValueError("Accept needs exactly one of handler and make_handler")
        if settings is None:
            settings = WebSocketSettings(
                compression,
                max_message_size,
                close_timeout,
                ping_interval,
                ping_timeout,
                send_buffer_limit,
                backpressure,
            )
        self.handler = handler
        self.make_handler = make_handler
        self.subprotocol = subprotocol
        self.settings = settings
        self.extra_headers: list[tuple[str, str]] = extra_headers if extra_headers is not None else []

    def __repr__(self) -> str:
        return f"<Accept handler={self.handler or self.make_handler!r} subprotocol={self.subprotocol!r}>"


@dataclass
class Refuse:
    """An endpoint's answer that refuses the upgrade with an HTTP status.

    Attributes:
        status: the HTTP status.
        reason: a line for the text/plain body that says why.
        headers: more response headers.
        body: the whole body, sent as is instead of the text one (``headers`` then say its type).
    """

    status: int
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None


UpgradeEndpoint = Callable[[Request, UpgradeOffer], "Accept | Refuse | Awaitable[Accept | Refuse]"]
"""Decides on a validated WebSocket upgrade: accept (with a handler) or refuse (with a status)."""
