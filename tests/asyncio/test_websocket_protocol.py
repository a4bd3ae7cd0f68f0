"""WebSocketProtocol on real sockets: a real engine server on 127.0.0.1 whose endpoint accepts with a
recording handler, and real clients (raw sockets sending masked frames, or the `websockets` client).

What is tested: the handler's call sequence (on_open, on_message, on_error, on_close exactly once with
the peer's code); the close handshake both ways and the close timeout; the connection's state as
the core keeps it, read on the loop thread; the sending door (send, send_message, send_frame, ping,
close, abort, start_closing) and the exact bytes it writes; keepalive; the send buffer limit with
both backpressure policies; application flow control; wait_closed.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from websockets.sync.client import connect

from duplex.asyncio.websocket_protocol import (
    KeepaliveTimeout,
    SendBufferFull,
    State,
    WebSocketProtocol,
    WebSocketSettings,
    build_message_frame,
)
from duplex.http import Accept
from duplex.protocol.connection import Connection
from duplex.protocol.exceptions import WebSocketError
from support import RunningServer

# Every wait in this module is bounded by this many seconds unless a test says otherwise.
TIMEOUT = 5.0

OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x2, 0x8, 0x9, 0xA

MakeServer = Callable[..., AbstractContextManager[RunningServer]]
Reply = Callable[[WebSocketProtocol, "str | bytes"], None]


# -- a recording handler ----------------------------------------------------------------------------


class Recorder:
    """A WebSocketHandler that records each call, in order, as a tuple: ("open",),
    ("message", data), ("error", exc), ("close", code, reason).

    Calls run on the server's loop thread; the test thread waits for them with a bound. ``reply``
    runs after a message is recorded, ``at_close`` before the close is recorded (both on the loop).
    """

    def __init__(
        self, reply: Reply | None = None, at_close: Callable[[WebSocketProtocol], None] | None = None
    ) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.ws: WebSocketProtocol | None = None
        self.seen: dict[str, Any] = {}  # what the hooks observed on the loop thread
        self._reply = reply
        self._at_close = at_close
        self._condition = threading.Condition()

    def _add(self, call: tuple[Any, ...]) -> None:
        with self._condition:
            self.calls.append(call)
            self._condition.notify_all()

    def on_open(self, ws: WebSocketProtocol) -> None:
        self.ws = ws
        self._add(("open",))

    def on_message(self, ws: WebSocketProtocol, data: str | bytes) -> None:
        self._add(("message", data))
        if self._reply is not None:
            self._reply(ws, data)

    def on_error(self, ws: WebSocketProtocol, error: Exception) -> None:
        self._add(("error", error))

    def on_close(self, ws: WebSocketProtocol, code: int, reason: str) -> None:
        if self._at_close is not None:
            self._at_close(ws)
        self._add(("close", code, reason))

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        with self._condition:
            return [call for call in self.calls if call[0] == kind]

    def kinds(self) -> list[str]:
        with self._condition:
            return [call[0] for call in self.calls]

    def wait_for(self, kind: str, count: int = 1, timeout: float = TIMEOUT) -> list[tuple[Any, ...]]:
        """The first ``count`` calls of ``kind``; fails the test if they do not come in time."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                found = [call for call in self.calls if call[0] == kind]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {count} {kind!r} call(s) within {timeout} s: {self.calls!r}")
                self._condition.wait(left)

    def opened(self) -> WebSocketProtocol:
        """The connection, once on_open ran."""
        self.wait_for("open")
        assert self.ws is not None
        return self.ws

    def errors(self) -> list[Exception]:
        return [call[1] for call in self.of("error")]


def echo(ws: WebSocketProtocol, data: str | bytes) -> None:
    ws.send(data)


def serve(make_server: MakeServer, handler: Recorder, **accept: Any) -> AbstractContextManager[RunningServer]:
    """A server whose endpoint at /ws accepts every upgrade with ``handler`` (no compression unless
    asked: raw clients read the exact bytes)."""
    accept.setdefault("compression", False)
    return make_server(endpoints={"/ws": lambda request, offer: Accept(handler, **accept)})


