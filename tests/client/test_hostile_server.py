"""Hostile and broken servers against the client: each gets the answer RFC 6455 asks for, and
nothing hangs.

Every server here is a raw socket on 127.0.0.1 run on a thread by :class:`HostileServer`: it reads
the client's request, answers (a valid 101, a garbled one, or something else entirely) and sends
crafted bytes, then reads what the client sends back and checks it from the wire: the client's
frames are parsed and unmasked by :meth:`Peer.read_frame`, written from the RFC's section 5.2
diagram and not from the code under test.

The async face (``duplex.connect``) must raise the right exception (``InvalidHandshakeResponse``,
``ConnectionClosed`` with the right code, ``TimeoutError``, ``OSError``); the 4D face
(``duplex.WebSocket``) must call ``onError`` with the right ``errCode`` and then ``onTerminate``
with the right code. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import queue
import socket
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

import duplex

# How long any single wait (a socket read, a callback, a connection) may take.
TIMEOUT = 5.0
# What a "right away" may take on a loaded machine.
QUICK = 1.5

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MIB = 1024 * 1024

# errCodes (src/duplex/server/errors.py)
PROTOCOL_ERROR = 100
INVALID_UTF8 = 101
MESSAGE_TOO_BIG = 103
KEEPALIVE_TIMEOUT = 104
CONNECT_FAILED = 500
TLS_FAILED = 501
OPEN_TIMEOUT = 502
HANDSHAKE_REFUSED = 503

T = TypeVar("T")
E = TypeVar("E", bound=BaseException)


def accept_for(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` that answers ``key`` (RFC 6455 section 4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def server_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    mask: bytes | None = None,
    length: int | None = None,
) -> bytes:
    """A frame as a server writes it (unmasked unless ``mask`` is given); ``length`` overrides the
    announced length."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    size = len(payload) if length is None else length
    mask_bit = 0x80 if mask is not None else 0
    if size < 126:
        header = struct.pack("!BB", first, mask_bit | size)
    elif size < 65536:
        header = struct.pack("!BBH", first, mask_bit | 126, size)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, size)
    if mask is None:
        return header + payload
    return header + mask + apply_mask(payload, mask)


def close_frame(code: int, reason: bytes = b"") -> bytes:
    return server_frame(OP_CLOSE, struct.pack("!H", code) + reason)


