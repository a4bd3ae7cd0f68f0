"""Tests for duplex.http.upgrade: an upgrade endpoint's answers, ``Accept`` and ``Refuse``.

``Accept`` needs exactly one of ``handler`` and ``make_handler``; its settings reach the connection:
the subprotocol (one the client did not offer is a 500), ``compression`` (off: permessage-deflate is
never agreed, whatever the offer), ``max_message_size`` (1009 above it, counted after inflating),
``extra_headers`` (in the 101), the keepalive. ``make_handler`` is called with the new
``WebSocketProtocol`` and its handler gets ``on_open``/``on_message``/``on_close``. ``Refuse(status,
reason, headers)`` is the HTTP response the client gets. An endpoint may be a coroutine; one that
raises is a 500.

Against a real server on 127.0.0.1 (tests/support.py's ``run_server`` via ``make_server``), with the
``websockets`` sync client or raw sockets when the bytes themselves matter.
"""

from __future__ import annotations

import asyncio
import base64
import os
import queue
import socket
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from echo_server import Echo
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from duplex.asyncio.websocket_protocol import WebSocketProtocol
from duplex.http import Accept, Refuse, Request
from duplex.http import upgrade as upgrade_module
from duplex.protocol.deflate import DeflateSettings
from duplex.protocol.handshake import UpgradeOffer, select_subprotocol
from support import RunningServer

TIMEOUT = 5.0
OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING = 0x1, 0x2, 0x8, 0x9

Endpoint = Callable[[Request, UpgradeOffer], Any]
MakeServer = Callable[..., Any]


# -- clients ---------------------------------------------------------------------------------------


@contextmanager
def client(server: RunningServer, path: str = "/ws", **kwargs: Any) -> Iterator[ClientConnection]:
    kwargs.setdefault("open_timeout", TIMEOUT)
    kwargs.setdefault("close_timeout", TIMEOUT)
    with connect(server.url(path), proxy=None, **kwargs) as ws:
        yield ws


def refused(server: RunningServer, path: str = "/ws", **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
    """The status, headers (lower-case names) and body of an upgrade the server must refuse."""
    try:
        with client(server, path, **kwargs):
            pass
    except InvalidStatus as exc:
        response = exc.response
        headers = {name.lower(): value for name, value in response.headers.raw_items()}
        return response.status_code, headers, bytes(response.body or b"")
    raise AssertionError("the upgrade was accepted")


class Raw:
    """An upgrade on a bare socket: the response head as received, then frames by hand."""

    def __init__(
        self, server: RunningServer, path: str = "/ws", headers: tuple[str, ...] = (), tail: bytes = b""
    ) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            "Host: 127.0.0.1",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *headers,
            "",
            "",
        ]
        self.sock.sendall("\r\n".join(lines).encode() + tail)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = self.sock.recv(65536)
            assert chunk, f"closed before a full response head: {received!r}"
            received += chunk
        head, self.buffer = received.split(b"\r\n\r\n", 1)
        status_line, *self.lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split(" ")[1])
        self.headers: dict[str, str] = {}
        for line in self.lines:
            name, _, value = line.partition(":")
            self.headers[name.lower()] = value.strip()

    def send_frame(self, opcode: int, payload: bytes, *, rsv1: bool = False) -> None:
        self.sock.sendall(client_frame(opcode, payload, rsv1=rsv1))

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        assert chunk, f"the server closed the connection; unread: {self.buffer!r}"
        self.buffer += chunk

    def read_frame(self) -> tuple[int, bytes]:
        """The next whole server frame: ``(opcode, payload)``."""
        while len(self.buffer) < 2:
            self._fill()
        length = self.buffer[1] & 0x7F
        start = 2 + {126: 2, 127: 8}.get(length, 0)
        while len(self.buffer) < start:
            self._fill()
        if length == 126:
            (length,) = struct.unpack_from("!H", self.buffer, 2)
        elif length == 127:
            (length,) = struct.unpack_from("!Q", self.buffer, 2)
        while len(self.buffer) < start + length:
            self._fill()
        opcode = self.buffer[0] & 0x0F
        payload = self.buffer[start : start + length]
        self.buffer = self.buffer[start + length :]
        return opcode, payload

    def read_until_eof(self) -> bytes:
        data, self.buffer = self.buffer, b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return data
            if not chunk:
                return data
            data += chunk

    def close(self) -> None:
        self.sock.close()


