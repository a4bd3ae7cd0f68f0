"""Fixtures for the 4D-style API tests: a started ``WebServer`` on a free port, WebSocket servers
built from small recording handlers, and clients (the real ``websockets`` client and raw sockets).

Callbacks run on the server's thread, so everything they see goes through a thread-safe
:class:`Recorder`; every wait in these tests is bounded.
"""

from __future__ import annotations

import base64
import contextlib
import os
import queue
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

import duplex

# How long any single wait for a callback, a message or a socket may take.
TIMEOUT = 5.0


# -- recording callbacks ---------------------------------------------------------------------------


class Recorder:
    """A thread-safe log of what callbacks saw: ``record(kind, *values)`` from any thread,
    ``wait(kind)`` from the test (bounded)."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[str, tuple[Any, ...]]] = queue.Queue()
        self._pending: list[tuple[str, tuple[Any, ...]]] = []
        self._history: list[str] = []

    def record(self, kind: str, *values: Any) -> None:
        self._queue.put((kind, values))

    def wait(self, kind: str, timeout: float = TIMEOUT) -> tuple[Any, ...]:
        """The values of the oldest not yet taken ``kind`` record, waiting for it if needed."""
        for index, (pending_kind, values) in enumerate(self._pending):
            if pending_kind == kind:
                del self._pending[index]
                return values
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {kind!r} callback within {timeout} s; seen: {self._history}")
            try:
                got_kind, values = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            self._history.append(got_kind)
            if got_kind == kind:
                return values
            self._pending.append((got_kind, values))

    def kinds(self, settle: float = 0.0) -> list[str]:
        """Every kind recorded so far, in order (after waiting ``settle`` seconds for stragglers)."""
        if settle:
            time.sleep(settle)
        while True:
            try:
                got_kind, values = self._queue.get_nowait()
            except queue.Empty:
                return list(self._history)
            self._history.append(got_kind)
            self._pending.append((got_kind, values))

    def count(self, kind: str, settle: float = 0.0) -> int:
        return self.kinds(settle).count(kind)


class EchoConnection:
    """A connection handler that records its callbacks and echoes each message."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def onOpen(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
        self.recorder.record("open", ws, event)

    def onMessage(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
        self.recorder.record("message", ws, event)
        ws.send(event.data)

    def onTerminate(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
        self.recorder.record("terminate", ws, event)

    def onError(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
        self.recorder.record("error", ws, event)


OnConnection = Callable[[duplex.WebSocketServer, duplex.Event], Any]


class RecordingServer:
    """A WSSHandler that records its callbacks (as "server.open", "server.connection", ...).

    ``onConnection`` returns ``on_connection(wss, event)`` if given, else an :class:`EchoConnection`.
    """

    def __init__(self, recorder: Recorder, on_connection: OnConnection | None = None) -> None:
        self.recorder = recorder
        self.on_connection = on_connection

    def onConnection(self, wss: duplex.WebSocketServer, event: duplex.Event) -> Any:
        self.recorder.record("server.connection", wss, event)
        if self.on_connection is not None:
            return self.on_connection(wss, event)
        return EchoConnection(self.recorder)

    def onOpen(self, wss: duplex.WebSocketServer, event: duplex.Event) -> None:
        self.recorder.record("server.open", wss, event)

    def onTerminate(self, wss: duplex.WebSocketServer, event: duplex.Event) -> None:
        self.recorder.record("server.terminate", wss, event)

    def onError(self, wss: duplex.WebSocketServer, event: duplex.Event) -> None:
        self.recorder.record("server.error", wss, event)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def echo_connection(recorder: Recorder) -> Callable[[], EchoConnection]:
    """A factory of recording echo connection handlers (sharing the test's ``recorder``)."""
    return lambda: EchoConnection(recorder)


@pytest.fixture
def recording_server(recorder: Recorder) -> Callable[..., RecordingServer]:
    """``recording_server(on_connection=None)``: a recording WSSHandler (the test's ``recorder``)."""
    return lambda on_connection=None: RecordingServer(recorder, on_connection)


# -- servers ---------------------------------------------------------------------------------------


@pytest.fixture
def root_folder(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    root.mkdir()
    (root / "index.html").write_text("<!doctype html><title>duplex</title>hello from duplex\n")
    return root


@pytest.fixture
def web(root_folder: Path) -> Iterator[duplex.WebServer]:
    """A started ``WebServer`` on a free port of 127.0.0.1, serving ``root_folder``; stopped after."""
    server = duplex.WebServer()
    result = server.start({"HTTPPort": 0, "rootFolder": str(root_folder)})
    assert result["success"], result
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def make_wss(
    web: duplex.WebServer, recording_server: Callable[..., RecordingServer]
) -> Iterator[Callable[..., duplex.WebSocketServer]]:
    """``make_wss(options=None, handler=None, on_connection=None)``: a WebSocketServer on ``web``.

    Without ``handler`` the WSSHandler is a :class:`RecordingServer` (with ``on_connection``).
    Every server made is terminated (sockets dropped) after the test.
    """
    made: list[duplex.WebSocketServer] = []

    def make(
        options: dict[str, Any] | None = None,
        handler: object | None = None,
        on_connection: OnConnection | None = None,
    ) -> duplex.WebSocketServer:
        if handler is None:
            handler = recording_server(on_connection)
        wss = duplex.WebSocketServer(handler, {"webServer": web, **(options or {})})
        made.append(wss)
        return wss

    yield make
    for wss in made:
        wss.terminate(0)


# -- clients ---------------------------------------------------------------------------------------


@pytest.fixture
def url(web: duplex.WebServer) -> Callable[[str], str]:
    """``url("/path")``: the ws:// URL of ``path`` on ``web``."""
    return lambda path: f"ws://127.0.0.1:{web.HTTPPort}{path}"


@pytest.fixture
def client() -> Iterator[Callable[..., ClientConnection]]:
    """``client(url, **connect_kwargs)``: a connected sync ``websockets`` client, closed after."""
    with contextlib.ExitStack() as stack:

        def open_client(target: str, **kwargs: Any) -> ClientConnection:
            kwargs.setdefault("open_timeout", TIMEOUT)
            kwargs.setdefault("close_timeout", 2)
            kwargs.setdefault("proxy", None)
            return stack.enter_context(connect(target, **kwargs))

        yield open_client


@dataclass
class Refusal:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def refused() -> Callable[..., Refusal]:
    """``refused(url, **connect_kwargs)``: the HTTP response of an upgrade the server must refuse."""

    def attempt(target: str, **kwargs: Any) -> Refusal:
        kwargs.setdefault("open_timeout", TIMEOUT)
        kwargs.setdefault("proxy", None)
        try:
            with connect(target, **kwargs):
                pass
        except InvalidStatus as exc:
            response = exc.response
            return Refusal(response.status_code, response.body or b"", dict(response.headers.raw_items()))
        raise AssertionError(f"the upgrade to {target} was accepted")

    return attempt


class RawClient:
    """A WebSocket client on a bare socket, that only does what the test tells it (for example,
    never answer a close frame)."""

    def __init__(self, sock: socket.socket, status: int, head: bytes, rest: bytes) -> None:
        self.sock = sock
        self.status = status
        self.head = head
        self.rest = rest

    def read_until_eof(self, timeout: float = TIMEOUT) -> tuple[bytes, bool]:
        """Everything the server sends until it closes the socket: ``(data, closed)``; ``closed`` is
        False if the socket was still open after ``timeout``. A reset counts as closed."""
        data = bytearray(self.rest)
        self.rest = b""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return bytes(data), False
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return bytes(data), False
            except ConnectionResetError:
                return bytes(data), True
            if not chunk:
                return bytes(data), True
            data += chunk

    def close(self) -> None:
        self.sock.close()


def parse_frames(data: bytes) -> list[tuple[int, bytes]]:
    """``(opcode, payload)`` of each complete unmasked (server) frame in ``data``."""
    frames = []
    offset = 0
    while offset + 2 <= len(data):
        opcode = data[offset] & 0x0F
        length = data[offset + 1] & 0x7F
        offset += 2
        if length == 126:
            (length,) = struct.unpack_from("!H", data, offset)
            offset += 2
        elif length == 127:
            (length,) = struct.unpack_from("!Q", data, offset)
            offset += 8
        if offset + length > len(data):
            break
        frames.append((opcode, bytes(data[offset : offset + length])))
        offset += length
    return frames


@pytest.fixture
def raw_upgrade(web: duplex.WebServer) -> Iterator[Callable[..., RawClient]]:
    """``raw_upgrade(path, headers=())``: send a WebSocket upgrade on a bare socket and read the
    response head. Sockets are closed after the test."""
    opened: list[socket.socket] = []

    def upgrade(path: str, headers: tuple[str, ...] | list[str] = ()) -> RawClient:
        sock = socket.create_connection(("127.0.0.1", web.HTTPPort), timeout=TIMEOUT)
        opened.append(sock)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: 127.0.0.1:{web.HTTPPort}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *headers,
            "",
            "",
        ]
        sock.sendall("\r\n".join(lines).encode())
        received = b""
        deadline = time.monotonic() + TIMEOUT
        while b"\r\n\r\n" not in received:
            if time.monotonic() > deadline:
                raise AssertionError(f"no response head within {TIMEOUT} s: {received!r}")
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError(f"the server closed before a full response head: {received!r}")
            received += chunk
        head, rest = received.split(b"\r\n\r\n", 1)
        status = int(head.split(b" ", 2)[1])
        return RawClient(sock, status, head, rest)

    yield upgrade
    for sock in opened:
        sock.close()


@pytest.fixture
def frames() -> Callable[[bytes], list[tuple[int, bytes]]]:
    """``frames(data)``: parse server frames from raw bytes."""
    return parse_frames


def wait_until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


@pytest.fixture
def eventually() -> Callable[..., bool]:
    """``eventually(condition, timeout=5)``: poll until ``condition()`` is true; False on timeout."""
    return wait_until