def wait_until(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# -- a raw-socket client ----------------------------------------------------------------------------


def masked_frame(opcode: int, payload: bytes = b"") -> bytes:
    """One whole client frame, masked with a random key (RFC 6455 section 5.3)."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    key = os.urandom(4)
    if not payload:
        return header + key
    repeated = (key * (length // 4 + 1))[:length]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(length, "big")
    return header + key + masked


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


class RawClient:
    """A WebSocket client on a plain socket: the handshake, then frames by hand. It never reads,
    answers or closes unless the test says so."""

    def __init__(self, sock: socket.socket, rest: bytes) -> None:
        self.sock = sock
        self._buffer = bytearray(rest)

    @classmethod
    def connect(cls, port: int, path: str = "/ws", *, receive_buffer: int | None = None) -> RawClient:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:
            # Before connect(), so that the advertised window stays small.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.settimeout(TIMEOUT)
        sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        sock.sendall(request.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            assert chunk, f"the server closed during the handshake: {data!r}"
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 "), head
        return cls(sock, rest)

    def send(self, *frames: bytes) -> None:
        """Send the frames in one write (so that the server reads them together)."""
        self.sock.sendall(b"".join(frames))

    def _fill(self, timeout: float) -> None:
        self.sock.settimeout(timeout)
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise EOFError(f"the server closed the connection; {len(self._buffer)} bytes unparsed")
        self._buffer += chunk

    def read_bytes(self, count: int, timeout: float = TIMEOUT) -> bytes:
        """Exactly the next ``count`` bytes the server sends."""
        deadline = time.monotonic() + timeout
        while len(self._buffer) < count:
            self._fill(max(0.01, deadline - time.monotonic()))
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    def read_frame(self, timeout: float = TIMEOUT) -> tuple[int, bytes]:
        """``(opcode, payload)`` of the next server frame; it must be whole, unmasked, no RSV bits."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self._parse_frame()
            if frame is not None:
                return frame
            self._fill(max(0.01, deadline - time.monotonic()))

    def _parse_frame(self) -> tuple[int, bytes] | None:
        buffer = self._buffer
        if len(buffer) < 2:
            return None
        first, second = buffer[0], buffer[1]
        assert first & 0xF0 == 0x80, f"unexpected first byte {first:#x}"
        assert not second & 0x80, "a server frame must not be masked"
        length, offset = second & 0x7F, 2
        if length == 126:
            if len(buffer) < 4:
                return None
            (length,) = struct.unpack_from("!H", buffer, 2)
            offset = 4
        elif length == 127:
            if len(buffer) < 10:
                return None
            (length,) = struct.unpack_from("!Q", buffer, 2)
            offset = 10
        if len(buffer) < offset + length:
            return None
        payload = bytes(buffer[offset : offset + length])
        del buffer[: offset + length]
        return first & 0x0F, payload

    def read_until_eof(self, timeout: float = TIMEOUT) -> bytes:
        """What the server still sends, up to the end of the stream (a reset counts as the end);
        fails the test if the stream does not end within ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._fill(max(0.01, deadline - time.monotonic()))
            except (EOFError, ConnectionResetError):
                data = bytes(self._buffer)
                self._buffer.clear()
                return data
            except TimeoutError:
                raise AssertionError(f"the server did not close the connection within {timeout} s") from None

    def assert_nothing_sent(self, wait: float = 0.2) -> None:
        """The server sends nothing (and keeps the connection) for ``wait`` seconds."""
        assert not self._buffer, bytes(self._buffer)
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            return
        raise AssertionError(f"the server sent {chunk!r}")

    def close(self) -> None:
        self.sock.close()


@contextmanager
def raw_client(server: RunningServer, *, receive_buffer: int | None = None) -> Iterator[RawClient]:
    client = RawClient.connect(server.port, receive_buffer=receive_buffer)
    try:
        yield client
    finally:
        client.close()


# -- the handler's calls, and closing ---------------------------------------------------------------


def test_open_message_close_come_in_order_with_the_peers_code_and_reason(make_server: MakeServer) -> None:
    recorder = Recorder(reply=echo)
    with (
        serve(make_server, recorder, subprotocol="chat") as server,
        connect(server.url("/ws"), proxy=None, open_timeout=TIMEOUT, subprotocols=["chat"]) as client,  # type: ignore[list-item]
    ):
        client.send("hello")
        assert client.recv(timeout=TIMEOUT) == "hello"
        client.send(b"\x00\xff")
        assert client.recv(timeout=TIMEOUT) == b"\x00\xff"
        ws = recorder.opened()
        assert ws.subprotocol == "chat"
        assert ws.remote_address == "127.0.0.1"
        client.close(1000, "goodbye")
        recorder.wait_for("close")
        assert client.close_code == 1000  # the server echoed the peer's code
        time.sleep(0.2)  # room for a second on_close, which must not come
    assert recorder.calls == [
        ("open",),
        ("message", "hello"),
        ("message", b"\x00\xff"),
        ("close", 1000, "goodbye"),
    ]


def test_the_server_answers_a_client_close_and_ends_the_tcp_connection(make_server: MakeServer) -> None:
    recorder = Recorder()
    with serve(make_server, recorder) as server, raw_client(server) as client:
        recorder.opened()
        client.send(masked_frame(OP_CLOSE, close_payload(1000, b"bye")))
        # The reply echoes the code without a reason, then the server closes first (section 7.1.1):
        # the client never closed its socket.
        assert client.read_bytes(4) == b"\x88\x02\x03\xe8"
        assert client.read_until_eof() == b""
        recorder.wait_for("close")
    assert recorder.calls == [("open",), ("close", 1000, "bye")]


def test_an_empty_close_frame_is_reported_as_1005_and_answered_empty(make_server: MakeServer) -> None:
    recorder = Recorder()
    with serve(make_server, recorder) as server, raw_client(server) as client:
        recorder.opened()
        client.send(masked_frame(OP_CLOSE))
        assert client.read_until_eof() == b"\x88\x00"
        recorder.wait_for("close")
    assert recorder.calls == [("open",), ("close", 1005, "")]


def test_a_dropped_tcp_connection_is_reported_once_as_1006(make_server: MakeServer) -> None:
    recorder = Recorder()
    with serve(make_server, recorder) as server:
        with raw_client(server) as client:
            ws = recorder.opened()
            assert server.call(lambda: ws in server.server.websocket_connections)
            client.send(masked_frame(OP_TEXT, b"last"))
            recorder.wait_for("message")
        recorder.wait_for("close")
        time.sleep(0.2)
        assert server.call(lambda: (ws.state, ws.close_code)) == (State.CLOSED, 1006)
        assert not server.call(lambda: ws in server.server.websocket_connections)
    assert recorder.calls == [("open",), ("message", "last"), ("close", 1006, "")]


def test_state_goes_open_closing_closed_for_a_client_close(make_server: MakeServer) -> None:
    """A client asks for a message that cannot all be written at once, and closes right behind it:
    the connection stays CLOSING, our close reply framed (is_open False), until the client has read
    the message and the close frame; then the server ends TCP and the state is CLOSED."""
    size = 32 * 1024 * 1024  # far more than the kernel's socket buffers hold for a peer that is not reading

    def reply(ws: WebSocketProtocol, data: str | bytes) -> None:
        recorder.seen["while the close was read"] = (ws.state, ws.is_open)
        recorder.seen["sent"] = ws.send(bytes(size))

    recorder = Recorder(reply=reply)
    with (
        serve(make_server, recorder, close_timeout=10.0) as server,
        raw_client(server, receive_buffer=16 * 1024) as client,
    ):
        ws = recorder.opened()
        assert server.call(lambda: (ws.state, ws.is_open)) == (State.OPEN, True)
        client.send(masked_frame(OP_TEXT, b"flood"), masked_frame(OP_CLOSE, close_payload(1000, b"done")))
        assert wait_until(lambda: not server.call(lambda: ws.is_open))
        assert server.call(lambda: ws.state) is State.CLOSING
        # The peer's close frame was parsed with the message, before on_message ran; our reply was
        # not framed yet, so the connection was still OPEN there and the message went out ahead of it.
        assert recorder.seen == {"while the close was read": (State.OPEN, True), "sent": True}
        assert recorder.kinds() == ["open", "message"]
        time.sleep(0.2)
        assert server.call(lambda: ws.state) is State.CLOSING  # still waiting for the client to read
        assert client.read_frame() == (OP_BINARY, bytes(size))
        assert client.read_frame() == (OP_CLOSE, b"\x03\xe8")
        assert client.read_until_eof() == b""
        recorder.wait_for("close")
        assert server.call(lambda: (ws.state, ws.is_open)) == (State.CLOSED, False)
    assert recorder.calls[-1] == ("close", 1000, "done")


def test_is_open_turns_false_once_our_close_frame_is_framed(make_server: MakeServer) -> None:
    recorder = Recorder()
    with serve(make_server, recorder) as server, raw_client(server) as client:
        ws = recorder.opened()
        frame = build_message_frame(b"late", True)

        def close_then_send() -> tuple[Any, ...]:
            before = (ws.is_open, ws.state)
            ws.close(1000, "done")
            return (
                before,
                (ws.is_open, ws.state),
                ws.send("late"),
                ws.send(b"late"),
                ws.send_message(b"late", True),
                ws.send_frame(frame),
                ws.ping(b"late"),
            )

        before, after, *sent = server.call(close_then_send)
        assert before == (True, State.OPEN)
        assert after == (False, State.CLOSING)
        assert sent == [False, False, False, False, False]
        # Only the close frame went out; the client answers it and the server ends TCP.
        assert client.read_bytes(8) == b"\x88\x06\x03\xe8done"
        client.assert_nothing_sent()
        client.send(masked_frame(OP_CLOSE, close_payload(1000)))
        assert client.read_until_eof() == b""
        recorder.wait_for("close")
    assert recorder.calls == [("open",), ("close", 1000, "")]


def test_sends_from_on_close_return_false(make_server: MakeServer) -> None:
    def at_close(ws: WebSocketProtocol) -> None:
        recorder.seen["sent"] = (
            ws.send("too late"),
            ws.send_message(b"too late", False),
            ws.send_frame(build_message_frame(b"too late", True)),
            ws.ping(),
            ws.is_open,
            ws.buffered_amount,
        )

    recorder = Recorder(at_close=at_close)
    with serve(make_server, recorder) as server:
        with raw_client(server):
            recorder.opened()
        recorder.wait_for("close")
    assert recorder.seen["sent"] == (False, False, False, False, False, 0)


def test_a_peer_that_never_answers_our_close_is_dropped_after_close_timeout(make_server: MakeServer) -> None:
    recorder = Recorder()
    with serve(make_server, recorder, close_timeout=0.3) as server, raw_client(server) as client:
        ws = recorder.opened()
        started = time.monotonic()
        server.call(lambda: ws.close(4000, "bye"))
        assert client.read_bytes(7) == b"\x88\x05\x0f\xa0bye"
        assert client.read_until_eof() == b""  # we never answer
        elapsed = time.monotonic() - started
        assert 0.25 <= elapsed < 2.0
        recorder.wait_for("close")
    assert recorder.calls == [("open",), ("close", 1006, "")]


def test_a_bad_frame_is_reported_to_on_error_and_fails_the_connection_with_1002(
    make_server: MakeServer,
) -> None:
    recorder = Recorder()
    with serve(make_server, recorder, close_timeout=2.0) as server, raw_client(server) as client:
        recorder.opened()
        client.send(b"\x81\x02hi")  # not masked: RFC 6455 section 5.1
        assert client.read_bytes(4) == b"\x88\x02\x03\xea"
        client.sock.shutdown(socket.SHUT_WR)  # the server half-closed and waits for our end
        assert client.read_until_eof() == b""
        recorder.wait_for("close")
    assert recorder.kinds() == ["open", "error", "close"]
    error = recorder.errors()[0]
    assert isinstance(error, WebSocketError)
    assert error.close_code == 1002
    assert recorder.calls[-1][1] == 1002  # the code we failed it with: its reply is never read


def test_an_exception_in_on_message_goes_to_on_error_and_the_connection_goes_on(
    make_server: MakeServer,
) -> None:
    failure = ValueError("handler bug")

    def reply(ws: WebSocketProtocol, data: str | bytes) -> None:
        if data == "fail":
            raise failure
        ws.send(data)

    recorder = Recorder(reply=reply)
    with serve(make_server, recorder) as server, raw_client(server) as client:
        recorder.opened()
        client.send(masked_frame(OP_TEXT, b"fail"))
        recorder.wait_for("error")
        client.send(masked_frame(OP_TEXT, b"still here"))
        assert client.read_frame() == (OP_TEXT, b"still here")
    assert recorder.errors() == [failure]
    assert recorder.kinds()[:4] == ["open", "message", "error", "message"]


# -- the sending door -------------------------------------------------------------------------------


def test_send_frames_str_as_text_and_bytes_like_as_binary(make_server: MakeServer) -> None:
    medium, large = b"m" * 200, b"L" * 70_000

    def reply(ws: WebSocketProtocol, data: str | bytes) -> None:
        recorder.seen["sent"] = [
            ws.send("h\u00e9"),
            ws.send(b"\x01\x02"),
            ws.send(bytearray(b"\x03")),
            ws.send(memoryview(b"\x04\x05")),
            ws.send_message(b"pre-encoded", True),
            ws.send_message(medium, False),
            ws.send_message(medium, False),  # the same payload again: the same frame again
            ws.send_message(large, False),
        ]

    recorder = Recorder(reply=reply)
    with serve(make_server, recorder) as server, raw_client(server) as client:
        recorder.opened()
        client.send(masked_frame(OP_TEXT, b"go"))
        expected = (
            b"\x81\x03h\xc3\xa9"
            + b"\x82\x02\x01\x02"
            + b"\x82\x01\x03"
            + b"\x82\x02\x04\x05"
            + b"\x81\x0bpre-encoded"
            + (b"\x82\x7e\x00\xc8" + medium) * 2
            + b"\x82\x7f"
            + struct.pack("!Q", len(large))
            + large
        )
        assert client.read_bytes(len(expected)) == expected
        client.assert_nothing_sent()
    assert recorder.seen["sent"] == [True] * 8


def test_send_frame_writes_prebuilt_frames_verbatim(make_server: MakeServer) -> None:
    frames = build_message_frame("h\u00e9llo".encode(), True) + build_message_frame(bytes(300), False)
    assert frames == b"\x81\x06h\xc3\xa9llo" + b"\x82\x7e\x01\x2c" + bytes(300)

    def reply(ws: WebSocketProtocol, data: str | bytes) -> None:
        recorder.seen["sent"] = ws.send_frame(frames)

    recorder = Recorder(reply=reply)
    with serve(make_server, recorder) as server, raw_client(server) as client:
        recorder.opened()
        client.send(masked_frame(OP_TEXT, b"go"))
        assert client.read_bytes(len(frames)) == frames
        client.assert_nothing_sent()
    assert recorder.seen["sent"] is True


def test_send_frame_goes_uncompressed_beside_compressed_messages(make_server: MakeServer) -> None:
    """With permessage-deflate agreed, send() compresses and send_frame() does not (RSV1 clear);
    a real client reads both."""

    def reply(ws: WebSocketProtocol, data: str | bytes) -> None:
        recorder.seen["deflate"] = ws.connection.deflate is not None
        ws.send("compressed " * 20)
        ws.send_frame(build_message_frame(b"prebuilt", True))
        ws.send(b"\x00" * 500)

    recorder = Recorder(reply=reply)
    with (
        serve(make_server, recorder, compression=True) as server,
        connect(server.url("/ws"), proxy=None, open_timeout=TIMEOUT) as client,
    ):
        assert client.response is not None
        assert "permessage-deflate" in client.response.headers["Sec-WebSocket-Extensions"]
        client.send("go")
        assert client.recv(timeout=TIMEOUT) == "compressed " * 20
        assert client.recv(timeout=TIMEOUT) == "prebuilt"
        assert client.recv(timeout=TIMEOUT) == b"\x00" * 500
    assert recorder.seen["deflate"] is True


def test_ping_writes_a_ping_frame_and_the_pong_is_not_a_message(make_server: MakeServer) -> None:
    recorder = Recorder(reply=echo)
    with serve(make_server, recorder) as server, raw_client(server) as client:
        ws = recorder.opened()
        assert server.call(lambda: ws.ping(b"are you there")) is True
        assert client.read_bytes(15) == b"\x89\x0dare you there"
        client.send(masked_frame(OP_PONG, b"are you there"), masked_frame(OP_TEXT, b"after"))
        assert client.read_frame() == (OP_TEXT, b"after")
        with pytest.raises(ValueError):
            server.call(lambda: ws.ping(b"x" * 126))
        assert server.call(lambda: ws.is_open)
    # The pong never reached on_message; the close is the client leaving.
    assert recorder.calls == [("open",), ("message", "after"), ("close", 1006, "")]


def test_a_real_client_answers_our_ping(make_server: MakeServer) -> None:
    """The websockets client pongs our ping; a keepalive that depends on it holds for many rounds."""
    recorder = Recorder(reply=echo)
    with (
        serve(make_server, recorder, ping_interval=0.05, ping_timeout=0.5) as server,
        connect(server.url("/ws"), proxy=None, open_timeout=TIMEOUT, ping_interval=None) as client,
    ):
        ws = recorder.opened()
        assert server.call(lambda: ws.ping(b"manual")) is True
        time.sleep(0.6)  # a dozen keepalive rounds, each needing the client's pong
        client.send("alive")
        assert client.recv(timeout=TIMEOUT) == "alive"
        assert server.call(lambda: ws.is_open)
    assert recorder.errors() == []


def test_close_with_a_code_that_may_not_be_sent_raises_and_leaves_the_connection_open(
    make_server: MakeServer,
) -> None:
    recorder = Recorder(reply=echo)
    with serve(make_server, recorder) as server, raw_client(server) as client:
        ws = recorder.opened()
        for code in (1005, 1006, 999, 2000):
            with pytest.raises(ValueError):
                server.call(lambda code=code: ws.close(code))
        assert server.call(lambda: (ws.state, ws.is_open)) == (State.OPEN, True)
        client.send(masked_frame(OP_TEXT, b"still open"))
        assert client.read_frame() == (OP_TEXT, b"still open")


def test_start_closing_from_another_thread_lets_earlier_messages_out_first(make_server: MakeServer) -> None:
    recorder = Recorder()
    with serve(make_server, recorder) as server, raw_client(server) as client:
        ws = recorder.opened()
        ws.start_closing()  # from the test thread
        assert server.call(lambda: (ws.state, ws.is_open)) == (State.CLOSING, True)
        assert server.call(lambda: ws.send("handed over before the close")) is True
        server.call(lambda: ws.close(1001, "going"))
        assert client.read_frame() == (OP_TEXT, b"handed over before the close")
        assert client.read_frame() == (OP_CLOSE, close_payload(1001, b"going"))
        client.send(masked_frame(OP_CLOSE, close_payload(1001)))
        assert client.read_until_eof() == b""
        recorder.wait_for("close")
    assert recorder.calls == [("open",), ("close", 1001, "")]


def test_abort_drops_the_connection_without_a_close_frame_and_wakes_wait_closed(
    make_server: MakeServer,
) -> None:
    recorder = Recorder()
    with serve(make_server, recorder) as server, raw_client(server) as client:
        ws = recorder.opened()
        waiting = asyncio.run_coroutine_threadsafe(ws.wait_closed(), server.loop)
        time.sleep(0.1)
        assert not waiting.done()
        server.call(ws.abort)
        assert client.read_until_eof() == b""
        assert waiting.result(TIMEOUT) is None
        recorder.wait_for("close")
        # Once closed, wait_closed returns at once; abort and close do nothing.
        asyncio.run_coroutine_threadsafe(ws.wait_closed(), server.loop).result(TIMEOUT)
        server.call(ws.abort)
        server.call(ws.close)
        time.sleep(0.1)
    assert recorder.calls == [("open",), ("close", 1006, "")]


def test_settings_refuse_an_unknown_backpressure_policy_and_a_bad_message_size() -> None:
    with pytest.raises(ValueError, match="backpressure"):
        WebSocketSettings(backpressure="block")
    with pytest.raises(ValueError, match="max_message_size"):
        WebSocketSettings(max_message_size=0)
    with pytest.raises(ValueError, match="backpressure"):
        Accept(Recorder(), backpressure="wait")


def test_a_connection_without_settings_or_transport_has_the_defaults_and_sends_nothing() -> None:
    loop = asyncio.new_event_loop()
    try:
        ws = WebSocketProtocol(Connection(), None, loop)
        assert (ws.close_timeout, ws.ping_interval, ws.ping_timeout, ws.send_buffer_limit) == (
            10.0,
            None,
            None,
            None,
        )
        assert (ws.state, ws.is_open, ws.buffered_amount, ws.close_code) == (State.OPEN, False, 0, 1006)
        assert (ws.send("x"), ws.send_frame(build_message_frame(b"x", True)), ws.ping()) == (
            False,
            False,
            False,
        )
    finally:
        loop.close()


# -- keepalive --------------------------------------------------------------------------------------


def test_a_peer_that_never_answers_pings_gets_keepalive_timeout_and_is_dropped(
    make_server: MakeServer,
) -> None:
    recorder = Recorder()
    with (
        serve(make_server, recorder, ping_interval=0.2, ping_timeout=0.2) as server,
        raw_client(server) as client,
    ):
        recorder.opened()
        started = time.monotonic()
        opcode, payload = client.read_frame()
        assert (opcode, len(payload)) == (OP_PING, 4)
        assert client.read_frame() == (OP_CLOSE, close_payload(1011, b"keepalive ping timeout"))
        assert client.read_until_eof() == b""
        assert time.monotonic() - started < 2.0
        recorder.wait_for("close")
    assert recorder.kinds() == ["open", "error", "close"]
    assert isinstance(recorder.errors()[0], KeepaliveTimeout)
    assert recorder.calls[-1] == ("close", 1006, "")


def test_keepalive_goes_on_while_the_peer_answers_each_ping(make_server: MakeServer) -> None:
    recorder = Recorder()
    with (
        serve(make_server, recorder, ping_interval=0.1, ping_timeout=0.3) as server,
        raw_client(server) as client,
    ):
        ws = recorder.opened()
        payloads = []
        for _ in range(4):
            opcode, payload = client.read_frame(timeout=2.0)
            assert opcode == OP_PING
            payloads.append(payload)
            client.send(masked_frame(OP_PONG, payload))
        assert len(set(payloads)) == 4  # a fresh payload each round
        assert server.call(lambda: ws.is_open)
    assert recorder.errors() == []


def test_a_pong_with_another_payload_does_not_answer_the_keepalive(make_server: MakeServer) -> None:
    recorder = Recorder()
    with (
        serve(make_server, recorder, ping_interval=0.2, ping_timeout=0.3) as server,
        raw_client(server) as client,
    ):
        recorder.opened()
        opcode, payload = client.read_frame()
        assert opcode == OP_PING
        client.send(masked_frame(OP_PONG, bytes(byte ^ 0xFF for byte in payload)))
        assert client.read_frame() == (OP_CLOSE, close_payload(1011, b"keepalive ping timeout"))
        recorder.wait_for("close")
    assert [type(error) for error in recorder.errors()] == [KeepaliveTimeout]


# -- the send buffer limit --------------------------------------------------------------------------

MESSAGE_SIZE = 64 * 1024
MESSAGE_COUNT = 400  # 25 MiB: far more than the kernel buffers of a peer that does not read
LIMIT = 256 * 1024


def numbered(index: int) -> bytes:
    return b"%06d" % index + bytes(MESSAGE_SIZE - 6)


def flood(seen: dict[str, Any]) -> Reply:
    """On "flood": send MESSAGE_COUNT numbered messages in one go, recording in ``seen`` what send()
    returned and the connection's state after; echo anything else."""

    def reply(ws: WebSocketProtocol, data: str | bytes) -> None:
        if data == "flood":
            seen["sent"] = [ws.send(numbered(index)) for index in range(MESSAGE_COUNT)]
            seen["after"] = (ws.state, ws.is_open, ws.dropped_messages, ws.buffered_amount)
        else:
            ws.send(f"echo {data!s}")

    return reply


def test_drop_policy_drops_what_does_not_fit_and_keeps_the_connection(make_server: MakeServer) -> None:
    seen: dict[str, Any] = {}
    recorder = Recorder(reply=flood(seen))
    with (
        serve(make_server, recorder, send_buffer_limit=LIMIT, backpressure="drop") as server,
        raw_client(server, receive_buffer=64 * 1024) as client,
    ):
        ws = recorder.opened()
        client.send(masked_frame(OP_TEXT, b"flood"))
        assert wait_until(lambda: "after" in seen)
        sent: list[bool] = seen["sent"]
        delivered = [index for index, ok in enumerate(sent) if ok]
        dropped = sent.count(False)
        assert delivered and dropped
        assert seen["after"][:3] == (State.OPEN, True, dropped)
        assert 0 < seen["after"][3] <= LIMIT
        errors = recorder.errors()
        assert len(errors) == dropped
        assert all(isinstance(error, SendBufferFull) for error in errors)
        assert [error.dropped for error in errors] == [True] * dropped
        assert [error.dropped_so_far for error in errors] == list(range(1, dropped + 1))
        assert {(error.size, error.limit) for error in errors} == {(MESSAGE_SIZE, LIMIT)}
        assert all(0 < error.queued <= LIMIT < error.queued + error.size for error in errors)
        assert server.call(lambda: (ws.state, ws.dropped_messages)) == (State.OPEN, dropped)
        # The client reads: exactly the messages that were sent, in order, then the connection
        # still answers.
        for index in delivered:
            assert client.read_frame() == (OP_BINARY, numbered(index))
        client.send(masked_frame(OP_TEXT, b"ping"))
        assert client.read_frame() == (OP_TEXT, b"echo ping")
        assert wait_until(lambda: server.call(lambda: ws.buffered_amount) == 0)
        assert recorder.of("close") == []


def test_close_policy_reports_once_and_closes_with_1008(make_server: MakeServer) -> None:
    seen: dict[str, Any] = {}
    recorder = Recorder(reply=flood(seen))
    with (
        serve(
            make_server, recorder, send_buffer_limit=LIMIT, backpressure="close", close_timeout=5.0
        ) as server,
        raw_client(server, receive_buffer=64 * 1024) as client,
    ):
        ws = recorder.opened()
        client.send(masked_frame(OP_TEXT, b"flood"))
        assert wait_until(lambda: "after" in seen)
        sent: list[bool] = seen["sent"]
        accepted = sent.count(True)
        assert 0 < accepted < MESSAGE_COUNT
        assert sent == [True] * accepted + [False] * (MESSAGE_COUNT - accepted)
        assert seen["after"][:3] == (State.CLOSING, False, 0)
        (error,) = recorder.errors()
        assert isinstance(error, SendBufferFull)
        assert (error.dropped, error.dropped_so_far, error.size, error.limit) == (
            False,
            0,
            MESSAGE_SIZE,
            LIMIT,
        )
        # Once the client reads: the accepted messages, then the close frame with 1008.
        for index in range(accepted):
            assert client.read_frame() == (OP_BINARY, numbered(index))
        assert client.read_frame() == (OP_CLOSE, close_payload(1008, b"send buffer limit reached"))
        client.send(masked_frame(OP_CLOSE, close_payload(1008)))
        assert client.read_until_eof() == b""
        recorder.wait_for("close")
        assert server.call(lambda: ws.state) is State.CLOSED
    assert recorder.calls[-1] == ("close", 1008, "")
    assert recorder.kinds() == ["open", "message", "error", "close"]


def test_a_message_to_a_peer_with_nothing_queued_goes_through_whatever_its_size(
    make_server: MakeServer,
) -> None:
    big = os.urandom(100_000)

    def reply(ws: WebSocketProtocol, data: str | bytes) -> None:
        recorder.seen["sent"] = ws.send(big)

    recorder = Recorder(reply=reply)
    with serve(make_server, recorder, send_buffer_limit=1024) as server, raw_client(server) as client:
        ws = recorder.opened()
        client.send(masked_frame(OP_TEXT, b"go"))
        assert client.read_frame() == (OP_BINARY, big)
        assert server.call(lambda: (ws.is_open, ws.dropped_messages)) == (True, 0)
    assert recorder.seen["sent"] is True
    assert recorder.errors() == []


# -- flow control -----------------------------------------------------------------------------------


def test_pause_reading_holds_messages_until_resume_reading(make_server: MakeServer) -> None:
    def reply(ws: WebSocketProtocol, data: str | bytes) -> None:
        if data == "pause":
            ws.pause_reading()
        ws.send(data)

    recorder = Recorder(reply=reply)
    with serve(make_server, recorder) as server, raw_client(server) as client:
        ws = recorder.opened()
        client.send(masked_frame(OP_TEXT, b"pause"))
        assert client.read_frame() == (OP_TEXT, b"pause")
        client.send(masked_frame(OP_TEXT, b"a"))
        client.send(masked_frame(OP_TEXT, b"b"))
        client.assert_nothing_sent(0.3)
        assert [call[1] for call in recorder.of("message")] == ["pause"]
        server.call(ws.resume_reading)
        assert client.read_frame() == (OP_TEXT, b"a")
        assert client.read_frame() == (OP_TEXT, b"b")
    assert [call[1] for call in recorder.of("message")] == ["pause", "a", "b"]
