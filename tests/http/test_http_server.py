"""Tests for duplex.http.http_server: ``HttpServer``'s listening sockets and its shutdown.

``start`` binds the configured ports (0 picks free ones), reports them as ``http_port`` and
``https_port`` and creates the loop's ``broadcasts`` batch; a port that cannot be bound raises
``OSError`` and leaves nothing listening. ``stop_listening`` refuses new connections while open ones
go on. ``stop(timeout)`` closes WebSocket connections with 1001 "server shutting down", closes idle
keep-alive HTTP connections at once, lets a connection in the middle of a request (or of a response)
finish within ``timeout`` and aborts it after; afterwards nothing listens. Routes in
``server.router`` are consulted on every upgrade.

Each test runs the server and its clients (the ``websockets`` client, or raw asyncio streams) on one
event loop, with ``asyncio.run`` bounded by :data:`SCENARIO_TIMEOUT`; every server started is
stopped by :func:`serving`.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import ssl
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from echo_server import Echo
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from duplex.asyncio.broadcast import BroadcastBatch
from duplex.asyncio.websocket_protocol import WebSocketProtocol
from duplex.http import Accept, HttpConfig, HttpServer, Request
from duplex.http.tls import load_certificate_folder
from duplex.protocol.handshake import UpgradeOffer
from loop_server import new_loop

TIMEOUT = 5.0  # any single wait for the network
SCENARIO_TIMEOUT = 30.0  # a whole test's conversation
INDEX = b"<!doctype html><title>duplex</title>hello\n"  # written by the static_root fixture


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    """Run ``scenario`` to the end on a fresh event loop, bounded in time."""

    async def bounded() -> None:
        await asyncio.wait_for(scenario(), SCENARIO_TIMEOUT)

    asyncio.run(bounded())


def echo_endpoint(request: Request, offer: UpgradeOffer) -> Accept:
    return Accept(Echo(), close_timeout=TIMEOUT)


@asynccontextmanager
async def serving(
    routes: dict[str | None, Any] | None = None, *, stop_timeout: float = 2.0, **config: Any
) -> AsyncIterator[HttpServer]:
    """A started HttpServer on 127.0.0.1, port 0, with an echo endpoint at "/echo" (or ``routes``);
    stopped on exit (stopping twice is harmless, so a test may stop it itself)."""
    settings: dict[str, Any] = {"host": "127.0.0.1", "http_port": 0, **config}
    server = HttpServer(HttpConfig(**settings))
    for route, endpoint in (routes if routes is not None else {"/echo": echo_endpoint}).items():
        server.router.add(route, endpoint)
    await server.start()
    try:
        yield server
    finally:
        await server.stop(stop_timeout)


def url(server: HttpServer, path: str = "/echo") -> str:
    return f"ws://127.0.0.1:{server.http_port}{path}"


def ws_client(target: str, **kwargs: Any) -> connect:
    return connect(target, proxy=None, open_timeout=TIMEOUT, close_timeout=TIMEOUT, **kwargs)


async def open_raw(port: int | None) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    assert port is not None
    return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)


async def read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    """Read one response head: its status and its headers (lower-case names)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    status_line, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split(" ")[1]), headers


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    status, headers = await read_head(reader)
    body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), TIMEOUT)
    return status, headers, body


async def read_to_end(reader: asyncio.StreamReader) -> bytes:
    """Everything until the server ends the stream (a reset counts as the end)."""
    chunks = []
    while True:
        try:
            chunk = await asyncio.wait_for(reader.read(65536), TIMEOUT)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def get(path: str = "/") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


def upgrade_head(path: str = "/echo") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def assert_refused(port: int | None) -> None:
    """Nothing accepts connections on ``port`` any more."""
    assert port is not None
    with pytest.raises(OSError):
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
        writer.close()


async def echo_once(ws: ClientConnection, message: str) -> None:
    await ws.send(message)
    assert await asyncio.wait_for(ws.recv(), TIMEOUT) == message