def apply_mask(data: bytes, key: bytes) -> bytes:
    repeated = (key * (len(data) // 4 + 1))[: len(data)]
    return bytes(a ^ b for a, b in zip(data, repeated, strict=True))


@functools.cache
def deflate_bomb() -> bytes:
    """100 MiB of zeros, raw DEFLATE, sync-flushed, without the 00 00 ff ff tail (RFC 7692 7.2.1)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = compressor.compress(bytes(100 * MIB)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(b"\x00\x00\xff\xff")
    return data[:-4]


def deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


# -- the hostile server ----------------------------------------------------------------------------


@dataclass
class Frame:
    """A frame the client sent, as read from the wire."""

    fin: bool
    rsv1: bool
    opcode: int
    masked: bool
    key: bytes
    payload: bytes  # unmasked

    @property
    def close_code(self) -> int | None:
        assert self.opcode == OP_CLOSE, f"not a close frame: {self}"
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None


class Peer:
    """The server's end of one connection: read the request, answer, read the client's frames."""

    def __init__(self, sock: socket.socket, release: threading.Event) -> None:
        self.sock = sock
        #: set when the test is over: a script that idles waits on it
        self.release = release
        self.buffer = bytearray()
        self.request_line = ""
        self.headers: dict[str, str] = {}

    def _fill(self) -> bool:
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            return False
        self.buffer += chunk
        return bool(chunk)

    def read_request(self) -> dict[str, str]:
        """The client's request head: its headers, lower-case names (repeats joined by ", ")."""
        while b"\r\n\r\n" not in self.buffer:
            assert self._fill(), f"the client closed before its request ended: {bytes(self.buffer)!r}"
            assert len(self.buffer) < 65536, "request head too long"
        head, _, rest = bytes(self.buffer).partition(b"\r\n\r\n")
        self.buffer = bytearray(rest)
        self.request_line, *lines = head.decode("latin-1").split("\r\n")
        for line in lines:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            self.headers[name] = f"{self.headers[name]}, {value}" if name in self.headers else value
        return self.headers

    @property
    def accept(self) -> str:
        return accept_for(self.headers["sec-websocket-key"])

    def response_101(
        self,
        *extra: str,
        accept: str | None = "",
        upgrade: str | None = "websocket",
        connection: str | None = "Upgrade",
    ) -> bytes:
        """A 101 answering the request read; ``None`` leaves a header out, ``accept=""`` is the
        right value."""
        lines = ["HTTP/1.1 101 Switching Protocols"]
        if upgrade is not None:
            lines.append(f"Upgrade: {upgrade}")
        if connection is not None:
            lines.append(f"Connection: {connection}")
        if accept is not None:
            lines.append(f"Sec-WebSocket-Accept: {accept or self.accept}")
        lines.extend(extra)
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def open(self, *extra: str, then: bytes = b"") -> None:
        """Read the request and answer a valid 101 (with ``extra`` headers), followed by ``then``."""
        self.read_request()
        self.send(self.response_101(*extra) + then)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            assert self._fill(), f"the client closed in the middle of a frame: {bytes(self.buffer)!r}"
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def read_frame(self) -> Frame:
        """One client frame (RFC 6455 section 5.2), unmasked."""
        first, second = self.read_exact(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self.read_exact(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self.read_exact(8))
        masked = bool(second & 0x80)
        key = self.read_exact(4) if masked else b""
        payload = self.read_exact(length)
        if masked:
            payload = apply_mask(payload, key)
        return Frame(bool(first & 0x80), bool(first & 0x40), first & 0x0F, masked, key, payload)

    def read_close(self) -> Frame:
        """The client's next frame, which must be a masked close frame."""
        frame = self.read_frame()
        assert frame.opcode == OP_CLOSE, f"expected a close frame, got {frame}"
        assert frame.masked, "the client's close frame is not masked"
        return frame

    def read_eof(self) -> bytes:
        """Whatever the client still sends until it ends its side of the stream."""
        while self._fill():
            assert len(self.buffer) < MIB, "the client kept sending"
        data = bytes(self.buffer)
        self.buffer.clear()
        return data

    def idle(self) -> None:
        """Do nothing until the test is over."""
        self.release.wait(TIMEOUT)

    def reset(self) -> None:
        """Drop the connection with a TCP RST."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


Script = Callable[[Peer], Any]


class HostileServer:
    """Accepts one connection on 127.0.0.1 and runs ``script(peer)`` on it, on a thread."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(TIMEOUT)
        self.port = self.listener.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}/hostile"
        self.release = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self._connection: socket.socket | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="hostile-server", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            sock, _ = self.listener.accept()
            self._connection = sock
            with sock:
                sock.settimeout(TIMEOUT)
                self.result = self.script(Peer(sock, self.release))
        except BaseException as exc:  # reported by finish()
            self.error = exc

    def finish(self, timeout: float = TIMEOUT) -> Any:
        """Wait for the script to end; returns what it returned, raises what it raised."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"the hostile server's script did not end within {timeout} s"
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        return self.result

    def stop(self) -> None:
        """End the script however it is (the test is over)."""
        self.release.set()
        self.listener.close()
        self._thread.join(TIMEOUT)
        if self._thread.is_alive() and self._connection is not None:
            with contextlib.suppress(OSError):
                self._connection.shutdown(socket.SHUT_RDWR)
            self._thread.join(TIMEOUT)
        assert not self._thread.is_alive(), "the hostile server's script never ended"


@pytest.fixture
def hostile() -> Iterator[Callable[[Script], HostileServer]]:
    """``hostile(script)`` starts a :class:`HostileServer`; every one is stopped after the test."""
    servers: list[HostileServer] = []

    def start(script: Script) -> HostileServer:
        server = HostileServer(script)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


# -- the client's faces --------------------------------------------------------------------------


def run(coroutine: Awaitable[T], timeout: float = 3 * TIMEOUT) -> T:
    """Run an async test body on a fresh loop, bounded."""

    async def bounded() -> T:
        return await asyncio.wait_for(coroutine, timeout)

    return asyncio.run(bounded())


async def connect_and_fail(url: str, expected: type[E], **options: Any) -> E:
    """``duplex.connect(url)`` must raise ``expected``; returns the exception."""
    options.setdefault("openTimeout", TIMEOUT)
    with pytest.raises(expected) as caught:
        async with duplex.connect(url, **options):
            pytest.fail("the connection opened")
    return caught.value


async def closed_by(ws: duplex.ClientConnection) -> duplex.ConnectionClosed:
    """The ``ConnectionClosed`` that ``recv()`` raises (no message may come first)."""
    with pytest.raises(duplex.ConnectionClosed) as caught:
        message = await ws.recv()
        pytest.fail(f"got a message: {message!r}")
    return caught.value


class Recorder:
    """A 4D handler that records its callbacks (from the client's loop) for bounded waits."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.seen: list[str] = []
        self._pending: list[tuple[str, Any]] = []

    def handler(self, **extra: Any) -> dict[str, Any]:
        return {
            "onOpen": lambda ws, event: self._queue.put(("open", event)),
            "onMessage": lambda ws, event: self._queue.put(("message", event)),
            "onError": lambda ws, event: self._queue.put(("error", event)),
            "onTerminate": lambda ws, event: self._queue.put(("terminate", event)),
            **extra,
        }

    def wait(self, kind: str, timeout: float = TIMEOUT) -> Any:
        for index, (pending_kind, event) in enumerate(self._pending):
            if pending_kind == kind:
                del self._pending[index]
                return event
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {kind!r} callback within {timeout} s; seen: {self.seen}")
            try:
                got, event = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            self.seen.append(got)
            if got == kind:
                return event
            self._pending.append((got, event))

    def kinds(self, settle: float = 0.2) -> list[str]:
        """Every callback so far, in order, after ``settle`` seconds for stragglers."""
        time.sleep(settle)
        while True:
            try:
                got, event = self._queue.get_nowait()
            except queue.Empty:
                return list(self.seen)
            self.seen.append(got)
            self._pending.append((got, event))


def fails_4d(url: str, err_code: int, terminate_code: int, **options: Any) -> tuple[Any, Any, Recorder]:
    """A 4D ``WebSocket`` to ``url`` gets ``onError`` with ``err_code``, then ``onTerminate`` with
    ``terminate_code``; returns both events and the recorder."""
    recorder = Recorder()
    options.setdefault("openTimeout", TIMEOUT)
    duplex.WebSocket(url, recorder.handler(), **options)
    error = recorder.wait("error")
    terminate = recorder.wait("terminate")
    assert error.errors[0]["errCode"] == err_code, error.errors
    assert terminate.code == terminate_code
    kinds = recorder.kinds()
    assert kinds.index("error") < kinds.index("terminate")
    assert kinds.count("terminate") == 1
    return error, terminate, recorder


# -- the opening handshake: a 101 the client must refuse ---------------------------------------------


def bad_101(*, accept: str | None = "", extra: tuple[str, ...] = (), **response: Any) -> Script:
    """A script that answers a 101 built with these arguments, then reads until the client hangs
    up; returns what it sent meanwhile."""

    def script(peer: Peer) -> bytes:
        peer.read_request()
        peer.send(peer.response_101(*extra, accept=accept, **response))
        return peer.read_eof()  # the client must hang up, without sending a frame

    return script


@pytest.mark.parametrize(
    "accept",
    [
        pytest.param("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", id="garbled"),
        pytest.param(None, id="missing"),
    ],
)
def test_bad_accept(hostile: Callable[[Script], HostileServer], accept: str | None) -> None:
    server = hostile(bad_101(accept=accept))

    async def main() -> None:
        error = await connect_and_fail(server.url, duplex.InvalidHandshakeResponse)
        assert error.status == 101
        assert "Sec-WebSocket-Accept" in str(error)
        assert error.body == b""

    run(main())
    assert server.finish() == b"", "the client sent bytes after a refused 101"


def test_accept_twice(hostile: Callable[[Script], HostileServer]) -> None:
    def script(peer: Peer) -> bytes:
        peer.read_request()
        peer.send(peer.response_101(f"Sec-WebSocket-Accept: {peer.accept}"))
        return peer.read_eof()

    server = hostile(script)

    async def main() -> None:
        error = await connect_and_fail(server.url, duplex.InvalidHandshakeResponse)
        assert error.status == 101
        assert "Sec-WebSocket-Accept" in str(error)

    run(main())
    assert server.finish() == b""


def test_bad_accept_4d(hostile: Callable[[Script], HostileServer]) -> None:
    server = hostile(bad_101(accept="s3pPLMBiTxaQ9kYGzzhZRbK+xOo="))
    error, _, recorder = fails_4d(server.url, HANDSHAKE_REFUSED, 1006)
    assert "Sec-WebSocket-Accept" in error.errors[0]["message"]
    assert "open" not in recorder.kinds()
    server.finish()


@pytest.mark.parametrize(
    ("headers", "mentions"),
    [
        pytest.param({"upgrade": None}, "Upgrade", id="no-upgrade"),
        pytest.param({"upgrade": "h2c"}, "Upgrade", id="upgrade-h2c"),
        pytest.param({"connection": "keep-alive"}, "Connection", id="connection-keep-alive"),
        pytest.param({"connection": None}, "Connection", id="no-connection"),
    ],
)
def test_101_without_the_upgrade(
    hostile: Callable[[Script], HostileServer], headers: dict[str, Any], mentions: str
) -> None:
    server = hostile(bad_101(**headers))

    async def main() -> None:
        error = await connect_and_fail(server.url, duplex.InvalidHandshakeResponse)
        assert error.status == 101
        assert mentions in str(error)

    run(main())
    assert server.finish() == b""


@pytest.mark.parametrize(
    ("answer", "options"),
    [
        pytest.param("x-foo", {}, id="x-foo"),
        pytest.param("permessage-deflate", {"compression": False}, id="deflate-not-offered"),
        pytest.param("permessage-deflate; x-unknown=1", {}, id="deflate-unknown-parameter"),
        pytest.param("permessage-deflate, permessage-deflate", {}, id="deflate-twice"),
        pytest.param("permessage-deflate; server_max_window_bits=99", {}, id="deflate-bad-window"),
    ],
)
def test_extension_not_offered(
    hostile: Callable[[Script], HostileServer], answer: str, options: dict[str, Any]
) -> None:
    def script(peer: Peer) -> tuple[str | None, bytes]:
        peer.read_request()
        offered = peer.headers.get("sec-websocket-extensions")
        peer.send(peer.response_101(f"Sec-WebSocket-Extensions: {answer}"))
        return offered, peer.read_eof()

    server = hostile(script)

    async def main() -> None:
        error = await connect_and_fail(server.url, duplex.InvalidHandshakeResponse, **options)
        assert error.status == 101

    run(main())
    offered, after = server.finish()
    if options.get("compression") is False:
        assert offered is None
    else:
        assert offered is not None and offered.startswith("permessage-deflate")
    assert after == b""


def test_extension_not_offered_4d(hostile: Callable[[Script], HostileServer]) -> None:
    server = hostile(bad_101(extra=("Sec-WebSocket-Extensions: x-foo",)))
    fails_4d(server.url, HANDSHAKE_REFUSED, 1006)
    server.finish()


@pytest.mark.parametrize(
    ("offered", "answer"),
    [
        pytest.param(["chat"], "superchat", id="another"),
        pytest.param([], "chat", id="none-offered"),
        pytest.param(["a", "b"], "a, b", id="several"),
        pytest.param(["chat"], "Chat", id="case"),
    ],
)
def test_subprotocol_not_offered(
    hostile: Callable[[Script], HostileServer], offered: list[str], answer: str
) -> None:
    def script(peer: Peer) -> tuple[str | None, bytes]:
        peer.read_request()
        peer.send(peer.response_101(f"Sec-WebSocket-Protocol: {answer}"))
        return peer.headers.get("sec-websocket-protocol"), peer.read_eof()

    server = hostile(script)

    async def main() -> None:
        error = await connect_and_fail(server.url, duplex.InvalidHandshakeResponse, subprotocols=offered)
        assert error.status == 101
        assert "subprotocol" in str(error)

    run(main())
    sent, after = server.finish()
    assert sent == (", ".join(offered) or None)
    assert after == b""


def test_subprotocol_not_offered_4d(hostile: Callable[[Script], HostileServer]) -> None:
    server = hostile(bad_101(extra=("Sec-WebSocket-Protocol: superchat",)))
    fails_4d(server.url, HANDSHAKE_REFUSED, 1006, subprotocols=["chat"])
    server.finish()


# -- the opening handshake: no 101 at all --------------------------------------------------------------


def test_403_with_a_body(hostile: Callable[[Script], HostileServer]) -> None:
    def script(peer: Peer) -> None:
        peer.read_request()
        peer.send(b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\ngo away\n")
        peer.idle()  # keep the connection open: the client must not wait for it to close

    server = hostile(script)

    async def main() -> None:
        started = time.monotonic()
        error = await connect_and_fail(server.url, duplex.InvalidHandshakeResponse)
        assert time.monotonic() - started < QUICK
        assert error.status == 403
        assert error.body.startswith(b"go away")
        assert "403" in str(error)
        assert ("Content-Type", "text/plain") in error.headers

    run(main())


def test_403_4d(hostile: Callable[[Script], HostileServer]) -> None:
    def script(peer: Peer) -> None:
        peer.read_request()
        peer.send(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 7\r\nConnection: close\r\n\r\ngo away")

    server = hostile(script)
    error, _, recorder = fails_4d(server.url, HANDSHAKE_REFUSED, 1006)
    assert "403" in error.errors[0]["message"]
    assert "go away" in error.errors[0]["message"]
    assert "open" not in recorder.kinds()
    server.finish()


def test_404_chunked(hostile: Callable[[Script], HostileServer]) -> None:
    def script(peer: Peer) -> None:
        peer.read_request()
        peer.send(b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n")
        peer.send(b"4\r\nnot \r\n")
        time.sleep(0.05)
        peer.send(b"5\r\nhere!\r\n0\r\n\r\n")
        peer.idle()

    server = hostile(script)

    async def main() -> None:
        error = await connect_and_fail(server.url, duplex.InvalidHandshakeResponse)
        assert error.status == 404
        assert error.body == b"not here!"

    run(main())


def test_500_with_a_huge_body(hostile: Callable[[Script], HostileServer]) -> None:
    def script(peer: Peer) -> None:
        peer.read_request()
        size = 64 * MIB
        peer.send(f"HTTP/1.1 500 Oops\r\nContent-Length: {size}\r\n\r\n".encode())
        chunk = b"x" * MIB
        with contextlib.suppress(OSError):  # the client hangs up after its first KiB
            for _ in range(size // len(chunk)):
                peer.send(chunk)

    server = hostile(script)

    async def main() -> None:
        started = time.monotonic()
        error = await connect_and_fail(server.url, duplex.InvalidHandshakeResponse)
        assert time.monotonic() - started < QUICK
        assert error.status == 500
        assert error.body == b"x" * 1024

    run(main())
    server.finish()


def test_closes_without_answering(hostile: Callable[[Script], HostileServer]) -> None:
    server = hostile(lambda peer: peer.read_request())

    async def main() -> None:
        error = await connect_and_fail(server.url, OSError)
        assert isinstance(error, ConnectionError)
        assert not isinstance(error, TimeoutError)

    run(main())
    server.finish()


def test_closes_without_answering_4d(hostile: Callable[[Script], HostileServer]) -> None:
    server = hostile(lambda peer: peer.read_request())
    fails_4d(server.url, CONNECT_FAILED, 1006)
    server.finish()


def test_half_a_head_then_close(hostile: Callable[[Script], HostileServer]) -> None:
    def script(peer: Peer) -> None:
        peer.read_request()
        peer.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: webs")

    server = hostile(script)

    async def main() -> None:
        await connect_and_fail(server.url, OSError)

    run(main())
    server.finish()


def test_never_answers(hostile: Callable[[Script], HostileServer]) -> None:
    def script(peer: Peer) -> None:
        peer.read_request()
        peer.idle()

    server = hostile(script)

    async def main() -> None:
        started = time.monotonic()
        await connect_and_fail(server.url, TimeoutError, openTimeout=1)
        assert 0.9 < time.monotonic() - started < 1 + QUICK

    run(main())


def test_never_answers_4d(hostile: Callable[[Script], HostileServer]) -> None:
    def script(peer: Peer) -> None:
        peer.read_request()
        peer.idle()

    server = hostile(script)
    started = time.monotonic()
    fails_4d(server.url, OPEN_TIMEOUT, 1006, openTimeout=1)
    assert time.monotonic() - started < 1 + QUICK


def test_not_http(hostile: Callable[[Script], HostileServer]) -> None:
    def script(peer: Peer) -> None:
        peer.read_request()
        peer.send(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        peer.idle()

    server = hostile(script)

    async def main() -> None:
        error = await connect_and_fail(server.url, duplex.InvalidHandshakeResponse)
        assert "HTTP" in str(error)

    run(main())


def test_endless_response_head(hostile: Callable[[Script], HostileServer]) -> None:
    def script(peer: Peer) -> int:
        peer.read_request()
        sent = 0
        with contextlib.suppress(OSError):
            peer.send(b"HTTP/1.1 101 Switching Protocols\r\n")
            while sent < 16 * MIB:
                peer.send(b"X-Filler: " + b"a" * 1000 + b"\r\n")
                sent += 1012
        return sent

    server = hostile(script)

    async def main() -> None:
        started = time.monotonic()
        error = await connect_and_fail(server.url, duplex.InvalidHandshakeResponse)
        assert time.monotonic() - started < QUICK
        assert "65536" in str(error)

    run(main())
    assert server.finish() < 16 * MIB, "the client read far more than 64 KiB of head"


def test_complete_response_head_over_64_kib(hostile: Callable[[Script], HostileServer]) -> None:
    """A valid 101 whose head is 76 KiB: 63 KiB, a pause, then 13 KiB more and the blank line. The
    head is over MAX_RESPONSE_HEAD, so it is refused, however it is split."""

    def script(peer: Peer) -> None:
        peer.read_request()
        filler = tuple(f"X-Filler-{n}: {'a' * 1000}" for n in range(75))
        response = peer.response_101(*filler)
        assert len(response) > 72 * 1024
        with contextlib.suppress(OSError):
            peer.send(response[: 63 * 1024])
            time.sleep(0.2)
            peer.send(response[63 * 1024 :])
        peer.idle()

    server = hostile(script)

    async def main() -> None:
        error = await connect_and_fail(server.url, duplex.InvalidHandshakeResponse, closeTimeout=1)
        assert "65536" in str(error)

    run(main())


@pytest.mark.parametrize("split", [1, 20, 60, -3, -1])
def test_101_split_anywhere(hostile: Callable[[Script], HostileServer], split: int) -> None:
    """The 101 in two writes (split at ``split`` bytes of it), a message and a close frame with the
    second: the client reads the head across reads and keeps the bytes that follow it."""

    def script(peer: Peer) -> Frame:
        peer.read_request()
        response = peer.response_101()
        frames = server_frame(OP_TEXT, b"first") + close_frame(1000)
        peer.send(response[:split])
        time.sleep(0.05)
        peer.send(response[split:] + frames)
        return peer.read_close()

    server = hostile(script)

    async def main() -> None:
        async with duplex.connect(server.url, closeTimeout=TIMEOUT) as ws:
            assert [message async for message in ws] == ["first"]
            assert ws.close_code == 1000

    run(main())
    assert server.finish().close_code == 1000


def test_101_byte_by_byte(hostile: Callable[[Script], HostileServer]) -> None:
    def script(peer: Peer) -> Frame:
        peer.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer.read_request()
        data = peer.response_101("X-Extra: yes") + server_frame(OP_TEXT, "héllo".encode()) + close_frame(1000)
        for index in range(len(data)):
            peer.send(data[index : index + 1])
            time.sleep(0.001)
        return peer.read_close()

    server = hostile(script)

    async def main() -> None:
        async with duplex.connect(server.url, closeTimeout=TIMEOUT) as ws:
            assert ("X-Extra", "yes") in ws.response_headers
            assert [message async for message in ws] == ["héllo"]

    run(main())
    assert server.finish().close_code == 1000


# -- frames the client must fail --------------------------------------------------------------------


def fail_script(frames: bytes, *extra: str) -> Script:
    """Open, send ``frames``, then read the client's close frame and the end of its stream;
    returns the close frame."""

    def script(peer: Peer) -> Frame:
        peer.open(*extra, then=frames)
        frame = peer.read_close()
        peer.read_eof()
        return frame

    return script


def test_masked_frame(hostile: Callable[[Script], HostileServer]) -> None:
    server = hostile(fail_script(server_frame(OP_TEXT, b"hello", mask=b"\x01\x02\x03\x04")))

    async def main() -> None:
        async with duplex.connect(server.url, openTimeout=TIMEOUT, closeTimeout=TIMEOUT) as ws:
            closed = await closed_by(ws)
            assert closed.code == 1002
            assert not closed.normal
            assert ws.close_code == 1002
            assert ws.status == "Closed"

    run(main())
    assert server.finish().close_code == 1002


def test_masked_frame_4d(hostile: Callable[[Script], HostileServer]) -> None:
    server = hostile(fail_script(server_frame(OP_BINARY, b"\x00" * 10, mask=b"abcd")))
    _, _, recorder = fails_4d(server.url, PROTOCOL_ERROR, 1002)
    assert "message" not in recorder.kinds()
    assert server.finish().close_code == 1002


@pytest.mark.parametrize(
    "frames",
    [
        pytest.param(server_frame(OP_TEXT, b"x", rsv1=True), id="rsv1-without-deflate"),
        pytest.param(b"\xa1\x01x", id="rsv2"),
        pytest.param(server_frame(0x3, b"x"), id="reserved-opcode"),
        pytest.param(server_frame(OP_PING, b"x", fin=False), id="fragmented-ping"),
        pytest.param(server_frame(OP_PING, b"x" * 126), id="long-ping"),
        pytest.param(server_frame(OP_CONTINUATION, b"x"), id="orphan-continuation"),
        pytest.param(
            server_frame(OP_TEXT, b"a", fin=False) + server_frame(OP_TEXT, b"b"), id="interleaved-message"
        ),
        pytest.param(close_frame(999), id="close-code-999"),
        pytest.param(close_frame(1005), id="close-code-1005"),
        pytest.param(close_frame(1015), id="close-code-1015"),
        pytest.param(close_frame(5000), id="close-code-5000"),
        pytest.param(server_frame(OP_CLOSE, b"\x03"), id="close-payload-1-byte"),
        pytest.param(b"\x82\x7f\x80" + bytes(7), id="length-msb-set"),
    ],
)
def test_protocol_violation(hostile: Callable[[Script], HostileServer], frames: bytes) -> None:
    server = hostile(fail_script(frames))

    async def main() -> None:
        async with duplex.connect(server.url, compression=False, closeTimeout=TIMEOUT) as ws:
            closed = await closed_by(ws)
            assert closed.code == 1002

    run(main())
    assert server.finish().close_code == 1002


def test_huge_frame_announced(hostile: Callable[[Script], HostileServer]) -> None:
    """A header announcing 1 GiB, then nothing: 1009 at once, without waiting for the payload."""
    header = struct.pack("!BBQ", 0x82, 127, 1 << 30)
    server = hostile(fail_script(header))

    async def main() -> None:
        async with duplex.connect(server.url, closeTimeout=TIMEOUT) as ws:
            started = time.monotonic()
            closed = await closed_by(ws)
            assert time.monotonic() - started < QUICK
            assert closed.code == 1009

    run(main())
    assert server.finish().close_code == 1009


def test_frame_over_max_message_size_4d(hostile: Callable[[Script], HostileServer]) -> None:
    header = struct.pack("!BBH", 0x81, 126, 2000)
    server = hostile(fail_script(header + b"a" * 100))
    started = time.monotonic()
    fails_4d(server.url, MESSAGE_TOO_BIG, 1009, maxMessageSize=1000)
    assert time.monotonic() - started < QUICK
    assert server.finish().close_code == 1009


def test_fragments_over_max_message_size(hostile: Callable[[Script], HostileServer]) -> None:
    frames = server_frame(OP_BINARY, b"a" * 600, fin=False) + server_frame(OP_CONTINUATION, b"b" * 600)
    server = hostile(fail_script(frames))

    async def main() -> None:
        async with duplex.connect(server.url, maxMessageSize=1000) as ws:
            assert (await closed_by(ws)).code == 1009

    run(main())
    assert server.finish().close_code == 1009


@pytest.mark.parametrize("fragments", [1, 8], ids=["one-frame", "fragmented"])
def test_deflate_bomb(hostile: Callable[[Script], HostileServer], fragments: int) -> None:
    bomb = deflate_bomb()
    size = -(-len(bomb) // fragments)
    parts = [bomb[start : start + size] for start in range(0, len(bomb), size)]
    frames = b"".join(
        server_frame(
            OP_BINARY if index == 0 else OP_CONTINUATION,
            part,
            fin=index == len(parts) - 1,
            rsv1=index == 0,
        )
        for index, part in enumerate(parts)
    )

    def script(peer: Peer) -> tuple[str, Frame]:
        peer.read_request()
        offer = peer.headers["sec-websocket-extensions"]
        peer.send(peer.response_101("Sec-WebSocket-Extensions: permessage-deflate"))
        with contextlib.suppress(OSError):  # the client may hang up before reading it all
            peer.send(frames)
        frame = peer.read_close()
        peer.read_eof()
        return offer, frame

    server = hostile(script)

    async def main() -> None:
        async with duplex.connect(server.url, maxMessageSize=MIB, closeTimeout=TIMEOUT) as ws:
            started = time.monotonic()
            closed = await closed_by(ws)
            assert time.monotonic() - started < QUICK
            assert closed.code == 1009

    run(main())
    offer, frame = server.finish()
    assert offer == "permessage-deflate; client_max_window_bits"
    assert frame.close_code == 1009


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        pytest.param(server_frame(OP_BINARY, b"\xff\xff\xff\xff", rsv1=True), 1007, id="not-deflate"),
        pytest.param(server_frame(OP_PING, b"x", rsv1=True), 1002, id="compressed-ping"),
        pytest.param(
            server_frame(OP_TEXT, deflate(b"a"), rsv1=True, fin=False)
            + server_frame(OP_CONTINUATION, deflate(b"b"), rsv1=True),
            1002,
            id="rsv1-on-continuation",
        ),
        pytest.param(server_frame(OP_TEXT, deflate(b"\xff\xfe"), rsv1=True), 1007, id="inflates-to-bad-utf8"),
        pytest.param(struct.pack("!BBQ", 0xC2, 127, 1 << 30), 1009, id="compressed-1-gib-announced"),
    ],
)
def test_deflate_violation(hostile: Callable[[Script], HostileServer], frames: bytes, code: int) -> None:
    server = hostile(fail_script(frames, "Sec-WebSocket-Extensions: permessage-deflate"))

    async def main() -> None:
        async with duplex.connect(server.url, closeTimeout=TIMEOUT) as ws:
            started = time.monotonic()
            assert (await closed_by(ws)).code == code
            assert time.monotonic() - started < QUICK

    run(main())
    assert server.finish().close_code == code


def test_too_many_fragments(hostile: Callable[[Script], HostileServer]) -> None:
    """Empty continuation frames cost nothing against maxMessageSize; their number is bounded."""
    frames = server_frame(OP_TEXT, b"a", fin=False) + server_frame(OP_CONTINUATION, fin=False) * 5000

    def script(peer: Peer) -> Frame:
        peer.open()
        with contextlib.suppress(OSError):
            peer.send(frames)
        frame = peer.read_close()
        peer.read_eof()
        return frame

    server = hostile(script)

    async def main() -> None:
        async with duplex.connect(server.url, maxMessageSize=1000, closeTimeout=TIMEOUT) as ws:
            assert (await closed_by(ws)).code == 1009

    run(main())
    assert server.finish().close_code == 1009


def test_deflate_bomb_4d(hostile: Callable[[Script], HostileServer]) -> None:
    bomb = server_frame(OP_TEXT, deflate_bomb(), rsv1=True)
    server = hostile(fail_script(bomb, "Sec-WebSocket-Extensions: permessage-deflate"))
    fails_4d(server.url, MESSAGE_TOO_BIG, 1009, maxMessageSize=MIB)
    assert server.finish().close_code == 1009


def test_compressed_message_within_limits(hostile: Callable[[Script], HostileServer]) -> None:
    """The same negotiation with a well-behaved message: the client inflates it."""
    text = "hello " * 1000

    def script(peer: Peer) -> Frame:
        peer.open(
            "Sec-WebSocket-Extensions: permessage-deflate",
            then=server_frame(OP_TEXT, deflate(text.encode()), rsv1=True) + close_frame(1000),
        )
        frame = peer.read_close()
        return frame

    server = hostile(script)

    async def main() -> None:
        async with duplex.connect(server.url, maxMessageSize=MIB) as ws:
            assert await ws.recv() == text
            assert (await closed_by(ws)).code == 1000

    run(main())
    assert server.finish().close_code == 1000


@pytest.mark.parametrize(
    "frames",
    [
        pytest.param(server_frame(OP_TEXT, b"caf\xc3"), id="truncated"),
        pytest.param(server_frame(OP_TEXT, b"\xff\xfe"), id="invalid-bytes"),
        pytest.param(server_frame(OP_TEXT, b"\xed\xa0\x80"), id="surrogate"),
        pytest.param(
            server_frame(OP_TEXT, b"ok \xc3", fin=False) + server_frame(OP_CONTINUATION, b"(", fin=True),
            id="fragmented",
        ),
        pytest.param(close_frame(1000, b"\xff"), id="close-reason"),
    ],
)
def test_invalid_utf8(hostile: Callable[[Script], HostileServer], frames: bytes) -> None:
    server = hostile(fail_script(frames))

    async def main() -> None:
        async with duplex.connect(server.url, closeTimeout=TIMEOUT) as ws:
            assert (await closed_by(ws)).code == 1007

    run(main())
    assert server.finish().close_code == 1007


def test_invalid_utf8_fails_before_the_frame_ends(hostile: Callable[[Script], HostileServer]) -> None:
    """A text frame announcing 100 KiB whose first bytes are not UTF-8: 1007 without the rest."""
    header = struct.pack("!BBH", 0x81, 126, 60000)
    server = hostile(fail_script(header + b"\xff" * 100))

    async def main() -> None:
        async with duplex.connect(server.url, closeTimeout=TIMEOUT) as ws:
            started = time.monotonic()
            assert (await closed_by(ws)).code == 1007
            assert time.monotonic() - started < QUICK

    run(main())
    assert server.finish().close_code == 1007


def test_invalid_utf8_4d(hostile: Callable[[Script], HostileServer]) -> None:
    server = hostile(fail_script(server_frame(OP_TEXT, b"good") + server_frame(OP_TEXT, b"\xc0\xaf")))
    _, _, recorder = fails_4d(server.url, INVALID_UTF8, 1007)
    assert recorder.wait("message").data == "good"
    kinds = recorder.kinds()
    assert kinds.index("message") < kinds.index("error")
    assert server.finish().close_code == 1007


# -- closing --------------------------------------------------------------------------------------


def test_server_never_answers_the_close(hostile: Callable[[Script], HostileServer]) -> None:
    def script(peer: Peer) -> Frame:
        peer.open()
        frame = peer.read_close()
        peer.idle()
        return frame

    server = hostile(script)

    async def main() -> None:
        ws = await duplex.connect(server.url, closeTimeout=1)
        assert ws.status == "Connected"
        started = time.monotonic()
        await ws.close(4000, "bye")
        assert time.monotonic() - started < 1 + QUICK
        assert ws.status == "Closed"
        assert ws.close_code == 1006
        assert (await closed_by(ws)).code == 1006

    run(main())
    server.release.set()
    frame = server.finish()
    assert frame.close_code == 4000
    assert frame.payload[2:] == b"bye"


def test_server_never_answers_the_close_4d(hostile: Callable[[Script], HostileServer]) -> None:
    def script(peer: Peer) -> Frame:
        peer.open()
        frame = peer.read_close()
        peer.idle()
        return frame

    server = hostile(script)
    recorder = Recorder()
    ws = duplex.WebSocket(server.url, recorder.handler(), closeTimeout=1)
    recorder.wait("open")
    started = time.monotonic()
    ws.terminate()
    terminate = recorder.wait("terminate")
    assert time.monotonic() - started < 1 + QUICK
    assert terminate.code == 1006
    assert ws.status == "Closed"
    server.release.set()
    assert server.finish().close_code == 1000


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_dropped_mid_frame(hostile: Callable[[Script], HostileServer], how: str) -> None:
    def script(peer: Peer) -> None:
        peer.open(then=server_frame(OP_TEXT, b"whole") + server_frame(OP_TEXT, b"hello world")[:6])
        time.sleep(0.1)
        if how == "rst":
            peer.reset()

    server = hostile(script)

    async def main() -> None:
        ws = await duplex.connect(server.url, closeTimeout=TIMEOUT)
        started = time.monotonic()
        messages = []
        with pytest.raises(duplex.ConnectionClosed) as caught:
            async for message in ws:
                messages.append(message)
        assert time.monotonic() - started < QUICK
        assert messages == ["whole"]
        assert caught.value.code == 1006
        assert ws.close_code == 1006
        await ws.close()  # a no-op now, at once
        assert ws.status == "Closed"

    run(main())
    server.finish()


def test_dropped_mid_frame_4d(hostile: Callable[[Script], HostileServer]) -> None:
    def script(peer: Peer) -> None:
        peer.open(then=struct.pack("!BBQ", 0x82, 127, 100_000) + b"partial")

    server = hostile(script)
    recorder = Recorder()
    ws = duplex.WebSocket(server.url, recorder.handler(), closeTimeout=TIMEOUT)
    recorder.wait("open")
    assert recorder.wait("terminate").code == 1006
    assert ws.status == "Closed"
    assert recorder.kinds().count("terminate") == 1
    server.finish()


def close_1000_script(peer: Peer) -> Frame:
    peer.open(
        then=server_frame(OP_TEXT, b"one") + server_frame(OP_BINARY, b"two") + close_frame(1000, b"done")
    )
    frame = peer.read_close()
    return frame  # the server closes the TCP connection first (RFC 6455 section 7.1.1)


def test_server_closes_normally(hostile: Callable[[Script], HostileServer]) -> None:
    server = hostile(close_1000_script)

    async def main() -> None:
        async with duplex.connect(server.url, closeTimeout=TIMEOUT) as ws:
            messages = [message async for message in ws]
            assert messages == ["one", b"two"]
            assert ws.close_code == 1000
            assert ws.close_reason == "done"
            assert ws.status == "Closed"

    run(main())
    frame = server.finish()
    assert frame.close_code == 1000


def test_server_closes_normally_4d(hostile: Callable[[Script], HostileServer]) -> None:
    server = hostile(close_1000_script)
    recorder = Recorder()
    duplex.WebSocket(server.url, recorder.handler(dataType="auto"))
    terminate = recorder.wait("terminate")
    assert terminate.code == 1000
    assert terminate.reason == "done"
    assert recorder.kinds() == ["open", "message", "message", "terminate"]
    assert server.finish().close_code == 1000


def test_pings_are_answered(hostile: Callable[[Script], HostileServer]) -> None:
    """Pings (one in the middle of a fragmented message) get masked pongs with their payload; an
    unsolicited pong is ignored."""

    def script(peer: Peer) -> list[Frame]:
        peer.open(
            then=server_frame(OP_PONG, b"unsolicited")
            + server_frame(OP_PING, b"are you there?")
            + server_frame(OP_TEXT, b"frag", fin=False)
            + server_frame(OP_PING)
            + server_frame(OP_CONTINUATION, b"ment")
        )
        pongs = [peer.read_frame(), peer.read_frame()]
        peer.send(close_frame(1000))
        peer.read_close()
        return pongs

    server = hostile(script)

    async def main() -> None:
        async with duplex.connect(server.url, closeTimeout=TIMEOUT) as ws:
            assert await ws.recv() == "fragment"
            assert (await closed_by(ws)).code == 1000

    run(main())
    pongs = server.finish()
    assert [(pong.opcode, pong.fin, pong.masked) for pong in pongs] == [(OP_PONG, True, True)] * 2
    assert [pong.payload for pong in pongs] == [b"are you there?", b""]


def test_every_client_frame_is_masked(hostile: Callable[[Script], HostileServer]) -> None:
    sent: list[Any] = ["x", "é" * 100, b"\x00" * 70000, b"", "last"]

    def script(peer: Peer) -> list[Frame]:
        peer.open()
        frames = [peer.read_frame() for _ in sent]
        peer.send(server_frame(OP_PING, b"p") + server_frame(OP_TEXT, b"done"))
        frames.append(peer.read_frame())
        frames.append(peer.read_close())
        peer.send(close_frame(1000))
        return frames

    server = hostile(script)

    async def main() -> None:
        async with duplex.connect(server.url, compression=False, closeTimeout=TIMEOUT) as ws:
            for message in sent:
                await ws.send(message)
            assert await ws.recv() == "done"  # the ping before it is answered

    run(main())
    frames = server.finish()
    assert all(frame.masked for frame in frames)
    assert len({frame.key for frame in frames}) == len(frames), "a masking key was used twice"
    assert [frame.opcode for frame in frames] == [
        OP_TEXT,
        OP_TEXT,
        OP_BINARY,
        OP_BINARY,
        OP_TEXT,
        OP_PONG,
        OP_CLOSE,
    ]
    expected = [message.encode() if isinstance(message, str) else message for message in sent]
    assert [frame.payload for frame in frames[: len(sent)]] == expected
    assert frames[-1].close_code == 1000


def test_close_frame_then_tcp_stays_open(hostile: Callable[[Script], HostileServer]) -> None:
    """The server sends its close frame but never closes the TCP connection: the client drops it
    after closeTimeout, and the close is still a normal one (a close frame came)."""

    def script(peer: Peer) -> Frame:
        peer.open(then=close_frame(1001, b"going"))
        frame = peer.read_close()
        peer.idle()
        return frame

    server = hostile(script)

    async def main() -> None:
        async with duplex.connect(server.url, closeTimeout=1) as ws:
            started = time.monotonic()
            assert [message async for message in ws] == []
            assert time.monotonic() - started < 1 + QUICK
            assert ws.close_code == 1001
            assert ws.close_reason == "going"
            assert ws.status == "Closed"

    run(main())
    server.release.set()
    assert server.finish().close_code == 1001


def unanswered_pings_script(peer: Peer) -> list[Frame]:
    """Read the client's pings and never answer; return them and its close frame."""
    peer.open()
    frames = [peer.read_frame()]
    while frames[-1].opcode != OP_CLOSE:
        frames.append(peer.read_frame())
    peer.read_eof()
    return frames


def test_pings_never_answered(hostile: Callable[[Script], HostileServer]) -> None:
    server = hostile(unanswered_pings_script)

    async def main() -> None:
        async with duplex.connect(server.url, pingInterval=0.3, pingTimeout=0.3) as ws:
            started = time.monotonic()
            closed = await closed_by(ws)
            assert time.monotonic() - started < 0.6 + QUICK
            assert closed.code == 1006

    run(main())
    frames = server.finish()
    assert [frame.opcode for frame in frames] == [OP_PING, OP_CLOSE]
    assert frames[0].masked and len(frames[0].payload) > 0
    assert frames[-1].close_code == 1011


def test_pings_never_answered_4d(hostile: Callable[[Script], HostileServer]) -> None:
    server = hostile(unanswered_pings_script)
    fails_4d(server.url, KEEPALIVE_TIMEOUT, 1006, pingInterval=0.3, pingTimeout=0.3)
    assert server.finish()[-1].close_code == 1011


def test_flooding_server_then_close(hostile: Callable[[Script], HostileServer]) -> None:
    """A server that sends 200 messages nobody reads: ``close()`` drops them (its docstring says so)
    and completes the close handshake with the server, which answers at once."""

    def script(peer: Peer) -> Frame:
        peer.open(then=b"".join(server_frame(OP_TEXT, b"m%d" % index) for index in range(200)))
        frame = peer.read_frame()
        while frame.opcode != OP_CLOSE:
            frame = peer.read_frame()
        peer.send(close_frame(1000))
        return frame

    server = hostile(script)

    async def main() -> None:
        ws = await duplex.connect(server.url, closeTimeout=1)
        await asyncio.sleep(0.3)  # the messages arrive; reading pauses once 32 wait
        started = time.monotonic()
        await ws.close()
        elapsed = time.monotonic() - started
        assert server.finish().close_code == 1000
        assert ws.close_code == 1000
        assert elapsed < QUICK

    run(main())


# -- TLS ------------------------------------------------------------------------------------------


def test_tls_to_a_plain_http_server(hostile: Callable[[Script], HostileServer]) -> None:
    """wss:// to a server that answers the TLS hello in plain HTTP: an ssl error (an OSError)."""

    def script(peer: Peer) -> bytes:
        hello = peer.sock.recv(65536)
        peer.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        peer.idle()
        return hello

    server = hostile(script)
    url = server.url.replace("ws://", "wss://")

    async def main() -> None:
        await connect_and_fail(url, ssl.SSLError)

    run(main())
    server.release.set()
    assert server.finish()[:1] == b"\x16", "not a TLS handshake record"


def tls_script(folder: Path, then: Callable[[Peer], Any]) -> Script:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")

    def script(peer: Peer) -> Any:
        try:
            tls = context.wrap_socket(peer.sock, server_side=True)
        except (ssl.SSLError, OSError) as exc:  # the client refused the certificate
            return exc
        with tls:
            peer.sock = tls
            return then(peer)

    return script


def test_untrusted_certificate_4d(
    hostile: Callable[[Script], HostileServer], certificate_folder: Path
) -> None:
    server = hostile(tls_script(certificate_folder, lambda peer: peer.open()))
    url = server.url.replace("ws://127.0.0.1", "wss://localhost")
    error, _, _ = fails_4d(url, TLS_FAILED, 1006)
    assert "certificate" in error.errors[0]["message"].lower()
    assert isinstance(server.finish(), ssl.SSLError | OSError)


def test_masked_frame_over_tls(
    hostile: Callable[[Script], HostileServer], certificate_folder: Path, client_ssl: ssl.SSLContext
) -> None:
    def then(peer: Peer) -> Frame:
        peer.open(then=server_frame(OP_TEXT, b"hello", mask=b"\x01\x02\x03\x04"))
        return peer.read_close()

    server = hostile(tls_script(certificate_folder, then))
    url = server.url.replace("ws://127.0.0.1", "wss://localhost")

    async def main() -> None:
        async with duplex.connect(url, ssl=client_ssl, closeTimeout=TIMEOUT) as ws:
            assert (await closed_by(ws)).code == 1002

    run(main())
    assert server.finish().close_code == 1002
