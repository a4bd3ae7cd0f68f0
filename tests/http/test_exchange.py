"""Tests for duplex.http.exchange and the application path of duplex.http.http_protocol, through raw
ASGI apps (``async def app(scope, receive, send)``, no framework) on a real ``HttpServer`` and raw
sockets.

The point is what reaches the wire and what the app receives at the edges: how a response is
framed (Content-Length, chunked, close-delimited), HEAD, 204 and 304, responses the server must
refuse (a header that would inject another, a bad status, messages out of order), request bodies
(100-continue, backpressure, a body that stops arriving, a body nobody reads), pipelining,
disconnects and half-closes, apps that return too early, and a client that does not read.
Framework-level behaviour (FastAPI, Starlette, lifespan, scopes) is in tests/asgi.

The apps run on the server's thread: what they see goes to a :class:`Journal`, and every wait on it
(and on a socket) is bounded.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from duplex.asgi import AsgiApp
from duplex.asgi.types import ASGIApp, Message, Receive, Scope, Send
from duplex.http.exchange import BODY_HIGH_WATER
from loop_server import LoopServer

TIMEOUT = 5.0  # the longest any single wait (for the app, a response, a socket) may take
MIB = 1024 * 1024
INDEX = b"<!doctype html><title>duplex</title>hello\n"  # written by the static_root fixture

Serve = Callable[..., AbstractContextManager[LoopServer]]
Connect = Callable[..., "Wire"]


# -- what the app saw ---------------------------------------------------------------------------------


class Journal:
    """What an app noted, in order: ``note(kind, value)`` on the server's thread, ``wait(kind)`` in
    the test, bounded."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self.entries: list[tuple[str, Any]] = []

    def note(self, kind: str, value: Any = None) -> None:
        with self._condition:
            self.entries.append((kind, value))
            self._condition.notify_all()

    def values(self, kind: str) -> list[Any]:
        with self._condition:
            return [value for seen, value in self.entries if seen == kind]

    def wait(self, kind: str, timeout: float = TIMEOUT) -> Any:
        """The value of the first ``kind`` entry, waiting for it; fails the test if none comes."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                for seen, value in self.entries:
                    if seen == kind:
                        return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the app noted no {kind!r} within {timeout} s: {self.entries}")
                self._condition.wait(left)


async def until_set(event: threading.Event, timeout: float = TIMEOUT) -> bool:
    """In an app: wait (bounded) for the test to set ``event``, without blocking the server's loop."""
    deadline = time.monotonic() + timeout
    while not event.is_set() and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    return event.is_set()


def start(status: int = 200, headers: list[tuple[bytes, bytes]] | None = None) -> Message:
    return {"type": "http.response.start", "status": status, "headers": headers or []}


def body(data: bytes = b"", more: bool = False) -> Message:
    return {"type": "http.response.body", "body": data, "more_body": more}


async def read_body(receive: Receive) -> bytes:
    """In an app: the whole request body."""
    parts = []
    while True:
        message = await receive()
        assert message["type"] == "http.request", message
        parts.append(message["body"])
        if not message["more_body"]:
            return b"".join(parts)


# -- a raw HTTP/1.1 client ------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]  # lower-case names, in order, repeats kept
    body: bytes  # the content, de-chunked
    wire_body: bytes  # the body as it was on the wire (chunk framing included)

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]

    def one(self, name: str) -> str:
        values = self.values(name)
        assert len(values) == 1, f"{name}: {values} in {self.headers}"
        return values[0]


