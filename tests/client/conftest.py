"""Fixtures for the client tests: real servers on 127.0.0.1 (duplex's own 4D server, the
``websockets`` library's and aiohttp's), a raw-socket server for what no polite server does, and a
recording handler for ``duplex.WebSocket``.

Each peer server echoes every message with its own frame type, and obeys a few text commands, so
that one test can drive any of them the same way:

- ``"close <code> [reason]"``: the server closes the connection with that code and reason;
- ``"drop"``: the server drops the TCP connection without a close frame (not duplex's server);
- ``"flood <count> <size>"``: the server sends ``count`` binary messages of ``size`` bytes, each
  starting with its index as 8 ASCII digits (websockets' server only).

What the server saw (the request headers, the close code and reason the client sent) is recorded in
the peer's :class:`Recorder`. Every wait here is bounded, and every server is stopped after its test.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import queue
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

import duplex
from server.helpers_connection import Call, CallLog

T = TypeVar("T")

# How long any single wait for a callback, a message or a socket may take.
TIMEOUT = 5.0
# How long to keep watching for something that must not happen (a second onTerminate...).
QUIET = 0.3
MIB = 1024 * 1024
SUBPROTOCOLS = ["chat", "superchat"]


# -- waiting -----------------------------------------------------------------------------------


def wait_until(predicate: Callable[[], object], timeout: float = TIMEOUT, interval: float = 0.005) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes; returns whether it became true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return bool(predicate())
        time.sleep(interval)
    return True


def arun(coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run ``coroutine`` on a fresh event loop in this thread, failing it after ``timeout`` seconds."""

    async def bounded() -> T:
        return await asyncio.wait_for(coroutine, timeout)

    return asyncio.run(bounded())


class Recorder(CallLog):
    """A thread-safe, ordered log of events: ``record(kind, ws, event)`` from any thread,
    ``wait_for(kind)`` from the test, bounded; ``one(kind)`` also checks that no second comes."""

    def one(self, kind: str, timeout: float = TIMEOUT) -> Call:
        """The ``kind`` event: it comes in time, and no second one follows within :data:`QUIET`."""
        call = self.wait_for(kind, timeout=timeout)[0]
        time.sleep(QUIET)
        count = len(self.of(kind))
        assert count == 1, f"{kind!r} came {count} times: {self.kinds()}"
        return call


class ClientHandler(Recorder):
    """A ``duplex.WebSocket`` handler that records its four callbacks (with their thread).

    Args:
        dataType: the handler's ``dataType`` (None: not given, "text" then).
        headers: the handler's ``headers`` (None: not given).
        on_open: optional ``(ws, event)`` run after recording ``onOpen``.
        on_message: optional ``(ws, event)`` run after recording ``onMessage``.
    """

    def __init__(
        self,
        dataType: str | None = None,
        headers: dict[str, Any] | None = None,
        on_open: Callable[[Any, Any], Any] | None = None,
        on_message: Callable[[Any, Any], Any] | None = None,
    ) -> None:
        super().__init__()
        if dataType is not None:
            self.dataType = dataType
        if headers is not None:
            self.headers = headers
        self._on_open = on_open
        self._on_message = on_message

    def onOpen(self, ws: Any, event: Any) -> None:
        self.record("open", ws, event)
        if self._on_open is not None:
            self._on_open(ws, event)

    def onMessage(self, ws: Any, event: Any) -> None:
        self.record("message", ws, event)
        if self._on_message is not None:
            self._on_message(ws, event)

    def onError(self, ws: Any, event: Any) -> None:
        self.record("error", ws, event)

    def onTerminate(self, ws: Any, event: Any) -> None:
        self.record("terminate", ws, event)

    def messages(self) -> list[Any]:
        return [call.event["data"] for call in self.of("message")]

    def error_codes(self) -> list[int]:
        return [call.event["errors"][0]["errCode"] for call in self.of("error")]


@pytest.fixture
def make_client() -> Iterator[Callable[..., duplex.WebSocket]]:
    """``make_client(url, handler=None, **options)``: a ``duplex.WebSocket``, terminated after the
    test (and waited for, bounded)."""
    made: list[duplex.WebSocket] = []

    def make(url: str, handler: object = None, **options: Any) -> duplex.WebSocket:
        ws = duplex.WebSocket(url, handler, **options)
        made.append(ws)
        return ws

    yield make
    for ws in made:
        with contextlib.suppress(Exception):
            ws.terminate()
    for ws in made:
        wait_until(lambda ws=ws: ws.status == "Closed", TIMEOUT)


# -- a loop on a thread of its own ----------------------------------------------------------------


