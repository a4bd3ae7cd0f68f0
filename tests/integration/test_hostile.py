"""Hostile and broken peers over raw sockets: each gets the exact answer the RFCs ask for, and the
server goes on serving everyone else.

WebSocket cases complete the opening handshake by hand, send one bad frame and expect exactly one
close frame with the right code (RFC 6455 section 7.4.1, no reason) followed by the end of the TCP
stream. HTTP cases send a bad request and expect the right status and a closed connection. After
every case a well-behaved `websockets` client and a plain HTTP GET still work.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import os
import socket
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from echo_server import Echo
from websockets.asyncio.client import connect

from duplex.http import Accept
from support import RunningServer

TIMEOUT = 5.0
SECRET = b"TOP SECRET: never served\n"

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def close_frame(code: int) -> bytes:
    """The unmasked server close frame carrying ``code`` and no reason."""
    return b"\x88\x02" + struct.pack("!H", code)


# -- raw socket helpers ------------------------------------------------------------------------


@contextmanager
def raw_connection(server: RunningServer) -> Iterator[socket.socket]:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
    sock.settimeout(TIMEOUT)
    try:
        yield sock
    finally:
        sock.close()


def read_until_eof(sock: socket.socket, limit: int = 1 << 20) -> bytes:
    """Everything the server sends until it ends the stream (a socket timeout fails the test)."""
    data = bytearray()
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
        assert len(data) <= limit, "the server kept sending"
    return bytes(data)


def read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """The response head (up to and without the blank line) and whatever followed it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before the response head ended: {data!r}"
        data += chunk
        assert len(data) < 65536, "response head too long"
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    status_line, *lines = head.decode("latin-1").split("\r\n")
    version, status, *_ = status_line.split(" ")
    assert version == "HTTP/1.1"
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        # A repeated list header is one comma-separated list (RFC 9110 section 5.3).
        name, value = name.lower(), value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return int(status), headers


def tokens(value: str) -> set[str]:
    """The lower-cased elements of a comma-separated header value."""
    return {item.strip().lower() for item in value.split(",") if item.strip()}


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response: status, headers (lower-case names), and its Content-Length body."""
    head, rest = read_head(sock)
    status, headers = parse_head(head)
    length = int(headers.get("content-length", "0"))
    body = rest
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed in the middle of the body"
        body += chunk
    assert len(body) == length, "more bytes than Content-Length"
    return status, headers, body


def request_and_close(server: RunningServer, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``data``; expect one response and the server closing the connection after it."""
    with raw_connection(server) as sock:
        sock.sendall(data)
        status, headers, body = read_response(sock)
        assert read_until_eof(sock) == b"", "bytes after the response"
    assert "close" in tokens(headers.get("connection", ""))
    return status, headers, body


def upgrade_request(
    path: str = "/echo",
    *,
    method: str = "GET",
    key: str | None = "dGhlIHNhbXBsZSBub25jZQ==",
    version: str | None = "13",
    extra: str = "",
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade"]
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key}")
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


def handshake(sock: socket.socket, extensions: str | None = None) -> dict[str, str]:
    """Open a WebSocket on ``sock`` by hand; returns the 101's headers."""
    key = base64.b64encode(os.urandom(16)).decode()
    extra = f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions else ""
    sock.sendall(upgrade_request(key=key, extra=extra))
    head, rest = read_head(sock)
    assert rest == b"", "the server spoke first"
    status, headers = parse_head(head)
    assert status == 101
    assert headers["upgrade"].lower() == "websocket"
    assert tokens(headers["connection"]) == {"upgrade"}
    return headers


