"""The client's read path under uvloop: reads go into a buffer of the thread's, not into a ``bytes``
object per read (``ClientWebSocketProtocol.get_buffer`` / ``buffer_updated``).

A read that is exactly one whole data frame is taken out of that buffer in one copy; anything else
(a part of a frame, several frames, control frames, a frame that breaks a rule) is copied out and
goes through the general parser. These tests send each shape from a raw socket, written by hand
from RFC 6455 section 5.2, and check what the client makes of it, under uvloop (the stock asyncio
loop never calls ``get_buffer``, and the other client tests run there). The buffer is per thread:
clients on two threads' loops must never see each other's bytes.
"""

from __future__ import annotations

import asyncio
import struct
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
import uvloop

import duplex
from client.conftest import TIMEOUT, Peer, RawServer, server_frames
from duplex.asyncio.websocket_protocol import READ_BUFFER_SIZE, ClientWebSocketProtocol

T = TypeVar("T")
OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x2, 0x8, 0x9, 0xA
# Long enough between two writes for the client to read the first on its own, on a loaded machine.
GAP = 0.05


def frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A server's frame: unmasked, the shortest length form."""
    first = (0x80 if fin else 0) | opcode
    size = len(payload)
    if size < 126:
        return struct.pack("!BB", first, size) + payload
    if size < 65536:
        return struct.pack("!BBH", first, 126, size) + payload
    return struct.pack("!BBQ", first, 127, size) + payload


def on_uvloop(body: Callable[[], Awaitable[T]], timeout: float = 3 * TIMEOUT) -> T:
    """Run ``body()`` on a fresh uvloop loop, bounded."""

    async def bounded() -> T:
        assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")
        return await asyncio.wait_for(body(), timeout)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(bounded())


def serve(raw_server: RawServer, writes: list[bytes]) -> tuple[threading.Thread, list[Any]]:
    """On a thread: accept a client, answer its handshake, send each of ``writes`` in its own
    ``sendall`` (with a pause between them), then collect the client's frames until its close frame
    (answered) or EOF, and close. The frames, or the error, land in the list returned."""
    got: list[Any] = []

    def script() -> None:
        try:
            sock, _ = raw_server.accept_websocket()
            for data in writes:
                sock.sendall(data)
                time.sleep(GAP)
            for opcode, payload in server_frames(sock):
                got.append((opcode, payload))
                if opcode == OP_CLOSE:  # answer it, then close first, as a server does
                    sock.sendall(frame(OP_CLOSE, payload[:2]))
                    break
            sock.close()
        except BaseException as exc:  # the test reads it
            got.append(exc)

    thread = threading.Thread(target=script, daemon=True)
    thread.start()
    return thread, got


def finished(thread: threading.Thread, got: list[Any]) -> list[tuple[int, bytes]]:
    thread.join(TIMEOUT)
    assert not thread.is_alive(), "the raw server's script did not end"
    for item in got:
        if isinstance(item, BaseException):
            raise item
    return got


def close_code(frames: list[tuple[int, bytes]]) -> int:
    closes = [payload for opcode, payload in frames if opcode == OP_CLOSE]
    assert closes, f"the client sent no close frame: {frames}"
    code: int = struct.unpack("!H", closes[0][:2])[0]
    return code


def test_the_client_protocol_reads_into_the_threads_buffer(raw_server: RawServer) -> None:
    thread, got = serve(raw_server, [frame(OP_TEXT, b"hi")])

    async def body() -> None:
        async with duplex.connect(raw_server.url(), compression=False) as ws:
            protocol = ws._link.protocol
            assert isinstance(protocol, ClientWebSocketProtocol)
            buffer = protocol.get_buffer(-1)
            assert isinstance(buffer, bytearray) and len(buffer) == READ_BUFFER_SIZE
            assert await ws.recv() == "hi"

    on_uvloop(body)
    assert close_code(finished(thread, got)) == 1000


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 16384, 65535, 65536, 100_000, READ_BUFFER_SIZE + 3000])
def test_a_binary_message_of_every_length_form_arrives_whole(raw_server: RawServer, size: int) -> None:
    # 7-bit, 16-bit and 64-bit lengths, and one larger than the read buffer (several reads).
    payload = bytes(index % 251 for index in range(size))
    thread, got = serve(raw_server, [frame(OP_BINARY, payload), frame(OP_BINARY, payload[::-1])])

    async def body() -> None:
        async with duplex.connect(raw_server.url(), compression=False, maxMessageSize=1024 * 1024) as ws:
            first = await ws.recv()
            assert type(first) is bytes and first == payload
            assert await ws.recv() == payload[::-1]

    on_uvloop(body)
    assert close_code(finished(thread, got)) == 1000


@pytest.mark.parametrize("text", ["", "plain ASCII", "é" * 100, "日本語テキスト" * 3000, "🎉" * 20_000])
def test_a_text_message_is_decoded_straight_from_the_buffer(raw_server: RawServer, text: str) -> None:
    thread, got = serve(raw_server, [frame(OP_TEXT, text.encode())])

    async def body() -> None:
        async with duplex.connect(raw_server.url(), compression=False) as ws:
            message = await ws.recv()
            assert type(message) is str and message == text

    on_uvloop(body)
    assert close_code(finished(thread, got)) == 1000


