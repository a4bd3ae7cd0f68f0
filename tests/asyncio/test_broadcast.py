"""BroadcastBatch: frames added during one loop iteration are written together when it ends.

Unit tests run the batch on a real asyncio loop with recording sinks (the batch is a scheduler:
frames in, ``send_frame`` calls out): nothing is written before the iteration ends; a burst becomes
one write per recipient, in order; exclusions; several audiences; an early flush; recipients read
when the batch is written. End-to-end tests go through a real server, whose connections write the
pending broadcasts before their own messages, pongs and close frames.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from websockets.sync.client import connect

from duplex.asyncio.broadcast import BroadcastBatch
from duplex.asyncio.websocket_protocol import WebSocketProtocol, build_message_frame
from duplex.http import Accept
from support import RunningServer

TIMEOUT = 5.0

MakeServer = Callable[..., AbstractContextManager[RunningServer]]


# -- unit tests on a real loop ----------------------------------------------------------------------


class Sink:
    """A connection as the batch sees it: records every ``send_frame`` call (into a shared log too)."""

    def __init__(self, name: str, log: list[tuple[str, bytes]], accept: bool = True) -> None:
        self.name = name
        self.writes: list[bytes] = []
        self.messages: list[list[bytes]] = []  # the frames of each send_frames() call
        self._log = log
        self._accept = accept

    def send_frame(self, frame: bytes) -> bool:
        self.writes.append(frame)
        self._log.append((self.name, frame))
        return self._accept

    def send_frames(self, frames: list[bytes], joined: bytes | None = None) -> bool:
        """Several frames, one message each (the sink's limit applies to each): one write."""
        assert len(frames) > 1
        assert joined is None or joined == b"".join(frames)
        self.messages.append(list(frames))
        return self.send_frame(b"".join(frames) if joined is None else joined)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.close()


def run(loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, None]) -> None:
    loop.run_until_complete(asyncio.wait_for(coroutine, TIMEOUT))


def sinks(count: int) -> tuple[list[tuple[str, bytes]], dict[int, Sink]]:
    log: list[tuple[str, bytes]] = []
    return log, {key: Sink(f"s{key}", log) for key in range(1, count + 1)}


def test_nothing_is_written_until_the_loop_iteration_ends(loop: asyncio.AbstractEventLoop) -> None:
    log, recipients = sinks(2)

    async def main() -> None:
        batch = BroadcastBatch(loop)
        assert not batch.pending
        batch.add(b"A", recipients)
        batch.add(b"B", recipients)
        assert batch.pending
        assert log == []
        await asyncio.sleep(0)  # the flush was scheduled first, so it runs before we resume
        assert not batch.pending
        assert log == [("s1", b"AB"), ("s2", b"AB")]

    run(loop, main())


def test_a_burst_is_one_write_per_recipient_in_order(loop: asyncio.AbstractEventLoop) -> None:
    _, recipients = sinks(3)
    frames = [build_message_frame(f"message {index}".encode(), True) for index in range(50)]

    async def main() -> None:
        batch = BroadcastBatch(loop)
        for frame in frames:
            batch.add(frame, recipients)
        await asyncio.sleep(0)

    run(loop, main())
    assert [sink.writes for sink in recipients.values()] == [[b"".join(frames)]] * 3
    # One audience and no exclusions: every connection is handed the same joined bytes, and the
    # frames one by one, so that its send buffer limit is applied to each message.
    assert recipients[1].writes[0] is recipients[3].writes[0]
    assert [sink.messages for sink in recipients.values()] == [[frames]] * 3


def test_excluded_recipients_miss_only_that_frame(loop: asyncio.AbstractEventLoop) -> None:
    _, recipients = sinks(3)

    async def main() -> None:
        batch = BroadcastBatch(loop)
        batch.add(b"A", recipients)
        batch.add(b"B", recipients, excluded={2})
        batch.add(b"C", recipients, excluded=(1, 3))
        batch.add(b"D", recipients)
        await asyncio.sleep(0)

    run(loop, main())
    assert recipients[1].writes == [b"ABD"]
    assert recipients[2].writes == [b"ACD"]
    assert recipients[3].writes == [b"ABD"]
    assert recipients[2].messages == [[b"A", b"C", b"D"]]


