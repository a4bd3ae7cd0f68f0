"""HTTP/1.1 response heads, built as bytes.

Status lines are precomputed: a response costs one join, not a format per line.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from email.utils import formatdate
from http import HTTPStatus

__all__ = ["build_response", "error_response", "reason_phrase", "status_line"]

_STATUS_LINES = {
    status.value: f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode() for status in HTTPStatus
}
SERVER_HEADER = b"Server: duplex\r\n"


def reason_phrase(status: int) -> str:
    """The standard reason phrase of ``status`` ("" if unknown)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def status_line(status: int) -> bytes:
    """``HTTP/1.1 <status> <reason>`` and its line end."""
    return _STATUS_LINES.get(status) or f"HTTP/1.1 {status} {reason_phrase(status)}\r\n".encode()


_date_second = 0
_date_line = b""


def date_header() -> bytes:
    """The ``Date:`` line (RFC 9110 section 6.6.1), formatted once a second, not once a response."""
    global _date_second, _date_line
    now = int(time.time())
    if now != _date_second:
        _date_second = now
        _date_line = b"Date: " + formatdate(now, usegmt=True).encode() + b"\r\n"
    return _date_line


def build_response(
    status: int,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    *,
    content_length: int | None = None,
    keep_alive: bool = True,
) -> bytes:
    """A full response: status line, headers, blank line and ``body``.

    ``Content-Length`` is added from ``content_length`` (or ``len(body)``) unless ``headers`` has one
    already; 1xx, 204 and 304 responses never carry it. ``Connection: close`` is added when the
    connection will not be kept alive.
    """
    parts = [status_line(status), SERVER_HEADER, date_header()]
    has_length = False
    for name, value in headers:
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"header {name!r} contains a line break")
        lowered = name.lower()
        if lowered == "content-length":
            has_length = True
        elif lowered == "connection" and not keep_alive:
            # One Connection line listing both options, e.g. "Upgrade, close".
            value = f"{value}, close"
            keep_alive = True
        parts.append(f"{name}: {value}\r\n".encode("latin-1"))
    if not has_length and status >= 200 and status not in (204, 304):
        length = len(body) if content_length is None else content_length
        parts.append(b"Content-Length: %d\r\n" % length)
    if not keep_alive:
        parts.append(b"Connection: close\r\n")
    parts.append(b"\r\n")
    parts.append(body)
    return b"".join(parts)


def error_response(
    status: int,
    message: str = "",
    headers: Sequence[tuple[str, str]] = (),
    *,
    keep_alive: bool = False,
    head: bool = False,
) -> bytes:
    """A short text/plain error response: "404 Not Found" and, if given, a line that says why.

    ``head``: the request was HEAD; the response has the same headers but no body (RFC 9110 9.3.2).
    """
    text = f"{status} {reason_phrase(status)}\n"
    if message:
        text += message + "\n"
    body = text.encode()
    all_headers = [("Content-Type", "text/plain; charset=utf-8"), *headers]
    if head:
        return build_response(status, all_headers, b"", content_length=len(body), keep_alive=keep_alive)
    return build_response(status, all_headers, body, keep_alive=keep_alive)