def close_writer(writer: asyncio.StreamWriter) -> None:
    with suppress(Exception):
        writer.close()


@pytest.fixture
def tls_context(certificate_folder: Path) -> ssl.SSLContext:
    return load_certificate_folder(certificate_folder)


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port of 127.0.0.1 held by a plain listening socket for the test."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


# -- start -----------------------------------------------------------------------------------------


def test_before_start_there_are_no_ports_no_loop_and_no_broadcasts() -> None:
    server = HttpServer(HttpConfig(http_port=0))
    assert server.http_port is None
    assert server.https_port is None
    assert server.loop is None
    assert server.broadcasts is None
    assert not server.router
    assert server.stopping is False


def test_start_binds_port_0_and_reports_the_port_it_got() -> None:
    async def scenario() -> None:
        async with serving() as server:
            assert isinstance(server.http_port, int)
            assert server.http_port > 0
            assert server.https_port is None
            assert server.loop is asyncio.get_running_loop()
            reader, writer = await open_raw(server.http_port)
            writer.write(get("/missing"))
            status, _, body = await read_response(reader)
            close_writer(writer)
            assert status == 404  # no root folder: every GET is 404
            assert body.startswith(b"404 Not Found\n")

    run(scenario)


def test_start_creates_the_broadcast_batch_of_the_running_loop() -> None:
    async def scenario() -> None:
        async with serving() as server:
            assert isinstance(server.broadcasts, BroadcastBatch)
            assert server.broadcasts.loop is asyncio.get_running_loop()

    run(scenario)