def test_two_audiences_in_one_batch_keep_each_recipients_order(loop: asyncio.AbstractEventLoop) -> None:
    log: list[tuple[str, bytes]] = []
    one, both, two = Sink("one", log), Sink("both", log), Sink("two", log)
    room_a: dict[int, Sink] = {1: one, 2: both}
    room_b: dict[int, Sink] = {2: both, 3: two}

    async def main() -> None:
        batch = BroadcastBatch(loop)
        batch.add(b"a1", room_a)
        batch.add(b"b1", room_b)
        batch.add(b"a2", room_a)
        batch.add(b"b2", room_b, excluded={3})
        await asyncio.sleep(0)

    run(loop, main())
    assert one.writes == [b"a1a2"]
    assert both.writes == [b"a1b1a2b2"]
    assert two.writes == [b"b1"]
    assert len(log) == 3  # still one write per connection


def test_an_early_flush_writes_now_and_the_scheduled_flush_does_nothing(
    loop: asyncio.AbstractEventLoop,
) -> None:
    log, recipients = sinks(2)

    async def main() -> None:
        batch = BroadcastBatch(loop)
        batch.add(b"A", recipients)
        batch.flush()  # what a connection does before it writes anything of its own
        assert not batch.pending
        assert log == [("s1", b"A"), ("s2", b"A")]
        batch.flush()  # nothing pending: nothing written
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert log == [("s1", b"A"), ("s2", b"A")]
        # A later frame is written exactly once, by the flush it schedules.
        batch.add(b"B", recipients)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert log == [("s1", b"A"), ("s2", b"A"), ("s1", b"B"), ("s2", b"B")]

    run(loop, main())


def test_recipients_are_read_when_the_batch_is_written(loop: asyncio.AbstractEventLoop) -> None:
    log, recipients = sinks(3)
    late = Sink("late", log)

    async def main() -> None:
        batch = BroadcastBatch(loop)
        batch.add(b"A", recipients)
        batch.add(b"B", recipients, excluded={1})
        del recipients[2]  # left before the flush: gets nothing
        recipients[4] = late  # joined before the flush: gets what the live mapping had
        await asyncio.sleep(0)

    run(loop, main())
    assert [name for name, _ in log] == ["s1", "s3", "late"]
    assert dict(log) == {"s1": b"A", "s3": b"AB", "late": b"AB"}


def test_a_recipient_that_refuses_does_not_stop_the_others(loop: asyncio.AbstractEventLoop) -> None:
    log: list[tuple[str, bytes]] = []
    recipients = {1: Sink("full", log, accept=False), 2: Sink("fine", log)}

    async def main() -> None:
        batch = BroadcastBatch(loop)
        batch.add(b"A", recipients)
        await asyncio.sleep(0)
        batch.add(b"B", recipients)
        await asyncio.sleep(0)

    run(loop, main())
    assert log == [("full", b"A"), ("fine", b"A"), ("full", b"B"), ("fine", b"B")]


def test_a_frame_added_while_flushing_goes_out_in_the_next_batch(loop: asyncio.AbstractEventLoop) -> None:
    log: list[tuple[str, bytes]] = []
    batch = BroadcastBatch(loop)

    class Relay(Sink):
        """Broadcasts a reply the first time it is written to (a connection's handler would)."""

        def send_frame(self, frame: bytes) -> bool:
            if not self.writes:
                batch.add(b"reply", recipients)
            return super().send_frame(frame)

    recipients: dict[int, Sink] = {1: Relay("relay", log), 2: Sink("other", log)}

    async def main() -> None:
        batch.add(b"A", recipients)
        await asyncio.sleep(0)
        assert log == [("relay", b"A"), ("other", b"A")]
        assert batch.pending
        await asyncio.sleep(0)
        assert not batch.pending

    run(loop, main())
    assert log == [("relay", b"A"), ("other", b"A"), ("relay", b"reply"), ("other", b"reply")]


def test_audiences_whose_keys_overlap_each_reach_their_own_connections(
    loop: asyncio.AbstractEventLoop,
) -> None:
    log: list[tuple[str, bytes]] = []
    first, second = Sink("first", log), Sink("second", log)

    async def main() -> None:
        batch = BroadcastBatch(loop)
        batch.add(b"X", {1: first})
        batch.add(b"Y", {1: second})
        await asyncio.sleep(0)

    run(loop, main())
    assert first.writes == [b"X"]
    assert second.writes == [b"Y"]


# -- end to end, through a real server --------------------------------------------------------------


