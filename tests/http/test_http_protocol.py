"""Tests for duplex.http.http_protocol: the HTTP/1.1 connection, through real sockets against a running server.

The static file rules themselves are tested in test_static.py; here the point is what reaches the
wire: status lines, headers, bodies (or none, for HEAD and 304), streaming of large files,
keep-alive, pipelining and closing.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from loop_server import LoopServer
from support import RunningServer

TIMEOUT = 5.0
INDEX = b"<!doctype html><title>duplex</title>hello\n"  # written by the static_root fixture
SMALL = b"a small text file\n"
BIG_SIZE = 3 * 1024 * 1024 + 12345  # well over the server's 256 KiB streaming chunk, and not a multiple of it


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, str]  # lower-case names; repeated lines joined with ", "
    body: bytes

    def tokens(self, name: str) -> set[str]:
        return {item.strip().lower() for item in self.headers.get(name, "").split(",") if item.strip()}


class Client:
    """A raw HTTP/1.1 client on one socket that reads responses one at a time, keeping leftovers."""

    def __init__(self, server: RunningServer) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
        self.sock.settimeout(TIMEOUT)
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(256 * 1024)
        assert chunk, f"the server closed the connection; unread: {self.buffer[:200]!r}"
        self.buffer += chunk

    def read_response(self, *, body: bool = True) -> Response:
        """Read one response; ``body=False`` for HEAD, whose Content-Length describes no bytes."""
        while b"\r\n\r\n" not in self.buffer:
            assert len(self.buffer) < 65536, "response head too long"
            self._fill()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        version, status, reason = status_line.split(" ", 2)
        assert version == "HTTP/1.1"
        headers: dict[str, str] = {}
        for line in lines:
            name, colon, value = line.partition(":")
            assert colon, f"malformed header line {line!r}"
            assert name == name.strip(), f"whitespace around header name {name!r}"
            name, value = name.lower(), value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        assert "transfer-encoding" not in headers
        length = int(headers.get("content-length", "0")) if body else 0
        chunks = [self.buffer]
        received = len(self.buffer)
        while received < length:
            chunk = self.sock.recv(256 * 1024)
            assert chunk, "the server closed the connection in the middle of a body"
            chunks.append(chunk)
            received += len(chunk)
        data = b"".join(chunks)
        self.buffer = data[length:]
        return Response(int(status), reason, headers, data[:length])

    def request(self, method: str, target: str, headers: str = "", *, body: bool | None = None) -> Response:
        self.send(f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode())
        return self.read_response(body=method != "HEAD" if body is None else body)

    def assert_closed(self) -> None:
        """Nothing more arrives, and the server ends the stream."""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                break
            self.buffer += chunk
        assert self.buffer == b"", f"unexpected bytes: {self.buffer[:200]!r}"


@contextmanager
def client(server: RunningServer) -> Iterator[Client]:
    connection = Client(server)
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture
def site(echo_server: RunningServer) -> RunningServer:
    """The echo server, with a few more files in its static root."""
    root: Path = echo_server.root
    (root / "small.txt").write_bytes(SMALL)
    (root / "big.bin").write_bytes(random.Random(7).randbytes(BIG_SIZE))
    (root / "sub").mkdir()
    (root / "sub" / "index.html").write_bytes(b"<h1>sub</h1>\n")
    return echo_server


def big(server: RunningServer) -> bytes:
    return (server.root / "big.bin").read_bytes()


# -- GET and HEAD ------------------------------------------------------------------------------


def test_get_index(site: RunningServer) -> None:
    with client(site) as http:
        response = http.request("GET", "/")
    assert response.status == 200
    assert response.reason == "OK"
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-length"] == str(len(INDEX))
    assert response.headers["etag"].startswith('"') and response.headers["etag"].endswith('"')
    assert "last-modified" in response.headers
    assert response.body == INDEX


def test_index_by_name_is_the_same_file(site: RunningServer) -> None:
    with client(site) as http:
        home = http.request("GET", "/")
        named = http.request("GET", "/index.html")
    assert named.status == 200
    assert named.body == home.body == INDEX
    assert named.headers["etag"] == home.headers["etag"]


def test_head_has_the_get_headers_and_no_body(site: RunningServer) -> None:
    with client(site) as http:
        get = http.request("GET", "/")
        head = http.request("HEAD", "/")
        # Had HEAD sent a body, it would now be read as the start of this response.
        after = http.request("GET", "/small.txt")
    assert head.status == 200
    for name in ("content-type", "content-length", "etag", "last-modified"):
        assert head.headers[name] == get.headers[name]
    assert head.body == b""
    assert after.status == 200
    assert after.body == SMALL


def test_head_of_a_large_file(site: RunningServer) -> None:
    with client(site) as http:
        head = http.request("HEAD", "/big.bin")
        after = http.request("GET", "/small.txt")
    assert head.status == 200
    assert head.headers["content-length"] == str(BIG_SIZE)
    assert head.headers["content-type"] == "application/octet-stream"
    assert after.body == SMALL


def test_large_file_arrives_intact(site: RunningServer) -> None:
    with client(site) as http:
        response = http.request("GET", "/big.bin")
        after = http.request("GET", "/small.txt")
    assert response.status == 200
    assert response.headers["content-length"] == str(BIG_SIZE)
    assert len(response.body) == BIG_SIZE
    assert response.body == big(site)
    assert after.body == SMALL


def test_large_file_to_a_slow_reader(site: RunningServer) -> None:
    """A client that reads in small sips still gets every byte (the server waits for the socket)."""
    with client(site) as http:
        http.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        http.send(b"GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        time.sleep(0.3)  # let the server fill the socket and wait for it to drain
        response = http.read_response()
    assert response.body == big(site)


def test_missing_file_is_404(site: RunningServer) -> None:
    with client(site) as http:
        response = http.request("GET", "/nothing-here.txt")
        after = http.request("GET", "/small.txt")
    assert response.status == 404
    assert response.headers["content-length"] == str(len(response.body))
    assert after.status == 200  # a 404 keeps the connection


def test_directory_without_slash_redirects(site: RunningServer) -> None:
    with client(site) as http:
        redirect = http.request("GET", "/sub")
        page = http.request("GET", "/sub/")
    assert redirect.status == 301
    assert redirect.headers["location"] == "/sub/"
    assert page.status == 200
    assert page.body == b"<h1>sub</h1>\n"


# -- validators and ranges ---------------------------------------------------------------------


def test_if_none_match_gets_304(site: RunningServer) -> None:
    with client(site) as http:
        etag = http.request("GET", "/").headers["etag"]
        cached = http.request("GET", "/", f"If-None-Match: {etag}\r\n", body=False)
        stale = http.request("GET", "/", 'If-None-Match: "not-the-etag"\r\n')
    assert cached.status == 304
    assert cached.headers["etag"] == etag
    assert cached.headers.get("content-length", str(len(INDEX))) == str(len(INDEX))
    assert cached.body == b""
    # The 304 carried no body: the next response parsed cleanly right behind it.
    assert stale.status == 200
    assert stale.body == INDEX


def test_range_gets_206(site: RunningServer) -> None:
    size = len(INDEX)
    with client(site) as http:
        first = http.request("GET", "/", "Range: bytes=0-4\r\n")
        suffix = http.request("GET", "/", "Range: bytes=-6\r\n")
        unsatisfiable = http.request("GET", "/", f"Range: bytes={size + 10}-\r\n")
    assert first.status == 206
    assert first.headers["content-range"] == f"bytes 0-4/{size}"
    assert first.headers["content-length"] == "5"
    assert first.body == INDEX[:5]
    assert suffix.status == 206
    assert suffix.headers["content-range"] == f"bytes {size - 6}-{size - 1}/{size}"
    assert suffix.body == INDEX[-6:]
    assert unsatisfiable.status == 416
    assert unsatisfiable.headers["content-range"] == f"bytes */{size}"


def test_range_of_a_large_file_is_streamed_from_the_offset(site: RunningServer) -> None:
    start, end = 1_000_001, 2_999_998
    with client(site) as http:
        response = http.request("GET", "/big.bin", f"Range: bytes={start}-{end}\r\n")
    assert response.status == 206
    assert response.headers["content-range"] == f"bytes {start}-{end}/{BIG_SIZE}"
    assert response.body == big(site)[start : end + 1]


# -- connections -------------------------------------------------------------------------------


def test_keep_alive_serves_several_requests_on_one_socket(site: RunningServer) -> None:
    with client(site) as http:
        for _ in range(3):
            response = http.request("GET", "/")
            assert response.status == 200
            assert "close" not in response.tokens("connection")
            assert response.body == INDEX
            assert http.request("GET", "/small.txt").body == SMALL


def test_pipelined_requests_are_answered_in_order(site: RunningServer) -> None:
    with client(site) as http:
        http.send(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            b"GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            b"HEAD /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            b"GET /missing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            b"GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        )
        responses = [http.read_response(body=index != 2) for index in range(5)]
    assert [response.status for response in responses] == [200, 200, 200, 404, 200]
    assert responses[0].body == INDEX
    assert responses[1].body == SMALL
    assert responses[2].body == b""
    assert responses[4].body == SMALL


def test_pipelined_request_behind_a_streamed_file_waits_its_turn(site: RunningServer) -> None:
    """The large file goes out in chunks over several loop turns; the next answer must not cut in."""
    with client(site) as http:
        http.send(
            b"GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            b"GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            b"GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes=-300000\r\n\r\n"
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        first = http.read_response()
        second = http.read_response()
        third = http.read_response()
        fourth = http.read_response()
        http.assert_closed()
    assert first.body == big(site)
    assert second.body == SMALL
    assert third.status == 206
    assert third.body == big(site)[-300000:]
    assert fourth.body == INDEX


def test_connection_close_is_honoured(site: RunningServer) -> None:
    with client(site) as http:
        response = http.request("GET", "/", "Connection: close\r\n")
        assert response.status == 200
        assert response.body == INDEX
        assert "close" in response.tokens("connection")
        http.assert_closed()


def test_connection_close_after_a_streamed_file(site: RunningServer) -> None:
    with client(site) as http:
        response = http.request("GET", "/big.bin", "Connection: close\r\n")
        assert response.body == big(site)
        assert "close" in response.tokens("connection")
        http.assert_closed()


def test_http_1_0_closes_unless_asked_to_keep_alive(site: RunningServer) -> None:
    with client(site) as http:
        http.send(b"GET / HTTP/1.0\r\n\r\n")
        response = http.read_response()
        assert response.status == 200
        assert response.body == INDEX
        http.assert_closed()


def test_idle_keep_alive_connection_is_closed(make_server: Callable[..., Any]) -> None:
    with make_server(keepalive_timeout=0.5) as server, client(server) as http:
        assert http.request("GET", "/").status == 200
        started = time.monotonic()
        http.assert_closed()
        assert 0.3 < time.monotonic() - started < 2.0


# -- methods -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_other_methods_on_a_static_path_are_405(site: RunningServer, method: str) -> None:
    with client(site) as http:
        http.send(
            f"{method} /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhello".encode()
        )
        response = http.read_response()
        after = http.request("GET", "/small.txt")
    assert response.status == 405
    assert {item.strip() for item in response.headers["allow"].split(",")} == {"GET", "HEAD"}
    # The request body was consumed, not read as the next request.
    assert after.status == 200
    assert after.body == SMALL


def test_post_to_the_root_is_405(site: RunningServer) -> None:
    with client(site) as http:
        response = http.request("POST", "/", "Content-Length: 0\r\n")
    assert response.status == 405


# -- RFC 9110 / 9112 rules ---------------------------------------------------------------------


def test_responses_carry_a_date(site: RunningServer) -> None:
    """RFC 9110 section 6.6.1: an origin server with a clock MUST send Date in 2xx, 3xx and 4xx."""
    from email.utils import parsedate_to_datetime

    with client(site) as http:
        responses = [http.request("GET", "/"), http.request("GET", "/sub"), http.request("GET", "/missing")]
    for response in responses:
        assert "date" in response.headers, f"no Date in the {response.status} response"
        assert response.headers["date"].endswith(" GMT")
        parsedate_to_datetime(response.headers["date"])


@pytest.mark.parametrize(
    "request_bytes",
    [b"GET / HTTP/1.1\r\n\r\n", b"GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n"],
    ids=["no-host", "two-hosts"],
)
def test_http_1_1_request_without_exactly_one_host_is_400(site: RunningServer, request_bytes: bytes) -> None:
    """RFC 9112 section 3.2: a server MUST answer 400 to an HTTP/1.1 request that lacks Host or has
    more than one Host line."""
    with client(site) as http:
        http.send(request_bytes)
        response = http.read_response()
    assert response.status == 400
    assert INDEX not in response.body


def test_absolute_form_target_is_accepted(site: RunningServer) -> None:
    """RFC 9112 section 3.2.2: a server MUST accept the absolute-form of the request target."""
    port = site.port
    with client(site) as http:
        response = http.request("GET", f"http://127.0.0.1:{port}/small.txt")
    assert response.status == 200
    assert response.body == SMALL


def test_query_string_does_not_change_the_file(site: RunningServer) -> None:
    with client(site) as http:
        home = http.request("GET", "/?v=1")
        small = http.request("GET", "/small.txt?cache=bust&x=%2e%2e")
    assert home.body == INDEX
    assert small.body == SMALL


def test_head_on_the_websocket_path_has_no_body(site: RunningServer) -> None:
    """RFC 9110 section 9.3.2: the server MUST NOT send content in the response to HEAD, errors included."""
    with client(site) as http:
        response = http.request("HEAD", "/echo")
        assert response.status == 426
        http.assert_closed()  # nothing may follow the head: no "426 Upgrade Required" text


def test_expect_100_continue_is_answered_without_the_body(site: RunningServer) -> None:
    """RFC 9110 section 10.1.1: a server that receives "Expect: 100-continue" MUST send either the final
    status (here 405, decided from the method alone) or 100 Continue, without waiting for the body."""
    with client(site) as http:
        http.send(
            b"POST /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        http.sock.settimeout(2.0)
        response = http.read_response()
        if response.status == 100:
            http.sock.settimeout(TIMEOUT)
            http.send(b"hello")
            response = http.read_response()
    assert response.status == 405


def test_upgrade_pipelined_behind_a_get_is_answered(site: RunningServer) -> None:
    """A GET and a WebSocket upgrade sent in one write: both are answered, in order, and the
    WebSocket then works. (No request may be dropped without an answer.)"""
    with client(site) as http:
        http.send(
            b"GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        first = http.read_response()
        assert first.status == 200
        assert first.body == SMALL
        upgrade = http.read_response(body=False)
        assert upgrade.status == 101
        assert upgrade.headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        # A masked text frame "hi" (mask 00000000 keeps it readable) comes back unmasked.
        http.send(b"\x81\x82\x00\x00\x00\x00hi")
        while len(http.buffer) < 4:
            http._fill()
        assert http.buffer == b"\x81\x02hi"


def test_pipelining_client_that_does_not_read_cannot_fill_the_server(site: RunningServer) -> None:
    """Pipelined requests are cheap to send and their answers can be large: a client that sends many
    and reads none must not make the server buffer every answer (flow control: stop reading requests
    while the socket is backed up). Then, reading them all, every answer is intact and in order."""
    count = 100
    window = 256 * 1024  # answered in one write, without streaming
    requests = b"".join(
        f"GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes={index}-{index + window - 1}\r\n\r\n".encode()
        for index in range(count)
    )
    with client(site) as http:
        http.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        http.send(requests)
        time.sleep(0.5)

        def held() -> list[int]:
            return [
                connection.transport.get_write_buffer_size()
                for connection in site.server.http_connections
                if connection.transport is not None
            ]

        amounts = site.call(held)
        assert len(amounts) == 1
        assert amounts[0] < 8 * 1024 * 1024, f"{amounts[0]} bytes buffered for a client that reads nothing"
        data = big(site)
        for index in range(count):
            response = http.read_response()
            assert response.status == 206
            assert response.body == data[index : index + window]


# -- clients that half-close or stop reading (under both event loops) -----------------------------

HUGE_SIZE = 64 * 1024 * 1024  # far more than the socket buffers of both ends hold


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def open_count(path: Path) -> int:
    """How many of this process's file descriptors (the server's included) have ``path`` open."""
    count = 0
    for descriptor in os.listdir("/proc/self/fd"):
        with suppress(OSError):
            if os.readlink(f"/proc/self/fd/{descriptor}") == str(path):
                count += 1
    return count


def held(running: LoopServer) -> int:
    """How many HTTP connections the server holds."""
    return int(running.call(lambda: len(running.server.http_connections)))


def deaf_client(running: LoopServer, request: bytes, *, tls: bool = False) -> socket.socket:
    """A client that sends ``request`` and then never reads (a small receive buffer, set before
    connecting so the kernel does not grow it), over TLS if ``tls``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.settimeout(TIMEOUT)
    sock.connect(("127.0.0.1", running.tls_port if tls else running.port))
    if tls:
        sock = running.client_ssl.wrap_socket(sock, server_hostname="localhost")
    sock.sendall(request)
    return sock


