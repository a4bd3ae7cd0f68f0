"""Threads, broadcast and the limits of API.md sections 1, 3 and 7, over real sockets on 127.0.0.1.

``send()``, ``broadcast()`` and ``terminate()`` from threads the test creates; ``maxMessageSize``,
``sendBufferLimit`` with both ``backpressure`` policies, keepalive, and ``compression``. Slow and
silent peers are raw sockets that complete the handshake and then never read or never answer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import ConnectionClosed

import duplex
from server.helpers_connection import (
    CHUNK,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    TIMEOUT,
    RawClient,
    Recorder,
    client_of,
    close_code_of,
    error_codes,
    numbered_chunk,
    open_clients,
    run_threads,
    running_web_server,
    server_side,
    start_wss,
    url,
    wait_until,
)

pytestmark = pytest.mark.timeout(60)

QUIET = 0.3


@pytest.fixture
def web() -> Iterator[duplex.WebServer]:
    with running_web_server() as server:
        yield server


def echo(ws: Any, event: Any) -> None:
    ws.send(event.data)


# -- send() from many threads ---------------------------------------------------------------------

THREADS = 8
PER_THREAD = 500


def threaded_message(thread: int, index: int) -> str | bytes:
    """Distinct, self-checking messages of many sizes (7-bit, 16-bit and a few 64-bit lengths)."""
    size = (index * 37) % 400 + (70_000 if index % 97 == 0 else 0)
    body = f"{thread}:{index}:" + chr(ord("a") + thread) * size
    return body if thread % 2 == 0 else body.encode()


def check_threaded_message(received: str | bytes) -> tuple[int, int]:
    text = received.decode() if isinstance(received, bytes) else received
    thread_text, index_text, _ = text.split(":", 2)
    thread, index = int(thread_text), int(index_text)
    assert received == threaded_message(thread, index), f"message {thread}:{index} is corrupted"
    assert isinstance(received, bytes) == (thread % 2 == 1), "wrong frame type"
    return thread, index


@pytest.mark.parametrize("compression", [True, False], ids=["deflate", "plain"])
def test_send_from_eight_threads_at_once(web: duplex.WebServer, compression: bool) -> None:
    recorder = Recorder()
    start_wss(web, recorder, compression=compression)
    with client_of(web, max_size=None) as client:
        ws = recorder.wait_open()
        results: list[list[bool]] = [[] for _ in range(THREADS)]

        def send_all(thread: int) -> None:
            for index in range(PER_THREAD):
                results[thread].append(ws.send(threaded_message(thread, index)))

        sender = threading.Thread(target=run_threads, args=(THREADS, send_all))
        sender.start()
        next_index = [0] * THREADS
        for _ in range(THREADS * PER_THREAD):
            thread, index = check_threaded_message(client.recv(timeout=TIMEOUT))
            assert index == next_index[thread], f"thread {thread}: got {index}, expected {next_index[thread]}"
            next_index[thread] += 1
        sender.join(TIMEOUT)
        assert next_index == [PER_THREAD] * THREADS
        assert all(result == [True] * PER_THREAD for result in results)
        assert ws.status == "Connected"
    assert error_codes(recorder) == []


def test_send_from_threads_while_callbacks_echo(web: duplex.WebServer) -> None:
    """The loop thread (echo) and user threads write to one connection: frames stay whole."""
    recorder = Recorder(on_message=echo)
    start_wss(web, recorder)
    count = 300
    with client_of(web) as client:
        ws = recorder.wait_open()

        def push(thread: int) -> None:
            for index in range(count):
                ws.send(f"thread-{thread}-{index}")

        sender = threading.Thread(target=run_threads, args=(2, push))
        sender.start()
        for index in range(count):
            client.send(f"echo-{index}")
        got: list[str] = [client.recv(timeout=TIMEOUT) for _ in range(3 * count)]
        sender.join(TIMEOUT)
    assert [text for text in got if text.startswith("echo-")] == [f"echo-{index}" for index in range(count)]
    for thread in range(2):
        mine = [text for text in got if text.startswith(f"thread-{thread}-")]
        assert mine == [f"thread-{thread}-{index}" for index in range(count)]


# -- broadcast() ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param("hello all", "hello all", id="str"),
        pytest.param(b"\x00\xff", b"\x00\xff", id="bytes"),
        pytest.param({"n": 1, "é": [None]}, '{"n":1,"é":[null]}', id="json"),
    ],
)
def test_broadcast_from_a_thread(web: duplex.WebServer, message: Any, expected: str | bytes) -> None:
    recorder = Recorder()
    wss = start_wss(web, recorder)
    with open_clients(web, recorder, 3) as clients:
        thread = threading.Thread(target=wss.broadcast, args=(message,))
        thread.start()
        thread.join(TIMEOUT)
        for client in clients:
            received = client.recv(timeout=TIMEOUT)
            assert type(received) is type(expected)
            assert received == expected


def broadcast_until(
    wss: duplex.WebSocketServer, going: threading.Event, failures: list[BaseException]
) -> None:
    """Broadcast while ``going`` is set, as a busy producer thread would; collects what it raises."""
    try:
        while going.is_set():
            wss.broadcast("x" * 100)
            time.sleep(0.0005)
    except BaseException as exc:
        failures.append(exc)


def test_broadcast_from_threads_while_the_web_server_stops(caplog: pytest.LogCaptureFixture) -> None:
    """``broadcast()`` is safe from any thread: racing ``stop()`` it returns quietly, as ``send()``
    does, and nothing is logged (before issue 9's broadcast batch, a callback queued by a thread
    could run after the stop and log "the web server is not running")."""
    failures: list[BaseException] = []
    caplog.set_level(logging.WARNING)
    for _ in range(20):
        recorder = Recorder()
        with running_web_server() as web:
            wss = start_wss(web, recorder)
            with client_of(web, max_queue=None), client_of(web, max_queue=None):  # they read it all
                recorder.wait_for("open", 2)
                going = threading.Event()
                going.set()
                threads = [
                    threading.Thread(target=broadcast_until, args=(wss, going, failures)) for _ in range(8)
                ]
                for thread in threads:
                    thread.start()
                time.sleep(0.01)
                web.stop()
                time.sleep(0.01)  # broadcasts after the stop too
                going.clear()
                for thread in threads:
                    thread.join(TIMEOUT)
    assert failures == []
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING] == []


def test_broadcast_exclude_one_and_several(web: duplex.WebServer) -> None:
    recorder = Recorder()
    wss = start_wss(web, recorder)
    with open_clients(web, recorder, 3) as clients:
        a, b, c = server_side(recorder, 3)
        wss.broadcast("not for a", exclude=a)
        wss.broadcast("only for c", exclude=[a, b])
        wss.broadcast("only for b", exclude={a, c})
        wss.broadcast("for all")
        expected = [
            ["for all"],
            ["not for a", "only for b", "for all"],
            ["not for a", "only for c", "for all"],
        ]
        for client, messages in zip(clients, expected, strict=True):
            assert [client.recv(timeout=TIMEOUT) for _ in messages] == messages


def test_broadcast_to_the_others_from_a_callback(web: duplex.WebServer) -> None:
    recorder = Recorder(on_message=lambda ws, event: ws.wss.broadcast(event.data, exclude=ws))
    start_wss(web, recorder)
    with open_clients(web, recorder, 3) as clients:
        clients[0].send("from zero")
        assert clients[1].recv(timeout=TIMEOUT) == "from zero"
        assert clients[2].recv(timeout=TIMEOUT) == "from zero"
        clients[1].send("from one")
        assert clients[0].recv(timeout=TIMEOUT) == "from one"  # not its own message
        assert clients[2].recv(timeout=TIMEOUT) == "from one"


def test_broadcast_to_fifty_clients(web: duplex.WebServer) -> None:
    recorder = Recorder()
    wss = start_wss(web, recorder)
    count = 50

    async def main() -> list[list[Any]]:
        clients = [await async_connect(url(web), open_timeout=TIMEOUT) for _ in range(count)]
        try:
            await asyncio.to_thread(recorder.wait_for, "open", count)
            assert len(wss.connections) == count
            await asyncio.to_thread(wss.broadcast, "to everyone")
            wss.broadcast(b"\x01\x02")  # from this thread, which is not the server's
            return [
                [
                    await asyncio.wait_for(client.recv(), TIMEOUT),
                    await asyncio.wait_for(client.recv(), TIMEOUT),
                ]
                for client in clients
            ]
        finally:
            await asyncio.gather(*(client.close() for client in clients))

    received = asyncio.run(main())
    assert received == [["to everyone", b"\x01\x02"]] * count


def test_broadcast_rejects_unserialisable_messages(web: duplex.WebServer) -> None:
    recorder = Recorder()
    wss = start_wss(web, recorder)
    with client_of(web) as client:
        recorder.wait_open()
        for message in (set(), object(), float("nan")):
            with pytest.raises(TypeError):
                wss.broadcast(message)
        wss.broadcast("after")
        assert client.recv(timeout=TIMEOUT) == "after"


# -- terminate() from another thread ----------------------------------------------------------------


def test_terminate_from_another_thread_after_a_send(web: duplex.WebServer) -> None:
    recorder = Recorder()
    start_wss(web, recorder)
    with client_of(web) as client:
        ws = recorder.wait_open()

        def last_words() -> None:
            ws.send("last")
            ws.terminate(4000, "from a thread")

        thread = threading.Thread(target=last_words)
        thread.start()
        thread.join(TIMEOUT)
        assert client.recv(timeout=TIMEOUT) == "last"  # what was sent before goes out before the close
        with pytest.raises(ConnectionClosed):
            client.recv(timeout=TIMEOUT)
        assert (client.close_code, client.close_reason) == (4000, "from a thread")
    event = recorder.wait_for("terminate")[0].event
    assert (event.code, event.reason) == (4000, "from a thread")


def test_terminate_from_many_threads_at_once(web: duplex.WebServer) -> None:
    recorder = Recorder()
    start_wss(web, recorder)
    with client_of(web) as client:
        ws = recorder.wait_open()
        run_threads(8, lambda index: ws.terminate(3000 + index, f"thread {index}"))
        with pytest.raises(ConnectionClosed):
            client.recv(timeout=TIMEOUT)
        assert client.close_code in range(3000, 3008)
    recorder.wait_for("terminate")
    time.sleep(QUIET)
    assert len(recorder.of("terminate")) == 1


# -- maxMessageSize -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        pytest.param("a" * 1001, id="text-compressible"),
        pytest.param(os.urandom(1001), id="binary-random"),
        pytest.param("é" * 501, id="text-1002-bytes-in-501-chars"),
        pytest.param("a" * 2_000_000, id="deflate-bomb"),
    ],
)
def test_max_message_size_closes_1009(web: duplex.WebServer, message: str | bytes) -> None:
    """Over the limit (counted in bytes, after decompression): close 1009 and MESSAGE_TOO_BIG."""
    recorder = Recorder(on_message=echo)
    start_wss(web, recorder, maxMessageSize=1000, dataType="auto")
    with client_of(web) as client:
        client.send("x" * 1000)  # at the limit: fine
        assert client.recv(timeout=TIMEOUT) == "x" * 1000
        client.send(message)
        with pytest.raises(ConnectionClosed):
            client.recv(timeout=TIMEOUT)
        assert client.close_code == 1009
    error = recorder.wait_for("error")[0].event
    assert error.errors[0]["errCode"] == duplex.ErrorCode.MESSAGE_TOO_BIG
    recorder.wait_for("terminate")
    assert len(recorder.of("message")) == 1


def test_max_message_size_counts_the_whole_fragmented_message(web: duplex.WebServer) -> None:
    recorder = Recorder()
    start_wss(web, recorder, maxMessageSize=1000)
    client = RawClient.connect(web.HTTPPort)
    try:
        assert client.status == 101
        client.send_frame(OP_BINARY, b"x" * 600, fin=False)
        client.send_frame(OP_CONTINUATION, b"y" * 600)
        _, close = client.read_until_close()
        assert close_code_of(close) == 1009
    finally:
        client.close()
    assert recorder.wait_for("error")[0].event.errors[0]["errCode"] == duplex.ErrorCode.MESSAGE_TOO_BIG
    recorder.wait_for("terminate")
    assert recorder.of("message") == []


# -- sendBufferLimit and backpressure ----------------------------------------------------------------

LIMIT = 256 * 1024
MAX_SENDS = 1000  # 64 MB at most, if the limit were never applied


def silent_reader(web: duplex.WebServer) -> RawClient:
    """A client that completes the handshake and then does not read (a small receive window)."""
    client = RawClient.connect(web.HTTPPort, receive_buffer=4096)
    assert client.status == 101
    return client


def test_send_buffer_limit_close_policy(web: duplex.WebServer) -> None:
    recorder = Recorder()
    start_wss(web, recorder, sendBufferLimit=LIMIT, backpressure="close", closeTimeout=0.5)
    client = silent_reader(web)
    try:
        ws = recorder.wait_open()
        sent = 0
        while sent < MAX_SENDS and not recorder.of("error"):
            result = ws.send(numbered_chunk(sent))
            assert isinstance(result, bool)
            sent += 1
            if sent % 8 == 0:
                time.sleep(0.002)  # let the loop write and apply the limit
        error = recorder.wait_for("error")[0].event
        assert error.errors[0]["errCode"] == duplex.ErrorCode.SEND_BUFFER_FULL_CLOSED
        assert ws.status in ("Closing", "Closed")
        assert ws.send(b"too late") is False
        event = recorder.wait_for("terminate", timeout=TIMEOUT)[0].event
        assert event.code == 1006  # the client never sent a close frame
        assert ws.status == "Closed"
        assert ws not in ws.wss.connections
    finally:
        client.close()
    assert error_codes(recorder).count(duplex.ErrorCode.SEND_BUFFER_FULL_CLOSED) == 1


def test_send_buffer_limit_drop_policy(web: duplex.WebServer) -> None:
    recorder = Recorder()
    start_wss(web, recorder, sendBufferLimit=LIMIT, backpressure="drop")
    client = silent_reader(web)
    try:
        ws = recorder.wait_open()
        sent = 0
        while sent < MAX_SENDS and len(recorder.of("error")) < 5:
            ws.send(numbered_chunk(sent))  # never raises, whatever the buffer holds
            sent += 1
            if sent % 8 == 0:
                time.sleep(0.002)
        recorder.wait_for("error", 5)
        assert set(error_codes(recorder)) == {duplex.ErrorCode.SEND_BUFFER_FULL_DROPPED}
        # Still open, and the queue stays bounded by the limit.
        assert wait_until(lambda: ws.bufferedAmount <= LIMIT, timeout=2)
        time.sleep(QUIET)
        assert ws.status == "Connected"
        assert ws.bufferedAmount <= LIMIT
        assert recorder.of("terminate") == []
        for _ in range(20):
            assert ws.send(numbered_chunk(sent)) in (True, False)
            sent += 1
        assert wait_until(lambda: ws.bufferedAmount <= LIMIT, timeout=2)
        # The client reads at last: whole messages, in order, some missing (dropped), none torn.
        indexes = []
        while True:
            try:
                fin, opcode, payload = client.read_frame(timeout=0.5)
            except TimeoutError:
                break
            assert (fin, opcode, len(payload)) == (True, OP_BINARY, CHUNK)
            (index,) = struct.unpack("!I", payload[:4])
            assert payload == numbered_chunk(index)
            indexes.append(index)
        assert indexes, "nothing arrived"
        assert indexes == sorted(set(indexes))
        assert len(indexes) < sent
        # And the connection still works.
        assert ws.send("after the drops") is True
        fin, opcode, payload = client.read_frame()
        assert (opcode, payload) == (OP_TEXT, b"after the drops")
    finally:
        client.close()


def test_send_buffer_limit_close_policy_sends_1008(web: duplex.WebServer) -> None:
    """A client that starts reading after the limit was hit finds the close frame with 1008."""
    recorder = Recorder()
    start_wss(web, recorder, sendBufferLimit=LIMIT, backpressure="close", closeTimeout=5)
    client = silent_reader(web)
    try:
        ws = recorder.wait_open()
        sent = 0
        while sent < MAX_SENDS and not recorder.of("error"):
            ws.send(numbered_chunk(sent))
            sent += 1
            if sent % 8 == 0:
                time.sleep(0.002)
        assert error_codes(recorder)[:1] == [duplex.ErrorCode.SEND_BUFFER_FULL_CLOSED]
        frames, close = client.read_until_close(timeout=TIMEOUT)
        assert all(
            opcode == OP_BINARY and payload == numbered_chunk(index)
            for index, (opcode, payload) in enumerate(frames)
        )
        assert close_code_of(close) == 1008
        client.send_frame(OP_CLOSE, struct.pack("!H", 1008))
        event = recorder.wait_for("terminate")[0].event
        assert event.code == 1008
    finally:
        client.close()


@pytest.mark.parametrize("backpressure", ["close", "drop"])
def test_send_buffer_limit_does_not_apply_to_a_client_with_nothing_queued(
    web: duplex.WebServer, backpressure: str
) -> None:
    """One message larger than sendBufferLimit, to a client that reads and has nothing queued.

    The limit is on bytes *queued* for a client that does not keep up (API.md section 7); this one
    keeps up, so the message must go out and the connection stay open.
    """
    recorder = Recorder()
    start_wss(web, recorder, sendBufferLimit=64 * 1024, backpressure=backpressure)
    with client_of(web, max_size=None) as client:
        ws = recorder.wait_open()
        assert wait_until(lambda: ws.bufferedAmount == 0)
        assert ws.send(b"x" * 100_000) is True
        assert client.recv(timeout=2) == b"x" * 100_000
        assert ws.status == "Connected"
    assert error_codes(recorder) == []


def test_broadcast_drops_for_a_slow_client_only(web: duplex.WebServer) -> None:
    recorder = Recorder()
    wss = start_wss(web, recorder, sendBufferLimit=LIMIT, backpressure="drop")
    slow = silent_reader(web)
    try:
        recorder.wait_for("open")
        with client_of(web, max_size=None) as fast:
            recorder.wait_for("open", 2)
            count = 0
            while count < 300 and not recorder.of("error"):
                wss.broadcast(numbered_chunk(count))
                assert fast.recv(timeout=TIMEOUT) == numbered_chunk(count)
                count += 1
            assert recorder.wait_for("error")[0].ws is recorder.of("open")[0].ws  # the slow one
            assert set(error_codes(recorder)) == {duplex.ErrorCode.SEND_BUFFER_FULL_DROPPED}
            assert len(wss.connections) == 2
    finally:
        slow.close()


BURST = 200  # 200 x 64 KiB = 12.5 MiB in one loop iteration, 50 times the limit


def broadcast_burst(web: duplex.WebServer, wss: duplex.WebSocketServer, exclude: Any = None) -> None:
    """``BURST`` broadcasts from one callback on the loop: they are written together at its end."""

    def burst() -> None:
        for index in range(BURST):
            wss.broadcast(numbered_chunk(index), exclude=exclude)

    web.call_in_loop(burst)


def test_a_broadcast_burst_keeps_the_limit_drop_policy(web: duplex.WebServer) -> None:
    """A burst is held to ``sendBufferLimit`` frame by frame, as ``send()`` is: before, the burst
    went out joined, 12.5 MiB into a silent client's buffer (50 times the limit)."""
    recorder = Recorder()
    wss = start_wss(web, recorder, sendBufferLimit=LIMIT, backpressure="drop")
    slow = silent_reader(web)
    try:
        ws = recorder.wait_open()
        broadcast_burst(web, wss)
        assert recorder.wait_for("error", 10)
        assert ws.bufferedAmount <= LIMIT
        assert ws.status == "Connected"
        time.sleep(QUIET)
        dropped = error_codes(recorder)
        assert set(dropped) == {duplex.ErrorCode.SEND_BUFFER_FULL_DROPPED}
        assert len(dropped) == ws.dropped_messages >= BURST - LIMIT // CHUNK
        # What went out: whole messages, in order, from the first.
        indexes = []
        while True:
            try:
                _fin, opcode, payload = slow.read_frame(timeout=0.5)
            except TimeoutError:
                break
            (index,) = struct.unpack("!I", payload[:4])
            assert (opcode, payload) == (OP_BINARY, numbered_chunk(index))
            indexes.append(index)
        assert indexes == list(range(len(indexes))) and 0 < len(indexes) <= BURST - len(dropped)
    finally:
        slow.close()