@contextmanager
def raw(server: RunningServer, path: str = "/ws", *headers: str, tail: bytes = b"") -> Iterator[Raw]:
    connection = Raw(server, path, headers, tail)
    try:
        yield connection
    finally:
        connection.close()


def client_frame(opcode: int, payload: bytes, *, rsv1: bool = False) -> bytes:
    """One whole masked client frame."""
    first = 0x80 | (0x40 if rsv1 else 0) | opcode
    mask = os.urandom(4)
    masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    if len(payload) < 126:
        header = struct.pack("!BB", first, 0x80 | len(payload))
    else:
        header = struct.pack("!BBH", first, 0x80 | 126, len(payload))
    return header + mask + masked


def close_frame(code: int) -> bytes:
    return b"\x88\x02" + struct.pack("!H", code)


@pytest.fixture
def serve(make_server: MakeServer) -> Callable[..., Any]:
    """``with serve(endpoint) as server:`` a server with ``endpoint`` at "/ws"."""

    def start(endpoint: Endpoint, **config: Any) -> Any:
        return make_server(endpoints={"/ws": endpoint}, **config)

    return start


# -- Accept and Refuse as values -------------------------------------------------------------------


def test_accept_needs_a_handler_or_a_handler_factory() -> None:
    with pytest.raises(ValueError, match="Accept needs exactly one of handler and make_handler"):
        Accept()


def test_accept_refuses_both_a_handler_and_a_handler_factory() -> None:
    with pytest.raises(ValueError, match="Accept needs exactly one of handler and make_handler"):
        Accept(Echo(), make_handler=lambda ws: Echo())


def test_accept_takes_either_one() -> None:
    handler = Echo()
    assert Accept(handler).handler is handler
    factory: Callable[[WebSocketProtocol], Echo] = lambda ws: Echo()  # noqa: E731
    accepted = Accept(make_handler=factory)
    assert accepted.make_handler is factory
    assert accepted.handler is None


def test_accept_defaults_to_no_subprotocol_and_no_extra_headers() -> None:
    """The connection settings' defaults are checked by behaviour below (compression on, no ping)."""
    accept = Accept(Echo())
    assert accept.subprotocol is None
    assert accept.extra_headers == []
    assert accept.make_handler is None


def test_each_answer_has_its_own_header_list() -> None:
    first, second = Accept(Echo()), Accept(Echo())
    first.extra_headers.append(("X-One", "1"))
    assert second.extra_headers == []
    refuse_a, refuse_b = Refuse(403), Refuse(403)
    refuse_a.headers.append(("X-One", "1"))
    assert refuse_b.headers == []


def test_refuse_defaults_to_no_reason_and_no_headers() -> None:
    refuse = Refuse(404)
    assert (refuse.status, refuse.reason, refuse.headers) == (404, "", [])


def test_the_module_offers_what_an_endpoint_needs() -> None:
    assert upgrade_module.UpgradeOffer is UpgradeOffer
    assert upgrade_module.select_subprotocol is select_subprotocol
    assert upgrade_module.DeflateSettings is DeflateSettings
    assert set(upgrade_module.__all__) == {
        "Accept",
        "DeflateSettings",
        "Refuse",
        "UpgradeEndpoint",
        "UpgradeOffer",
        "select_subprotocol",
    }


# -- Refuse end to end -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "reason_phrase"),
    [
        (Refuse(401, "missing token", [("WWW-Authenticate", 'Bearer realm="chat"')]), "Unauthorized"),
        (Refuse(429, "slow down", [("Retry-After", "3"), ("X-Limit", "10")]), "Too Many Requests"),
        (Refuse(403), "Forbidden"),
        (Refuse(503, "maintenance"), "Service Unavailable"),
    ],
    ids=["401", "429", "403-bare", "503"],
)
def test_a_refusal_is_the_http_response_the_client_gets(
    serve: MakeServer, answer: Refuse, reason_phrase: str
) -> None:
    with serve(lambda request, offer: answer) as server:
        status, headers, body = refused(server)
        with raw(server) as connection:
            raw_status = connection.status
            rest = connection.read_until_eof()
    assert status == raw_status == answer.status
    for name, value in answer.headers:
        assert headers[name.lower()] == value
    expected_body = f"{answer.status} {reason_phrase}\n" + (f"{answer.reason}\n" if answer.reason else "")
    assert body == expected_body.encode()
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["connection"] == "close"
    assert rest == expected_body.encode()  # then the connection ends


