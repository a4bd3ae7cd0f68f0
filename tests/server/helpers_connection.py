"""Helpers for the WebSocketConnection tests: recording handlers and a raw-socket WebSocket client.

Callbacks run on the server's thread (or a worker): a :class:`Recorder` stores each call under a
lock and lets the test thread wait for it with a timeout. :class:`RawClient` speaks just enough
RFC 6455 over a plain socket to do what a well-behaved client library will not: never read, never
answer pings, send a close frame without a code, drop the TCP connection without one.
"""

from __future__ import annotations

import base64
import os
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from websockets.sync.client import ClientConnection, connect

import duplex

# Every wait in these tests is bounded by this (seconds), unless a test says otherwise.
TIMEOUT = 5.0

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


@dataclass
class Call:
    """One callback as the handler saw it."""

    kind: str  # "open", "message", "terminate", "error"
    ws: Any
    event: Any
    thread: str  # the name of the thread it ran on
    ident: int  # that thread's identity
    at: float  # time.monotonic() when it was recorded


class CallLog:
    """A thread-safe, ordered log of calls: ``record(kind, ws, event)`` from any thread,
    ``wait_for(kind)`` from the test, bounded (the client tests use it too)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self.calls: list[Call] = []

    def record(self, kind: str, ws: Any = None, event: Any = None) -> None:
        thread = threading.current_thread()
        call = Call(kind, ws, event, thread.name, threading.get_ident(), time.monotonic())
        with self._condition:
            self.calls.append(call)
            self._condition.notify_all()

    def of(self, kind: str) -> list[Call]:
        with self._condition:
            return [call for call in self.calls if call.kind == kind]

    def kinds(self) -> list[str]:
        with self._condition:
            return [call.kind for call in self.calls]

    def wait_for(self, kind: str, count: int = 1, timeout: float = TIMEOUT) -> list[Call]:
        """The first ``count`` calls of ``kind``; fails the test if they do not come in time."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                found = [call for call in self.calls if call.kind == kind]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"waited {timeout} s for {count} {kind!r} call(s), got {len(found)}; "
                        f"calls so far: {[call.kind for call in self.calls]}"
                    )
                self._condition.wait(left)


class Recorder(CallLog):
    """A connectionHandler that records every callback, in order, from whatever thread runs it.

    Args:
        on_message: optional ``(ws, event)`` run after recording a message (e.g. an echo).
    """

    def __init__(self, on_message: Callable[[Any, Any], Any] | None = None) -> None:
        super().__init__()
        self._reply = on_message

    # the four connection callbacks
    def onOpen(self, ws: Any, event: Any) -> None:
        self.record("open", ws, event)

    def onMessage(self, ws: Any, event: Any) -> Any:
        self.record("message", ws, event)
        if self._reply is not None:
            return self._reply(ws, event)
        return None

    def onTerminate(self, ws: Any, event: Any) -> None:
        self.record("terminate", ws, event)

    def onError(self, ws: Any, event: Any) -> None:
        self.record("error", ws, event)

    def wait_open(self, timeout: float = TIMEOUT) -> Any:
        """The server-side connection of the first client (once ``onOpen`` ran)."""
        return self.wait_for("open", timeout=timeout)[0].ws


class Server:
    """A WSSHandler whose ``onConnection`` accepts every client with the same connectionHandler."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler

    def onConnection(self, wss: Any, event: Any) -> Any:
        return self.handler


def start_wss(web: duplex.WebServer, handler: Any, **options: Any) -> duplex.WebSocketServer:
    """A WebSocketServer on ``web`` whose connections all use ``handler`` (a connectionHandler)."""
    return duplex.WebSocketServer(Server(handler), {"webServer": web, **options})


@contextmanager
def running_web_server() -> Iterator[duplex.WebServer]:
    """A started ``duplex.WebServer`` on a free port of 127.0.0.1, always stopped at the end."""
    web = duplex.WebServer({"HTTPPort": 0})
    result = web.start()
    assert result["success"], result
    try:
        yield web
    finally:
        web.stop()


def url(web: duplex.WebServer, path: str = "/") -> str:
    return f"ws://127.0.0.1:{web.HTTPPort}{path}"


def unique_name(prefix: str) -> str:
    """A worker name no other test uses (workers are process-wide)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_until(predicate: Callable[[], bool], timeout: float = TIMEOUT, interval: float = 0.01) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return bool(predicate())
        time.sleep(interval)


def error_codes(recorder: Recorder) -> list[int]:
    """The ``errCode`` at the top of each ``onError`` call's stack, in call order."""
    return [call.event.errors[0]["errCode"] for call in recorder.of("error")]


# -- a raw-socket client --------------------------------------------------------------------------------


