"""One HTTP/1.1 connection: httptools parsing, static files, and the hand-off on a WebSocket upgrade.

Theory of operation
-------------------
:class:`HttpProtocol` owns one httptools parser. Parser callbacks collect a request head with every
read bounded (URL length, header bytes and count, body size); a complete request is queued and
answered in order, so pipelined requests get their responses in order. A WebSocket upgrade is
validated (:func:`duplex.protocol.handshake.validate_upgrade`), routed to an endpoint that accepts or
rejects it (possibly asynchronously, with reading paused meanwhile), and on acceptance the transport
is handed to a :class:`duplex.asyncio.websocket_protocol.WebSocketProtocol` together with any bytes
that followed the request head.

Any error is an HTTP response and, when the stream can no longer be trusted, a closed connection:
never a traceback, never a silently dropped socket.

A client that half-closes (TCP FIN after its requests) still gets the answers to every request it
sent, then the connection closes. A client that stops reading gets ``send_timeout`` seconds without
taking a byte, whether a response waits to be written or a closing connection waits to be flushed;
then the connection is dropped and any file being sent is closed.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import socket
import sys
from collections.abc import Awaitable
from typing import Protocol, cast

import httptools

from ..asyncio.broadcast import BroadcastBatch
from ..asyncio.dispatch import is_awaitable
from ..asyncio.websocket_protocol import WebSocketProtocol
from ..protocol.connection import Connection
from ..protocol.deflate import PerMessageDeflate
from ..protocol.exceptions import HandshakeError
from ..protocol.handshake import UpgradeOffer, build_accept_response, is_upgrade_request, validate_upgrade
from .config import HttpConfig
from .cors import cors_headers, preflight_headers
from .exchange import Application, Exchange
from .request import Headers, Request
from .responses import build_response, error_response
from .routing import Router
from .static import StaticFiles
from .upgrade import Accept, Refuse, UpgradeEndpoint

__all__ = ["HttpProtocol", "Site"]

logger = logging.getLogger("duplex")

# Files up to this size are read and written in one go; larger ones stream in chunks of this size,
# waiting for the socket to drain between chunks so memory stays bounded whatever the file size.
_FILE_CHUNK = 256 * 1024

# The send watch asks the kernel how many bytes the client has acknowledged (tcpi_bytes_acked, at
# byte 120 of Linux's struct tcp_info since 4.1). The write buffer's size is no measure of a client
# that reads: the kernel lets asyncio refill its send buffer only once about half of it (megabytes)
# is free, and under TLS part of the buffer is out of sight; a client reading 2.5 MB/s showed no
# change for more than 0.5 s (measured on loopback). Elsewhere the write buffer's size has to do.
_TCP_INFO = getattr(socket, "TCP_INFO", None) if sys.platform == "linux" else None
_BYTES_ACKED = slice(120, 128)


def _bytes_acknowledged(transport: asyncio.BaseTransport) -> int:
    """The bytes of this connection the client's TCP acknowledged so far, or -1 where unknown."""
    sock = transport.get_extra_info("socket")
    if _TCP_INFO is None or sock is None:
        return -1
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 256)
    except OSError:
        return -1
    if len(info) < _BYTES_ACKED.stop:
        return -1
    return int.from_bytes(info[_BYTES_ACKED], sys.byteorder)


class Site(Protocol):
    """What an HTTP connection shares with the others of its server (``HttpServer`` is one)."""

    config: HttpConfig
    loop: asyncio.AbstractEventLoop | None
    router: Router[UpgradeEndpoint]
    static: StaticFiles | None
    http_connections: set[HttpProtocol]
    websocket_connections: set[WebSocketProtocol]
    broadcasts: BroadcastBatch | None
    stopping: bool
    app: Application | None