def test_a_refusal_never_switches_protocols(serve: MakeServer) -> None:
    """Frames sent right behind a refused upgrade are not read as WebSocket data."""
    with (
        serve(lambda request, offer: Refuse(403, "no")) as server,
        raw(server, "/ws", tail=client_frame(OP_TEXT, b"ignored")) as connection,
    ):
        assert connection.status == 403
        assert "sec-websocket-accept" not in connection.headers
        assert connection.read_until_eof() == b"403 Forbidden\nno\n"


# -- what the endpoint is given ------------------------------------------------------------------


def test_the_endpoint_gets_the_request_and_the_clients_offer(serve: MakeServer) -> None:
    seen: queue.Queue[tuple[Request, UpgradeOffer]] = queue.Queue()

    def endpoint(request: Request, offer: UpgradeOffer) -> Accept:
        seen.put((request, offer))
        return Accept(Echo())

    with (
        serve(endpoint) as server,
        client(
            server,
            "/ws?room=1",
            subprotocols=["chat", "superchat"],
            origin="http://example.test",
            compression="deflate",
        ),
    ):
        request, offer = seen.get(timeout=TIMEOUT)
    assert request.method == "GET"
    assert request.path == "/ws"
    assert request.url == "/ws?room=1"
    assert request.query == {"room": "1"}
    assert request.remote_address == "127.0.0.1"
    assert offer.subprotocols == ("chat", "superchat")
    assert offer.origin == "http://example.test"
    assert len(offer.extensions) == 1 and offer.extensions[0].startswith("permessage-deflate")
    assert len(base64.b64decode(offer.key)) == 16


# -- make_handler ----------------------------------------------------------------------------------


class Recording:
    """A handler that records its calls (from the server's thread) and echoes."""

    def __init__(self, log: queue.Queue[tuple[str, Any]]) -> None:
        self.log = log

    def on_open(self, ws: WebSocketProtocol) -> None:
        self.log.put(("open", ws))

    def on_message(self, ws: WebSocketProtocol, data: str | bytes) -> None:
        self.log.put(("message", (ws, data)))
        ws.send(data)

    def on_error(self, ws: WebSocketProtocol, error: Exception) -> None:
        self.log.put(("error", (ws, error)))

    def on_close(self, ws: WebSocketProtocol, code: int, reason: str) -> None:
        self.log.put(("close", (ws, code, reason)))


def next_event(log: queue.Queue[tuple[str, Any]]) -> tuple[str, Any]:
    return log.get(timeout=TIMEOUT)


def test_make_handler_gets_the_connection_and_its_handler_gets_the_events(serve: MakeServer) -> None:
    log: queue.Queue[tuple[str, Any]] = queue.Queue()

    def make_handler(ws: WebSocketProtocol) -> Recording:
        log.put(("made", ws))
        return Recording(log)

    with serve(lambda request, offer: Accept(make_handler=make_handler)) as server:
        with client(server) as ws:
            ws.send("hello")
            assert ws.recv(timeout=TIMEOUT) == "hello"
            ws.send(b"\x00\x01")
            assert ws.recv(timeout=TIMEOUT) == b"\x00\x01"
        kind, made = next_event(log)
        assert kind == "made"
        assert isinstance(made, WebSocketProtocol)
        assert made.remote_address == "127.0.0.1"
        assert next_event(log) == ("open", made)  # the same connection object throughout
        assert next_event(log) == ("message", (made, "hello"))
        assert next_event(log) == ("message", (made, b"\x00\x01"))
        assert next_event(log) == ("close", (made, 1000, ""))


def test_make_handler_is_called_once_per_connection(serve: MakeServer) -> None:
    made: queue.Queue[WebSocketProtocol] = queue.Queue()

    def make_handler(ws: WebSocketProtocol) -> Echo:
        made.put(ws)
        return Echo()

    with serve(lambda request, offer: Accept(make_handler=make_handler)) as server:
        for index in range(3):
            with client(server) as ws:
                ws.send(f"n{index}")
                assert ws.recv(timeout=TIMEOUT) == f"n{index}"
        connections = [made.get(timeout=TIMEOUT) for _ in range(3)]
    assert made.empty()
    assert len({id(connection) for connection in connections}) == 3


def test_a_make_handler_that_raises_drops_the_connection(serve: MakeServer) -> None:
    calls: list[WebSocketProtocol] = []

    def make_handler(ws: WebSocketProtocol) -> Echo:
        calls.append(ws)
        if len(calls) == 1:
            raise RuntimeError("no handler today")
        return Echo()

    with serve(lambda request, offer: Accept(make_handler=make_handler)) as server:
        with raw(server, "/ws", tail=client_frame(OP_TEXT, b"anyone?")) as connection:
            assert connection.status == 101
            assert connection.read_until_eof() == b""  # no echo, no close frame: dropped
        # The server goes on.
        with client(server, "/ws") as ws:
            ws.send("still serving")
            assert ws.recv(timeout=TIMEOUT) == "still serving"


