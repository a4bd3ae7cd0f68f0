"""Tests for duplex.http.responses: HTTP/1.1 response heads, byte for byte.

``build_response``: the status line, ``Server`` and ``Date`` first, the given headers in order, then
``Content-Length`` (from the body or ``content_length``, never twice, never on 1xx, 204 or 304) and
``Connection: close`` when the connection will not be kept alive (merged into a ``Connection`` line
already given); line breaks in a header are refused. ``error_response``: the short text/plain error
(a HEAD gets the same head and no body). ``reason_phrase``: the standard phrase, "" if unknown.
``date_header``: the RFC 9110 IMF-fixdate line, formatted once a second. The clock is frozen so every
byte can be asserted; what reaches the wire through a server is in test_http_protocol.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.utils import formatdate

import pytest

from duplex.http import responses
from duplex.http.responses import build_response, date_header, error_response, reason_phrase

# RFC 9110 section 5.6.7's example date.
FROZEN_TIME = 784111777
DATE = b"Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
HEAD = b"Server: duplex\r\n" + DATE  # what every response has after its status line


class Clock:
    """A settable stand-in for the ``time`` module as responses.py uses it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    """Freeze responses.py's clock at FROZEN_TIME (and forget its cached Date line)."""
    frozen = Clock(FROZEN_TIME)
    monkeypatch.setattr(responses, "time", frozen)
    monkeypatch.setattr(responses, "_date_second", 0)
    monkeypatch.setattr(responses, "_date_line", b"")
    yield frozen


@pytest.fixture
def format_calls(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> list[float]:
    """Every timestamp responses.py formats a Date for, in order."""
    calls: list[float] = []
    real = formatdate

    def counting(timeval: float | None = None, localtime: bool = False, usegmt: bool = False) -> str:
        assert timeval is not None
        calls.append(timeval)
        return real(timeval, localtime=localtime, usegmt=usegmt)

    monkeypatch.setattr(responses, "formatdate", counting)
    return calls


# -- reason_phrase -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "phrase"),
    [
        (101, "Switching Protocols"),
        (200, "OK"),
        (204, "No Content"),
        (301, "Moved Permanently"),
        (304, "Not Modified"),
        (404, "Not Found"),
        (418, "I'm a Teapot"),
        (426, "Upgrade Required"),
        (431, "Request Header Fields Too Large"),
        (503, "Service Unavailable"),
    ],
)
def test_reason_phrase_is_the_standard_one(status: int, phrase: str) -> None:
    assert reason_phrase(status) == phrase


@pytest.mark.parametrize("status", [0, 99, 299, 499, 599, 600, 999])
def test_reason_phrase_of_an_unknown_status_is_empty(status: int) -> None:
    assert reason_phrase(status) == ""


# -- date_header -------------------------------------------------------------------------------


def test_date_header_is_an_imf_fixdate_line_in_gmt(clock: Clock) -> None:
    assert date_header() == DATE


def test_date_header_format_for_a_single_digit_day_and_another_month(clock: Clock) -> None:
    clock.now = 1704164645  # 2024-01-02 03:04:05 UTC
    assert date_header() == b"Date: Tue, 02 Jan 2024 03:04:05 GMT\r\n"


def test_date_header_of_the_real_clock_has_the_rfc_9110_shape() -> None:
    line = date_header()
    pattern = rb"Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT\r\n"
    assert re.fullmatch(pattern, line), line


def test_date_header_is_formatted_once_per_second(clock: Clock, format_calls: list[float]) -> None:
    first = date_header()
    clock.now = FROZEN_TIME + 0.25
    second = date_header()
    clock.now = FROZEN_TIME + 0.999
    third = date_header()
    assert first == second == third == DATE
    assert second is first and third is first  # the cached line itself, not a new one
    assert format_calls == [FROZEN_TIME]


def test_date_header_changes_when_the_second_changes(clock: Clock, format_calls: list[float]) -> None:
    first = date_header()
    clock.now = FROZEN_TIME + 1
    second = date_header()
    clock.now = FROZEN_TIME + 1.5
    third = date_header()
    assert first == DATE
    assert second == b"Date: Sun, 06 Nov 1994 08:49:38 GMT\r\n"
    assert third is second
    assert format_calls == [FROZEN_TIME, FROZEN_TIME + 1]


def test_date_header_follows_a_clock_that_goes_back(clock: Clock, format_calls: list[float]) -> None:
    clock.now = FROZEN_TIME + 60
    later = date_header()
    clock.now = FROZEN_TIME
    assert date_header() == DATE
    assert later == b"Date: Sun, 06 Nov 1994 08:50:37 GMT\r\n"
    assert format_calls == [FROZEN_TIME + 60, FROZEN_TIME]


def test_responses_share_the_cached_date(clock: Clock, format_calls: list[float]) -> None:
    for status in (200, 404, 500):
        assert DATE in build_response(status)
    assert DATE in error_response(400)
    assert format_calls == [FROZEN_TIME]


