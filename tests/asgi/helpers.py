"""Helpers for the ASGI tests: a :class:`Site` (a started ``WebServer`` with an ASGI app), a
:class:`Journal` of what an app saw, the lifespan half of a raw ASGI app, and a raw HTTP/1.1 client
that reads responses of every framing (Content-Length, chunked, until close).

The app runs on the web server's thread: everything it wants the test to know goes through a
:class:`Journal` (or a ``threading.Event``), and every wait on one is bounded.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duplex

__all__ = [
    "MIB",
    "TIMEOUT",
    "Journal",
    "RawHttp",
    "RawResponse",
    "Site",
    "answer_lifespan",
    "settle",
]

# How long any single wait for the app, a response or a socket may take (seconds).
TIMEOUT = 5.0

MIB = 1024 * 1024


@dataclass
class Site:
    """A started ``duplex.WebServer`` serving an ASGI app on 127.0.0.1."""

    web: duplex.WebServer

    @property
    def port(self) -> int:
        return self.web.HTTPPort

    @property
    def https_port(self) -> int:
        return self.web.HTTPSPort

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def https_url(self, path: str = "/") -> str:
        return f"https://localhost:{self.https_port}{path}"

    def ws_url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def wss_url(self, path: str) -> str:
        return f"wss://localhost:{self.https_port}{path}"


class Journal:
    """What an app saw, in order: ``note(kind, value)`` from any thread (the server's), ``wait(kind)``
    from the test, bounded."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self.entries: list[tuple[str, Any]] = []

    def note(self, kind: str, value: Any = None) -> None:
        with self._condition:
            self.entries.append((kind, value))
            self._condition.notify_all()

    def kinds(self) -> list[str]:
        with self._condition:
            return [kind for kind, _ in self.entries]

    def values(self, kind: str) -> list[Any]:
        with self._condition:
            return [value for seen, value in self.entries if seen == kind]

    def wait(self, kind: str, timeout: float = TIMEOUT) -> Any:
        """The value of the first ``kind`` entry, waiting for it if needed; fails the test if none
        comes within ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                for seen, value in self.entries:
                    if seen == kind:
                        return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"the app noted no {kind!r} within {timeout} s; it noted {self.kinds()}"
                    )
                self._condition.wait(left)


async def answer_lifespan(receive: Callable[[], Any], send: Callable[[dict[str, Any]], Any]) -> None:
    """The lifespan scope of a raw ASGI app that needs no startup or shutdown work."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def settle(read: Callable[[], int], quiet: float = 0.5, timeout: float = TIMEOUT) -> int:
    """Wait until ``read()`` stops changing for ``quiet`` seconds (at most ``timeout``); return it.

    For "the app is held back" checks: a server without flow control lets a producer run to the
    end in a fraction of a second, so the value it settles at tells the two apart."""
    deadline = time.monotonic() + timeout
    value = read()
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.02)
        now = read()
        if now != value:
            value, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= quiet:
            break
    return value


# -- a raw HTTP/1.1 client --------------------------------------------------------------------------


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[str, str]]  # lower-case names, in order
    body: bytes

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (several lines joined with ", "), or None."""
        values = [value for key, value in self.headers if key == name.lower()]
        return ", ".join(values) if values else None


class RawHttp:
    """An HTTP/1.1 client on one bare socket, for what httpx will not do: pipelining, a head
    without its body, reading after the server hung up."""

    def __init__(self, port: int, timeout: float = TIMEOUT) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.local_port: int = self.sock.getsockname()[1]
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, method: str, target: str, headers: str = "", body: bytes = b"") -> RawResponse:
        length = f"Content-Length: {len(body)}\r\n" if body else ""
        self.send(f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}{length}\r\n".encode() + body)
        return self.read_response(head_request=method == "HEAD")

    def _fill(self) -> bool:
        """Read more into the buffer; False at the end of the stream."""
        try:
            chunk = self.sock.recv(256 * 1024)
        except ConnectionResetError:
            return False
        self.buffer += chunk
        return bool(chunk)

    def _take_line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            assert self._fill(), f"the server closed in the middle of a line: {self.buffer[:200]!r}"
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def _take(self, count: int) -> bytes:
        while len(self.buffer) < count:
            assert self._fill(), f"the server closed with {len(self.buffer)} of {count} body bytes sent"
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def read_response(self, *, head_request: bool = False) -> RawResponse:
        """Read one response; ``head_request``: it answers a HEAD, so it has no body whatever its
        headers say."""
        while b"\r\n\r\n" not in self.buffer:
            assert len(self.buffer) < 65536, "response head too long"
            assert self._fill(), f"the server closed before a full response head: {self.buffer[:200]!r}"
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        version, status, *_ = status_line.split(" ", 2)
        assert version == "HTTP/1.1", status_line
        headers = []
        for line in lines:
            name, colon, value = line.partition(":")
            assert colon, f"malformed header line {line!r}"
            headers.append((name.strip().lower(), value.strip()))
        response = RawResponse(int(status), headers, b"")
        if head_request or response.status in (204, 304) or response.status < 200:
            return response
        if "chunked" in (response.header("transfer-encoding") or "").lower():
            chunks = []
            while True:
                size = int(self._take_line().split(b";")[0], 16)
                if size == 0:
                    while self._take_line():  # trailers, up to the empty line
                        pass
                    break
                chunks.append(self._take(size))
                assert self._take(2) == b"\r\n"
            response.body = b"".join(chunks)
        elif (length := response.header("content-length")) is not None:
            response.body = self._take(int(length))
        else:
            while self._fill():
                pass
            response.body, self.buffer = self.buffer, b""
        return response

    def read_until_closed(self, timeout: float = TIMEOUT) -> tuple[bytes, bool]:
        """Everything the server sends until it closes the connection: ``(data, closed)``; a reset
        counts as closed, and ``closed`` is False if it was still open after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return self.buffer, False
            self.sock.settimeout(left)
            try:
                if not self._fill():
                    return self.buffer, True
            except TimeoutError:
                return self.buffer, False