def problems(running: LoopServer, caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the server reported: loop exception handler calls and log lines at WARNING or above."""
    return [str(context.get("message")) for context in running.errors] + [
        f"{record.name}: {record.getMessage()}"
        for record in caplog.records
        if record.levelno >= logging.WARNING
    ]


def test_tls_client_ending_its_session_politely_gets_close_notify_and_no_error(
    serve_on: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """curl and browsers end a TLS session with close_notify: the server answers with its own and
    closes, logging nothing (it used to log an ERROR with an AttributeError traceback for
    eof_received and drop the connection without close_notify)."""
    with caplog.at_level(logging.WARNING), serve_on() as running:
        raw = socket.create_connection(("127.0.0.1", running.tls_port), timeout=TIMEOUT)
        with running.client_ssl.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            received = b""
            while not received.endswith(INDEX):
                chunk = tls.recv(65536)
                assert chunk, f"closed before the whole response: {received!r}"
                received += chunk
            assert received.startswith(b"HTTP/1.1 200 OK\r\n")
            plain = tls.unwrap()  # sends close_notify, returns once the server's has arrived
            assert plain.recv(1) == b""  # and then the server closes the TCP connection
        wait_until(lambda: held(running) == 0, "the server forgets the connection")
    assert problems(running, caplog) == []


def test_half_closed_client_gets_the_answers_to_every_request_it_sent(
    serve_on: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """A client may send its requests and shut down its sending side (FIN) before reading: every
    request it sent is answered in full, a streamed file included, then the server closes."""
    data = random.Random(3).randbytes(BIG_SIZE)
    with caplog.at_level(logging.WARNING), serve_on() as running:
        (running.root / "small.txt").write_bytes(SMALL)
        (running.root / "big.bin").write_bytes(data)
        with client(running) as http:
            http.send(
                b"GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                b"GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                b"GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            )
            http.sock.shutdown(socket.SHUT_WR)
            time.sleep(0.2)  # let the FIN reach the server while the big file is still being sent
            assert http.read_response().body == SMALL
            assert http.read_response().body == data
            assert http.read_response().body == SMALL
            http.assert_closed()
        wait_until(lambda: held(running) == 0, "the server forgets the connection")
    assert problems(running, caplog) == []


def test_half_closed_client_that_reads_late_gets_a_paused_pipeline_answered(
    serve_on: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """FIN behind pipelined requests whose answers wait for the client to read (the server stopped
    answering while its buffer is full): once the client reads, every answer comes, then the close."""
    count = 40
    window = 256 * 1024
    data = random.Random(5).randbytes(count + window)
    requests = b"".join(
        f"GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes={index}-{index + window - 1}\r\n\r\n".encode()
        for index in range(count)
    )
    with caplog.at_level(logging.WARNING), serve_on() as running:
        (running.root / "big.bin").write_bytes(data)
        with client(running) as http:
            http.send(requests)
            http.sock.shutdown(socket.SHUT_WR)
            time.sleep(0.5)
            for index in range(count):
                response = http.read_response()
                assert response.status == 206
                assert response.body == data[index : index + window]
            http.assert_closed()
    assert problems(running, caplog) == []


def test_half_close_in_the_middle_of_a_request_closes_at_once_without_an_error(
    serve_on: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """A request cut off by FIN can never be completed: the connection closes at once (not after
    the request timeout), with no answer and nothing logged."""
    with caplog.at_level(logging.WARNING), serve_on(request_timeout=30.0) as running, client(running) as http:
        http.send(b"GET / HTTP/1.1\r\nHost: 127.")
        http.sock.shutdown(socket.SHUT_WR)
        http.assert_closed()  # within the client's TIMEOUT, far below the request timeout
    assert problems(running, caplog) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads the open files from /proc")
@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_client_that_stops_reading_a_streamed_file_is_dropped_and_the_file_closed(
    serve_on: Callable[..., Any], tls: bool
) -> None:
    """A client that asks for a large file and never reads used to hold its connection and the
    open file for ever: after ``send_timeout`` seconds without taking a byte it is dropped."""
    with serve_on(send_timeout=2.0) as running:
        path = running.root / "huge.bin"
        with open(path, "wb") as file:
            file.truncate(HUGE_SIZE)  # sparse: no disk space spent
        with deaf_client(running, b"GET /huge.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", tls=tls):
            wait_until(lambda: open_count(path) == 1, "the server opens the file to stream it")
            assert held(running) == 1
            wait_until(lambda: held(running) == 0, "the server drops the client that does not read")
            wait_until(lambda: open_count(path) == 0, "the server closes the file")


def test_client_that_stops_reading_pipelined_answers_is_dropped(serve_on: Callable[..., Any]) -> None:
    """Pipelined requests whose answers back up: the server stops answering, and after
    ``send_timeout`` seconds without the client taking a byte, drops it (it used to wait for ever)."""
    window = 256 * 1024
    requests = b"".join(
        f"GET /huge.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes={index * window}-{(index + 1) * window - 1}\r\n\r\n".encode()
        for index in range(100)
    )
    with serve_on(send_timeout=1.0) as running:
        with open(running.root / "huge.bin", "wb") as file:
            file.truncate(HUGE_SIZE)
        with deaf_client(running, requests):
            wait_until(lambda: held(running) == 0, "the server drops the client that does not read")


def test_closing_connection_to_a_client_that_does_not_read_is_dropped(serve_on: Callable[..., Any]) -> None:
    """A connection closing after its last answer (Connection: close) waits for the answer to be
    flushed; a client that never reads it is dropped after ``send_timeout`` (it used to wait for ever)."""
    window = 256 * 1024
    requests = b"".join(
        f"GET /huge.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes={index * window}-{(index + 1) * window - 1}\r\n"
        f"{'Connection: close' if index == 23 else 'X-Index: ' + str(index)}\r\n\r\n".encode()
        for index in range(24)
    )
    with serve_on(send_timeout=1.0) as running:
        with open(running.root / "huge.bin", "wb") as file:
            file.truncate(HUGE_SIZE)
        with deaf_client(running, requests):
            wait_until(lambda: held(running) == 0, "the server drops the client that does not read")


def test_slow_but_steady_reader_is_not_cut_off(serve_on: Callable[..., Any]) -> None:
    """``send_timeout`` is the time without the client taking any byte, not the time to take a
    whole buffer: a client that reads a little at a time gets the whole file, however long it takes."""
    size = 12 * 1024 * 1024
    data = random.Random(11).randbytes(size)
    with serve_on(send_timeout=0.5) as running:
        (running.root / "slow.bin").write_bytes(data)
        with deaf_client(running, b"GET /slow.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") as sock:
            watched = 0
            received = bytearray()
            pause_at = 256 * 1024
            started = time.monotonic()
            while True:
                chunk = sock.recv(65536)
                assert chunk, f"the server closed after {len(received)} bytes"
                received += chunk
                head, separator, body = bytes(received).partition(b"\r\n\r\n")
                if separator and len(body) == size:
                    break
                if len(received) >= pause_at:
                    pause_at += 256 * 1024
                    time.sleep(0.1)  # well under send_timeout each time, far over it in total
                    watched += running.call(
                        lambda: any(c._send_timer is not None for c in running.server.http_connections)
                    )
            assert head.startswith(b"HTTP/1.1 200 OK")
            assert body == data
            assert time.monotonic() - started > 2 * 0.5  # the transfer outlasted send_timeout
            assert watched > 0  # and the send watch was armed during it
