"""One request handed to an application (the ASGI layer above is one): its body as it arrives, its
response as the application writes it.

Theory of operation
-------------------
The HTTP connection decides who answers a request once its head is complete. A request for the
application gets an :class:`Exchange` at once, before its body, so that a large upload streams
through instead of being buffered whole. The connection feeds the body into it (:meth:`feed`,
:meth:`end_body`); the application reads it (:meth:`receive_body`), and reading from the socket is
paused while more than :data:`BODY_HIGH_WATER` bytes wait unread. Pipelined requests queue behind
the one being answered, each with its own exchange.

The application writes one response: :meth:`start_response`, then :meth:`write_body` until
``more`` is False. The head goes out with the first body chunk, so a whole response given at once
is one write with a ``Content-Length``. Otherwise the response is chunked (HTTP/1.1) or ends with
the connection (HTTP/1.0). ``write_body`` says when the client does not read (the connection's
write buffer is over its high-water mark); the application then awaits :meth:`drain`, so a slow
reader holds it back instead of making the server buffer the whole response. Once the response is
complete the connection answers the next request, whether or not the application has returned
(Starlette runs background tasks after it).

When the client goes away, or its body breaks a limit, the exchange is *lost*: what the
application receives next says so (the ASGI ``http.disconnect``), and what it still writes is
dropped. A client that half-closes after its request counts as gone for :meth:`wait_disconnect`
(the application may stop work nobody waits for), but the response is still written.
"""

from __future__ import annotations

import asyncio
import collections
import re
from collections.abc import Awaitable, Coroutine, Iterable
from typing import Any, Protocol

from ..protocol.handshake import UpgradeOffer
from .request import Request
from .responses import SERVER_HEADER, date_header, status_line
from .upgrade import Accept, Refuse

__all__ = ["BODY_HIGH_WATER", "Application", "Exchange"]

#: Request body bytes an application may leave unread before the server stops reading the socket.
BODY_HIGH_WATER = 256 * 1024

# Statuses whose responses have no body (RFC 9110 sections 6.4.1, 15.3.5, 15.4.5).
_NO_BODY = frozenset((204, 304))


class Connection(Protocol):
    """What an exchange needs of its HTTP connection (:class:`~duplex.http.http_protocol.HttpProtocol`)."""

    loop: asyncio.AbstractEventLoop
    peer: tuple[str, int] | None

    @property
    def tls(self) -> bool: ...

    @property
    def writing_paused(self) -> bool: ...

    def local_address(self) -> tuple[str, int] | None: ...

    def pause_body(self) -> None: ...

    def resume_body(self) -> None: ...

    def write_response(self, data: bytes) -> None: ...

    def exchange_done(self, exchange: Exchange) -> None: ...

    async def drain(self) -> None: ...


class Application(Protocol):
    """What the HTTP server hands the requests nothing else answers (:class:`duplex.asgi.AsgiApp`)."""

    def http(self, exchange: Exchange) -> Coroutine[Any, Any, None]:
        """Answer one request; run as a task of its own. An exception is logged and answered 500
        (or, once the response has started, ends the connection)."""
        ...

    def websocket(
        self, exchange: Exchange, offer: UpgradeOffer
    ) -> Accept | Refuse | Awaitable[Accept | Refuse]:
        """Decide on a WebSocket upgrade that no WebSocket server's path takes. ``exchange`` has the
        request and says if the client goes away before the upgrade is complete (it is ``lost``;
        :meth:`Exchange.wait_change` returns); its body and response are not used."""
        ...