class Wire:
    """A client on one bare socket that keeps every byte the server sent (``received``)."""

    def __init__(self, running: LoopServer, *, receive_buffer: int = 0, send_buffer: int = 0) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Set before connecting, so that the kernel does not grow them.
        if receive_buffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        if send_buffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
        sock.settimeout(TIMEOUT)
        sock.connect(("127.0.0.1", running.port))
        self.sock = sock
        self.buffer = b""
        self.received = b""

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        """Read more into the buffer; False at the end of the stream (a reset counts as one)."""
        try:
            chunk = self.sock.recv(256 * 1024)
        except ConnectionResetError:
            return False
        self.buffer += chunk
        self.received += chunk
        return bool(chunk)

    def take(self, count: int) -> bytes:
        while len(self.buffer) < count:
            assert self._fill(), f"the server closed with {len(self.buffer)} of {count} bytes sent"
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            assert self._fill(), f"the server closed in the middle of a line: {self.buffer[:200]!r}"
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def response(self, *, head_request: bool = False) -> Response:
        """Read one response, every framing; ``head_request``: it answers a HEAD (no body)."""
        while b"\r\n\r\n" not in self.buffer:
            assert len(self.buffer) < 65536, "response head too long"
            assert self._fill(), f"the server closed before a whole response head: {self.buffer[:200]!r}"
        assert self.buffer.startswith(b"HTTP/1.1 "), f"not a response: {self.buffer[:200]!r}"
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = []
        for line in lines:
            name, colon, value = line.partition(":")
            assert colon and name == name.strip(), f"malformed header line {line!r}"
            headers.append((name.lower(), value.strip()))
        response = Response(int(status_line.split(" ")[1]), headers, b"", b"")
        if head_request or response.status in (204, 304) or response.status < 200:
            return response
        if response.values("transfer-encoding"):
            assert response.values("transfer-encoding") == ["chunked"], response.headers
            wire = bytearray()
            parts = []
            while True:
                line = self._line()
                wire += line + b"\r\n"
                size = int(line, 16)
                if size == 0:
                    assert self.take(2) == b"\r\n", "no empty line after the last chunk"
                    wire += b"\r\n"
                    break
                part = self.take(size)
                parts.append(part)
                end = self.take(2)
                assert end == b"\r\n", f"chunk not followed by CRLF: {end!r}"
                wire += part + end
            response.body, response.wire_body = b"".join(parts), bytes(wire)
        elif response.values("content-length"):
            response.body = response.wire_body = self.take(int(response.one("content-length")))
        else:
            while self._fill():
                pass
            response.body = response.wire_body = self.buffer
            self.buffer = b""
        return response

    def request(self, method: str, target: str, headers: str = "", content: bytes | None = None) -> Response:
        length = "" if content is None else f"Content-Length: {len(content)}\r\n"
        self.send(f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}{length}\r\n".encode())
        if content:
            self.send(content)
        return self.response(head_request=method == "HEAD")

    def until_closed(self, timeout: float = TIMEOUT) -> tuple[bytes, bool]:
        """What is left to read until the server ends the stream: ``(data, closed)``; ``closed`` is
        False if the connection was still open after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return self.buffer, False
                self.sock.settimeout(left)
                try:
                    if not self._fill():
                        return self.buffer, True
                except TimeoutError:
                    return self.buffer, False
        finally:
            self.sock.settimeout(TIMEOUT)


# -- the server -----------------------------------------------------------------------------------------


@pytest.fixture
def open_clients() -> list[Wire]:
    """The clients a test opened (with ``connect``), closed before its server stops."""
    return []


@pytest.fixture
def serve(serve_on: Callable[..., Any], open_clients: list[Wire]) -> Serve:
    """``with serve(app, **HttpConfig overrides) as running:``: an ``HttpServer`` on the ``loop_kind``
    loop (static files from ``static_root``) answering with the raw ASGI ``app``; its clients are
    closed and the server stopped at the end of the block, and nothing may reach the loop's
    exception handler."""

    @contextmanager
    def start_server(app: ASGIApp, **config: Any) -> Iterator[LoopServer]:
        with serve_on(**config) as running:
            running.call(lambda: setattr(running.server, "app", AsgiApp(app)))
            try:
                yield running
            finally:
                for client in open_clients:
                    client.close()
            assert [context.get("message") for context in running.errors] == []

    return start_server


@pytest.fixture
def connect(open_clients: list[Wire]) -> Connect:
    """``connect(running, receive_buffer=..., send_buffer=...)``: a :class:`Wire` to ``running``."""

    def open_client(running: LoopServer, **options: int) -> Wire:
        client = Wire(running, **options)
        open_clients.append(client)
        return client

    return open_client


def held(running: LoopServer) -> int:
    """How many HTTP connections the server holds."""
    return int(running.call(lambda: len(running.server.http_connections)))


def wait_until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.01)


def logged(caplog: pytest.LogCaptureFixture, *texts: str) -> logging.LogRecord:
    """The first record of the "duplex" logger whose message holds every one of ``texts``, waiting
    for it (the server may log after the client got its answer)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        for record in list(caplog.records):
            if record.name == "duplex" and all(text in record.getMessage() for text in texts):
                return record
        seen = [f"{record.name}: {record.getMessage()}" for record in caplog.records]
        assert time.monotonic() < deadline, f"no 'duplex' log record mentions {texts}; records: {seen}"
        time.sleep(0.01)


async def ok_app(scope: Scope, receive: Receive, send: Send) -> None:
    await send(start(200, [(b"content-type", b"text/plain")]))
    await send(body(b"ok"))