def test_a_broadcast_burst_keeps_the_limit_close_policy(web: duplex.WebServer) -> None:
    recorder = Recorder()
    wss = start_wss(web, recorder, sendBufferLimit=LIMIT, backpressure="close", closeTimeout=0.5)
    slow = silent_reader(web)
    try:
        ws = recorder.wait_open()
        broadcast_burst(web, wss)
        recorder.wait_for("terminate", timeout=TIMEOUT)
        assert error_codes(recorder) == [duplex.ErrorCode.SEND_BUFFER_FULL_CLOSED]
        assert ws.status == "Closed"
    finally:
        slow.close()


def test_a_broadcast_burst_with_exclude_keeps_the_limit_for_each_client(web: duplex.WebServer) -> None:
    """With ``exclude`` each client gets its own share of the burst: each is held to the limit
    (before: every silent client held its own joined copy, 20 of them +195 MiB)."""
    recorder = Recorder()
    wss = start_wss(web, recorder, sendBufferLimit=LIMIT, backpressure="drop")
    clients = [silent_reader(web) for _ in range(5)]
    try:
        connections = [call.ws for call in recorder.wait_for("open", 5)]
        broadcast_burst(web, wss, exclude=connections[0])
        assert wait_until(lambda: len(recorder.of("error")) >= 4 * (BURST - LIMIT // CHUNK))
        assert connections[0].dropped_messages == 0
        for ws in connections[1:]:
            assert ws.bufferedAmount <= LIMIT
            assert ws.dropped_messages >= BURST - LIMIT // CHUNK
            assert ws.status == "Connected"
    finally:
        for client in clients:
            client.close()


# -- keepalive --------------------------------------------------------------------------------------


def test_keepalive_closes_a_peer_that_does_not_answer(web: duplex.WebServer) -> None:
    recorder = Recorder()
    start_wss(web, recorder, pingInterval=0.2, pingTimeout=0.3)
    client = RawClient.connect(web.HTTPPort)
    started = time.monotonic()
    try:
        assert client.status == 101
        error = recorder.wait_for("error", timeout=3)[0].event
        event = recorder.wait_for("terminate", timeout=3)[0].event
        elapsed = time.monotonic() - started
        assert error.errors[0]["errCode"] == duplex.ErrorCode.KEEPALIVE_TIMEOUT
        assert event.code == 1006
        assert 0.4 <= elapsed < 2.0, elapsed
        frames, close = client.read_until_close(timeout=2)
        assert [opcode for opcode, _ in frames] == [OP_PING]  # one ping, never answered
        assert close_code_of(close) == 1011
    finally:
        client.close()
    time.sleep(QUIET)
    assert len(recorder.of("terminate")) == 1


def test_keepalive_keeps_a_peer_that_answers(web: duplex.WebServer) -> None:
    recorder = Recorder(on_message=echo)
    start_wss(web, recorder, pingInterval=0.2, pingTimeout=0.3)
    # The client's own pings are off: only the server's keep it alive, and the client answers them.
    with client_of(web, ping_interval=None) as client:
        ws = recorder.wait_open()
        time.sleep(1.2)
        assert ws.status == "Connected"
        client.send("still here")
        assert client.recv(timeout=TIMEOUT) == "still here"
    assert error_codes(recorder) == []


def test_raw_client_that_answers_pings_stays_connected(web: duplex.WebServer) -> None:
    recorder = Recorder()
    start_wss(web, recorder, pingInterval=0.2, pingTimeout=0.3)
    client = RawClient.connect(web.HTTPPort)
    try:
        ws = recorder.wait_open()
        deadline = time.monotonic() + 1.0
        pings = 0
        while time.monotonic() < deadline:
            try:
                _, opcode, payload = client.read_frame(timeout=0.05)
            except TimeoutError:
                continue
            assert opcode == OP_PING
            client.send_frame(OP_PONG, payload)
            pings += 1
        assert pings >= 3
        assert ws.status == "Connected"
        assert error_codes(recorder) == []
    finally:
        client.close()


# -- compression ----------------------------------------------------------------------------------

OFFER = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"


def test_compression_false_negotiates_no_extension(web: duplex.WebServer) -> None:
    recorder = Recorder(on_message=echo)
    start_wss(web, recorder, compression=False)
    client = RawClient.connect(web.HTTPPort, extra_headers=(OFFER,))
    try:
        assert client.status == 101
        assert "sec-websocket-extensions" not in client.headers
    finally:
        client.close()
    with client_of(web) as ws_client:
        assert ws_client.response.headers.get("Sec-WebSocket-Extensions") is None
        ws_client.send("plain " * 100)
        assert ws_client.recv(timeout=TIMEOUT) == "plain " * 100


def test_compression_is_negotiated_by_default(web: duplex.WebServer) -> None:
    recorder = Recorder(on_message=echo)
    start_wss(web, recorder)
    client = RawClient.connect(web.HTTPPort, extra_headers=(OFFER,))
    try:
        assert client.status == 101
        assert client.headers.get("sec-websocket-extensions", "").startswith("permessage-deflate")
    finally:
        client.close()
    with client_of(web) as ws_client:
        assert "permessage-deflate" in (ws_client.response.headers.get("Sec-WebSocket-Extensions") or "")
        ws_client.send("squeezed " * 100)
        assert ws_client.recv(timeout=TIMEOUT) == "squeezed " * 100
