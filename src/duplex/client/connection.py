"""The Python way to be a client: ``async with duplex.connect(url) as ws``, ``async for message in ws``.

::

    async with duplex.connect("ws://127.0.0.1:8080/ws") as ws:
        await ws.send("hello")
        async for message in ws:          # str for text, bytes for binary (dataType "auto")
            print(message)

``connect()`` opens the connection (``await duplex.connect(url)`` works too, then ``await
ws.close()``); it raises what stopped it: ``OSError`` (refused, no such host), ``ssl`` errors,
:class:`TimeoutError` after ``openTimeout``, :class:`~duplex.InvalidHandshakeResponse` for a server
that does not answer 101 (with its status and the start of its body).

Received messages wait in a queue; once :data:`MAX_QUEUE` of them wait, the connection stops reading
from the socket until the application catches up, so a fast server cannot fill the memory of a slow
reader. ``await ws.send()`` returns once the message is handed to the socket, and waits first while
the socket's buffer is over its high-water mark: a fast sender cannot fill it either.

The ``async for`` ends when the connection closes normally (1000, 1001, or a close frame without a
code) and raises :class:`ConnectionClosed` otherwise; ``recv()`` raises it in both cases, as does
``send()`` on a closed connection.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Generator
from types import TracebackType
from typing import Any

from ..asyncio.websocket_protocol import State, WebSocketProtocol
from ..server.errors import ErrorCode
from ..server.websocket_connection import InvalidMessageData, convert_message, encode_for_send
from .link import Link, next_id
from .options import ClientOptions, Target, parse_url, read_options
from .websocket import check_close

__all__ = ["MAX_QUEUE", "ClientConnection", "ConnectionClosed", "checked", "connect"]

#: Messages received and not yet read before the connection stops reading from the socket.
MAX_QUEUE = 32
#: Close codes of a normal end: ``async for`` stops without an exception.
NORMAL_CLOSE_CODES = frozenset((1000, 1001, 1005))

# A module global: the per-message checks read it instead of looking ``State.OPEN`` up.
_OPEN = State.OPEN
#: The Python faces' default: messages as they came, str for text, bytes for binary.
AUTO = {"dataType": "auto"}


class ConnectionClosed(Exception):
    """The connection is closed (or closing): nothing more can be sent or received.

    Attributes:
        code: the close code (1006: the connection dropped without a close frame; when we failed
            the server for breaking the protocol, the code we sent).
        reason: the close reason.
        normal: whether the code is a normal end (1000, 1001, 1005).
    """

    def __init__(self, code: int, reason: str) -> None:
        shown = f" {reason!r}" if reason else ""
        super().__init__(f"connection closed with code {code}{shown}")
        self.code = code
        self.reason = reason

    @property
    def normal(self) -> bool:
        return self.code in NORMAL_CLOSE_CODES


class ClientConnection:
    """An open client connection, for ``async`` code (made by :func:`connect`)."""

    def __init__(self, url: str, target: Target, options: ClientOptions) -> None:
        self._options = options
        self._as_received = self._options.data_type == "auto"  # messages need no conversion
        self._url = url
        self._id = next_id()
        self._loop = asyncio.get_running_loop()
        self._messages: collections.deque[Any] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._opened: asyncio.Future[None] = self._loop.create_future()
        self._closed: ConnectionClosed | None = None  # set when the link is over
        self._failure: BaseException | None = None
        self._link = Link(target, self._options, self._loop, self)

    async def _open(self) -> ClientConnection:
        self._link.begin()
        try:
            await self._opened
        except BaseException:
            self._link.close()
            raise
        return self

    # -- properties -----------------------------------------------------------------------------

    @property
    def id(self) -> int:
        """A number unique among the process's clients (``duplex.WebSocket`` ones included)."""
        return self._id

    @property
    def url(self) -> str:
        """The URL, as given."""
        return self._url

    @property
    def status(self) -> str:
        """ "Connecting", "Connected", "Closing" or "Closed", as ``duplex.WebSocket.status``."""
        return self._link.status

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server chose, or None."""
        return self._link.subprotocol

    @property
    def response_headers(self) -> list[tuple[str, str]]:
        """The 101 response's headers, as ``(name, value)`` pairs."""
        return list(self._link.response_headers)

    @property
    def close_code(self) -> int | None:
        """The close code once closed, else None."""
        return self._closed.code if self._closed is not None else None

    @property
    def close_reason(self) -> str | None:
        """The close reason once closed, else None."""
        return self._closed.reason if self._closed is not None else None

    # -- sending --------------------------------------------------------------------------------

    async def send(self, message: Any) -> None:
        """Send one message: ``str`` as text, bytes-like as binary, other JSON values as JSON text.

        Raises:
            TypeError: the message is neither text, bytes nor JSON-serialisable.
            ConnectionClosed: the connection is closed or closing.
        """
        payload, text = encode_for_send(message)
        protocol = self._link.protocol
        if protocol is None or protocol.state is not _OPEN:
            protocol = await self._wait_open()
        if not protocol.send_message(payload, text):
            raise self._closed_error(protocol)
        if protocol.writing_paused:  # asked first: a drain() coroutine per message costs (measured)
            await protocol.drain()

    async def _wait_open(self) -> WebSocketProtocol:
        """The open connection; while reconnecting, once it is open again."""
        while True:
            protocol = self._link.protocol
            if protocol is not None and protocol.state is _OPEN:
                return protocol
            if self._closed is not None or self._link.phase != "connecting" or protocol is not None:
                raise self._closed_error(protocol)
            await self._wait()

    def _closed_error(self, protocol: WebSocketProtocol | None) -> ConnectionClosed:
        if self._closed is not None:
            return self._closed
        if protocol is not None:
            return ConnectionClosed(protocol.close_code, protocol.connection.close_reason)
        return ConnectionClosed(1006, "")

    # -- receiving ------------------------------------------------------------------------------

    async def recv(self, timeout: float | None = None) -> Any:
        """The next message (per ``dataType``: by default str for text, bytes for binary).

        Raises:
            ConnectionClosed: the connection closed and every message before the close was read.
            TimeoutError: none came within ``timeout`` seconds (the connection stays open).
        """
        messages = self._messages
        if not messages:
            if timeout is None:
                # Inline rather than in a helper coroutine (one frame less per message, measured),
                # and no asyncio.timeout(), which costs ~3 µs a call.
                while not messages:
                    if self._closed is not None:
                        raise self._closed
                    waiter = self._waiter = self._loop.create_future()
                    await waiter
            else:
                async with asyncio.timeout(timeout):
                    await self._wait_for_message()
        message = messages.popleft()
        if self._reading_paused and len(self._messages) <= MAX_QUEUE // 2:
            self._reading_paused = False
            protocol = self._link.protocol
            if protocol is not None:
                protocol.resume_reading()
        return message

    async def _wait_for_message(self) -> None:
        while not self._messages:
            if self._closed is not None:
                raise self._closed
            await self._wait()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        while True:
            try:
                message = await self.recv()
            except ConnectionClosed as closed:
                if closed.normal:
                    return
                raise
            yield message

    async def _wait(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            waiter = self._waiter = self._loop.create_future()
        await waiter

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- closing --------------------------------------------------------------------------------

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close (1000 or 3000-4999) and wait until the connection is closed (at most
        ``closeTimeout`` for the server's answer). Messages not yet read are dropped.

        Raises:
            ValueError: another code, or a reason over 123 bytes of UTF-8.
        """
        code, reason = check_close(code, reason)
        # Unread messages are dropped, and reading resumes if a full queue had paused it: the
        # server's answer to our close must be read.
        self._messages.clear()
        if self._reading_paused:
            self._reading_paused = False
            protocol = self._link.protocol
            if protocol is not None:
                protocol.resume_reading()
        self._link.close(code, reason)
        while self._closed is None:
            await self._wait()

    async def __aenter__(self) -> ClientConnection:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()

    # -- the link's events (Sink) ---------------------------------------------------------------

    def opened(self, protocol: WebSocketProtocol) -> None:
        if not self._opened.done():
            self._opened.set_result(None)
        self._wake()

    def message(self, data: str | bytes) -> None:
        value: Any = data
        if not self._as_received:
            data_type = self._options.data_type
            try:
                value = convert_message(data, data_type)
            except InvalidMessageData as exc:
                self.error(exc.code, exc)
                protocol = self._link.protocol
                if protocol is not None:
                    protocol.close(1007, "invalid message data")
                return
        messages = self._messages
        messages.append(value)
        if len(messages) >= MAX_QUEUE and not self._reading_paused:
            protocol = self._link.protocol
            if protocol is not None:
                self._reading_paused = True
                protocol.pause_reading()
        waiter = self._waiter  # _wake(), inline: once per message
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def error(self, code: ErrorCode, exception: BaseException) -> None:
        self._failure = exception
        if not self._opened.done():
            self._opened.set_exception(exception)

    def closed(self, code: int, reason: str, final: bool) -> None:
        self._reading_paused = False
        if final:
            closed = ConnectionClosed(code, reason)
            if self._failure is not None:
                closed.__cause__ = self._failure
            self._closed = closed
            if not self._opened.done():
                self._opened.set_exception(closed)
        self._wake()

    def __repr__(self) -> str:
        return f"<ClientConnection {self._id} {self._url} {self.status}>"


class _Connecting:
    """What :func:`connect` returns: await it, or use it in ``async with``."""

    def __init__(self, url: str, target: Target, options: ClientOptions) -> None:
        self._url = url
        self._target = target
        self._options = options
        self._connection: ClientConnection | None = None

    def __await__(self) -> Generator[Any, None, ClientConnection]:
        return self._connect().__await__()

    async def _connect(self) -> ClientConnection:
        return await ClientConnection(self._url, self._target, self._options)._open()

    async def __aenter__(self) -> ClientConnection:
        self._connection = await self._connect()
        return self._connection

    async def __aexit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._connection is not None:
            await self._connection.close()


def connect(url: str, **options: Any) -> _Connecting:
    """Open a client connection: ``async with connect(url) as ws`` or ``ws = await connect(url)``.

    Options (4D or PEP 8 spelling): ``subprotocols``, ``compression`` (permessage-deflate offered
    by default), ``maxMessageSize``, ``openTimeout``, ``closeTimeout``, ``pingInterval``,
    ``pingTimeout``, ``headers``, ``ssl``, ``reconnect``, ``dataType`` ("auto" by default here).

    Raises:
        ValueError, TypeError: at once, for a bad URL or option.
        OSError, ssl.SSLError, TimeoutError, InvalidHandshakeResponse: when awaited, if the
            connection does not open.
    """
    return _Connecting(url, *checked(url, options))  # bad input raises here, not at the await


def checked(url: str, options: dict[str, Any]) -> tuple[Target, ClientOptions]:
    """The URL and the options of :func:`connect` or ``connect_sync()``, checked once.

    Raises:
        ValueError, TypeError: a bad URL or option.
    """
    target = parse_url(url)
    return target, read_options(options, target, AUTO)