def listen_backlog(sock: Any) -> int:
    """The accept queue length the kernel gives a listening socket (Linux: TCP_INFO's tcpi_sacked
    holds sk_max_ack_backlog for a listener)."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    maximum: int = struct.unpack_from("=I", info, 28)[0]
    return maximum


def somaxconn() -> int:
    with open("/proc/sys/net/core/somaxconn") as file:
        return int(file.read())


@pytest.mark.skipif(not os.path.exists("/proc/sys/net/core/somaxconn"), reason="reads Linux's TCP_INFO")
@pytest.mark.parametrize("backlog", [None, 1234])
def test_the_backlog_reaches_both_listening_sockets(
    loop_kind: str, tls_context: ssl.SSLContext, backlog: int | None
) -> None:
    """The accept queue is ``backlog`` long (2048 by default; asyncio's own default of 100 let a
    connection storm overflow it), on the HTTP and the HTTPS port, under either loop."""
    expected = min(2048 if backlog is None else backlog, somaxconn())
    config = {} if backlog is None else {"backlog": backlog}

    async def scenario() -> None:
        async with serving(https_port=0, ssl_context=tls_context, **config) as server:
            sockets = [sock for listener in server._servers for sock in listener.sockets]
            assert len(sockets) == 2
            assert [listen_backlog(sock) for sock in sockets] == [expected, expected]

    with asyncio.Runner(loop_factory=lambda: new_loop(loop_kind)) as runner:
        runner.run(asyncio.wait_for(scenario(), SCENARIO_TIMEOUT))


def test_start_binds_both_ports_and_both_serve(
    tls_context: ssl.SSLContext, client_ssl: ssl.SSLContext, static_root: Path
) -> None:
    async def scenario() -> None:
        async with serving(https_port=0, ssl_context=tls_context, root_folder=str(static_root)) as server:
            assert server.http_port and server.https_port
            assert server.http_port != server.https_port
            async with ws_client(f"wss://localhost:{server.https_port}/echo", ssl=client_ssl) as ws:
                await echo_once(ws, "over TLS")
            async with ws_client(url(server)) as ws:
                await echo_once(ws, "in the clear")
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    "127.0.0.1", server.https_port, ssl=client_ssl, server_hostname="localhost"
                ),
                TIMEOUT,
            )
            writer.write(get("/"))
            status, _, body = await read_response(reader)
            close_writer(writer)
            assert (status, body) == (200, INDEX)

    run(scenario)


def test_https_only_leaves_http_port_unset(tls_context: ssl.SSLContext, client_ssl: ssl.SSLContext) -> None:
    async def scenario() -> None:
        async with serving(http_port=None, https_port=0, ssl_context=tls_context) as server:
            assert server.http_port is None
            assert server.https_port
            async with ws_client(f"wss://localhost:{server.https_port}/echo", ssl=client_ssl) as ws:
                await echo_once(ws, "TLS only")

    run(scenario)


def test_a_port_in_use_raises_os_error_on_start(busy_port: int) -> None:
    async def scenario() -> None:
        server = HttpServer(HttpConfig(host="127.0.0.1", http_port=busy_port))
        with pytest.raises(OSError):
            await server.start()
        assert server.http_port is None
        await server.stop(0.5)  # harmless after a failed start

    run(scenario)


def test_a_failed_https_port_leaves_the_http_port_closed_again(
    busy_port: int, tls_context: ssl.SSLContext
) -> None:
    """The HTTP port is bound first; when the HTTPS port fails, it is closed, not left listening."""

    async def scenario() -> None:
        server = HttpServer(
            HttpConfig(host="127.0.0.1", http_port=0, https_port=busy_port, ssl_context=tls_context)
        )
        with pytest.raises(OSError):
            await server.start()
        assert server.https_port is None
        await assert_refused(server.http_port)  # it was bound, and is closed again
        await server.stop(0.5)

    run(scenario)


def test_https_without_an_ssl_context_is_a_value_error_and_leaves_nothing_listening() -> None:
    async def scenario() -> None:
        server = HttpServer(HttpConfig(host="127.0.0.1", http_port=0, https_port=0))
        with pytest.raises(ValueError, match="HTTPS needs a certificate"):
            await server.start()
        assert server.https_port is None
        await assert_refused(server.http_port)
        await server.stop(0.5)

    run(scenario)


# -- routes ----------------------------------------------------------------------------------------


class Tagged(Echo):
    """Echoes each message with a tag that tells which endpoint took the connection."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def on_message(self, ws: WebSocketProtocol, data: str | bytes) -> None:
        text = data if isinstance(data, str) else data.decode()
        ws.send(f"{self.tag}:{text}")


def tagged(tag: str) -> Callable[[Request, UpgradeOffer], Accept]:
    return lambda request, offer: Accept(Tagged(tag))


def test_routes_added_before_start_take_their_upgrades() -> None:
    routes: dict[str | None, Any] = {"/a": tagged("exact"), "/b/*": tagged("prefix"), None: tagged("any")}

    async def scenario() -> None:
        async with serving(routes) as server:
            for path, tag in [("/a", "exact"), ("/b", "prefix"), ("/b/c/d", "prefix"), ("/a/x", "any")]:
                async with ws_client(url(server, path)) as ws:
                    await ws.send("hi")
                    assert await asyncio.wait_for(ws.recv(), TIMEOUT) == f"{tag}:hi", path

    run(scenario)


def test_routes_added_and_removed_while_running_take_effect_at_once() -> None:
    async def scenario() -> None:
        async with serving({}) as server:
            reader, writer = await open_raw(server.http_port)
            writer.write(upgrade_head("/late"))
            status, _ = await read_head(reader)
            close_writer(writer)
            assert status == 404

            server.router.add("/late", tagged("late"))
            async with ws_client(url(server, "/late")) as ws:
                await ws.send("hi")
                assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "late:hi"

            server.router.remove("/late")
            reader, writer = await open_raw(server.http_port)
            writer.write(upgrade_head("/late"))
            status, _ = await read_head(reader)
            close_writer(writer)
            assert status == 404

    run(scenario)


# -- stop_listening --------------------------------------------------------------------------------