class LoopThread:
    """An asyncio loop on a daemon thread, for the servers of other libraries."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, coroutine: Awaitable[T], timeout: float = TIMEOUT) -> T:
        async def wrapped() -> T:
            return await coroutine

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(TIMEOUT)
        if not self.thread.is_alive():
            self.loop.close()


# -- peers: echo servers that obey the commands -------------------------------------------------------


@dataclass
class Peer:
    """A running echo server. ``recorder`` gets "request" (event: the request headers, a dict of
    lower-case names to lists of values) and "closed" (event: ``(code, reason)`` the client sent,
    as the server saw it) for each connection."""

    name: str
    port: int
    recorder: Recorder = field(default_factory=Recorder)
    path: str = "/echo"

    def url(self, path: str | None = None) -> str:
        return f"ws://127.0.0.1:{self.port}{path or self.path}"

    def closed(self, timeout: float = TIMEOUT) -> tuple[int, str]:
        """The close code and reason the server got from the client (the first connection's)."""
        event = self.recorder.wait_for("closed", timeout=timeout)[0].event
        return (event[0], event[1])


def parse_command(message: object) -> tuple[str, list[str]] | None:
    if isinstance(message, str) and message.split(" ", 1)[0] in ("close", "drop", "flood"):
        name, *rest = message.split(" ", 2)
        return name, rest
    return None


def flood_message(index: int, size: int) -> bytes:
    return f"{index:08d}".encode().ljust(size, b".")


# duplex's own server, through the 4D API


class _DuplexEcho:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def onMessage(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
        command = parse_command(event.data)
        if command is None:
            ws.send(event.data)
        elif command[0] == "close":
            args = command[1]
            ws.terminate(int(args[0]), args[1] if len(args) > 1 else "")
        else:
            raise AssertionError(f"duplex's peer does not do {event.data!r}")

    def onTerminate(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
        self.recorder.record("closed", ws, (event.code, event.reason))


class _DuplexServer:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def onConnection(self, wss: duplex.WebSocketServer, event: duplex.Event) -> _DuplexEcho:
        headers = event.request.headers
        self.recorder.record("request", None, {name.lower(): headers.get_all(name) for name in dict(headers)})
        self.recorder.record("request-info", None, event.request)
        return _DuplexEcho(self.recorder)


@contextlib.contextmanager
def duplex_peer(port: int = 0) -> Iterator[Peer]:
    """duplex's 4D server: an echo at every path, dataType "auto", compression on."""
    web = duplex.WebServer({"HTTPPort": port})
    result = web.start()
    assert result["success"], result
    try:
        peer = Peer("duplex", web.HTTPPort)
        duplex.WebSocketServer(
            _DuplexServer(peer.recorder),
            {
                "webServer": web,
                "dataType": "auto",
                "compression": True,
                "subprotocols": SUBPROTOCOLS,
                "maxMessageSize": 64 * MIB,
            },
        )
        yield peer
    finally:
        web.stop()


# the websockets library's asyncio server


@contextlib.contextmanager
def websockets_peer() -> Iterator[Peer]:
    """websockets' asyncio server, permessage-deflate on, no keepalive pings of its own."""
    from websockets.asyncio.server import ServerConnection, serve
    from websockets.exceptions import ConnectionClosed

    recorder = Recorder()

    async def handler(ws: ServerConnection) -> None:
        recorder.record(
            "request",
            ws,
            {
                name.lower(): ws.request.headers.get_all(name)
                for name in {key.lower() for key in ws.request.headers}
            },
        )
        try:
            async for message in ws:
                command = parse_command(message)
                if command is None:
                    await ws.send(message)
                elif command[0] == "close":
                    args = command[1]
                    await ws.close(int(args[0]), args[1] if len(args) > 1 else "")
                elif command[0] == "drop":
                    ws.transport.abort()
                elif command[0] == "flood":
                    count, size = int(command[1][0]), int(command[1][1])
                    for index in range(count):
                        await ws.send(flood_message(index, size))
                        recorder.record("flooded", ws, index)
        except ConnectionClosed:
            pass
        await ws.wait_closed()
        rcvd = ws.protocol.close_rcvd
        recorder.record("closed", ws, (rcvd.code, rcvd.reason) if rcvd is not None else (1006, ""))

    def select(connection: ServerConnection, offered: list[str]) -> str | None:
        return next((name for name in SUBPROTOCOLS if name in offered), None)

    async def start() -> Any:
        return await serve(
            handler,
            "127.0.0.1",
            0,
            compression="deflate",
            select_subprotocol=select,
            max_size=64 * MIB,
            ping_interval=None,
        )

    runner = LoopThread("websockets-server")
    try:
        server = runner.run(start())
        peer = Peer("websockets", server.sockets[0].getsockname()[1], recorder)
        try:
            yield peer
        finally:
            server.close()
            with contextlib.suppress(Exception):
                runner.run(server.wait_closed())
    finally:
        runner.stop()


# aiohttp's server


@contextlib.contextmanager
def aiohttp_peer() -> Iterator[Peer]:
    """aiohttp's server: a ``WebSocketResponse(compress=True)`` echo on an AppRunner/TCPSite."""
    from aiohttp import WSMsgType, web

    recorder = Recorder()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=True, protocols=SUBPROTOCOLS, max_msg_size=64 * MIB)
        await ws.prepare(request)
        recorder.record(
            "request",
            ws,
            {name.lower(): request.headers.getall(name) for name in {key.lower() for key in request.headers}},
        )
        closed: tuple[int, str] = (1006, "")
        while True:
            message = await ws.receive()
            if message.type is WSMsgType.TEXT:
                command = parse_command(message.data)
                if command is None:
                    await ws.send_str(message.data)
                elif command[0] == "close":
                    args = command[1]
                    reason = args[1] if len(args) > 1 else ""
                    await ws.close(code=int(args[0]), message=reason.encode())
                    closed = (ws.close_code or 1006, "")
                    break
                elif command[0] == "drop":
                    assert request.transport is not None
                    request.transport.abort()
                    break
            elif message.type is WSMsgType.BINARY:
                await ws.send_bytes(message.data)
            elif message.type is WSMsgType.CLOSE:
                closed = (message.data, message.extra or "")
                break
            else:  # CLOSING, CLOSED, ERROR
                break
        recorder.record("closed", ws, closed)
        return ws

    async def start() -> web.AppRunner:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", handler)
        app_runner = web.AppRunner(app, shutdown_timeout=1.0, handle_signals=False)
        await app_runner.setup()
        await web.TCPSite(app_runner, "127.0.0.1", 0).start()
        return app_runner

    runner = LoopThread("aiohttp-server")
    try:
        app_runner = runner.run(start())
        port = app_runner.addresses[0][1]
        try:
            yield Peer("aiohttp", port, recorder)
        finally:
            with contextlib.suppress(Exception):
                runner.run(app_runner.cleanup(), timeout=10)
    finally:
        runner.stop()


PEERS = {"duplex": duplex_peer, "websockets": websockets_peer, "aiohttp": aiohttp_peer}


@pytest.fixture(params=list(PEERS))
def peer(request: pytest.FixtureRequest) -> Iterator[Peer]:
    """Each of the three echo servers in turn."""
    with PEERS[request.param]() as running:
        yield running


@pytest.fixture
def duplex_echo() -> Iterator[Peer]:
    with duplex_peer() as running:
        yield running


@pytest.fixture
def websockets_echo() -> Iterator[Peer]:
    with websockets_peer() as running:
        yield running


@pytest.fixture
def aiohttp_echo() -> Iterator[Peer]:
    with aiohttp_peer() as running:
        yield running


# -- a raw-socket server ---------------------------------------------------------------------------


GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class RawServer:
    """A listening socket on 127.0.0.1 that does only what the test tells it: accept or not, answer
    the handshake or not, read or not."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.port: int = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []

    def url(self, path: str = "/") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def accept(self, timeout: float = TIMEOUT) -> socket.socket:
        self.listener.settimeout(timeout)
        sock, _ = self.listener.accept()
        sock.settimeout(timeout)
        self.accepted.append(sock)
        return sock

    def accept_websocket(self, timeout: float = TIMEOUT) -> tuple[socket.socket, bytes]:
        """Accept a client and answer its handshake with a plain 101 (no extension, no subprotocol);
        returns the socket and the request head."""
        sock = self.accept(timeout)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError(f"the client closed before a full request: {head!r}")
            head += chunk
        key = next(
            line.split(b":", 1)[1].strip()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + GUID.encode()).digest())
        sock.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        return sock, head

    def close(self) -> None:
        for sock in self.accepted:
            with contextlib.suppress(OSError):
                sock.close()
        self.listener.close()


@pytest.fixture
def raw_server() -> Iterator[RawServer]:
    server = RawServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def dead_port() -> int:
    """A port on 127.0.0.1 nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def closed_by_client(sock: socket.socket, timeout: float = 2.0) -> bool:
    """Whether the client closes ``sock`` (EOF or reset) within ``timeout``, whatever it sends first."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            return False
        except OSError:
            return True


def server_frames(sock: socket.socket, timeout: float = TIMEOUT) -> Iterator[tuple[int, bytes]]:
    """``(opcode, payload)`` of each frame a client sends on ``sock`` (unmasked here), until EOF."""
    buffer = bytearray()
    deadline = time.monotonic() + timeout

    def need(size: int) -> bool:
        while len(buffer) < size:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                return False
            if not chunk:
                return False
            buffer.extend(chunk)
        return True

    while need(2):
        opcode = buffer[0] & 0x0F
        masked = buffer[1] & 0x80
        length = buffer[1] & 0x7F
        offset = 2
        if length == 126:
            if not need(4):
                return
            length = int.from_bytes(buffer[2:4], "big")
            offset = 4
        elif length == 127:
            if not need(10):
                return
            length = int.from_bytes(buffer[2:10], "big")
            offset = 10
        key = b""
        if masked:
            if not need(offset + 4):
                return
            key = bytes(buffer[offset : offset + 4])
            offset += 4
        if not need(offset + length):
            return
        payload = bytes(buffer[offset : offset + length])
        if key:
            payload = bytes(byte ^ key[index % 4] for index, byte in enumerate(payload))
        del buffer[: offset + length]
        yield opcode, payload


@pytest.fixture
def messages() -> queue.Queue[Any]:
    """A queue for values handed from callbacks to the test."""
    return queue.Queue()