# -- build_response ------------------------------------------------------------------------------


def test_a_response_with_a_body_is_exact(clock: Clock) -> None:
    response = build_response(200, [("Content-Type", "text/plain")], b"hello")
    assert response == (
        b"HTTP/1.1 200 OK\r\n" + HEAD + b"Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
    )


def test_a_response_without_headers_or_body_has_a_zero_content_length(clock: Clock) -> None:
    assert build_response(200) == b"HTTP/1.1 200 OK\r\n" + HEAD + b"Content-Length: 0\r\n\r\n"


def test_headers_keep_their_order_and_spelling(clock: Clock) -> None:
    headers = [("X-B", "2"), ("x-a", "1"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
    response = build_response(200, headers, b"")
    assert response == (
        b"HTTP/1.1 200 OK\r\n"
        + HEAD
        + b"X-B: 2\r\nx-a: 1\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n"
    )


def test_content_length_argument_describes_a_body_not_sent(clock: Clock) -> None:
    """A HEAD response: the length of the body a GET would get, and no body."""
    response = build_response(200, [("Content-Type", "text/html")], b"", content_length=1234)
    assert response == (
        b"HTTP/1.1 200 OK\r\n" + HEAD + b"Content-Type: text/html\r\nContent-Length: 1234\r\n\r\n"
    )


def test_content_length_argument_wins_over_the_body_length(clock: Clock) -> None:
    """The head of a streamed file: the whole length, with only the head's bytes given."""
    response = build_response(200, (), b"first", content_length=10)
    assert response == b"HTTP/1.1 200 OK\r\n" + HEAD + b"Content-Length: 10\r\n\r\nfirst"


@pytest.mark.parametrize("name", ["Content-Length", "content-length", "CONTENT-LENGTH"])
def test_a_given_content_length_header_is_not_doubled(clock: Clock, name: str) -> None:
    response = build_response(206, [(name, "3")], b"abc", content_length=99)
    assert response == (b"HTTP/1.1 206 Partial Content\r\n" + HEAD + name.encode() + b": 3\r\n\r\nabc")
    assert response.lower().count(b"content-length") == 1


@pytest.mark.parametrize(
    ("status", "status_line"),
    [
        (100, b"HTTP/1.1 100 Continue\r\n"),
        (101, b"HTTP/1.1 101 Switching Protocols\r\n"),
        (204, b"HTTP/1.1 204 No Content\r\n"),
        (304, b"HTTP/1.1 304 Not Modified\r\n"),
    ],
)
def test_1xx_204_and_304_never_carry_content_length(clock: Clock, status: int, status_line: bytes) -> None:
    response = build_response(status, [("ETag", '"x"')], b"", content_length=42)
    assert response == status_line + HEAD + b'ETag: "x"\r\n\r\n'


@pytest.mark.parametrize(
    ("status", "status_line"),
    [
        (201, b"HTTP/1.1 201 Created\r\n"),
        (301, b"HTTP/1.1 301 Moved Permanently\r\n"),
        (400, b"HTTP/1.1 400 Bad Request\r\n"),
        (500, b"HTTP/1.1 500 Internal Server Error\r\n"),
    ],
)
def test_other_statuses_carry_content_length(clock: Clock, status: int, status_line: bytes) -> None:
    assert build_response(status, (), b"xy") == status_line + HEAD + b"Content-Length: 2\r\n\r\nxy"


def test_an_unknown_status_has_an_empty_reason_phrase(clock: Clock) -> None:
    """RFC 9112 section 4: the reason phrase may be empty; the space before it stays."""
    assert build_response(599) == b"HTTP/1.1 599 \r\n" + HEAD + b"Content-Length: 0\r\n\r\n"


def test_keep_alive_false_adds_connection_close_last(clock: Clock) -> None:
    response = build_response(200, [("Content-Type", "text/plain")], b"bye", keep_alive=False)
    assert response == (
        b"HTTP/1.1 200 OK\r\n"
        + HEAD
        + b"Content-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbye"
    )


def test_keep_alive_true_sends_no_connection_header(clock: Clock) -> None:
    response = build_response(200, (), b"", keep_alive=True)
    assert b"connection" not in response.lower()


@pytest.mark.parametrize("name", ["Connection", "connection"])
def test_keep_alive_false_merges_close_into_a_given_connection_header(clock: Clock, name: str) -> None:
    """One Connection line listing both options, never two Connection lines."""
    response = build_response(426, [(name, "Upgrade"), ("Upgrade", "websocket")], b"", keep_alive=False)
    assert response == (
        b"HTTP/1.1 426 Upgrade Required\r\n"
        + HEAD
        + name.encode()
        + b": Upgrade, close\r\nUpgrade: websocket\r\nContent-Length: 0\r\n\r\n"
    )
    assert response.lower().count(b"connection:") == 1


def test_a_given_connection_header_is_unchanged_when_kept_alive(clock: Clock) -> None:
    response = build_response(200, [("Connection", "keep-alive")], b"")
    assert response == b"HTTP/1.1 200 OK\r\n" + HEAD + b"Connection: keep-alive\r\nContent-Length: 0\r\n\r\n"


def test_header_values_are_latin_1_on_the_wire(clock: Clock) -> None:
    response = build_response(200, [("X-Name", "caf\xe9")], b"")
    assert b"X-Name: caf\xe9\r\n" in response


def test_a_header_value_outside_latin_1_is_a_value_error(clock: Clock) -> None:
    with pytest.raises(ValueError):  # UnicodeEncodeError is a ValueError
        build_response(200, [("X-Name", "\u20ac")], b"")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Evil", "a\r\nSet-Cookie: stolen=1"),
        ("X-Evil", "a\nb"),
        ("X-Evil", "a\rb"),
        ("X-Evil\r\nSet-Cookie", "stolen=1"),
        ("X-Evil\n", "1"),
    ],
)
def test_a_line_break_in_a_header_is_refused(clock: Clock, name: str, value: str) -> None:
    with pytest.raises(ValueError, match="contains a line break") as caught:
        build_response(200, [("Content-Type", "text/plain"), (name, value)], b"")
    assert repr(name) in str(caught.value)