def test_stop_listening_refuses_new_connections_while_open_ones_go_on(static_root: Path) -> None:
    async def scenario() -> None:
        async with serving(root_folder=str(static_root)) as server:
            async with ws_client(url(server)) as ws:
                reader, writer = await open_raw(server.http_port)
                writer.write(get("/"))
                assert (await read_response(reader))[0] == 200

                server.stop_listening()
                await assert_refused(server.http_port)

                # The open WebSocket and the open keep-alive HTTP connection are still served.
                await echo_once(ws, "still here")
                writer.write(get("/"))
                status, _, body = await read_response(reader)
                assert (status, body) == (200, INDEX)
                close_writer(writer)
            assert ws.close_code == 1000  # a normal close, not the shutdown's 1001

    run(scenario)


# -- stop ------------------------------------------------------------------------------------------


def test_stop_closes_websockets_with_1001_server_shutting_down() -> None:
    async def scenario() -> None:
        async with serving() as server:
            clients = [await ws_client(url(server)) for _ in range(3)]
            for index, ws in enumerate(clients):
                await echo_once(ws, f"client {index}")
            assert len(server.websocket_connections) == 3
            started = time.monotonic()
            await server.stop(TIMEOUT)
            elapsed = time.monotonic() - started
            for ws in clients:
                await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
                assert ws.close_code == 1001
                assert ws.close_reason == "server shutting down"
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
            # Clients that answer the close let stop() return long before its timeout.
            assert elapsed < TIMEOUT / 2
            assert server.websocket_connections == set()
            assert server.stopping is True

    run(scenario)


def test_stop_closes_an_idle_keep_alive_connection_at_once(static_root: Path) -> None:
    async def scenario() -> None:
        async with serving(root_folder=str(static_root)) as server:
            reader, writer = await open_raw(server.http_port)
            writer.write(get("/"))
            status, headers, _ = await read_response(reader)
            assert status == 200
            assert headers.get("connection") != "close"  # kept alive, and now idle
            started = time.monotonic()
            await server.stop(TIMEOUT)
            assert time.monotonic() - started < 1.0
            assert await read_to_end(reader) == b""
            assert server.http_connections == set()
            close_writer(writer)

    run(scenario)


def test_stop_aborts_a_request_still_arriving_at_the_timeout() -> None:
    async def scenario() -> None:
        async with serving() as server:
            reader, writer = await open_raw(server.http_port)
            writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # the head never ends
            await writer.drain()
            await asyncio.sleep(0.1)
            started = time.monotonic()
            await server.stop(0.5)
            elapsed = time.monotonic() - started
            assert 0.45 <= elapsed < 2.0
            assert await read_to_end(reader) == b""  # dropped: no response at all
            assert server.http_connections == set()
            close_writer(writer)

    run(scenario)


def test_stop_lets_a_request_finish_within_the_timeout(static_root: Path) -> None:
    async def scenario() -> None:
        async with serving(root_folder=str(static_root)) as server:
            reader, writer = await open_raw(server.http_port)
            writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            await writer.drain()
            await asyncio.sleep(0.1)
            started = time.monotonic()
            stopping = asyncio.ensure_future(server.stop(TIMEOUT))
            await asyncio.sleep(0.3)
            assert not stopping.done()  # waiting for this request
            writer.write(b"\r\n")
            status, _, body = await read_response(reader)
            assert (status, body) == (200, INDEX)
            assert await read_to_end(reader) == b""  # then closed, as idle
            await asyncio.wait_for(stopping, TIMEOUT)
            assert time.monotonic() - started < TIMEOUT / 2
            close_writer(writer)

    run(scenario)