def still_serves(running: LoopServer, connect: Connect) -> None:
    """A new connection is answered (the app at /ok answers "ok")."""
    response = connect(running).request("GET", "/ok", "Connection: close\r\n")
    assert (response.status, response.body) == (200, b"ok")


# -- framing --------------------------------------------------------------------------------------------


def test_whole_body_gets_a_content_length_and_keeps_the_connection(serve: Serve, connect: Connect) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(200, [(b"content-type", b"text/plain")]))
        await send(body(b"hello world"))

    with serve(app) as running:
        client = connect(running)
        first = client.request("GET", "/app")
        second = client.request("GET", "/app")
    for response in (first, second):
        assert response.status == 200
        assert response.one("content-length") == "11"
        assert response.values("transfer-encoding") == []
        assert response.values("connection") == []
        assert response.body == b"hello world"
    assert client.buffer == b""


def test_streamed_body_on_http_1_1_is_chunked_with_a_terminator(serve: Serve, connect: Connect) -> None:
    """Each piece is a chunk; an empty piece is no chunk (it would read as the last); the end is
    ``0\\r\\n\\r\\n``, after which the next response follows on the same connection."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(200, [(b"content-type", b"text/plain")]))
        if scope["path"] == "/stream":
            for piece in (b"ab", b"", b"cde"):
                await send(body(piece, more=True))
            await send(body(b"fg"))
        else:
            await send(body(b"next"))

    with serve(app) as running:
        client = connect(running)
        client.send(
            b"GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            b"GET /next HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        data, closed = client.until_closed()
    assert closed
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nTransfer-Encoding: chunked\r\n" in head + b"\r\n"
    assert b"content-length" not in head.lower()
    terminated = b"2\r\nab\r\n3\r\ncde\r\n2\r\nfg\r\n0\r\n\r\n"
    assert rest.startswith(terminated + b"HTTP/1.1 200 OK\r\n"), rest
    assert rest.endswith(b"\r\n\r\nnext")


@pytest.mark.parametrize("keep_alive", [False, True], ids=["plain", "keep-alive-asked"])
def test_streamed_body_on_http_1_0_ends_with_the_connection(
    serve: Serve, connect: Connect, keep_alive: bool
) -> None:
    """An HTTP/1.0 client knows no chunks: a streamed body is delimited by closing, even when the
    client asked to keep the connection."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(200, [(b"content-type", b"text/plain")]))
        await send(body(b"abc", more=True))
        await send(body(b"defg"))

    with serve(app) as running:
        client = connect(running)
        client.send(
            b"GET /app HTTP/1.0\r\n" + (b"Connection: keep-alive\r\n" if keep_alive else b"") + b"\r\n"
        )
        data, closed = client.until_closed()
    assert closed
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    assert b"connection: close" in lines
    assert not any(line.startswith((b"transfer-encoding", b"content-length")) for line in lines)
    assert rest == b"abcdefg"


def test_declared_content_length_is_honoured(serve: Serve, connect: Connect) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(200, [(b"content-length", b"10")]))
        await send(body(b"01234", more=True))
        await send(body(b"", more=True))
        await send(body(b"56789"))

    with serve(app) as running:
        client = connect(running)
        first = client.request("GET", "/app")
        second = client.request("GET", "/app")  # kept alive
    for response in (first, second):
        assert response.status == 200
        assert response.one("content-length") == "10"
        assert response.values("transfer-encoding") == []
        assert response.body == b"0123456789"