# -- subprotocol -----------------------------------------------------------------------------------


def test_a_subprotocol_the_client_offered_is_agreed(serve: MakeServer) -> None:
    def endpoint(request: Request, offer: UpgradeOffer) -> Accept:
        return Accept(Echo(), subprotocol=select_subprotocol(offer.subprotocols, ["superchat", "chat"]))

    with serve(endpoint) as server, client(server, subprotocols=["chat", "superchat"]) as ws:
        assert ws.subprotocol == "superchat"
        assert ws.response is not None
        assert ws.response.headers["Sec-WebSocket-Protocol"] == "superchat"
        ws.send("x")
        assert ws.recv(timeout=TIMEOUT) == "x"


@pytest.mark.parametrize("offered", [["chat"], None], ids=["another-offered", "none-offered"])
def test_a_subprotocol_the_client_did_not_offer_is_a_500(
    serve: MakeServer, offered: list[str] | None
) -> None:
    with serve(lambda request, offer: Accept(Echo(), subprotocol="superchat")) as server:
        status, headers, body = refused(server, subprotocols=offered)
    assert status == 500
    assert "sec-websocket-protocol" not in headers
    assert body == b"500 Internal Server Error\n"


# -- compression -----------------------------------------------------------------------------------


DEFLATE_OFFERS = [
    "permessage-deflate",
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    "permessage-deflate; server_max_window_bits=10, permessage-deflate",
]