def test_the_body_is_passed_through_byte_for_byte(clock: Clock) -> None:
    body = bytes(range(256)) + b"\r\n\r\n"
    response = build_response(200, (), body)
    head, separator, rest = response.partition(b"\r\n\r\n")
    assert separator and rest == body
    assert head.endswith(b"Content-Length: 260")


# -- error_response ------------------------------------------------------------------------------


def test_an_error_response_is_short_plain_text_and_closes(clock: Clock) -> None:
    assert error_response(404) == (
        b"HTTP/1.1 404 Not Found\r\n"
        + HEAD
        + b"Content-Type: text/plain; charset=utf-8\r\n"
        + b"Content-Length: 14\r\n"
        + b"Connection: close\r\n"
        + b"\r\n"
        + b"404 Not Found\n"
    )


def test_an_error_message_is_a_second_line_of_the_body(clock: Clock) -> None:
    body = b"400 Bad Request\nmalformed HTTP request\n"
    response = error_response(400, "malformed HTTP request")
    assert response == (
        b"HTTP/1.1 400 Bad Request\r\n"
        + HEAD
        + b"Content-Type: text/plain; charset=utf-8\r\n"
        + b"Content-Length: %d\r\n" % len(body)
        + b"Connection: close\r\n\r\n"
        + body
    )


def test_an_error_message_is_utf_8_and_counted_in_bytes(clock: Clock) -> None:
    body = "403 Forbidden\nno entry \u2013 caf\xe9 \U0001f6ab\n".encode()
    response = error_response(403, "no entry \u2013 caf\xe9 \U0001f6ab")
    assert response.endswith(b"\r\n\r\n" + body)
    assert b"Content-Length: %d\r\n" % len(body) in response


def test_error_headers_follow_the_content_type(clock: Clock) -> None:
    response = error_response(405, headers=[("Allow", "GET, HEAD")])
    assert response == (
        b"HTTP/1.1 405 Method Not Allowed\r\n"
        + HEAD
        + b"Content-Type: text/plain; charset=utf-8\r\n"
        + b"Allow: GET, HEAD\r\n"
        + b"Content-Length: 23\r\n"
        + b"Connection: close\r\n\r\n"
        + b"405 Method Not Allowed\n"
    )


def test_an_error_response_can_keep_the_connection_alive(clock: Clock) -> None:
    response = error_response(404, keep_alive=True)
    assert response == (
        b"HTTP/1.1 404 Not Found\r\n"
        + HEAD
        + b"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 14\r\n\r\n404 Not Found\n"
    )


@pytest.mark.parametrize("message", ["", "no such file"])
@pytest.mark.parametrize("keep_alive", [False, True])
def test_an_error_response_to_head_has_the_same_head_and_no_body(
    clock: Clock, message: str, keep_alive: bool
) -> None:
    """RFC 9110 section 9.3.2: HEAD gets the GET's header fields, Content-Length included, and no body."""
    get = error_response(404, message, keep_alive=keep_alive)
    head = error_response(404, message, keep_alive=keep_alive, head=True)
    get_head, _, get_body = get.partition(b"\r\n\r\n")
    assert get_body
    assert head == get_head + b"\r\n\r\n"
    assert b"Content-Length: %d\r\n" % len(get_body) in head


def test_an_error_response_with_an_unknown_status(clock: Clock) -> None:
    response = error_response(599, "odd")
    assert response.startswith(b"HTTP/1.1 599 \r\n")
    assert response.endswith(b"\r\n\r\n599 \nodd\n")


def test_an_error_header_with_a_line_break_is_refused(clock: Clock) -> None:
    with pytest.raises(ValueError, match="contains a line break"):
        error_response(401, headers=[("WWW-Authenticate", "Bearer\r\nX: y")])
