"""Opening a client WebSocket connection on an event loop: TCP (and TLS), the opening handshake,
then the same :class:`~duplex.asyncio.websocket_protocol.WebSocketProtocol` a server connection
runs on, with its core in client mode.

:func:`open_connection` connects, writes the request of a
:class:`~duplex.protocol.client_handshake.ClientHandshake`, and reads the response head with
httptools. On a valid 101 it swaps the transport over to a ``WebSocketProtocol`` in the same
``data_received`` call, so no byte the server sends after its 101 can slip past, starts the given
handler (``on_open`` first) and feeds it whatever came in with the response. Anything else raises:
:class:`~duplex.protocol.exceptions.InvalidHandshakeResponse` for an answer that is not a valid 101
(with the status and the first KiB of the body), ``OSError`` for a connection that fails, ``ssl``
errors for a certificate that does not verify, :class:`TimeoutError` after ``open_timeout``.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from collections.abc import Sequence
from typing import cast

import httptools

from ..protocol.client_handshake import BODY_KEPT, Accepted, ClientHandshake
from ..protocol.connection import Connection
from ..protocol.deflate import CLIENT_DEFLATE, DeflateSettings
from ..protocol.exceptions import InvalidHandshakeResponse
from .websocket_protocol import (
    ClientWebSocketProtocol,
    WebSocketHandler,
    WebSocketProtocol,
    WebSocketSettings,
)

__all__ = ["DeflateSettings", "InvalidHandshakeResponse", "check_request", "open_connection"]

#: The largest response head read; a server that sends more is refused.
MAX_RESPONSE_HEAD = 64 * 1024


def check_request(
    host: str,
    port: int,
    resource: str,
    *,
    secure: bool,
    subprotocols: Sequence[str],
    headers: Sequence[tuple[str, str]],
) -> None:
    """Raise now what :func:`open_connection` would raise about the request itself.

    Raises:
        ValueError: a reserved or malformed header, a subprotocol that is not a token, a bad resource.
    """
    ClientHandshake(host, port, resource, secure=secure, subprotocols=subprotocols, headers=headers)


async def open_connection(
    host: str,
    port: int,
    resource: str,
    handler: WebSocketHandler,
    *,
    secure: bool = False,
    ssl: ssl_module.SSLContext | None = None,
    server_hostname: str | None = None,
    subprotocols: Sequence[str] = (),
    compression: bool | DeflateSettings = True,
    headers: Sequence[tuple[str, str]] = (),
    settings: WebSocketSettings | None = None,
    open_timeout: float | None = 10.0,
) -> tuple[WebSocketProtocol, Accepted]:
    """Connect to ``host:port``, complete the handshake for ``resource``, and start ``handler``.

    Args:
        host: the host name or IP address to connect to.
        port: the TCP port.
        resource: path and query, starting with ``/``.
        handler: gets the connection's events (``on_open`` once the 101 is read).
        secure: TLS (``wss://``); ``ssl`` is then the context (None: the system's default
            context, which verifies the certificate and the host name).
        ssl: the TLS context for ``secure``.
        server_hostname: the name the certificate must have (default: ``host``).
        subprotocols: offered in order of preference.
        compression: offer permessage-deflate: True for the client defaults, settings, or False.
        headers: more request headers, in order.
        settings: the connection's limits and timers (``max_message_size``, ``close_timeout``,
            ``ping_interval``...).
        open_timeout: seconds for the TCP connection, TLS and the handshake together (None: none).

    Returns:
        The open connection and the handshake's terms (subprotocol, compression, the 101's headers).
    """
    deflate = CLIENT_DEFLATE if compression is True else (compression or None)
    handshake = ClientHandshake(
        host, port, resource, secure=secure, subprotocols=subprotocols, deflate=deflate, headers=headers
    )
    loop = asyncio.get_running_loop()
    settings = settings or WebSocketSettings()
    opened: asyncio.Future[tuple[WebSocketProtocol, Accepted]] = loop.create_future()
    context = (ssl or ssl_module.create_default_context()) if secure else None

    made: list[_HandshakeProtocol] = []

    def protocol() -> _HandshakeProtocol:
        made.append(_HandshakeProtocol(handshake, handler, settings, loop, opened, host))
        return made[0]

    try:
        async with asyncio.timeout(open_timeout):
            await loop.create_connection(
                protocol,
                host,
                port,
                ssl=context,
                server_hostname=(server_hostname or host) if secure else None,
            )
            return await opened
    except BaseException:
        # Timed out or cancelled (awaiting ``opened`` cancels it too), or failed: whatever socket
        # the attempt made is dropped, and one made later (a cancelled connect may still complete)
        # is dropped as it arrives, since ``opened`` is done.
        if opened.done() and not opened.cancelled() and opened.exception() is None:
            opened.result()[0].abort()
        else:
            opened.cancel()
            if made:
                made[0].abandon()
        raise


class _HandshakeProtocol(asyncio.Protocol):
    """Reads the response to a client's handshake, then hands the transport to the connection."""

    def __init__(
        self,
        handshake: ClientHandshake,
        handler: WebSocketHandler,
        settings: WebSocketSettings,
        loop: asyncio.AbstractEventLoop,
        opened: asyncio.Future[tuple[WebSocketProtocol, Accepted]],
        host: str,
    ) -> None:
        self.handshake = handshake
        self.handler = handler
        self.settings = settings
        self.loop = loop
        self.opened = opened
        self.host = host
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.headers: list[tuple[str, str]] = []
        self.status = 0
        self.head_size = 0
        self.head_done = False
        self.body = bytearray()

    # -- httptools callbacks ----------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self.head_done = True
        self.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        room = BODY_KEPT - len(self.body)
        if room > 0:
            self.body += body[:room]

    def on_message_complete(self) -> None:
        if self.status != 101:
            self._refused()

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if self.opened.done():  # the attempt was given up while connecting
            self.transport.abort()
            return
        self.transport.write(self.handshake.request())

    def abandon(self) -> None:
        """The attempt is given up (timeout, cancellation): drop the socket if there is one."""
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if self.opened.done():
            self.abandon()
            return
        rest = b""
        head_before = self.head_size
        self.head_size += len(data)  # every byte until the head is done (a body's too: bounded below)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            rest = data[upgrade.args[0] :]
            self.head_size = head_before + upgrade.args[0]
        except httptools.HttpParserError as exc:
            if not (self.head_done and self.status == 101):  # a 101 without Upgrade: refused below
                self._fail(InvalidHandshakeResponse(f"the server's response is not valid HTTP: {exc}", 0))
                return
        if not self.head_done or (self.status == 101 and self.head_size > MAX_RESPONSE_HEAD):
            if self.head_size > MAX_RESPONSE_HEAD:
                self._fail(
                    InvalidHandshakeResponse(
                        f"the server's response head is over {MAX_RESPONSE_HEAD} bytes", 0
                    )
                )
            return
        if self.status != 101:
            if len(self.body) >= BODY_KEPT:
                self._refused()
            return
        try:
            accepted = self.handshake.receive_response(101, self.headers)
        except InvalidHandshakeResponse as exc:
            self._fail(exc)
            return
        self._open(accepted, rest)

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.opened.done():
            return
        if self.head_done and self.status != 101:
            self._refused()
            return
        error = ConnectionError("the server closed the connection before answering the handshake")
        if exc is not None:
            error.__cause__ = exc
        self.opened.set_exception(error)

    # -- outcomes ---------------------------------------------------------------------------

    def _open(self, accepted: Accepted, rest: bytes) -> None:
        assert self.transport is not None
        settings = self.settings
        connection = Connection(
            max_message_size=settings.max_message_size, deflate=accepted.deflate, client=True
        )
        ws = ClientWebSocketProtocol(connection, settings, self.loop, self.host, accepted.subprotocol)
        self.transport.set_protocol(cast(asyncio.BaseProtocol, ws))
        ws.connection_made(self.transport)
        self.opened.set_result((ws, accepted))
        ws.start(self.handler)
        if rest:
            ws.data_received(rest)

    def _refused(self) -> None:
        if self.opened.done():
            return
        try:
            self.handshake.receive_response(self.status, self.headers, bytes(self.body))
        except InvalidHandshakeResponse as exc:
            self._fail(exc)

    def _fail(self, error: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(error)
        if self.transport is not None:
            self.transport.abort()