def mask(data: bytes, key: bytes) -> bytes:
    if not data:
        return b""
    repeated = (key * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(len(data), "big")


def frame(
    opcode: int, payload: bytes = b"", *, fin: bool = True, rsv1: bool = False, masked: bool = True
) -> bytes:
    """A client frame; masked with a random key unless ``masked`` is False."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    length = len(payload)
    mask_bit = 0x80 if masked else 0
    if length < 126:
        header = struct.pack("!BB", first, mask_bit | length)
    elif length < 65536:
        header = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, length)
    if not masked:
        return header + payload
    key = os.urandom(4)
    return header + key + mask(payload, key)


# -- is the server still fine? -----------------------------------------------------------------


def assert_still_serving(server: RunningServer) -> None:
    """A websockets client gets its echo on ws:// and wss://, and GET / is still 200."""
    asyncio.run(asyncio.wait_for(_echo_both(server), 2 * TIMEOUT))
    with raw_connection(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        status, _, body = read_response(sock)
        assert status == 200
        assert b"duplex" in body


async def _echo_both(server: RunningServer) -> None:
    # The asyncio client: with the sync one, about one wss:// connection in 200 never sent its
    # request after the TLS handshake (the bytes never left the client), a flake of the client.
    async with connect(server.url(), proxy=None, open_timeout=TIMEOUT) as ws:
        await ws.send("still there?")
        assert await ws.recv() == "still there?"
        await ws.send(b"\x00\x01\x02")
        assert await ws.recv() == b"\x00\x01\x02"
    async with connect(server.wss_url(), ssl=server.client_ssl, proxy=None, open_timeout=TIMEOUT) as ws:
        await ws.send("still there over TLS?")
        assert await ws.recv() == "still there over TLS?"


# -- WebSocket frames --------------------------------------------------------------------------


def expect_failure(server: RunningServer, data: bytes, code: int, extensions: str | None = None) -> None:
    """Send ``data`` after a handshake: the whole answer is one close frame with ``code``, then EOF."""
    with raw_connection(server) as sock:
        handshake(sock, extensions)
        sock.sendall(data)
        assert read_until_eof(sock) == close_frame(code)
    assert_still_serving(server)


BAD_FRAMES = {
    "unmasked text frame": (frame(OP_TEXT, b"hello", masked=False), 1002),
    "unmasked close frame": (frame(OP_CLOSE, struct.pack("!H", 1000), masked=False), 1002),
    "reserved data opcode 0x3": (frame(0x3, b"data"), 1002),
    "reserved control opcode 0xB": (frame(0xB, b"ctl"), 1002),
    "fragmented ping": (frame(OP_PING, b"ping", fin=False), 1002),
    "fragmented close": (frame(OP_CLOSE, struct.pack("!H", 1000), fin=False), 1002),
    "ping over 125 bytes": (frame(OP_PING, b"p" * 126), 1002),
    "RSV1 without deflate": (frame(OP_TEXT, b"hello", rsv1=True), 1002),
    "RSV2 set": (bytes([0x80 | 0x20 | OP_TEXT]) + frame(OP_TEXT, b"x")[1:], 1002),
    "continuation with nothing to continue": (frame(OP_CONTINUATION, b"orphan"), 1002),
    "new message inside a fragmented one": (
        frame(OP_TEXT, b"first", fin=False) + frame(OP_BINARY, b"second"),
        1002,
    ),
    # U+20AC is E2 82 AC; the second fragment breaks it off with a byte that cannot continue it.
    "invalid UTF-8 split across fragments": (
        frame(OP_TEXT, b"price: \xe2\x82", fin=False) + frame(OP_CONTINUATION, b"(", fin=True),
        1007,
    ),
    # Fail fast: the first fragment alone is already invalid, no last fragment needed.
    "invalid UTF-8 in a first fragment": (frame(OP_TEXT, b"ok \xc0\xaf", fin=False), 1007),
    "invalid UTF-8 in a whole text frame": (frame(OP_TEXT, b"\xed\xa0\x80"), 1007),  # a surrogate
    "close code 1005": (frame(OP_CLOSE, struct.pack("!H", 1005)), 1002),
    "close code 1006": (frame(OP_CLOSE, struct.pack("!H", 1006)), 1002),
    "close code 999": (frame(OP_CLOSE, struct.pack("!H", 999)), 1002),
    "close payload of one byte": (frame(OP_CLOSE, b"\x03"), 1002),
    "close reason not UTF-8": (frame(OP_CLOSE, struct.pack("!H", 1000) + b"bye \xff\xfe"), 1007),
}


@pytest.mark.parametrize(("data", "code"), list(BAD_FRAMES.values()), ids=list(BAD_FRAMES))
def test_bad_frame_gets_the_right_close_code(echo_server: RunningServer, data: bytes, code: int) -> None:
    expect_failure(echo_server, data, code)


def test_valid_utf8_split_across_fragments_is_accepted(echo_server: RunningServer) -> None:
    """The counterpart of the split case above: a character cut between fragments is fine."""
    with raw_connection(echo_server) as sock:
        handshake(sock)
        sock.sendall(
            frame(OP_TEXT, b"price: \xe2", fin=False)
            + frame(OP_PING, b"in between")  # a control frame may sit between fragments
            + frame(OP_CONTINUATION, b"\x82", fin=False)
            + frame(OP_CONTINUATION, b"\xac!")
        )
        expected_pong = b"\x8a\x0ain between"
        expected_echo = b"\x81\x0b" + "price: \u20ac!".encode()
        received = b""
        while len(received) < len(expected_pong + expected_echo):
            chunk = sock.recv(65536)
            assert chunk
            received += chunk
        assert received == expected_pong + expected_echo
        sock.sendall(frame(OP_CLOSE, struct.pack("!H", 1000)))
        assert read_until_eof(sock) == close_frame(1000)


def test_length_over_the_limit_is_refused_from_the_header(make_server: Callable[..., Any]) -> None:
    """A frame announcing 2**40 bytes is refused with 1009 as soon as its header arrives."""
    endpoints = {"/echo": lambda request, offer: Accept(Echo(), max_message_size=1024 * 1024)}
    with make_server(endpoints=endpoints) as server, raw_connection(server) as sock:
        handshake(sock)
        # Only the header (with its masking key): the payload never comes.
        sock.sendall(struct.pack("!BBQ", 0x80 | OP_BINARY, 0x80 | 127, 2**40) + os.urandom(4))
        sock.settimeout(2.0)
        started = time.monotonic()
        assert read_until_eof(sock) == close_frame(1009)
        assert time.monotonic() - started < 1.5
        assert_still_serving(server)


def test_length_with_the_top_bit_set_is_a_protocol_error(echo_server: RunningServer) -> None:
    """RFC 6455 section 5.2: the most significant bit of a 64-bit length must be 0."""
    expect_failure(
        echo_server, struct.pack("!BBQ", 0x80 | OP_BINARY, 0x80 | 127, 2**63) + os.urandom(4), 1002
    )


@functools.lru_cache(maxsize=1)
def deflate_bomb() -> bytes:
    """100 MB of zeros as a permessage-deflate payload (raw deflate, sync tail stripped): ~100 kB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = bytes(1024 * 1024)
    parts = [compressor.compress(block) for _ in range(100)]
    parts.append(compressor.flush(zlib.Z_SYNC_FLUSH))
    data = b"".join(parts)
    assert data.endswith(b"\x00\x00\xff\xff")
    return data[:-4]


def test_deflate_bomb_is_refused(make_server: Callable[..., Any]) -> None:
    """A small compressed frame that would inflate to 100 MB: 1009, without inflating it all."""
    bomb = deflate_bomb()
    assert len(bomb) < 1024 * 1024  # the frame itself is under the limit: only inflating finds out
    endpoints = {"/echo": lambda request, offer: Accept(Echo(), max_message_size=1024 * 1024)}
    with make_server(endpoints=endpoints) as server, raw_connection(server) as sock:
        headers = handshake(sock, extensions="permessage-deflate")
        assert headers["sec-websocket-extensions"].split(";")[0].strip() == "permessage-deflate"
        started = time.monotonic()
        sock.sendall(frame(OP_BINARY, bomb, rsv1=True))
        assert read_until_eof(sock) == close_frame(1009)
        assert time.monotonic() - started < 2.0
        assert_still_serving(server)


def test_fragmented_deflate_bomb_is_refused(make_server: Callable[..., Any]) -> None:
    """The same bomb cut into fragments: the budget spans the whole message, not one frame."""
    bomb = deflate_bomb()
    pieces = [bomb[index : index + 16 * 1024] for index in range(0, len(bomb), 16 * 1024)]
    data = frame(OP_BINARY, pieces[0], fin=False, rsv1=True)
    data += b"".join(frame(OP_CONTINUATION, piece, fin=False) for piece in pieces[1:])
    endpoints = {"/echo": lambda request, offer: Accept(Echo(), max_message_size=1024 * 1024)}
    with make_server(endpoints=endpoints) as server, raw_connection(server) as sock:
        handshake(sock, extensions="permessage-deflate")
        started = time.monotonic()
        sock.sendall(data)
        assert read_until_eof(sock) == close_frame(1009)
        assert time.monotonic() - started < 2.0
        assert_still_serving(server)


def test_fragmented_message_over_the_limit_is_1009(make_server: Callable[..., Any]) -> None:
    """Uncompressed fragments, each under the limit, that add up to more than it."""
    piece = bytes(400 * 1024)
    data = frame(OP_BINARY, piece, fin=False) + frame(OP_CONTINUATION, piece, fin=False)
    data += frame(OP_CONTINUATION, piece, fin=True)
    endpoints = {"/echo": lambda request, offer: Accept(Echo(), max_message_size=1024 * 1024)}
    with make_server(endpoints=endpoints) as server, raw_connection(server) as sock:
        handshake(sock)
        sock.sendall(data)
        assert read_until_eof(sock) == close_frame(1009)
        assert_still_serving(server)


def test_a_flood_of_empty_fragments_is_1009(make_server: Callable[..., Any]) -> None:
    """Empty continuation frames cost nothing against the size limit; their number is bounded
    (262,160 at the default limit of 16 MiB + 1 KiB). Before the bound, 6,000,000 of them took
    504 MiB."""
    empty = frame(OP_CONTINUATION, b"", fin=False)
    endpoints = {"/echo": lambda request, offer: Accept(Echo())}
    with make_server(endpoints=endpoints) as server, raw_connection(server) as sock:
        handshake(sock)
        sock.sendall(frame(OP_BINARY, b"A", fin=False))
        for _ in range(300):  # 300,000 fragments, over the bound, in 6 MB
            try:
                sock.sendall(empty * 1000)
            except (BrokenPipeError, ConnectionResetError):
                break
        assert read_until_eof(sock) == close_frame(1009)
        assert_still_serving(server)


def deflate(data: bytes) -> bytes:
    """``data`` as one permessage-deflate message payload (fresh context, sync tail stripped)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


BAD_DEFLATE_FRAMES = {
    "compressed text that is not UTF-8": (frame(OP_TEXT, deflate(b"caf\xe9"), rsv1=True), 1007),
    "compressed text cut inside a character": (
        frame(OP_TEXT, deflate(b"\xe2\x82"), rsv1=True, fin=False) + frame(OP_CONTINUATION, b"", fin=True),
        1007,
    ),
    "RSV1 on a continuation frame": (
        frame(OP_TEXT, deflate(b"abc"), rsv1=True, fin=False) + frame(OP_CONTINUATION, b"x", rsv1=True),
        1002,
    ),
    "RSV1 on a ping": (frame(OP_PING, b"ping", rsv1=True), 1002),
    "compressed payload that is not deflate": (frame(OP_BINARY, b"\xff\xff\xff\xff", rsv1=True), 1007),
}


@pytest.mark.parametrize(("data", "code"), list(BAD_DEFLATE_FRAMES.values()), ids=list(BAD_DEFLATE_FRAMES))
def test_bad_compressed_frame_gets_the_right_close_code(
    echo_server: RunningServer, data: bytes, code: int
) -> None:
    expect_failure(echo_server, data, code, extensions="permessage-deflate")


def test_peer_that_does_not_read_cannot_fill_the_server(echo_server: RunningServer) -> None:
    """A client that sends messages to the echo but never reads its echoes: the server stops reading
    from it once its send buffer is full, so what it holds for that client stays bounded."""
    message = frame(OP_BINARY, os.urandom(1024 * 1024))
    with raw_connection(echo_server) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        handshake(sock)
        sock.setblocking(False)
        pending = memoryview(message * 32)
        deadline = time.monotonic() + 1.0
        while pending and time.monotonic() < deadline:
            try:
                pending = pending[sock.send(pending) :]
            except BlockingIOError:
                time.sleep(0.01)
        assert pending, "the server read 32 MiB that it could not echo"
        time.sleep(0.3)

        def held() -> list[int]:
            return [websocket.buffered_amount for websocket in echo_server.server.websocket_connections]

        amounts = echo_server.call(held)
        assert len(amounts) == 1
        assert amounts[0] < 4 * 1024 * 1024
    assert_still_serving(echo_server)


# -- HTTP --------------------------------------------------------------------------------------


def test_request_line_over_the_limit_is_414(echo_server: RunningServer) -> None:
    target = "/" + "a" * 9000  # the default limit is 8192
    status, _, _ = request_and_close(echo_server, f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert status == 414
    assert_still_serving(echo_server)


def test_one_huge_header_is_431(echo_server: RunningServer) -> None:
    huge = "x" * 20_000  # the default limit is 16384 bytes of header lines
    status, _, _ = request_and_close(
        echo_server, f"GET / HTTP/1.1\r\nHost: x\r\nX-Huge: {huge}\r\n\r\n".encode()
    )
    assert status == 431
    assert_still_serving(echo_server)


def test_too_many_headers_is_431(echo_server: RunningServer) -> None:
    many = "".join(f"X-Header-{index}: {index}\r\n" for index in range(200))  # the default limit is 100
    status, _, _ = request_and_close(echo_server, f"GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n".encode())
    assert status == 431
    assert_still_serving(echo_server)


def test_body_over_the_limit_by_content_length_is_413(make_server: Callable[..., Any]) -> None:
    """Refused from the announced length alone: the body is never sent."""
    with make_server(max_request_size=1000) as server:
        status, _, _ = request_and_close(
            server, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"
        )
        assert status == 413
        assert_still_serving(server)


def test_chunked_body_over_the_limit_is_413(make_server: Callable[..., Any]) -> None:
    chunk = b"z" * 600
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(2))  # 1200 bytes, no end
    with make_server(max_request_size=1000) as server:
        status, _, _ = request_and_close(
            server, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body
        )
        assert status == 413
        assert_still_serving(server)


TRAVERSALS = [
    "/../secret",
    "/%2e%2e/secret",
    "/%2E%2E%2Fsecret",
    "/..%2fsecret",
    "/.%2e/secret",
    "/./../secret",
    "//../secret",
    "/a/../../secret",
    "/..%5csecret",
    "/..\\secret",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_path_traversal_never_serves_the_file(echo_server: RunningServer, target: str) -> None:
    secret = echo_server.root.parent / "secret"
    secret.write_bytes(SECRET)
    with raw_connection(echo_server) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        response = read_until_eof(sock)
    assert b"TOP SECRET" not in response
    status, _ = parse_head(response.partition(b"\r\n\r\n")[0])
    assert status in (400, 404)
    assert_still_serving(echo_server)


def test_plain_get_on_the_websocket_path_is_426(echo_server: RunningServer) -> None:
    status, headers, _ = request_and_close(echo_server, b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 426
    assert headers["upgrade"].lower() == "websocket"
    assert_still_serving(echo_server)


def test_upgrade_to_an_unknown_path_is_404(echo_server: RunningServer) -> None:
    status, _, _ = request_and_close(echo_server, upgrade_request("/nowhere"))
    assert status == 404
    assert_still_serving(echo_server)


@pytest.mark.parametrize("version", ["8", "14", "13, 8"])
def test_wrong_websocket_version_is_426(echo_server: RunningServer, version: str) -> None:
    status, headers, _ = request_and_close(echo_server, upgrade_request(version=version))
    assert status == 426
    assert headers["sec-websocket-version"] == "13"
    assert_still_serving(echo_server)


def test_missing_websocket_version_is_426(echo_server: RunningServer) -> None:
    status, headers, _ = request_and_close(echo_server, upgrade_request(version=None))
    assert status == 426
    assert headers["sec-websocket-version"] == "13"
    assert_still_serving(echo_server)


@pytest.mark.parametrize(
    "key", [None, "", "not base64!", "c2hvcnQ="], ids=["missing", "empty", "garbage", "8-bytes"]
)
def test_bad_websocket_key_is_400(echo_server: RunningServer, key: str | None) -> None:
    status, _, _ = request_and_close(echo_server, upgrade_request(key=key))
    assert status == 400
    assert_still_serving(echo_server)


def test_post_upgrade_is_405(echo_server: RunningServer) -> None:
    status, headers, _ = request_and_close(
        echo_server, upgrade_request(method="POST", extra="Content-Length: 0\r\n")
    )
    assert status == 405
    assert "GET" in headers["allow"]
    assert_still_serving(echo_server)


@pytest.mark.parametrize(
    "garbage",
    [
        b"HELLO\r\n\r\n",
        b"GET / HTTP/9 9\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32) + b"\r\n\r\n",  # TLS on the plain port
        b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
    ],
    ids=["not-http", "bad-version", "tls-hello", "header-without-colon", "bad-content-length"],
)
def test_malformed_http_is_400(echo_server: RunningServer, garbage: bytes) -> None:
    status, _, _ = request_and_close(echo_server, garbage)
    assert status == 400
    assert_still_serving(echo_server)


def test_slow_request_head_is_408_and_closed(make_server: Callable[..., Any]) -> None:
    with make_server(request_timeout=0.5) as server:
        with raw_connection(server) as slow, raw_connection(server) as silent:
            started = time.monotonic()
            slow.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Wait")
            status, headers, _ = read_response(slow)
            assert status == 408
            assert "close" in tokens(headers.get("connection", ""))
            assert read_until_eof(slow) == b""
            assert time.monotonic() - started < 1.5
            # A client that connects and says nothing at all is closed too, without a response.
            assert read_until_eof(silent) == b""
            assert time.monotonic() - started < 1.5
        assert_still_serving(server)


def test_trickled_request_head_is_408(make_server: Callable[..., Any]) -> None:
    """A slowloris that sends a byte now and then still gets cut off: the timeout is for the whole head."""
    with make_server(request_timeout=0.5) as server, raw_connection(server) as sock:
        started = time.monotonic()
        head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"z" * 100
        try:
            for byte in head:
                sock.sendall(bytes([byte]))
                time.sleep(0.05)
                if time.monotonic() - started > 3:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, _, _ = read_response(sock)
        assert status == 408
        assert time.monotonic() - started < 1.5
        assert_still_serving(server)


def test_silent_tls_client_is_closed(make_server: Callable[..., Any]) -> None:
    """A client that opens the HTTPS port and never starts the TLS handshake is dropped in time."""
    with make_server(request_timeout=0.5) as server:
        with socket.create_connection(("127.0.0.1", server.tls_port), timeout=TIMEOUT) as sock:
            sock.settimeout(TIMEOUT)
            started = time.monotonic()
            assert read_until_eof(sock) == b""
            assert time.monotonic() - started < 1.5
        assert_still_serving(server)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    ],
    ids=["content-length-and-chunked", "two-content-lengths"],
)
def test_ambiguous_body_length_is_400(echo_server: RunningServer, request_bytes: bytes) -> None:
    """Request smuggling shapes (RFC 9112 section 6.3): refused, never guessed at."""
    status, _, _ = request_and_close(echo_server, request_bytes)
    assert status == 400
    assert_still_serving(echo_server)


@pytest.mark.parametrize(
    "request_bytes",
    [
        upgrade_request().replace(b"HTTP/1.1", b"HTTP/1.0", 1),
        upgrade_request().replace(b"Host: 127.0.0.1\r\n", b""),
        upgrade_request().replace(b"Connection: Upgrade", b"Connection: keep-alive"),
    ],
    ids=["http-1.0", "no-host", "connection-without-upgrade"],
)
def test_bad_handshake_is_400(echo_server: RunningServer, request_bytes: bytes) -> None:
    status, _, _ = request_and_close(echo_server, request_bytes)
    assert status == 400
    assert_still_serving(echo_server)


def test_slow_handshake_after_upgrade_head_started_is_408(make_server: Callable[..., Any]) -> None:
    """A WebSocket handshake that never finishes (a slowloris on the upgrade path) is cut off too."""
    with make_server(request_timeout=0.5) as server, raw_connection(server) as sock:
        started = time.monotonic()
        sock.sendall(upgrade_request()[:-10])
        status, _, _ = read_response(sock)
        assert status == 408
        assert read_until_eof(sock) == b""
        assert time.monotonic() - started < 1.5
        assert_still_serving(server)


def test_garbage_after_a_refused_upgrade_is_not_read_as_websocket(echo_server: RunningServer) -> None:
    """Frames sent right behind a refused handshake get no WebSocket answer, just the HTTP error."""
    with raw_connection(echo_server) as sock:
        sock.sendall(upgrade_request(version="8") + frame(OP_TEXT, b"sneaky"))
        status, _, _ = read_response(sock)
        assert status == 426
        assert read_until_eof(sock) == b""
    assert_still_serving(echo_server)


def test_frames_sent_with_the_handshake_are_answered(echo_server: RunningServer) -> None:
    """Bytes right behind the upgrade request belong to the WebSocket (no round trip needed)."""
    with raw_connection(echo_server) as sock:
        sock.sendall(upgrade_request() + frame(OP_TEXT, b"eager"))
        head, rest = read_head(sock)
        assert parse_head(head)[0] == 101
        while len(rest) < 7:
            chunk = sock.recv(65536)
            assert chunk
            rest += chunk
        assert rest == b"\x81\x05eager"