@pytest.mark.parametrize("offer", DEFLATE_OFFERS)
def test_compression_off_never_agrees_to_deflate_whatever_the_offer(serve: MakeServer, offer: str) -> None:
    with (
        serve(lambda request, ws_offer: Accept(Echo(), compression=False)) as server,
        raw(server, "/ws", f"Sec-WebSocket-Extensions: {offer}") as connection,
    ):
        assert connection.status == 101
        assert "sec-websocket-extensions" not in connection.headers
        connection.send_frame(OP_TEXT, b"plain")
        assert connection.read_frame() == (OP_TEXT, b"plain")
        # Not agreed, so a compressed frame breaks the protocol.
        compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        data = (compressor.compress(b"squeezed") + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
        connection.send_frame(OP_TEXT, data, rsv1=True)
        assert connection.read_until_eof() == close_frame(1002)


@pytest.mark.parametrize("offer", DEFLATE_OFFERS)
def test_compression_on_agrees_to_the_same_offers(serve: MakeServer, offer: str) -> None:
    """The contrast: the offers above are acceptable ones."""
    with (
        serve(lambda request, ws_offer: Accept(Echo())) as server,
        raw(server, "/ws", f"Sec-WebSocket-Extensions: {offer}") as connection,
    ):
        assert connection.status == 101
        assert connection.headers["sec-websocket-extensions"].startswith("permessage-deflate")


# -- extra headers ---------------------------------------------------------------------------------


def test_extra_headers_are_written_in_the_101_in_order(serve: MakeServer) -> None:
    extra = [("X-Served-By", "duplex-test"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
    with serve(lambda request, offer: Accept(Echo(), extra_headers=extra)) as server:
        with raw(server) as connection:
            assert connection.status == 101
            assert connection.lines[-3:] == ["X-Served-By: duplex-test", "Set-Cookie: a=1", "Set-Cookie: b=2"]
            assert "sec-websocket-accept" in connection.headers
            connection.send_frame(OP_TEXT, b"after headers")
            assert connection.read_frame() == (OP_TEXT, b"after headers")
        with client(server) as ws:
            assert ws.response is not None
            assert ws.response.headers["X-Served-By"] == "duplex-test"
            assert ws.response.headers.get_all("Set-Cookie") == ["a=1", "b=2"]


@pytest.mark.parametrize(
    "header",
    [("X-Evil", "a\r\nSet-Cookie: stolen=1"), ("Bad Name", "1"), ("X-Nul", "a\x00b")],
    ids=["line-break", "space-in-name", "nul"],
)
def test_an_invalid_extra_header_is_a_500_not_a_101(serve: MakeServer, header: tuple[str, str]) -> None:
    with serve(lambda request, offer: Accept(Echo(), extra_headers=[header])) as server:
        status, headers, body = refused(server)
    assert status == 500
    assert "set-cookie" not in headers
    assert body == b"500 Internal Server Error\n"


# -- max_message_size ------------------------------------------------------------------------------


def test_a_message_at_the_limit_passes_and_one_byte_more_is_1009(serve: MakeServer) -> None:
    with (
        serve(lambda request, offer: Accept(Echo(), max_message_size=1000)) as server,
        client(server, compression=None) as ws,
    ):
        ws.send(b"x" * 1000)
        assert ws.recv(timeout=TIMEOUT) == b"x" * 1000
        ws.send(b"x" * 1001)
        with pytest.raises(ConnectionClosedError):
            ws.recv(timeout=TIMEOUT)
        assert ws.close_code == 1009


def test_the_limit_counts_the_inflated_size(serve: MakeServer) -> None:
    """2,000 compressible bytes travel in a few dozen, and are still over a 1,000-byte limit."""
    with (
        serve(lambda request, offer: Accept(Echo(), max_message_size=1000)) as server,
        client(server, compression="deflate") as ws,
    ):
        assert ws.protocol.extensions, "deflate should have been agreed"
        ws.send("a" * 1000)
        assert ws.recv(timeout=TIMEOUT) == "a" * 1000
        ws.send("a" * 2000)
        with pytest.raises(ConnectionClosedError):
            ws.recv(timeout=TIMEOUT)
        assert ws.close_code == 1009


# -- other settings reach the connection -----------------------------------------------------------


def test_ping_interval_makes_the_server_ping(serve: MakeServer) -> None:
    with (
        serve(lambda request, offer: Accept(Echo(), ping_interval=0.1, ping_timeout=TIMEOUT)) as server,
        raw(server) as connection,
    ):
        started = time.monotonic()
        opcode, _ = connection.read_frame()
        assert opcode == OP_PING
        assert time.monotonic() - started < 2.0


def test_no_ping_by_default(serve: MakeServer) -> None:
    with serve(lambda request, offer: Accept(Echo())) as server, raw(server) as connection:
        connection.sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            connection.read_frame()


# -- endpoints: coroutines and failures --------------------------------------------------------------


def test_an_async_endpoint_returning_accept_works(serve: MakeServer) -> None:
    async def endpoint(request: Request, offer: UpgradeOffer) -> Accept:
        await asyncio.sleep(0.05)
        return Accept(Echo(), extra_headers=[("X-Async", "yes")])

    with serve(endpoint) as server, client(server) as ws:
        assert ws.response is not None
        assert ws.response.headers["X-Async"] == "yes"
        ws.send("async hello")
        assert ws.recv(timeout=TIMEOUT) == "async hello"


def test_an_async_endpoint_returning_refuse_works(serve: MakeServer) -> None:
    async def endpoint(request: Request, offer: UpgradeOffer) -> Refuse:
        await asyncio.sleep(0.05)
        return Refuse(401, "later", [("WWW-Authenticate", "Basic")])

    with serve(endpoint) as server:
        status, headers, body = refused(server)
    assert status == 401
    assert headers["www-authenticate"] == "Basic"
    assert body == b"401 Unauthorized\nlater\n"


def test_frames_sent_with_the_handshake_wait_for_an_async_endpoint(serve: MakeServer) -> None:
    async def endpoint(request: Request, offer: UpgradeOffer) -> Accept:
        await asyncio.sleep(0.2)
        return Accept(Echo())

    tail = client_frame(OP_TEXT, b"early") + client_frame(OP_BINARY, b"bird")
    with serve(endpoint) as server, raw(server, "/ws", tail=tail) as connection:
        assert connection.status == 101
        assert connection.read_frame() == (OP_TEXT, b"early")
        assert connection.read_frame() == (OP_BINARY, b"bird")


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_an_endpoint_that_raises_is_a_500_and_the_server_goes_on(serve: MakeServer, kind: str) -> None:
    calls: list[int] = []

    def failing(request: Request, offer: UpgradeOffer) -> Accept:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("endpoint bug")
        return Accept(Echo())

    async def failing_async(request: Request, offer: UpgradeOffer) -> Accept:
        await asyncio.sleep(0)
        return failing(request, offer)

    with serve(failing if kind == "sync" else failing_async) as server:
        status, _, body = refused(server)
        assert status == 500
        assert body == b"500 Internal Server Error\n"
        with client(server) as ws:
            ws.send("next one works")
            assert ws.recv(timeout=TIMEOUT) == "next one works"
