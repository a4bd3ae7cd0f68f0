"""The Python faces of the client: ``duplex.connect()`` (awaitable, ``async with``, ``async for``) and
``duplex.connect_sync()`` (blocking, for scripts and threads): how a connection ends, timeouts,
errors, options, flow control both ways and keepalive.

Servers: duplex's own and the ``websockets`` library's echo peers (conftest.py), and a raw socket
for a server that never reads or never answers pings.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import pytest

import duplex
from client.conftest import (
    MIB,
    TIMEOUT,
    Peer,
    RawServer,
    arun,
    closed_by_client,
    flood_message,
    server_frames,
)

pytestmark = pytest.mark.timeout(60)

OP_CLOSE, OP_PING = 0x8, 0x9


# -- the two async forms --------------------------------------------------------------------------------


def test_await_form_and_properties(duplex_echo: Peer) -> None:
    url = duplex_echo.url("/await?x=1")

    async def main() -> None:
        ws = await duplex.connect(url)
        other = await duplex.connect(duplex_echo.url())
        try:
            assert isinstance(ws, duplex.ClientConnection)
            assert ws.url == url
            assert ws.id != other.id
            assert ws.status == "Connected"
            assert ws.close_code is None and ws.close_reason is None
            assert ws.subprotocol is None
            assert repr(ws).startswith(f"<ClientConnection {ws.id} ")
            await ws.send("awaited")
            assert await ws.recv(timeout=TIMEOUT) == "awaited"
        finally:
            await ws.close(4000, "done")
            await other.close()
        assert ws.status == "Closed"
        assert ws.close_code == 4000

    arun(main())
    assert duplex_echo.closed() == (4000, "done")


def test_async_with_closes_on_exit_even_on_error(duplex_echo: Peer) -> None:
    async def main() -> duplex.ClientConnection:
        with pytest.raises(KeyError):
            async with duplex.connect(duplex_echo.url()) as ws:
                await ws.send("x")
                raise KeyError("boom")
        return ws

    ws = arun(main())
    assert ws.status == "Closed"
    assert ws.close_code == 1000
    assert duplex_echo.closed() == (1000, "")


def test_bad_arguments_raise_at_once_not_at_the_await() -> None:
    with pytest.raises(ValueError, match="ws://"):
        duplex.connect("http://example.com/")  # no await: the check is in the call
    with pytest.raises(TypeError):
        duplex.connect(b"ws://example.com/")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="known keys"):
        duplex.connect("ws://example.com/", maxsize=1)
    with pytest.raises(ValueError, match="wss://"):
        import ssl

        duplex.connect("ws://example.com/", ssl=ssl.create_default_context())
    with pytest.raises(ValueError, match="ws://"):
        duplex.connect_sync("ftp://example.com/")
    with pytest.raises(ValueError, match="twice"):
        duplex.connect_sync("ws://example.com/", maxMessageSize=1, max_message_size=2)


# -- how async for ends ---------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [1000, 1001])
def test_async_for_ends_on_a_normal_close(duplex_echo: Peer, code: int) -> None:
    async def main() -> list[Any]:
        received = []
        async with duplex.connect(duplex_echo.url()) as ws:
            await ws.send("first")
            await ws.send(f"close {code} normal end")
            async for message in ws:
                received.append(message)
            assert (ws.close_code, ws.close_reason) == (code, "normal end")
            with pytest.raises(duplex.ConnectionClosed) as caught:
                await ws.recv(timeout=TIMEOUT)
            assert caught.value.normal
            assert caught.value.code == code
        return received

    assert arun(main()) == ["first"]


def test_async_for_ends_on_a_close_frame_without_a_code(raw_server: RawServer) -> None:
    async def main() -> None:
        async with duplex.connect(raw_server.url(), closeTimeout=1) as ws:
            async for message in ws:
                raise AssertionError(f"unexpected {message!r}")
            assert ws.close_code == 1005

    def server() -> None:
        sock, _ = raw_server.accept_websocket()
        sock.sendall(b"\x88\x00")
        frames = list(server_frames(sock, timeout=2))
        assert frames and frames[0][0] == OP_CLOSE
        sock.close()

    thread = threading.Thread(target=server)
    thread.start()
    arun(main())
    thread.join(TIMEOUT)


@pytest.mark.parametrize("command", ["close 1011 internal", "close 4000 app says no"])
def test_async_for_raises_on_an_abnormal_close(duplex_echo: Peer, command: str) -> None:
    _, code, reason = command.split(" ", 2)

    async def main() -> None:
        async with duplex.connect(duplex_echo.url()) as ws:
            await ws.send("kept")
            await ws.send(command)
            received = []
            with pytest.raises(duplex.ConnectionClosed) as caught:
                async for message in ws:
                    received.append(message)
            assert received == ["kept"]
            assert (caught.value.code, caught.value.reason) == (int(code), reason)
            assert not caught.value.normal
            assert str(code) in str(caught.value)

    arun(main())


def test_async_for_raises_1006_when_the_server_drops(websockets_echo: Peer) -> None:
    async def main() -> None:
        async with duplex.connect(websockets_echo.url()) as ws:
            await ws.send("drop")
            with pytest.raises(duplex.ConnectionClosed) as caught:
                async for _ in ws:
                    pass
            assert caught.value.code == 1006
            assert ws.status == "Closed"
            with pytest.raises(duplex.ConnectionClosed):
                await ws.send("too late")

    arun(main())


# -- recv, send, close ----------------------------------------------------------------------------------


def test_recv_timeout_leaves_the_connection_usable(duplex_echo: Peer) -> None:
    async def main() -> None:
        async with duplex.connect(duplex_echo.url()) as ws:
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await ws.recv(timeout=0.2)
            assert 0.15 < time.monotonic() - started < 2
            assert ws.status == "Connected"
            await ws.send("after the timeout")
            assert await ws.recv(timeout=TIMEOUT) == "after the timeout"
            with pytest.raises(TimeoutError):
                await ws.recv(timeout=0)

    arun(main())


def test_send_after_close_and_bad_types(duplex_echo: Peer) -> None:
    async def main() -> None:
        ws = await duplex.connect(duplex_echo.url())
        for bad in (object(), {1, 2}, float("nan")):
            with pytest.raises(TypeError):
                await ws.send(bad)
        await ws.close()
        with pytest.raises(duplex.ConnectionClosed) as caught:
            await ws.send("after close")
        assert caught.value.code == 1000
        with pytest.raises(TypeError):
            await ws.send(object())
        with pytest.raises(duplex.ConnectionClosed):
            await ws.recv(timeout=TIMEOUT)
        await ws.close()  # again: nothing happens
        with pytest.raises(ValueError):
            await ws.close(1001)

    arun(main())


def test_close_wakes_a_pending_recv(duplex_echo: Peer) -> None:
    async def main() -> None:
        async with duplex.connect(duplex_echo.url()) as ws:
            pending = asyncio.ensure_future(ws.recv())
            await asyncio.sleep(0.05)
            await ws.close(4000, "bye")
            with pytest.raises(duplex.ConnectionClosed) as caught:
                await asyncio.wait_for(pending, TIMEOUT)
            assert caught.value.code == 4000

    arun(main())


def test_data_type_option(duplex_echo: Peer) -> None:
    async def main() -> None:
        async with duplex.connect(duplex_echo.url(), dataType="object") as ws:
            await ws.send({"a": [1, 2]})
            await ws.send(b"[true]")
            assert await ws.recv(timeout=TIMEOUT) == {"a": [1, 2]}
            assert await ws.recv(timeout=TIMEOUT) == [True]
            await ws.send("{not json")
            with pytest.raises(duplex.ConnectionClosed) as caught:
                await ws.recv(timeout=TIMEOUT)
            assert caught.value.code == 1007
        async with duplex.connect(duplex_echo.url(), dataType="blob") as ws:
            await ws.send("é")
            assert await ws.recv(timeout=TIMEOUT) == "é".encode()

    arun(main())


def test_data_type_in_snake_case_with_connect(duplex_echo: Peer) -> None:
    async def main() -> None:
        async with duplex.connect(duplex_echo.url(), data_type="blob") as ws:
            await ws.send("é")
            assert await ws.recv(timeout=TIMEOUT) == "é".encode()

    arun(main())


def test_data_type_in_snake_case_with_connect_sync(duplex_echo: Peer) -> None:
    with duplex.connect_sync(duplex_echo.url(), data_type="text") as ws:
        ws.send(b"bytes as text")
        assert ws.recv(timeout=TIMEOUT) == "bytes as text"


def test_connect_errors(dead_port: int, raw_server: RawServer) -> None:
    async def main() -> None:
        with pytest.raises(ConnectionRefusedError):
            await duplex.connect(f"ws://127.0.0.1:{dead_port}/")
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await duplex.connect(raw_server.url(), openTimeout=0.3)
        assert time.monotonic() - started < 2
        with pytest.raises(OSError):
            await duplex.connect("ws://nonexistent.invalid/", openTimeout=TIMEOUT)

    arun(main())


def test_an_open_timeout_closes_the_socket(raw_server: RawServer) -> None:
    with pytest.raises(TimeoutError):  # on the shared client loop, which outlives the attempt
        duplex.connect_sync(raw_server.url(), openTimeout=0.3)
    sock = raw_server.accept()
    assert closed_by_client(sock), "the client left the TCP connection open"


def test_a_refused_handshake_raises_with_status_and_body() -> None:
    class Refuser:
        def onConnection(self, wss: Any, event: Any) -> Any:
            raise duplex.Reject(401, "token please")

    web = duplex.WebServer({"HTTPPort": 0})
    assert web.start()["success"]
    try:
        duplex.WebSocketServer(Refuser(), {"webServer": web})
        url = f"ws://127.0.0.1:{web.HTTPPort}/"

        async def main() -> None:
            with pytest.raises(duplex.InvalidHandshakeResponse) as caught:
                await duplex.connect(url)
            assert caught.value.status == 401
            assert b"token please" in caught.value.body
            assert "401" in str(caught.value)

        arun(main())
        with pytest.raises(duplex.InvalidHandshakeResponse, match="401"):
            duplex.connect_sync(url)
    finally:
        web.stop()


def test_reconnect_with_connect(duplex_echo: Peer) -> None:
    async def main() -> None:
        async with duplex.connect(duplex_echo.url(), reconnect=True) as ws:
            await ws.send("close 4000 come back")
            await asyncio.sleep(0.05)
            await ws.send("on the new connection")  # waits for the reconnection if needed
            assert await ws.recv(timeout=TIMEOUT) == "on the new connection"
            assert ws.status == "Connected"

    arun(main())
    codes = [call.event[0] for call in duplex_echo.recorder.wait_for("closed", count=2)]
    assert codes == [4000, 1000]


# -- options --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["maxMessageSize", "max_message_size"])
def test_max_message_size_is_enforced(duplex_echo: Peer, spelling: str) -> None:
    async def main() -> None:
        async with duplex.connect(duplex_echo.url(), **{spelling: 1000}) as ws:
            await ws.send(b"x" * 1000)
            assert await ws.recv(timeout=TIMEOUT) == b"x" * 1000
            await ws.send(b"x" * 1001)  # the server echoes it: one byte too many for us
            with pytest.raises(duplex.ConnectionClosed) as caught:
                await ws.recv(timeout=TIMEOUT)
            assert caught.value.code == 1009

    arun(main())
    assert duplex_echo.closed()[0] == 1009


def test_snake_case_options(websockets_echo: Peer) -> None:
    with duplex.connect_sync(
        websockets_echo.url(),
        open_timeout=TIMEOUT,
        close_timeout=2,
        ping_interval=0.1,
        ping_timeout=1,
        max_message_size=MIB,
        subprotocols=["superchat"],
    ) as ws:
        assert ws.subprotocol == "superchat"
        time.sleep(0.3)
        ws.send(b"snake")
        assert ws.recv(timeout=TIMEOUT) == b"snake"


# -- flow control ---------------------------------------------------------------------------------------


def test_a_client_that_does_not_read_stops_reading_from_the_socket(websockets_echo: Peer) -> None:
    count, size = 10_000, 4096

    async def main() -> None:
        async with duplex.connect(websockets_echo.url(), compression=False) as ws:
            await ws.send(f"flood {count} {size}")
            await asyncio.sleep(1.0)
            queued = len(ws._messages)
            assert 0 < queued <= 64, queued
            flooded = len(websockets_echo.recorder.of("flooded"))
            assert flooded < count, "the server could send everything: nothing held it back"
            await asyncio.sleep(0.3)
            assert len(ws._messages) == queued  # still held back
            for index in range(count):
                message = await ws.recv(timeout=TIMEOUT)
                assert message[:8] == f"{index:08d}".encode()
                assert len(message) == size
                assert len(ws._messages) <= 64
            assert message == flood_message(count - 1, size)
            with pytest.raises(TimeoutError):
                await ws.recv(timeout=0.1)

    arun(main())
    assert len(websockets_echo.recorder.of("flooded")) == count


def test_a_fast_sender_waits_for_a_slow_reader(raw_server: RawServer) -> None:
    chunk = bytes(MIB)
    total = 200
    read = [0]
    start_reading = threading.Event()

    def server() -> None:
        sock, _ = raw_server.accept_websocket()
        sock.settimeout(TIMEOUT)
        start_reading.wait(TIMEOUT)
        buffer = bytearray(MIB)
        while read[0] < total * MIB:
            got = sock.recv_into(buffer)
            if not got:
                return
            read[0] += got

    thread = threading.Thread(target=server)
    thread.start()

    async def main() -> None:
        async with duplex.connect(raw_server.url(), compression=False, closeTimeout=0.3) as ws:
            transport = ws._link.protocol.transport  # type: ignore[union-attr]
            sent = 0
            largest = 0

            async def sender() -> None:
                nonlocal sent, largest
                for _ in range(total):
                    await ws.send(chunk)
                    sent += 1
                    largest = max(largest, transport.get_write_buffer_size())

            task = asyncio.ensure_future(sender())
            await asyncio.sleep(0.5)
            assert not task.done()
            held = sent
            assert held < total // 4, f"{held} MiB sent to a server that reads nothing"
            assert transport.get_write_buffer_size() < 2 * MIB + 1024
            start_reading.set()
            await asyncio.wait_for(task, 30)
            assert sent == total
            assert largest < 2 * MIB, largest

    arun(main(), timeout=45)
    thread.join(TIMEOUT)
    assert read[0] >= total * MIB


# -- keepalive ------------------------------------------------------------------------------------------


def test_pings_keep_an_idle_connection_alive(websockets_echo: Peer) -> None:
    async def main() -> None:
        async with duplex.connect(websockets_echo.url(), pingInterval=0.2, pingTimeout=0.2) as ws:
            await asyncio.sleep(1.2)
            assert ws.status == "Connected"
            await ws.send("still here")
            assert await ws.recv(timeout=TIMEOUT) == "still here"

    arun(main())


def test_a_server_that_never_answers_pings_is_closed(raw_server: RawServer) -> None:
    seen: list[tuple[int, bytes]] = []

    def server() -> None:
        sock, _ = raw_server.accept_websocket()
        seen.extend(server_frames(sock, timeout=3))

    thread = threading.Thread(target=server)
    thread.start()

    async def main() -> float:
        async with duplex.connect(raw_server.url(), pingInterval=0.2, pingTimeout=0.2, closeTimeout=1) as ws:
            started = time.monotonic()
            with pytest.raises(duplex.ConnectionClosed) as caught:
                await ws.recv(timeout=TIMEOUT)
            assert caught.value.code in (1006, 1011)
            return time.monotonic() - started

    elapsed = arun(main())
    assert elapsed < 0.4 + 1.0, elapsed
    thread.join(TIMEOUT)
    opcodes = [opcode for opcode, _ in seen]
    assert opcodes[0] == OP_PING
    assert OP_CLOSE in opcodes
    close_payload = seen[opcodes.index(OP_CLOSE)][1]
    assert int.from_bytes(close_payload[:2], "big") == 1011


# -- connect_sync ---------------------------------------------------------------------------------------


def test_connect_sync_in_a_plain_thread(duplex_echo: Peer) -> None:
    results: dict[str, Any] = {}

    def work() -> None:
        try:
            with duplex.connect_sync(duplex_echo.url()) as ws:
                assert isinstance(ws, duplex.SyncClientConnection)
                assert ws.status == "Connected"
                ws.send("from a thread")
                results["echo"] = ws.recv(timeout=TIMEOUT)
                started = time.monotonic()
                try:
                    ws.recv(timeout=0.2)
                except TimeoutError:
                    results["timeout"] = time.monotonic() - started
                ws.send({"still": "usable"})
                results["after"] = ws.recv(timeout=TIMEOUT)
                for index in range(3):
                    ws.send(f"m{index}")
                ws.send("close 1000 that is all")
                results["iterated"] = list(ws)
                results["close"] = (ws.close_code, ws.close_reason)
            results["status"] = ws.status
        except BaseException as exc:  # handed to the test thread
            results["error"] = exc

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(TIMEOUT * 2)
    assert not thread.is_alive()
    assert "error" not in results, results.get("error")
    assert results["echo"] == "from a thread"
    assert 0.15 < results["timeout"] < 2
    assert results["after"] == '{"still":"usable"}'
    assert results["iterated"] == ["m0", "m1", "m2"]
    assert results["close"] == (1000, "that is all")
    assert results["status"] == "Closed"


def test_connect_sync_iteration_raises_on_an_abnormal_close(duplex_echo: Peer) -> None:
    ws = duplex.connect_sync(duplex_echo.url())
    try:
        assert repr(ws).startswith(f"<SyncClientConnection {ws.id} ")
        assert ws.url == duplex_echo.url()
        ws.send("one")
        ws.send("close 4004 not found")
        received = []
        with pytest.raises(duplex.ConnectionClosed) as caught:
            for message in ws:
                received.append(message)
        assert received == ["one"]
        assert (caught.value.code, caught.value.reason) == (4004, "not found")
        with pytest.raises(duplex.ConnectionClosed):
            ws.send("closed")
    finally:
        ws.close()


def test_connect_sync_refuses_to_run_inside_an_event_loop(duplex_echo: Peer) -> None:
    async def main() -> None:
        with pytest.raises(RuntimeError, match=r"await duplex\.connect"):
            duplex.connect_sync(duplex_echo.url())

    arun(main())


def test_connect_sync_errors(dead_port: int) -> None:
    with pytest.raises(ConnectionRefusedError):
        duplex.connect_sync(f"ws://127.0.0.1:{dead_port}/")
    with socket.create_server(("127.0.0.1", 0)) as silent:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            duplex.connect_sync(f"ws://127.0.0.1:{silent.getsockname()[1]}/", openTimeout=0.3)
        assert time.monotonic() - started < 2