class Exchange:
    """One request and its response, between the HTTP connection and the application.

    Attributes:
        request: the request head.
        keep_alive: whether the connection stays open after the response (the client's wish, until
            the response says otherwise).
        scheme: "http" or "https".
        client: the client's ``(host, port)``, or None if unknown.
        server: the ``(host, port)`` the request came in on, or None if unknown.
    """

    def __init__(self, connection: Connection, request: Request, keep_alive: bool) -> None:
        self._connection = connection
        self.request = request
        self.keep_alive = keep_alive
        self.scheme = "https" if connection.tls else "http"
        self.client = connection.peer
        self.server = connection.local_address()
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        # Who waits in wait_change(): usually one coroutine, at times two (a WebSocket application's
        # accept and receive during the handshake), each with its own future so that cancelling one
        # does not cancel the other.
        self._waiters: list[asyncio.Future[None]] = []
        self._eof = False
        self.body_complete = False
        self.lost = False
        self.response_started = False
        self.response_complete = False
        self.status = 0
        self._chunked = False
        self._length_left = -1  # the declared Content-Length still to write; -1: none declared
        self._head_bytes = b""  # the response head, held until the first body chunk
        self.head_sent = False  # the head is on its way: no other response can replace it
        self._close_said = False  # the application's own Connection header says close

    def __repr__(self) -> str:
        return f"<Exchange {self.request.method} {self.request.path}>"

    # -- fed by the connection --------------------------------------------------------------------

    def feed(self, chunk: bytes) -> None:
        """A piece of the request body arrived."""
        if self.lost or self.response_complete:
            return  # nobody will read it: the parser drops it
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        if self._buffered > BODY_HIGH_WATER:
            self._connection.pause_body()
        self._wake()

    def end_body(self) -> None:
        """The request body is complete."""
        self.body_complete = True
        self._wake()

    def client_eof(self) -> None:
        """The client half-closed: no more request bytes will come."""
        self._eof = True
        self._wake()

    def lose(self) -> None:
        """The client is gone, or broke a limit: the application learns it; its writes are dropped."""
        self.lost = True
        self._chunks.clear()
        self._buffered = 0
        self._wake()

    def _wake(self) -> None:
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def wait_change(self) -> None:
        """Wait until something happens: body, its end, a disconnect, the response's end, or
        :meth:`wake`."""
        waiter = self._connection.loop.create_future()
        self._waiters.append(waiter)
        await waiter

    def wake(self) -> None:
        """End a :meth:`wait_change` (for the application's own events)."""
        self._wake()

    # -- read by the application ------------------------------------------------------------------

    async def receive_body(self) -> tuple[bytes, bool] | None:
        """The body received so far and not yet read, and whether more follows; None once the
        client is gone (or the body broke a limit, or was cut short by a half-close)."""
        while True:
            if self.lost:
                return None
            if self._chunks:
                chunks = self._chunks
                body = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
                chunks.clear()
                self._buffered = 0
                self._connection.resume_body()
                return body, not self.body_complete
            if self.body_complete:
                return b"", False
            if self._eof:
                return None  # the client half-closed before the end of its body
            await self.wait_change()

    async def wait_disconnect(self) -> None:
        """Wait until the client goes away (or half-closes) or the response is complete."""
        while not (self.lost or self._eof or self.response_complete):
            await self.wait_change()

    # -- written by the application -----------------------------------------------------------------

    def start_response(self, status: int, headers: Iterable[tuple[bytes, bytes]]) -> None:
        """Begin the response; the head goes out with the first body chunk.

        Raises:
            RuntimeError: the response has started already.
            TypeError: a header name or value that is not ``bytes``.
            ValueError: a status outside 200-599 (1xx are the server's), or a header name or value
                with a line break or a name that is not a token.
        """
        if self.response_started:
            raise RuntimeError("the response has started already: http.response.start comes once")
        if type(status) is not int or not 200 <= status <= 599:
            raise ValueError(f"response status must be an int from 200 to 599, got {status!r}")
        lines: list[bytes] = []
        own = 0  # bit 1: the application gave a Server header, bit 2: a Date header
        length_at = framing_at = -1  # where its Content-Length and Transfer-Encoding lines are
        for name, value in headers:
            if type(name) is not bytes or type(value) is not bytes:
                raise TypeError(f"response header names and values are bytes, got {name!r}: {value!r}")
            lowered = name.lower()
            if lowered not in _TOKENS_SEEN:
                if _TOKEN.fullmatch(lowered) is None:
                    raise ValueError(f"invalid response header name {name!r}: it must be a token")
                if len(_TOKENS_SEEN) < _TOKENS_KEPT:
                    _TOKENS_SEEN.add(lowered)
            special = _SPECIAL.get(lowered)
            if special is not None:
                if special == _CONTENT_LENGTH:
                    if not value.strip().isdigit():
                        raise ValueError(f"invalid Content-Length {value!r}")
                    self._length_left = int(value)
                    length_at = len(lines)
                elif special == _TRANSFER_ENCODING:
                    self._chunked = True  # the application asks for chunked framing: the server does it
                    framing_at = len(lines)
                elif special == _CONNECTION:
                    if b"close" in value.lower():
                        self.keep_alive = False
                        self._close_said = True
                else:
                    own |= special
            lines.append(name + b": " + value + b"\r\n")  # cheaper than a % format (measured)
        # RFC 9112 section 6: HTTP/1.0 knows no chunks (the length, or the connection's end, says
        # where the body ends), and a Transfer-Encoding overrides a Content-Length, which must
        # not be sent beside it.
        dropped = 0
        if self._chunked and self.request.http_version != "1.1":
            self._chunked = False
            lines[framing_at] = b""
            dropped = 1
        elif self._chunked and length_at >= 0:
            self._length_left = -1
            lines[length_at] = b""
            dropped = 1
        block = b"".join(lines)
        # Values are checked once over the whole block rather than line by line (measured): each
        # line brings exactly one CR and one LF, so a value with one more cannot start a header
        # or a response of its own.
        count = len(lines) - dropped
        if block.count(b"\n") != count or block.count(b"\r") != count or b"\0" in block:
            raise ValueError(
                f"invalid response header value {_bad_value(lines)!r}: CR, LF and NUL are not allowed"
            )
        ours = (b"" if own & 1 else SERVER_HEADER) + (b"" if own & 2 else date_header())
        self._head_bytes = status_line(status) + ours + block
        self.status = status
        self.response_started = True

    def write_body(self, body: bytes, more: bool) -> bool:
        """Write a piece of the response body; ``more`` False ends the response. Returns True when
        the client does not read: await :meth:`drain` before writing more.

        Raises:
            RuntimeError: before :meth:`start_response`, after the response is complete, or more
                bytes than the declared ``Content-Length``.
        """
        if not self.response_started:
            raise RuntimeError("http.response.body before http.response.start")
        if self.response_complete:
            raise RuntimeError("the response is complete: nothing more can be sent")
        has_body = self.request.method != "HEAD" and self.status not in _NO_BODY
        if has_body and 0 <= self._length_left < len(body):
            # Checked before anything is written: the connection can still answer 500 instead.
            raise RuntimeError(
                f"response body longer than its Content-Length: {len(body)} bytes more with "
                f"{self._length_left} left"
            )
        connection = self._connection
        head = self._head_bytes
        data = b""
        if head:
            self._head_bytes = b""
            data = self._head(head, body, more)
        if has_body:
            data += self._framed(body, more)
        else:
            self._length_left = -1  # no body goes out: its length is only said, never owed
        if not more:
            self.response_complete = True
            if self._length_left > 0:
                self.keep_alive = False  # fewer bytes than declared: only closing can say so
        if not self.lost and data:
            self.head_sent = True
            connection.write_response(data)
        if not more:
            connection.exchange_done(self)
            self._wake()
            return False
        return connection.writing_paused and not self.lost

    async def drain(self) -> None:
        """Wait while the client does not read (returns once it reads, or is gone)."""
        await self._connection.drain()

    def _head(self, head: bytes, body: bytes, more: bool) -> bytes:
        """The head, completed with the framing: ``Content-Length``, chunked or close-delimited."""
        tail = b""
        if self._chunked:
            pass  # the application's Transfer-Encoding stays; the server frames the chunks
        elif self._length_left >= 0 or self.status in _NO_BODY:
            pass
        elif not more:
            tail = b"Content-Length: %d\r\n" % len(body)
            self._length_left = len(body)
        elif self.request.http_version == "1.1":
            tail = b"Transfer-Encoding: chunked\r\n"
            self._chunked = True
        else:
            self.keep_alive = False  # HTTP/1.0: the body ends when the connection does
        if not self.keep_alive and not self._close_said:
            tail += b"Connection: close\r\n"
        return head + tail + b"\r\n"

    def _framed(self, body: bytes, more: bool) -> bytes:
        if self._chunked:
            framed = b"%x\r\n%s\r\n" % (len(body), body) if body else b""
            return framed if more else framed + b"0\r\n\r\n"
        if self._length_left >= 0:
            self._length_left -= len(body)  # write_body made sure it fits
        return body


def _bad_value(lines: list[bytes]) -> bytes:
    """The first header line holding a CR, LF or NUL of its own (no generator in a cpdef method:
    Cython compiles none)."""
    for line in lines:
        text = line[:-2]
        if b"\r" in text or b"\n" in text or b"\0" in text:
            return text
    return b""


# An RFC 9110 token: what a header name must be (lower-cased here).
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9a-z]+")

# Header names found to be tokens: responses repeat a few names, so most are checked once.
_TOKENS_SEEN: set[bytes] = set()
_TOKENS_KEPT = 512

# The response headers the server reads (Server and Date as bits of start_response's ``own``).
_CONTENT_LENGTH, _TRANSFER_ENCODING, _CONNECTION = 8, 16, 32
_SPECIAL = {
    b"server": 1,
    b"date": 2,
    b"content-length": _CONTENT_LENGTH,
    b"transfer-encoding": _TRANSFER_ENCODING,
    b"connection": _CONNECTION,
}