def test_frames_split_across_reads_and_several_in_one_read(raw_server: RawServer) -> None:
    big = bytes(range(256)) * 80  # 20 KiB
    whole = frame(OP_BINARY, big)
    writes = [
        whole[:1],  # half a header
        whole[1:3],  # the rest of the header, two payload bytes short of nothing
        whole[3:5000],
        whole[5000:],
        # three frames and a ping in one write
        frame(OP_TEXT, b"one")
        + frame(OP_PING, b"are you there")
        + frame(OP_BINARY, b"two")
        + frame(OP_TEXT, b"three"),
        # a fragmented message, its parts in separate reads
        frame(OP_TEXT, b"frag", fin=False),
        frame(0x0, b"mented", fin=False),
        frame(0x0, b" text"),
    ]
    thread, got = serve(raw_server, writes)

    async def body() -> None:
        async with duplex.connect(raw_server.url(), compression=False) as ws:
            assert await ws.recv() == big
            assert [await ws.recv() for _ in range(3)] == ["one", b"two", "three"]
            assert await ws.recv() == "fragmented text"

    on_uvloop(body)
    frames = finished(thread, got)
    assert (OP_PONG, b"are you there") in frames
    assert close_code(frames) == 1000


@pytest.mark.parametrize(
    ("first", "bad", "code"),
    [
        # invalid UTF-8 in a whole text frame
        (frame(OP_TEXT, b"ok"), frame(OP_TEXT, b"bad \xff\xfe here"), 1007),
        # a whole frame one byte over maxMessageSize (1000 here)
        (frame(OP_BINARY, bytes(1000)), frame(OP_BINARY, bytes(1001)), 1009),
        # a masked frame: its length byte has the mask bit, never taken for a whole message
        (frame(OP_TEXT, b"ok"), bytes([0x82, 0x80 | 4]) + b"\x00\x00\x00\x00abcd", 1002),
    ],
    ids=["invalid-utf8", "too-big", "masked"],
)
def test_a_whole_frame_that_breaks_a_rule_fails_the_connection(
    raw_server: RawServer, first: bytes, bad: bytes, code: int
) -> None:
    # The fast path leaves it alone; the general parser fails it with the right code.
    thread, got = serve(raw_server, [first, bad])

    async def body() -> None:
        async with duplex.connect(raw_server.url(), compression=False, maxMessageSize=1000) as ws:
            assert await ws.recv() in ("ok", bytes(1000))
            with pytest.raises(duplex.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.code == code

    on_uvloop(body)
    assert close_code(finished(thread, got)) == code


def test_clients_on_two_threads_never_see_each_others_bytes(duplex_echo: Peer) -> None:
    # Each thread runs its own uvloop loop, whose reads (the GIL released) may overlap the other's:
    # each must read into its own buffer. Every echo is checked byte for byte.
    errors: list[BaseException] = []
    rounds = 60

    def client(seed: int) -> None:
        async def body() -> None:
            payloads = [bytes([seed, index]) * 40_000 for index in range(4)]
            async with duplex.connect(duplex_echo.url(), compression=False, maxMessageSize=1024 * 1024) as ws:
                for round_ in range(rounds):
                    sent = payloads[round_ % 4]
                    await ws.send(sent)
                    assert await ws.recv() == sent

        try:
            on_uvloop(body, timeout=6 * TIMEOUT)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(seed,)) for seed in (1, 2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(8 * TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors


def test_the_4d_client_reads_large_messages_through_the_buffer(duplex_echo: Peer) -> None:
    # The 4D face's loop is uvloop: its large messages take the same path.
    received: list[Any] = []
    done = threading.Event()
    payload = bytes(range(256)) * 400  # 100 KiB

    class Handler:
        dataType = "blob"

        def onOpen(self, ws: duplex.WebSocket, event: duplex.Event) -> None:
            ws.send(payload)

        def onMessage(self, ws: duplex.WebSocket, event: duplex.Event) -> None:
            received.append(event.data)
            if len(received) < 3:
                ws.send(payload)
            else:
                ws.terminate()

        def onTerminate(self, ws: duplex.WebSocket, event: duplex.Event) -> None:
            done.set()

    duplex.WebSocket(duplex_echo.url(), Handler(), compression=False)
    assert done.wait(TIMEOUT)
    assert received == [payload] * 3


def test_a_silent_server_leaves_the_connection_open(raw_server: RawServer) -> None:
    # No read at all: recv() times out, and the connection stays open and closes cleanly.
    thread, got = serve(raw_server, [])

    async def body() -> None:
        async with duplex.connect(raw_server.url(), compression=False) as ws:
            with pytest.raises(TimeoutError):
                await ws.recv(timeout=0.2)
            assert ws.status == "Connected"

    on_uvloop(body)
    assert close_code(finished(thread, got)) == 1000