def client_frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bool = True) -> bytes:
    """One client-to-server frame (masked, as RFC 6455 requires)."""
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    mask_bit = 0x80 if mask else 0
    if length < 126:
        header = struct.pack("!BB", first, mask_bit | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, length)
    if not mask:
        return header + payload
    key = os.urandom(4)
    masked = bytes(byte ^ key[index % 4] for index, byte in enumerate(payload))
    return header + key + masked


class RawClient:
    """A WebSocket client on a plain socket: the handshake, then frames by hand."""

    def __init__(self, sock: socket.socket, status: int, headers: dict[str, str], rest: bytes) -> None:
        self.sock = sock
        self.status = status
        self.headers = headers  # lower-case names
        self._buffer = rest

    @classmethod
    def connect(
        cls,
        port: int,
        path: str = "/",
        *,
        extra_headers: tuple[str, ...] = (),
        receive_buffer: int | None = None,
        timeout: float = TIMEOUT,
    ) -> RawClient:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:
            # Before connect(), so that the advertised window stays small.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.settimeout(timeout)
        sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *extra_headers,
        ]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                raise AssertionError(f"the server closed during the handshake; got {data!r}")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return cls(sock, int(status_line.split()[1]), headers, rest)

    def send_frame(self, opcode: int, payload: bytes = b"", *, fin: bool = True) -> None:
        self.sock.sendall(client_frame(opcode, payload, fin=fin))

    def read_frame(self, timeout: float = TIMEOUT) -> tuple[bool, int, bytes]:
        """``(fin, opcode, payload)`` of the next server frame (unmasked, as servers send).

        A timeout leaves a partly received frame in the buffer, so reading may go on afterwards.
        """
        self.sock.settimeout(timeout)
        while True:
            frame = self._parse_frame()
            if frame is not None:
                return frame
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"connection closed with {len(self._buffer)} bytes of a frame read")
            self._buffer += chunk

    def _parse_frame(self) -> tuple[bool, int, bytes] | None:
        buffer = self._buffer
        if len(buffer) < 2:
            return None
        first, second = buffer[0], buffer[1]
        assert not second & 0x80, "a server frame must not be masked"
        length, offset = second & 0x7F, 2
        if length == 126:
            if len(buffer) < 4:
                return None
            (length,) = struct.unpack("!H", buffer[2:4])
            offset = 4
        elif length == 127:
            if len(buffer) < 10:
                return None
            (length,) = struct.unpack("!Q", buffer[2:10])
            offset = 10
        if len(buffer) < offset + length:
            return None
        self._buffer = buffer[offset + length :]
        return bool(first & 0x80), first & 0x0F, buffer[offset : offset + length]

    def read_until_close(self, timeout: float = TIMEOUT) -> tuple[list[tuple[int, bytes]], bytes | None]:
        """Frames up to the close frame: ``(frames before it, close payload)``; None if the TCP ended first."""
        frames: list[tuple[int, bytes]] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                _, opcode, payload = self.read_frame(max(0.01, deadline - time.monotonic()))
            except (EOFError, ConnectionResetError):
                return frames, None
            if opcode == OP_CLOSE:
                return frames, payload
            frames.append((opcode, payload))

    def close(self) -> None:
        self.sock.close()


def close_code_of(payload: bytes | None) -> int | None:
    """The code in a close frame's payload (None: no payload or no frame)."""
    if not payload:
        return None
    code: int = struct.unpack("!H", payload[:2])[0]
    return code


# -- shared by the thread, limit and topic tests -----------------------------------------------------


def client_of(web: duplex.WebServer, path: str = "/", **kwargs: Any) -> ClientConnection:
    """A sync ``websockets`` client of ``path`` on ``web`` (use it in a ``with``)."""
    return connect(url(web, path), open_timeout=TIMEOUT, close_timeout=TIMEOUT, proxy=None, **kwargs)


@contextmanager
def open_clients(web: duplex.WebServer, recorder: Recorder, count: int) -> Iterator[list[ClientConnection]]:
    """``count`` clients, connected one at a time (the server sees them in that order), closed after."""
    with ExitStack() as stack:
        clients: list[ClientConnection] = []
        for _ in range(count):
            clients.append(stack.enter_context(client_of(web)))
            recorder.wait_for("open", len(clients))
        yield clients


def server_side(recorder: Recorder, count: int) -> list[Any]:
    """The server's connections, in the order the clients connected (one at a time)."""
    return [call.ws for call in recorder.wait_for("open", count)]


def run_threads(count: int, target: Any) -> None:
    """Run ``target(index)`` on ``count`` threads released together; re-raise the first failure."""
    barrier = threading.Barrier(count)
    failures: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(TIMEOUT)
            target(index)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(index,), name=f"thread-{index}") for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck"
    if failures:
        raise failures[0]


CHUNK = 64 * 1024


def numbered_chunk(index: int) -> bytes:
    """``CHUNK`` bytes that say their index (a 4-byte big-endian number, repeated)."""
    return struct.pack("!I", index) * (CHUNK // 4)