class _RequestRefused(Exception):
    """A limit or syntax rule broken while parsing: answer ``status`` and close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _PendingRequest:
    __slots__ = ("exchange", "keep_alive", "request", "upgrade")

    def __init__(
        self, request: Request, keep_alive: bool, upgrade: bool, exchange: Exchange | None = None
    ) -> None:
        self.request = request
        self.keep_alive = keep_alive
        self.upgrade = upgrade
        self.exchange = exchange  # the application's, made when the head was complete


# The application's tasks, kept from the garbage collector until they end (asyncio holds tasks
# weakly); one may outlive its connection, finishing its background work.
_app_tasks: set[asyncio.Task[None]] = set()


_NO_HEADERS = Headers()  # before the first request's headers are complete


class HttpProtocol:
    """An HTTP/1.1 server connection (an ``asyncio.Protocol`` by its methods, compiled by Cython
    into an extension type where it can be; see setup.py)."""

    def __init__(self, site: Site, tls: bool = False) -> None:
        self.site = site
        self._tls = tls  # given by the listener: cheaper than asking the transport per connection
        config = self.config = site.config
        # The limits every header line is checked against, as C fields where compiled.
        self._max_header_size = config.max_header_size
        self._max_header_count = config.max_header_count
        # The server's loop, not asyncio.get_running_loop(), which costs a getpid() per call.
        self.loop = site.loop or asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.remote_address = ""
        self.peer: tuple[str, int] | None = None
        self._local: tuple[str, int] | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: list[tuple[str, str]] = []
        self._header_index: dict[str, list[str]] = {}
        self._request_headers = _NO_HEADERS
        self._header_bytes = 0
        self._body_bytes = 0
        self._in_request = False
        self._queue: collections.deque[_PendingRequest] = collections.deque()
        self._busy = False
        self._closing = False
        self._upgrade_tail: bytes | None = None
        self._head = False  # the request being answered is a HEAD: no body in the response
        self._first_request = True
        # One timer at a time: the request timer (request_timeout) or the idle one
        # (keepalive_timeout). See _set_timer for why it is lazy.
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0  # when the scheduled timer fires (the loop's clock)
        self._deadline = 0.0  # when the connection times out; 0: it does not
        self._drain_waiter: asyncio.Future[None] | None = None
        self._write_paused = False
        self._task: asyncio.Task[None] | None = None
        self._eof = False  # the client half-closed: answer what it sent, then close
        # The send watch: armed while a response waits on a client that does not read.
        self._send_timer: asyncio.TimerHandle | None = None
        # Where the client was when the watch last saw it take bytes, and when that was: bytes
        # acknowledged (-1: unknown here), bytes waiting in the write buffer, the loop's time.
        self._send_acked = -1
        self._send_pending = 0
        self._send_progress_at = 0.0
        # The application's requests: the one whose body is arriving, the one being answered
        # (often the same), and whether reading waits for the application to read the body.
        self._parsing: Exchange | None = None
        self._current: Exchange | None = None
        self._body_paused = False

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without inheriting from it.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self.remote_address = peer[0]
            self.peer = (peer[0], peer[1])
        self.site.http_connections.add(self)
        self._set_timer(self.config.request_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self.site.http_connections.discard(self)
        self._drop_timer()
        self._cancel_send_watch()
        self._closing = True
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)
        if self._task is not None:
            self._task.cancel()
        # The application is told, not cancelled: it gets http.disconnect, as ASGI has it.
        for exchange in (self._current, self._parsing):
            if exchange is not None:
                exchange.lose()

    def data_received(self, data: bytes) -> None:
        if self._closing or self._upgrade_tail is not None:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            # The parser stops at the end of the upgrade request's head; what follows is
            # WebSocket data for the new protocol (or garbage if the upgrade is refused).
            self._upgrade_tail = data[upgrade.args[0] :]
            assert self.transport is not None
            self.transport.pause_reading()
        except _RequestRefused as refused:
            self._refuse(refused.status, str(refused))
            return
        except httptools.HttpParserCallbackError as error:
            cause = error.__context__
            if isinstance(cause, _RequestRefused):
                self._refuse(cause.status, str(cause))
            else:
                logger.exception("HTTP parser callback failed")
                self._refuse(500, "")
            return
        except httptools.HttpParserError as error:
            self._refuse(400, f"malformed HTTP request: {error}")
            return
        self._process_queue()

    def eof_received(self) -> bool:
        """The client sent FIN (or, over TLS, close_notify): no more requests, but it may still be
        reading. Returning False lets the transport close itself once what is written is flushed;
        True keeps the connection half-open until the answers still to come are written."""
        self._eof = True
        for exchange in (self._current, self._parsing):
            if exchange is not None:
                exchange.client_eof()
        if self._closing:
            return False
        if self._tls:
            # asyncio's and uvloop's TLS transports shut the session down now whatever this
            # returns (True only earns a warning): what is written is flushed with our own
            # close_notify, and nothing can be written after it, so stop answering.
            self._closing = True
            self._cancel_timer()
            return False
        if self._busy or self._queue:
            # Answers are still to come (a file streaming, an upgrade being decided, a pipeline
            # paused by a client that reads slowly): _process_queue closes after the last one. No
            # request can arrive any more; send_timeout bounds a client that stops reading.
            self._cancel_timer()
            return True
        # Everything asked for is answered (a request begun but cut off by the FIN never will be).
        self._closing = True
        self._cancel_timer()
        self._watch_send()
        return False

    def pause_writing(self) -> None:
        # The client does not read its responses: stop answering (and reading) until it does, so
        # a pipelining client cannot make us queue responses without bound.
        self._write_paused = True
        if self.transport is not None and not self._closing:
            self.transport.pause_reading()
        self._watch_send()

    def resume_writing(self) -> None:
        self._write_paused = False
        # The client read: a fresh send_timeout for whatever it still has to take.
        self._cancel_send_watch()
        if self._closing:
            self._watch_send()
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)
        transport = self.transport
        reading_held = self._closing or self._eof or self._body_paused or self._upgrade_tail is not None
        if transport is not None and not reading_held:
            transport.resume_reading()
        if not self._busy:
            self._process_queue()

    # -- httptools callbacks (each read bounded) --------------------------------------------

    def on_message_begin(self) -> None:
        self._head = False
        self._in_request = True
        self._url = b""
        self._headers = []
        self._header_index = {}
        self._header_bytes = 0
        self._body_bytes = 0
        if self._first_request:
            # The timer connection_made() started is already the request timer: keep it rather
            # than cancel and create one more per connection (measured on handshake storms).
            self._first_request = False
        else:
            self._set_timer(self.config.request_timeout)

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self.config.max_url_length:
            raise _RequestRefused(414, f"request target longer than {self.config.max_url_length} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4
        if self._header_bytes > self._max_header_size:
            raise _RequestRefused(431, f"request headers larger than {self._max_header_size} bytes")
        if len(self._headers) >= self._max_header_count:
            raise _RequestRefused(431, f"more than {self._max_header_count} request headers")
        header = name.decode("latin-1")
        text = value.decode("latin-1")
        self._headers.append((header, text))
        # The index by lower-case name, built here in the same pass (Headers takes it as is).
        key = header.lower()
        values = self._header_index.get(key)
        if values is None:
            self._header_index[key] = [text]
        else:
            values.append(text)

    def on_headers_complete(self) -> None:
        # The one place header names are indexed: the checks here, routing, the WebSocket
        # handshake and the application all read this index.
        headers = self._request_headers = Headers(self._headers, self._header_index)
        index = headers.by_name()
        for value in index.get("content-length", ()):
            size = value.strip()
            if size.isdigit() and int(size) > self.config.max_request_size:
                raise _RequestRefused(
                    413, f"request body of {size} bytes over the limit of {self.config.max_request_size}"
                )
        expect = index.get("expect")
        if (
            expect is not None
            and any(value.strip().lower() == "100-continue" for value in expect)
            and self.transport is not None
            and not self._queue
            and not self._busy
        ):
            # RFC 9110 section 10.1.1: the client waits for this before sending the body.
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if self.site.app is not None and not self._parser.should_upgrade():
            request = self._make_request()
            if self._for_app(request):
                # Answered from now on, body or not: the application reads the body as it comes.
                keep_alive = self._parser.should_keep_alive()
                exchange = self._parsing = Exchange(self, request, keep_alive)
                # The request timer runs on: each piece of body re-arms it (on_body).
                self._queue.append(_PendingRequest(request, keep_alive, False, exchange))

    def _for_app(self, request: Request) -> bool:
        """Whether the application answers ``request`` (a request that is not an upgrade): all but
        a GET or HEAD of something the static files have."""
        static = self.site.static
        return static is None or request.method not in ("GET", "HEAD") or not static.serves(request.path)

    def on_body(self, body: bytes) -> None:
        # Counted against the limit; the application's requests get it, others drop it.
        self._body_bytes += len(body)
        if self._body_bytes > self.config.max_request_size:
            raise _RequestRefused(413, f"request body over the limit of {self.config.max_request_size} bytes")
        exchange = self._parsing
        if exchange is not None:
            self._set_timer(self.config.request_timeout)  # the body keeps arriving
            exchange.feed(body)

    def on_message_complete(self) -> None:
        self._in_request = False
        self._cancel_timer()
        exchange = self._parsing
        if exchange is not None:
            self._parsing = None
            exchange.end_body()
            return  # queued when its head was complete
        parser = self._parser
        self._queue.append(
            _PendingRequest(self._make_request(), parser.should_keep_alive(), parser.should_upgrade())
        )

    def _make_request(self) -> Request:
        parser = self._parser
        url = self._url.decode("latin-1")
        target = url
        if not target.startswith("/") and "://" in target:
            # Absolute form (RFC 9112 section 3.2.2), as proxies send it: route on its path.
            target = "/" + target.split("://", 1)[1].partition("/")[2]
        path, _, query = target.partition("?")
        path = path.partition("#")[0]
        # Positional: keyword arguments cost more to pass than Request's whole __init__ (measured).
        return Request(
            parser.get_method().decode("ascii", "replace"),
            url,
            path,
            query,
            parser.get_http_version(),
            self._request_headers,
            self.remote_address,
        )

    # -- answering ----------------------------------------------------------------------------

    def _process_queue(self) -> None:
        while self._queue and not self._busy and not self._closing and not self._write_paused:
            pending = self._queue.popleft()
            self._answer(pending)
        if not self._busy and not self._closing and not self._queue:
            if self._eof:
                self._close()  # the half-closed client has every answer
            elif not self._in_request:
                self._set_timer(self.config.keepalive_timeout)

    def _answer(self, pending: _PendingRequest) -> None:
        request = pending.request
        self._head = request.method == "HEAD"
        if request.http_version != "1.0" and len(request.headers.get_all("host")) != 1:
            # RFC 9112 section 3.2: a request without exactly one Host is answered 400.
            self._refuse(400, "an HTTP/1.1 request needs exactly one Host header")
            return
        if is_upgrade_request(request.headers.by_name()):
            self._answer_upgrade(request)
            return
        exchange = pending.exchange
        if exchange is not None:
            self._answer_app(exchange)
            return
        if pending.upgrade:
            # An upgrade to something other than WebSocket (h2c...): we don't speak it; answer
            # as plain HTTP/1.1 and close, since the parser stopped at this request.
            pending.keep_alive = False
            if self.site.app is not None and self._for_app(request):
                exchange = Exchange(self, request, False)
                exchange.end_body()  # the parser stopped at the head: no body can be read
                self._answer_app(exchange)
                return
        endpoint_path = self.site.router.match_specific(request.path)
        if endpoint_path is not None:
            self._refuse(
                426,
                "this path is a WebSocket endpoint: connect with a WebSocket client",
                [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13")],
            )
            return
        self._answer_static(request, pending.keep_alive)

    def _extra_headers(self, request: Request) -> list[tuple[str, str]]:
        """HSTS on HTTPS, CORS for allowed origins."""
        extra: list[tuple[str, str]] = []
        if self._tls and self.config.hsts_max_age is not None:
            extra.append(("Strict-Transport-Security", f"max-age={self.config.hsts_max_age}"))
        if self.config.cors is not None:
            extra.extend(cors_headers(self.config.cors, request.headers.get_one("origin")))
        return extra

    def _answer_static(self, request: Request, keep_alive: bool) -> None:
        extra = self._extra_headers(request)
        if request.method == "OPTIONS" and self.config.cors is not None:
            headers = request.headers
            answer = preflight_headers(
                self.config.cors,
                headers.get_one("origin"),
                headers.get_one("access-control-request-method"),
                headers.get_one("access-control-request-headers"),
            )
            if answer is not None:
                self._write(build_response(204, answer, keep_alive=keep_alive), keep_alive)
                return
        static = self.site.static
        if static is None:
            self._write(error_response(404, "", extra, keep_alive=keep_alive, head=self._head), keep_alive)
            return
        lowered = {name.lower(): value for name, value in request.headers.items_raw()}
        response = static.respond(request.method, request.path, lowered)
        response_headers = response.headers + extra if extra else response.headers
        if response.file_path is None or request.method == "HEAD":
            head = build_response(
                response.status,
                response_headers,
                b"" if request.method == "HEAD" else response.body,
                content_length=response.length if response.file_path is not None else len(response.body),
                keep_alive=keep_alive,
            )
            self._write(head, keep_alive)
            return
        if response.length <= _FILE_CHUNK:
            try:
                with open(response.file_path, "rb") as file:
                    file.seek(response.offset)
                    body = file.read(response.length)
            except OSError:
                self._write(error_response(404, keep_alive=keep_alive, head=self._head), keep_alive)
                return
            self._write(
                build_response(response.status, response_headers, body, keep_alive=keep_alive), keep_alive
            )
            return
        head = build_response(
            response.status, response_headers, b"", content_length=response.length, keep_alive=keep_alive
        )
        self._busy = True
        self._task = self.loop.create_task(
            self._stream_file(head, response.file_path, response.offset, response.length, keep_alive)
        )

    async def _stream_file(self, head: bytes, path: str, offset: int, length: int, keep_alive: bool) -> None:
        assert self.transport is not None
        try:
            with open(path, "rb") as file:
                file.seek(offset)
                self.transport.write(head)
                remaining = length
                while remaining > 0 and not self._closing:
                    chunk = file.read(min(_FILE_CHUNK, remaining))
                    if not chunk:
                        # The file shrank under us: the promised length can't be kept; close.
                        keep_alive = False
                        break
                    self.transport.write(chunk)
                    remaining -= len(chunk)
                    if self._write_paused:
                        self._drain_waiter = self.loop.create_future()
                        await self._drain_waiter
        except OSError:
            keep_alive = False
        self._busy = False
        self._task = None
        self._finish_response(keep_alive)
        self._process_queue()

    # -- the application ----------------------------------------------------------------------------

    def _answer_app(self, exchange: Exchange) -> None:
        app = self.site.app
        assert app is not None
        self._busy = True
        self._current = exchange
        task = self.loop.create_task(self._run_app(app, exchange))
        _app_tasks.add(task)
        task.add_done_callback(_app_tasks.discard)

    async def _run_app(self, app: Application, exchange: Exchange) -> None:
        request = exchange.request
        try:
            await app.http(exchange)
        except Exception:
            logger.exception("the application failed on %s %s", request.method, request.path)
        else:
            if exchange.response_complete:
                return
            logger.error(
                "the application returned without %s its response to %s %s",
                "completing" if exchange.response_started else "starting",
                request.method,
                request.path,
            )
        if exchange.response_complete or exchange is not self._current:
            return  # answered before it failed (background work), or the connection is gone
        self._current = None
        self._busy = False
        if exchange.head_sent:
            exchange.lose()
            self._close()  # the client sees a response cut short, not a wrong one
        else:
            exchange.response_complete = True
            self._refuse(500, "")

    def exchange_done(self, exchange: Exchange) -> None:
        """The application's response is complete: on to the next request."""
        if exchange is not self._current:
            return
        self._current = None
        self._busy = False
        self.resume_body()
        self._finish_response(exchange.keep_alive)
        self._process_queue()

    def write_response(self, data: bytes) -> None:
        """Write part of the application's response."""
        if self.transport is not None and not self._closing:
            self.transport.write(data)

    @property
    def tls(self) -> bool:
        """Whether the connection came in on the HTTPS port."""
        return self._tls

    @property
    def writing_paused(self) -> bool:
        """Whether the client reads slower than the responses are written (see :meth:`drain`)."""
        return self._write_paused

    async def drain(self) -> None:
        """Wait while the client does not read; returns at once otherwise, or once it is gone."""
        if self._write_paused and not self._closing and self.transport is not None:
            waiter = self._drain_waiter = self.loop.create_future()
            await waiter

    def pause_body(self) -> None:
        """Stop reading: the application has enough of the request body unread."""
        if not self._body_paused:
            self._body_paused = True
            self._cancel_timer()  # the client is not late: we do not read
            if self.transport is not None and not self._closing:
                self.transport.pause_reading()

    def resume_body(self) -> None:
        """Read again: the application took the request body it had."""
        if not self._body_paused:
            return
        self._body_paused = False
        transport = self.transport
        if transport is None or self._closing or self._write_paused or self._upgrade_tail is not None:
            return
        transport.resume_reading()
        if self._in_request:
            self._set_timer(self.config.request_timeout)

    def local_address(self) -> tuple[str, int] | None:
        """The ``(host, port)`` the client connected to, or None if unknown."""
        if self._local is None and self.transport is not None:
            local = self.transport.get_extra_info("sockname")
            if isinstance(local, tuple):
                self._local = (local[0], local[1])
        return self._local

    # -- upgrades -----------------------------------------------------------------------------------

    def _answer_upgrade(self, request: Request) -> None:
        endpoint = self.site.router.match(request.path)
        app = self.site.app if endpoint is None else None
        if endpoint is None and app is None:
            self._refuse(404, f"no WebSocket endpoint at {request.path}")
            return
        try:
            offer = validate_upgrade(request.method, request.http_version, request.headers.by_name())
        except HandshakeError as error:
            self._refuse(error.status, str(error), error.headers)
            return
        if self.site.stopping:
            self._refuse(503, "the server is shutting down")
            return
        try:
            if app is None:
                assert endpoint is not None
                answer = endpoint(request, offer)
            else:
                # The application's upgrade is an exchange until it is decided: it learns if the
                # client goes away meanwhile (see _complete_upgrade, _refuse, connection_lost).
                exchange = self._current = Exchange(self, request, False)
                answer = app.websocket(exchange, offer)
        except Exception:
            logger.exception("WebSocket endpoint failed to answer an upgrade")
            self._refuse(500, "")
            return
        if is_awaitable(answer):
            self._busy = True
            assert self.transport is not None
            self.transport.pause_reading()
            self._task = self.loop.create_task(self._await_answer(request, offer, answer))
        else:
            self._complete_upgrade(request, offer, answer)

    async def _await_answer(
        self, request: Request, offer: UpgradeOffer, answer: Awaitable[Accept | Refuse]
    ) -> None:
        try:
            result = await answer
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("WebSocket endpoint failed to answer an upgrade")
            self._task = None
            self._refuse(500, "")
            return
        self._task = None
        if not self._closing:
            self._complete_upgrade(request, offer, result)
        elif self._current is not None:
            self._current.lose()

    def _complete_upgrade(self, request: Request, offer: UpgradeOffer, answer: Accept | Refuse) -> None:
        transport = self.transport
        assert transport is not None
        if isinstance(answer, Refuse):
            if answer.body is not None:  # the endpoint's own response, as is
                response = build_response(answer.status, answer.headers, answer.body, keep_alive=False)
                self._write(response, keep_alive=False)
            else:
                self._refuse(answer.status, answer.reason, answer.headers)
            return
        if answer.subprotocol is not None and answer.subprotocol not in offer.subprotocols:
            logger.error("endpoint chose subprotocol %r, which the client did not offer", answer.subprotocol)
            self._refuse(500, "")
            return
        deflate: PerMessageDeflate | None = None
        extensions = None
        settings = answer.settings
        compression = settings.compression  # the endpoint's DeflateSettings, or None when off
        if compression is not None and offer.extensions:
            agreed = compression.negotiate(offer.extensions)
            if agreed is not None:
                extensions, deflate = agreed
        try:
            head = build_accept_response(
                offer.key,
                subprotocol=answer.subprotocol,
                extensions=extensions,
                extra_headers=answer.extra_headers,
            )
        except ValueError:
            logger.exception("invalid header in a WebSocket accept")
            self._refuse(500, "")
            return
        self._current = None  # an application's upgrade is decided: it is a WebSocket now
        site = self.site
        connection = Connection(max_message_size=settings.max_message_size, deflate=deflate)
        websocket = WebSocketProtocol(
            connection,
            settings,
            self.loop,
            request.remote_address,
            answer.subprotocol,
            site.websocket_connections,
            site.broadcasts,
        )
        self._drop_timer()
        self._cancel_send_watch()
        self._closing = True  # this object is done with the transport
        site.http_connections.discard(self)
        transport.write(head)
        # An asyncio.Protocol by its methods, not by inheritance (it compiles to an extension type).
        transport.set_protocol(cast(asyncio.BaseProtocol, websocket))
        websocket.connection_made(transport)
        handler = answer.handler
        if handler is None:
            assert answer.make_handler is not None
            try:
                handler = answer.make_handler(websocket)
            except Exception:
                logger.exception("WebSocket endpoint failed to make a handler")
                websocket.abort()
                return
        websocket.start(handler)
        tail, self._upgrade_tail = self._upgrade_tail, b""
        if tail and websocket.is_open:
            websocket.data_received(tail)
        transport.resume_reading()

    def _refuse(self, status: int, message: str, headers: list[tuple[str, str]] | None = None) -> None:
        """Answer an error and close: after a refused request the stream may be out of sync.

        An application answering a request learns that its client is gone; if its response has
        begun, the connection just closes (an error response there would be read as its body)."""
        current = self._current
        if current is not None:
            self._current = None
            current.lose()
            if current.head_sent:
                self._close()
                return
            current.response_complete = True  # what it still sends is dropped
        if self._parsing is not None:
            self._parsing.lose()
        self._write(error_response(status, message, headers or [], head=self._head), keep_alive=False)

    def _write(self, data: bytes, keep_alive: bool) -> None:
        if self.transport is None or self._closing:
            return
        self.transport.write(data)
        self._finish_response(keep_alive)

    def _finish_response(self, keep_alive: bool) -> None:
        if not keep_alive and self.transport is not None and not self._closing:
            self._close()

    def _close(self) -> None:
        """Close once what is written is flushed; a client that stops reading has ``send_timeout``."""
        self._closing = True
        self._cancel_timer()
        if self.transport is not None:
            # close() waits for the write buffer to drain, for ever if the client never reads.
            self.transport.close()
            self._watch_send()

    # -- timers -------------------------------------------------------------------------------

    def _set_timer(self, delay: float) -> None:
        """Time the connection out ``delay`` seconds from now (replacing what was set before).

        Lazy: a keep-alive connection moves its deadline several times per request, and a timer
        scheduled (and cancelled) each time cost more than answering a small request does
        (measured). The timer already scheduled stays when it fires before the new deadline: then
        it finds the deadline moved and schedules itself again, once per ``delay`` at most."""
        deadline = self.loop.time() + delay
        self._deadline = deadline
        timer = self._timer
        if timer is None or deadline < self._timer_at:
            if timer is not None:
                timer.cancel()
            self._timer = self.loop.call_at(deadline, self._timer_fired)
            self._timer_at = deadline

    def _cancel_timer(self) -> None:
        self._deadline = 0.0  # a timer still scheduled finds nothing to do

    def _drop_timer(self) -> None:
        """Cancel the timer for real, when this object is done with the connection (it is gone, or
        is a WebSocket now): a handshake storm would otherwise leave one scheduled per handshake
        for request_timeout seconds (measured: 10% fewer handshakes/s)."""
        self._deadline = 0.0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timer_fired(self) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline == 0.0:
            return
        if self.loop.time() < deadline:  # moved since it was scheduled
            self._timer = self.loop.call_at(deadline, self._timer_fired)
            self._timer_at = deadline
            return
        self._deadline = 0.0
        self._timed_out()

    def _timed_out(self) -> None:
        if self._closing:
            return
        if self._parsing is not None and not self._body_paused:
            # The body of the application's request stopped arriving.
            self._refuse(408, "the request body stopped arriving")
            return
        if self._busy:
            return
        if self._in_request:
            # A request begun but not finished in time: a slow client (or a slowloris) is told so.
            self._refuse(408, "the request took too long to arrive")
        elif self.transport is not None:
            self._close()

    # -- the send watch ---------------------------------------------------------------------------

    def _watch_send(self) -> None:
        """Arm the send watch if bytes wait on the client and it is not armed yet."""
        transport = self.transport
        if self._send_timer is not None or transport is None:
            return
        pending = transport.get_write_buffer_size()
        if pending:
            self._send_pending = pending
            self._send_acked = _bytes_acknowledged(transport)
            self._send_progress_at = self.loop.time()
            # Looked at four times per send_timeout: when the watch is armed, the client's receive
            # window is often still filling, and those bytes are acknowledged without the client
            # reading a byte; measured from one look only, a deaf client got twice send_timeout.
            self._send_timer = self.loop.call_later(self.config.send_timeout / 4, self._send_watch_expired)

    def _cancel_send_watch(self) -> None:
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _send_watch_expired(self) -> None:
        self._send_timer = None
        transport = self.transport
        if transport is None or not (self._write_paused or self._closing):
            return  # the responses flow again
        pending = transport.get_write_buffer_size()
        if not pending:
            return
        acked = _bytes_acknowledged(transport)
        now = self.loop.time()
        # Without the kernel's count: the buffer shrank (we write nothing while paused or closing).
        if acked > self._send_acked if acked >= 0 else pending < self._send_pending:
            # The client took some bytes: it reads slowly, it has not stopped.
            self._send_pending = pending
            self._send_acked = acked
            self._send_progress_at = now
        if now - self._send_progress_at < self.config.send_timeout:
            self._send_timer = self.loop.call_later(self.config.send_timeout / 4, self._send_watch_expired)
            return
        # Nothing taken in send_timeout seconds: drop the connection. connection_lost() cancels
        # the streaming task, which closes its file.
        self._closing = True
        self._cancel_timer()
        transport.abort()

    def close_idle(self) -> None:
        """Close the connection if no request is being received or answered (server shutdown)."""
        if not self._busy and not self._in_request and not self._queue and self.transport is not None:
            self._close()