def test_an_upgrade_completed_during_stop_is_refused_with_503() -> None:
    async def scenario() -> None:
        async with serving() as server:
            head = upgrade_head("/echo")
            reader, writer = await open_raw(server.http_port)
            writer.write(head[:-2])  # all but the final empty line
            await writer.drain()
            await asyncio.sleep(0.1)
            stopping = asyncio.ensure_future(server.stop(TIMEOUT))
            await asyncio.sleep(0.1)
            writer.write(b"\r\n")
            status, headers = await read_head(reader)
            assert status == 503
            assert headers["connection"] == "close"
            body = await read_to_end(reader)
            assert body == b"503 Service Unavailable\nthe server is shutting down\n"
            await asyncio.wait_for(stopping, TIMEOUT)
            assert server.websocket_connections == set()
            close_writer(writer)

    run(scenario)


def test_stop_aborts_a_response_still_streaming_at_the_timeout(tmp_path: Path) -> None:
    """A client that stops reading a large file keeps its connection busy: aborted at the timeout."""
    root = tmp_path / "www"
    root.mkdir()
    size = 32 * 1024 * 1024
    (root / "big.bin").write_bytes(bytes(size))

    async def scenario() -> None:
        async with serving(root_folder=str(root)) as server:
            reader, writer = await open_raw(server.http_port)
            writer.write(get("/big.bin"))
            status, headers = await read_head(reader)
            assert status == 200
            assert int(headers["content-length"]) == size
            await asyncio.sleep(0.2)  # not reading: the server's writes back up
            started = time.monotonic()
            await server.stop(0.5)
            elapsed = time.monotonic() - started
            assert 0.45 <= elapsed < 2.0
            received = await read_to_end(reader)
            assert len(received) < size  # cut short, not finished
            close_writer(writer)

    run(scenario)


def test_stop_drops_a_websocket_peer_that_never_answers_the_close_at_the_timeout() -> None:
    async def scenario() -> None:
        async with serving() as server:
            reader, writer = await open_raw(server.http_port)
            writer.write(upgrade_head("/echo"))
            status, _ = await read_head(reader)
            assert status == 101
            started = time.monotonic()
            await server.stop(0.5)  # the endpoint's close_timeout is TIMEOUT: stop's timeout wins
            elapsed = time.monotonic() - started
            assert 0.45 <= elapsed < 2.0
            data = await read_to_end(reader)
            reason = b"server shutting down"
            assert data == bytes([0x88, 2 + len(reason)]) + struct.pack("!H", 1001) + reason
            assert server.websocket_connections == set()
            close_writer(writer)

    run(scenario)


def test_after_stop_nothing_listens(tls_context: ssl.SSLContext) -> None:
    async def scenario() -> None:
        async with serving(https_port=0, ssl_context=tls_context) as server:
            ports = (server.http_port, server.https_port)
            await server.stop(1.0)
            for port in ports:
                await assert_refused(port)

    run(scenario)


def test_stop_twice_and_stop_before_start_are_harmless() -> None:
    async def scenario() -> None:
        never_started = HttpServer(HttpConfig(host="127.0.0.1", http_port=0))
        await never_started.stop(0.5)
        assert never_started.http_port is None
        async with serving() as server:
            port = server.http_port
            await server.stop(0.5)
            started = time.monotonic()
            await server.stop(0.5)  # the second stop has nothing to wait for
            assert time.monotonic() - started < 0.4
            await assert_refused(port)

    run(scenario)


def test_stop_with_zero_timeout_drops_everything_at_once(static_root: Path) -> None:
    async def scenario() -> None:
        async with serving(root_folder=str(static_root)) as server:
            ws = await ws_client(url(server))
            reader, writer = await open_raw(server.http_port)
            writer.write(b"GET / HTTP/1.1\r\n")  # in the middle of a request
            await writer.drain()
            await asyncio.sleep(0.1)
            started = time.monotonic()
            await server.stop(0)
            assert time.monotonic() - started < 0.5
            assert await read_to_end(reader) == b""
            await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
            assert server.websocket_connections == set()
            assert server.http_connections == set()
            close_writer(writer)

    run(scenario)