def test_fewer_bytes_than_declared_close_the_connection(serve: Serve, connect: Connect) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(200, [(b"content-length", b"10")]))
        await send(body(b"01234", more=True))
        await send(body(b""))

    with serve(app) as running:
        client = connect(running)
        client.send(b"GET /app HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data, closed = client.until_closed()
    assert closed, "a response shorter than its Content-Length left the connection open"
    head, _, rest = data.partition(b"\r\n\r\n")
    assert b"\r\ncontent-length: 10\r\n" in head.lower() + b"\r\n"
    assert rest == b"01234"


@pytest.mark.parametrize("first_piece", [b"012", b""], ids=["after-some-bytes", "at-once"])
def test_more_bytes_than_declared_raise_in_the_app_and_close(
    serve: Serve, connect: Connect, first_piece: bytes
) -> None:
    journal = Journal()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(200, [(b"content-length", b"5")]))
        if first_piece:
            await send(body(first_piece, more=True))
        try:
            await send(body(b"0123456789"[len(first_piece) :]))
        except Exception as exc:
            journal.note("raised", type(exc))
        else:
            journal.note("raised", None)

    with serve(app) as running:
        client = connect(running)
        client.send(b"GET /app HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data, closed = client.until_closed()
        assert journal.wait("raised") is RuntimeError
    assert closed
    if data:  # what went out is a head and at most the 5 declared bytes
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n") or head.startswith(b"HTTP/1.1 500 ")
        if head.startswith(b"HTTP/1.1 200 OK\r\n"):
            assert len(rest) <= 5
            assert b"0123456789".startswith(rest)


@pytest.mark.parametrize(
    "pieces",
    [[b"abc", b"de"], [b"hello"]],
    ids=["streamed", "whole"],
)
def test_app_set_transfer_encoding_is_chunked_once(
    serve: Serve, connect: Connect, pieces: list[bytes]
) -> None:
    """The app asks for chunked framing: the server chunks its pieces (the app gives plain bytes),
    with one Transfer-Encoding line and no Content-Length."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(200, [(b"transfer-encoding", b"chunked")]))
        for piece in pieces[:-1]:
            await send(body(piece, more=True))
        await send(body(pieces[-1]))

    with serve(app) as running:
        client = connect(running)
        response = client.request("GET", "/app")
        after = client.request("GET", "/app")  # the terminator was right: the next one parses
    for each in (response, after):
        assert each.one("transfer-encoding") == "chunked"
        assert each.values("content-length") == []
        assert (
            each.wire_body
            == b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"
        )
        assert each.body == b"".join(pieces)


def test_app_set_transfer_encoding_and_content_length_go_out_as_one_framing(
    serve: Serve, connect: Connect
) -> None:
    """RFC 9112 section 6.2: a sender MUST NOT send Content-Length in a message that has
    Transfer-Encoding (a proxy and the client could disagree on where the body ends)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(200, [(b"content-length", b"5"), (b"transfer-encoding", b"chunked")]))
        await send(body(b"abc", more=True))
        await send(body(b"de"))

    with serve(app) as running:
        client = connect(running)
        client.send(b"GET /app HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data, closed = client.until_closed()
    assert closed
    head, _, rest = data.partition(b"\r\n\r\n")
    names = [line.split(b":")[0].lower() for line in head.split(b"\r\n")[1:]]
    framings = [name for name in names if name in (b"content-length", b"transfer-encoding")]
    assert len(framings) == 1, f"two framings in one response head: {head!r}"
    if framings == [b"transfer-encoding"]:
        assert rest == b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    else:
        assert rest == b"abcde"


def test_app_set_transfer_encoding_is_not_sent_to_an_http_1_0_client(serve: Serve, connect: Connect) -> None:
    """RFC 9112 section 6.1: a server MUST NOT send Transfer-Encoding unless the request is HTTP/1.1
    or later; an HTTP/1.0 client would read the chunk sizes as content."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(200, [(b"transfer-encoding", b"chunked")]))
        await send(body(b"abc", more=True))
        await send(body(b"de"))

    with serve(app) as running:
        client = connect(running)
        client.send(b"GET /app HTTP/1.0\r\n\r\n")
        data, closed = client.until_closed()
    assert closed
    head, _, rest = data.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head.lower(), head
    assert rest == b"abcde"


def test_app_set_connection_close_is_one_header_and_closes(serve: Serve, connect: Connect) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(200, [(b"connection", b"close")]))
        await send(body(b"bye"))

    with serve(app) as running:
        client = connect(running)
        response = client.request("GET", "/app")
        rest, closed = client.until_closed()
    assert response.body == b"bye"
    assert [value.lower() for value in response.values("connection")] == ["close"], response.headers
    assert (rest, closed) == (b"", True)


# -- HEAD, 204, 304 -------------------------------------------------------------------------------------


async def sized_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The same answer to every method, body included (the server drops it for HEAD): whole at
    /whole, streamed at /streamed, streamed with a declared length at /declared."""
    content = bytes(range(256)) * 4
    path = scope["path"]
    headers = [(b"content-type", b"application/octet-stream")]
    if path == "/declared":
        headers.append((b"content-length", b"%d" % len(content)))
    await send(start(200, headers))
    if path == "/whole":
        await send(body(content))
    else:
        await send(body(content[:100], more=True))
        await send(body(content[100:], more=True))
        await send(body(b""))


@pytest.mark.parametrize("path", ["/whole", "/streamed", "/declared"])
def test_head_to_an_app_has_the_get_headers_and_no_body(serve: Serve, connect: Connect, path: str) -> None:
    with serve(sized_app) as running:
        client = connect(running)
        get = client.request("GET", path)
        head = client.request("HEAD", path)
        # Had HEAD carried a body (or a chunk terminator), this would not start with a status line.
        after = client.request("GET", path)
        assert client.buffer == b""
    assert get.status == head.status == after.status == 200
    assert len(get.body) == 1024
    for name in ("content-type", "content-length", "transfer-encoding", "connection"):
        assert head.values(name) == get.values(name), name
    assert head.values("connection") == []  # kept alive, also with a declared length never sent
    assert after.body == get.body


@pytest.mark.parametrize("status", [204, 304])
@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
def test_204_and_304_never_carry_a_body(serve: Serve, connect: Connect, status: int, streamed: bool) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/next":
            await send(start(200))
            await send(body(b"next"))
            return
        await send(start(status, [(b"etag", b'"v1"')]))
        if streamed:
            await send(body(b"must not ", more=True))
            await send(body(b"be sent"))
        else:
            await send(body(b"must not be sent"))

    with serve(app) as running:
        client = connect(running)
        client.send(
            b"GET /app HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            b"GET /next HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        data, closed = client.until_closed()
    assert closed
    assert b"must not" not in data and b"be sent" not in data
    first, _, second = data.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 %d " % status)
    assert b"transfer-encoding" not in first.lower()
    if status == 204:
        # RFC 9110 section 8.6: no Content-Length in a 204.
        assert b"content-length" not in first.lower()
    assert second.startswith(b"HTTP/1.1 200 OK\r\n"), second  # nothing between the two heads
    assert second.endswith(b"\r\n\r\nnext")


# -- the server's own headers ----------------------------------------------------------------------------


def test_the_apps_server_and_date_headers_replace_duplexs(serve: Serve, connect: Connect) -> None:
    date = b"Mon, 01 Jan 2024 00:00:00 GMT"

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/own":
            await send(start(200, [(b"Server", b"my-app/1.0"), (b"date", date)]))
        else:
            await send(start(200))
        await send(body(b"x"))

    with serve(app) as running:
        client = connect(running)
        own = client.request("GET", "/own")
        plain = client.request("GET", "/plain")
    assert own.values("server") == ["my-app/1.0"]
    assert own.values("date") == [date.decode()]
    assert plain.values("server") == ["duplex"]
    assert len(plain.values("date")) == 1
    assert plain.one("date").endswith(" GMT")


# -- responses the server refuses -----------------------------------------------------------------------

START_OK = start(200, [(b"content-type", b"text/plain")])

BAD_RESPONSES: dict[str, list[Message]] = {
    "crlf-in-value": [start(200, [(b"x-note", b"x\r\nSet-Cookie: evil")])],
    "lf-in-value": [start(200, [(b"x-note", b"x\nSet-Cookie: evil")])],
    "cr-in-value": [start(200, [(b"x-note", b"x\rSet-Cookie: evil")])],
    "nul-in-value": [start(200, [(b"x-note", b"x\0evil")])],
    "crlf-in-name": [start(200, [(b"x-note: 1\r\nSet-Cookie: evil\r\nx-more", b"1")])],
    "space-in-name": [start(200, [(b"x evil", b"1")])],
    "colon-in-name": [start(200, [(b"x:evil", b"1")])],
    "empty-name": [start(200, [(b"", b"evil")])],
    "str-name": [start(200, [("x-note", b"evil")])],  # type: ignore[list-item]
    "str-value": [start(200, [(b"x-note", "evil")])],  # type: ignore[list-item]
    "content-length-not-a-number": [start(200, [(b"content-length", b"5, evil")])],
    "status-99": [start(99, [(b"x-note", b"evil")])],
    "status-1000": [start(1000, [(b"x-note", b"evil")])],
    "status-as-text": [{"type": "http.response.start", "status": "200", "headers": [(b"x-note", b"evil")]}],
    "start-twice": [
        start(200, [(b"x-note", b"evil")]),
        start(200, [(b"x-note", b"evil")]),
    ],
    "body-before-start": [body(b"evil")],
}


@pytest.mark.parametrize("messages", list(BAD_RESPONSES.values()), ids=list(BAD_RESPONSES))
def test_bad_response_raises_in_the_app_and_is_answered_500(
    serve: Serve, connect: Connect, caplog: pytest.LogCaptureFixture, messages: list[Message]
) -> None:
    """The app's ``send`` raises on what would break the response (or inject a header of its own);
    the app lets the error go: the client gets a 500 with nothing of it, the server logs the method
    and path, and serves on."""
    journal = Journal()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/ok":
            await ok_app(scope, receive, send)
            return
        try:
            for message in messages:
                await send(message)
        except Exception as exc:
            journal.note("raised", type(exc))
            raise
        journal.note("raised", None)  # not refused: finish the response to show what went out
        await send(body(b"not refused"))

    with caplog.at_level(logging.ERROR, logger="duplex"), serve(app) as running:
        client = connect(running)
        client.send(b"GET /bad-response?q=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data, closed = client.until_closed()
        assert journal.wait("raised") in (TypeError, ValueError, RuntimeError), data
        assert data.startswith(b"HTTP/1.1 500 "), data
        assert b"evil" not in data
        assert b"Set-Cookie" not in data
        assert closed
        record = logged(caplog, "GET", "/bad-response")
        assert record.levelno >= logging.ERROR
        still_serves(running, connect)


# -- request bodies --------------------------------------------------------------------------------------


def test_expect_100_continue_comes_before_the_body(serve: Serve, connect: Connect) -> None:
    journal = Journal()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        content = await read_body(receive)
        journal.note("body", content)
        await send(start(200))
        await send(body(b"got " + content))

    with serve(app) as running:
        client = connect(running)
        client.send(
            b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        interim = b"HTTP/1.1 100 Continue\r\n\r\n"
        assert client.take(len(interim)) == interim
        client.send(b"hello")
        response = client.response()
    assert (response.status, response.body) == (200, b"got hello")
    assert journal.values("body") == [b"hello"]


def send_until_blocked(sock: socket.socket, data: bytes, quiet: float = 0.3) -> int:
    """Send as much of ``data`` as the socket takes until it takes nothing for ``quiet`` seconds (or
    all of it); return how many bytes went out."""
    view = memoryview(data)
    sent = 0
    sock.setblocking(False)
    try:
        last_progress = time.monotonic()
        while sent < len(data) and time.monotonic() - last_progress < quiet:
            select.select([], [sock], [], 0.02)
            try:
                count = sock.send(view[sent : sent + 256 * 1024])
            except BlockingIOError:
                continue
            sent += count
            last_progress = time.monotonic()
    finally:
        sock.settimeout(TIMEOUT)
    return sent


def test_upload_to_an_app_that_does_not_read_stops_the_reading_then_arrives_whole(
    serve: Serve, connect: Connect
) -> None:
    size = 16 * MIB
    data = os.urandom(size)  # random.randbytes takes half a second for this
    release = threading.Event()
    journal = Journal()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        journal.note("called")
        await until_set(release)
        digest = hashlib.sha256()
        total = 0
        first = -1
        while True:
            message = await receive()
            if message["type"] != "http.request":
                journal.note("unexpected", message["type"])
                return
            if first < 0:
                first = len(message["body"])
            digest.update(message["body"])
            total += len(message["body"])
            if not message["more_body"]:
                break
        journal.note("first read", first)
        await send(start(200))
        await send(body(b"%d %s" % (total, digest.hexdigest().encode())))

    with serve(app, max_request_size=32 * MIB) as running:
        client = connect(running, send_buffer=64 * 1024)
        client.send(b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" % size)
        journal.wait("called")
        sent = send_until_blocked(client.sock, data)
        assert sent < size, "the server read a 16 MiB body the app did not read"
        release.set()
        client.send(data[sent:])
        response = client.response()
        first_read = journal.wait("first read")
    assert response.status == 200
    assert response.body == b"%d %s" % (size, hashlib.sha256(data).hexdigest().encode())
    # What the server had taken from the socket while the app was not reading.
    assert BODY_HIGH_WATER <= first_read < 2 * MIB, first_read
    assert journal.values("unexpected") == []


def test_body_that_stops_arriving_is_408_and_http_disconnect(serve: Serve, connect: Connect) -> None:
    journal = Journal()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        received = 0
        while True:
            message = await asyncio.wait_for(receive(), TIMEOUT)
            journal.note("message", message["type"])
            if message["type"] == "http.disconnect":
                break
            received += len(message["body"])
        journal.note("received", received)
        # The client is gone: what the app still sends is dropped, without an error.
        await send(start(200))
        await send(body(b"too late"))
        journal.note("sent after disconnect")

    with serve(app, request_timeout=0.5) as running:
        client = connect(running)
        client.send(b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n" + b"x" * 500)
        data, closed = client.until_closed()
        journal.wait("sent after disconnect")
    assert closed
    assert data.startswith(b"HTTP/1.1 408 "), data
    assert b"too late" not in data
    messages = journal.values("message")
    assert messages[-1] == "http.disconnect"
    assert set(messages[:-1]) == {"http.request"}
    assert journal.values("received") == [500]


def test_slow_app_is_not_timed_out(serve: Serve, connect: Connect) -> None:
    """The request timer covers the request's arrival, the idle timer an idle connection: an app
    that takes longer than both to answer a request it has whole still answers it."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        content = await read_body(receive)
        await asyncio.sleep(0.6)
        await send(start(200))
        await send(body(b"late " + content))

    with serve(app, request_timeout=0.25, keepalive_timeout=0.25) as running:
        client = connect(running)
        response = client.request("POST", "/slow", content=b"but sure")
    assert (response.status, response.body) == (200, b"late but sure")


@pytest.mark.parametrize("size", [10, 3 * BODY_HIGH_WATER], ids=["small", "over-high-water"])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_request_after_a_body_the_app_did_not_read_is_answered(
    serve: Serve, connect: Connect, size: int, chunked: bool
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/ignore":
            await send(start(200))
            await send(body(b"ignored"))
            return
        content = await read_body(receive)
        await send(start(200))
        await send(body(b"read " + content))

    content = os.urandom(size)
    if chunked:
        framing = b"Transfer-Encoding: chunked\r\n"
        framed = b"%x\r\n%s\r\n0\r\n\r\n" % (len(content), content)
    else:
        framing = b"Content-Length: %d\r\n" % size
        framed = content
    with serve(app) as running:
        client = connect(running)
        client.send(b"POST /ignore HTTP/1.1\r\nHost: 127.0.0.1\r\n" + framing + b"\r\n" + framed)
        client.send(b"POST /read HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 6\r\n\r\nsecond")
        ignored = client.response()
        read = client.response()
        third = client.request("POST", "/read", content=b"third")
    assert (ignored.status, ignored.body) == (200, b"ignored")
    assert (read.status, read.body) == (200, b"read second")
    assert (third.status, third.body) == (200, b"read third")


# -- pipelining ------------------------------------------------------------------------------------------


def test_pipelined_app_static_app_are_answered_in_order(serve: Serve, connect: Connect) -> None:
    """The first app answers late and in pieces: the static file, ready at once, waits its turn."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        content = await read_body(receive)
        if scope["path"] == "/first":
            await asyncio.sleep(0.1)
            await send(start(200))
            await send(body(b"fir", more=True))
            await asyncio.sleep(0.05)
            await send(body(b"st"))
        else:
            await send(start(200))
            await send(body(b"third " + content))

    with serve(app) as running:
        client = connect(running)
        client.send(
            b"GET /first HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            b"POST /third HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\r\nabc"
        )
        responses = [client.response() for _ in range(3)]
    assert [response.status for response in responses] == [200, 200, 200]
    assert [response.body for response in responses] == [b"first", INDEX, b"third abc"]


def test_background_work_after_the_response_does_not_hold_up_the_next_request(
    serve: Serve, connect: Connect
) -> None:
    release = threading.Event()
    journal = Journal()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(200))
        await send(body(scope["path"].encode()))
        if scope["path"] == "/first":
            # The response is complete; the task goes on (Starlette's background tasks do).
            journal.note("background done", await until_set(release))

    with serve(app) as running:
        client = connect(running)
        client.send(
            b"GET /first HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /second HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        )
        client.sock.settimeout(TIMEOUT / 2)  # shorter than the app's own wait for the release
        first = client.response()
        second = client.response()
        assert journal.values("background done") == []  # answered while the first task still ran
        release.set()
        assert journal.wait("background done") is True
        third = client.request("GET", "/third")
    assert [first.body, second.body, third.body] == [b"/first", b"/second", b"/third"]


# -- the client goes away --------------------------------------------------------------------------------


def make_waiting_app(journal: Journal, answer: bool) -> ASGIApp:
    """An app that reads the body, notes it, waits on ``receive()`` and notes what it gets; then,
    if ``answer``, responds."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        journal.note("body", await read_body(receive))
        message = await asyncio.wait_for(receive(), TIMEOUT)
        journal.note("after body", message["type"])
        if answer:
            await send(start(200))
            await send(body(b"still answered"))
            journal.note("answered")

    return app


def test_client_closing_while_the_app_waits_is_http_disconnect(serve: Serve, connect: Connect) -> None:
    journal = Journal()
    with serve(make_waiting_app(journal, answer=False)) as running:
        client = connect(running)
        client.send(b"POST /wait HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n\r\nbody")
        assert journal.wait("body") == b"body"
        assert journal.values("after body") == []  # waiting
        client.close()
        assert journal.wait("after body") == "http.disconnect"
        wait_until(lambda: held(running) == 0, "the server lets the connection go")


def test_half_close_after_a_request_still_gets_the_response(serve: Serve, connect: Connect) -> None:
    journal = Journal()
    with serve(make_waiting_app(journal, answer=True)) as running:
        client = connect(running)
        client.send(b"POST /wait HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n\r\nbody")
        assert journal.wait("body") == b"body"
        client.sock.shutdown(socket.SHUT_WR)
        assert journal.wait("after body") == "http.disconnect"
        response = client.response()
        rest, closed = client.until_closed()
        journal.wait("answered")
    assert (response.status, response.body) == (200, b"still answered")
    assert (rest, closed) == (b"", True)


# -- apps that return too early --------------------------------------------------------------------------


def test_app_returning_without_a_response_is_500_and_logged(
    serve: Serve, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/ok":
            await ok_app(scope, receive, send)

    with caplog.at_level(logging.ERROR, logger="duplex"), serve(app) as running:
        client = connect(running)
        client.send(b"GET /forgot HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        response = client.response()
        rest, closed = client.until_closed()
        assert response.status == 500
        assert (rest, closed) == (b"", True)
        logged(caplog, "GET", "/forgot")
        still_serves(running, connect)


@pytest.mark.parametrize("partial", [True, False], ids=["some-body", "head-only"])
def test_app_returning_before_the_end_of_its_response_closes_and_is_logged(
    serve: Serve, connect: Connect, caplog: pytest.LogCaptureFixture, partial: bool
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/ok":
            await ok_app(scope, receive, send)
            return
        await send(start(200, [(b"content-type", b"text/plain")]))
        if partial:
            await send(body(b"partial", more=True))

    with caplog.at_level(logging.ERROR, logger="duplex"), serve(app) as running:
        client = connect(running)
        client.send(b"GET /unfinished HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data, closed = client.until_closed()
        assert closed
        if partial:
            head, _, rest = data.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert rest == b"7\r\npartial\r\n"  # and no terminating chunk: the client sees it cut
        else:
            # Nothing went out yet: either nothing at all, or a 500 in place of the response.
            assert data == b"" or data.startswith(b"HTTP/1.1 500 "), data
        logged(caplog, "GET", "/unfinished")
        still_serves(running, connect)


# -- a client that does not read -------------------------------------------------------------------------


def test_client_that_does_not_read_holds_the_app_back_then_is_dropped(serve: Serve, connect: Connect) -> None:
    """``await send()`` waits while the client does not read; after ``send_timeout`` seconds without
    it taking a byte the connection is dropped, and then the app's sends return at once (dropped)
    and ``receive()`` says http.disconnect."""
    chunks = 32
    produced: list[int] = []
    journal = Journal()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(start(200, [(b"content-type", b"application/octet-stream")]))
            for index in range(chunks):
                await send(body(bytes([index]) * MIB, more=True))
                produced.append(index)
            await send(body(b""))
        except Exception as exc:
            journal.note("raised", repr(exc))
            return
        journal.note("all sent", len(produced))
        message = await asyncio.wait_for(receive(), TIMEOUT)
        journal.note("then", message["type"])

    with serve(app, send_timeout=0.5) as running:
        client = connect(running, receive_buffer=16 * 1024)
        client.send(b"GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        wait_until(lambda: len(produced) > 0, "the app starts sending")
        # What the app produced while the connection was still up (sampled before looking).
        while_up: list[int] = []
        deadline = time.monotonic() + TIMEOUT
        while True:
            count = len(produced)
            if held(running) == 0:
                break
            while_up.append(count)
            assert time.monotonic() < deadline, "the client that does not read was not dropped"
            time.sleep(0.02)
        assert journal.wait("all sent") == chunks
        assert journal.wait("then") == "http.disconnect"
        _, closed = client.until_closed()
    assert while_up, "dropped before it could be watched"
    assert max(while_up) < chunks // 2, (
        f"the app produced {max(while_up)} MiB for a client that reads nothing"
    )
    assert journal.values("raised") == []
    assert closed
    assert len(client.received) < chunks * MIB