class Room:
    """A handler shared by every connection of a server: keeps the open connections by id and
    broadcasts through the server's batch when a client says "go", "ping-after" or "bye"."""

    def __init__(self) -> None:
        self.batch: BroadcastBatch | None = None  # the server's, set once it runs
        self.members: dict[int, WebSocketProtocol] = {}
        self._ids: dict[WebSocketProtocol, int] = {}
        self._opened = threading.Semaphore(0)

    def wait_members(self, count: int) -> None:
        for _ in range(count):
            assert self._opened.acquire(timeout=TIMEOUT), "a client did not open in time"

    def broadcast(self, text: str, excluded: tuple[int, ...] = ()) -> None:
        assert self.batch is not None
        self.batch.add(build_message_frame(text.encode(), True), self.members, excluded)

    def on_open(self, ws: WebSocketProtocol) -> None:
        key = len(self._ids) + 1
        self._ids[ws] = key
        self.members[key] = ws
        self._opened.release()

    def on_message(self, ws: WebSocketProtocol, data: str | bytes) -> None:
        me = self._ids[ws]
        if data == "go":
            self.broadcast("one")
            self.broadcast("two", excluded=(me,))
            ws.send("direct")  # writes the pending broadcasts first
            self.broadcast("three")
        elif data == "news":
            self.broadcast("news")
        elif data == "bye":
            self.broadcast("last words")
            ws.close(1000, "bye")

    def on_error(self, ws: WebSocketProtocol, error: Exception) -> None:
        pass

    def on_close(self, ws: WebSocketProtocol, code: int, reason: str) -> None:
        self.members.pop(self._ids[ws], None)


@contextmanager
def room_server(make_server: MakeServer) -> Iterator[tuple[RunningServer, Room]]:
    room = Room()
    endpoints = {"/room": lambda request, offer: Accept(room, compression=False)}
    with make_server(endpoints=endpoints) as server:
        room.batch = server.server.broadcasts
        assert room.batch is not None
        yield server, room


def masked(opcode: int, payload: bytes) -> bytes:
    """A client frame (short payload), masked as RFC 6455 requires."""
    key = os.urandom(4)
    return (
        bytes([0x80 | opcode, 0x80 | len(payload)])
        + key
        + bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    )


@contextmanager
def raw_socket(server: RunningServer, path: str) -> Iterator[tuple[socket.socket, bytearray]]:
    """An upgraded plain socket, and the bytes that followed the 101 response."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            assert chunk, "the server closed during the handshake"
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 ")
        yield sock, bytearray(rest)
    finally:
        sock.close()


def receive(sock: socket.socket, buffer: bytearray, count: int) -> bytes:
    deadline = time.monotonic() + TIMEOUT
    while len(buffer) < count:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection after {bytes(buffer)!r}"
        buffer += chunk
    data = bytes(buffer[:count])
    del buffer[:count]
    return data


def test_broadcasts_reach_a_client_before_a_message_sent_after_them(make_server: MakeServer) -> None:
    with (
        room_server(make_server) as (server, room),
        connect(server.url("/room"), proxy=None, open_timeout=TIMEOUT) as sender,
        connect(server.url("/room"), proxy=None, open_timeout=TIMEOUT) as other,
    ):
        room.wait_members(2)
        sender.send("go")
        assert [sender.recv(timeout=TIMEOUT) for _ in range(3)] == ["one", "direct", "three"]
        assert [other.recv(timeout=TIMEOUT) for _ in range(3)] == ["one", "two", "three"]


def test_broadcasts_go_out_at_the_end_of_the_iteration_without_any_send(make_server: MakeServer) -> None:
    with (
        room_server(make_server) as (server, room),
        connect(server.url("/room"), proxy=None, open_timeout=TIMEOUT) as first,
        connect(server.url("/room"), proxy=None, open_timeout=TIMEOUT) as second,
    ):
        room.wait_members(2)
        second.send("news")
        assert first.recv(timeout=TIMEOUT) == "news"
        assert second.recv(timeout=TIMEOUT) == "news"


def test_a_pong_goes_out_after_the_broadcasts_added_before_it(make_server: MakeServer) -> None:
    """A message and a ping read together: the broadcast the message caused is written first."""
    with room_server(make_server) as (server, room), raw_socket(server, "/room") as (sock, buffer):
        room.wait_members(1)
        sock.sendall(masked(0x1, b"news") + masked(0x9, b"p"))
        assert receive(sock, buffer, 9) == b"\x81\x04news" + b"\x8a\x01p"


def test_a_close_frame_goes_out_after_the_broadcasts_added_before_it(make_server: MakeServer) -> None:
    with room_server(make_server) as (server, room), raw_socket(server, "/room") as (sock, buffer):
        room.wait_members(1)
        sock.sendall(masked(0x1, b"bye"))
        expected = b"\x81\x0alast words" + b"\x88\x05\x03\xe8bye"
        assert receive(sock, buffer, len(expected)) == expected
        sock.sendall(masked(0x8, struct.pack("!H", 1000)))
        sock.settimeout(TIMEOUT)
        assert sock.recv(65536) == b""  # the server ends TCP after the handshake
